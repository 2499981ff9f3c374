"""How an item and its labels are shown on a page (the task page, the audit queue, adjudication):
only what is safe to show, and the same label keys on every page."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from annotation.models import Item, Label
from annotation.selectors import label_tree_rows
from annotation.validation import RESERVED_SHORTCUTS, URL_FIELDS, media_url_check
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
