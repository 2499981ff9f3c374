"""How an item is shown on a page (the task page, the audit queue): only what is safe to show."""

from __future__ import annotations

import json
from typing import Any

from annotation.models import Item
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
