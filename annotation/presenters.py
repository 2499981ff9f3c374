"""How an item and its labels are shown on a page (the task page, the audit queue, adjudication):
only what is safe to show, and the same label keys on every page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import markdown
import nh3
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe

from annotation.models import Item, Label
from annotation.selectors import label_tree_rows
from annotation.validation import RESERVED_SHORTCUTS, URL_FIELDS, media_host_allowed, media_url_check
from core.errors import QuorumError

DIGIT_KEYS = tuple("123456789")


def item_media_urls(item: Item) -> dict[str, str]:
    """The item's media URLs that pass the import's scheme check again. Import already refused
    anything else; this keeps a row written some other way from ever reaching a src attribute."""
    urls = {}
    for field in URL_FIELDS:
        url = getattr(item, field)
        if url:
            try:
                urls[field.removesuffix("_url")] = media_url_check(url, where=field)
            except QuorumError:
                continue
    return urls


def item_metadata_rows(metadata: Any) -> list[tuple[str, str]]:
    """Metadata as (key, text) pairs for an escaped list; nested values shown as JSON text."""
    if not isinstance(metadata, dict):
        return [("value", json.dumps(metadata, ensure_ascii=False))] if metadata else []
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in metadata.items()
    ]


def label_choices(labels: Iterable[Label]) -> list[dict[str, Any]]:
    """The labels of one schema version as every keyboard page lists them (the task page, the
    audit page, the adjudication page): rows of {label, key, indent} for _label_list.html.

    One order and one key per label, whichever page asks:
    - order: the schema's (`order`, then id), each child listed under its parent (indent = depth,
      at most 4);
    - key: the label's own shortcut (lower case) when it has one, unless it is a page command
      (RESERVED_SHORTCUTS; schema_create refuses those, so only a row written some other way has
      one); every other label takes the lowest digit 1-9 that no shortcut claims, in schema order;
      past nine, none (the label is still a click away).
    """
    ordered = sorted(labels, key=lambda label: (label.order, label.pk))
    own = {label.pk: label.shortcut.lower() for label in ordered if label.shortcut}
    own = {pk: key for pk, key in own.items() if key not in RESERVED_SHORTCUTS}
    free = iter(digit for digit in DIGIT_KEYS if digit not in set(own.values()))
    keys = {label.pk: own.get(label.pk) or next(free, "") for label in ordered}
    return [
        {"label": row.label, "key": keys[row.label.pk], "indent": min(row.depth, 4)}
        for row in label_tree_rows(labels=ordered)
    ]


def guideline_html(body: str) -> SafeString:
    """A guideline's markdown as HTML, sanitised by nh3 (an allow-list of tags and attributes;
    script, event handlers, style and javascript: links are dropped), so it is safe to mark safe.
    The task page, the lead's editor preview and the acknowledgement panel all render with it."""
    if not body:
        return mark_safe("")
    html = markdown.markdown(body, extensions=["extra", "sane_lists"], output_format="html")
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer nofollow", attribute_filter=_guideline_image_source))


# A path on our own origin, as browsers read it too: they drop tabs and line breaks inside URLs and
# take a backslash for a slash, so "/\\host" or "/<tab>/host" would leave our origin.
_OWN_PATH = re.compile(r"(?:/(?![/\\])|[A-Za-z0-9_~-])[^\s\\]*\Z")


def _guideline_image_source(tag: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: an image's source only from Quorum itself (a path) or an allowed
    media host, so a guideline cannot make every annotator's browser fetch any URL. Others lose
    their source (the image's alt text stays, as text)."""
    if tag != "img" or attribute != "src":
        return value
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:  # an unbalanced [ in the host
        return None
    if not parts.scheme and not parts.netloc and _OWN_PATH.match(value):
        return value  # a path on our own origin
    if parts.scheme.lower() in settings.QUORUM_MEDIA_URL_SCHEMES and media_host_allowed(host):
        return value
    return None


NONE_OF_THESE_KEY = "0"


def none_of_these_key(choices: list[dict[str, Any]]) -> str:
    """The key of the "none of these" choice: 0, unless a label's shortcut took it."""
    return "" if any(choice["key"] == NONE_OF_THESE_KEY for choice in choices) else NONE_OF_THESE_KEY


def draft_labels(rows: list[dict[str, Any]]) -> list[Label]:
    """Unsaved Label objects for label definitions (a draft's), linked to their parents, so a
    preview renders them through the task page's own templates. Ids are positions, never saved."""
    labels = [
        Label(
            pk=position,
            key=row["key"],
            name=row.get("name") or row["key"],
            description=row.get("description") or "",
            severity=row.get("severity") or 0,
            shortcut=row.get("shortcut") or "",
            examples=list(row.get("examples") or []),
            order=position,
        )
        for position, row in enumerate(rows, start=1)
    ]
    ids = {label.key: label.pk for label in labels}
    for label, row in zip(labels, rows, strict=True):
        label.parent_id = ids.get(row.get("parent") or "")
    return labels
