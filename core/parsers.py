"""The API's body parsers: DRF's, with the size limits applied before a byte is read.

DRF reads a JSON body straight from the request stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
(which guards `request.body` and form fields) never applies to it: these parsers refuse a body
whose Content-Length is over the limit with core.errors.TooLarge, answered 413 in the API's error
shape. JSON and form bodies are held in memory, so they get Django's limit; multipart bodies are
file uploads, streamed to disk, and get QUORUM_UPLOAD_MAX_BYTES (with room for the form's other
fields). A body without a Content-Length is not read at all by Django's request, so the header
is the bound.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import parsers

from core.errors import TooLarge

# Room in a multipart body for the boundaries and the form's other fields beside the file.
MULTIPART_OVERHEAD = 64 * 1024


def content_length(meta: dict[str, Any]) -> int:
    try:
        return max(0, int(meta.get("CONTENT_LENGTH") or 0))
    except (TypeError, ValueError):
        return 0


def body_size_check(meta: dict[str, Any], *, limit: int | None, what: str) -> None:
    """Refuse (TooLarge) a request whose declared body is over `limit` bytes (None: no limit)."""
    length = content_length(meta)
    if limit is not None and length > limit:
        raise TooLarge(f"body: the {what} is {_size(length)}, over the limit of {_size(limit)}", field="body")


def upload_size_check(size: int | None, *, field: str = "file") -> None:
    """Refuse (TooLarge) an uploaded file over QUORUM_UPLOAD_MAX_BYTES: services call this, so a
    page upload is held to the same limit as the API's."""
    limit = settings.QUORUM_UPLOAD_MAX_BYTES
    if size is not None and size > limit:
        raise TooLarge(f"{field}: the file is {_size(size)}, over the upload limit of {_size(limit)}", field=field)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body_size_check(parser_context["request"].META, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE, what="JSON body")
        return super().parse(stream, media_type, parser_context)


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body_size_check(parser_context["request"].META, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE, what="form body")
        return super().parse(stream, media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body_size_check(
            parser_context["request"].META,
            limit=settings.QUORUM_UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD,
            what="upload",
        )
        return super().parse(stream, media_type, parser_context)
