"""How an item is shown on a page (the task page, the audit queue): only what is safe to show."""

from __future__ import annotations

import json
from typing import Any

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

from annotation.models import Item, Label
from annotation.validation import URL_FIELDS, media_url_check
from core.errors import QuorumError


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


def guideline_html(body: str) -> SafeString:
    """A guideline's markdown as HTML, sanitised by nh3 (an allow-list of tags and attributes;
    script, event handlers, style and javascript: links are dropped), so it is safe to mark safe.
    The task page, the lead's editor preview and the acknowledgement panel all render with it."""
    if not body:
        return mark_safe("")
    html = markdown.markdown(body, extensions=["extra", "sane_lists"], output_format="html")
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer nofollow"))


# Keys the task page keeps for its commands; a label shortcut on one of them is not offered.
COMMAND_KEYS = frozenset({"s", "f", "g", "r", "?"})
NONE_OF_THESE_KEY = "0"


def label_choices(rows: list[Any]) -> list[dict[str, Any]]:
    """Each label row (selectors.label_tree_rows) with the one key that picks it (`key`): its own
    shortcut, unless that is a command key; else its position (1-9) when no shortcut claims that
    digit; else none. The task page and the lead's preview show labels through this."""
    claimed = {row.label.shortcut.lower() for row in rows if row.label.shortcut}
    choices = []
    for position, row in enumerate(rows, start=1):
        shortcut = row.label.shortcut.lower()
        if shortcut and shortcut not in COMMAND_KEYS:
            key = shortcut
        elif position <= 9 and str(position) not in claimed:
            key = str(position)
        else:
            key = ""
        choices.append({"label": row.label, "key": key, "indent": min(row.depth, 4)})
    return choices


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
