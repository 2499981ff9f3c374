"""The settings version check of the project PATCH: the version a client read, sent in the body
(`version`) or as an `If-Match` header (`"7"`, `W/"7"` or `7`), for project_update to compare."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from core.errors import QuorumError

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='The settings_version you read, e.g. "7" (the same check as the body\'s `version`).',
)
_ENTITY_TAG = re.compile(r'^\s*(?:W/)?"?(\d{1,10})"?\s*$')


def expected_version(body_version: int | None, if_match: str | None) -> int | None:
    """The version to check against (None: no check). A malformed If-Match, or one that disagrees
    with the body's version, is a 400 naming it."""
    header_version = None
    if if_match is not None and if_match.strip() not in ("", "*"):
        match = _ENTITY_TAG.match(if_match)
        if match is None:
            raise QuorumError(f'If-Match: {if_match[:40]!r} is not a settings version such as "7"', field="If-Match")
        header_version = int(match.group(1))
    if body_version is not None and header_version is not None and body_version != header_version:
        raise QuorumError(
            f"version: the body says {body_version} and If-Match says {header_version}; send one", field="version"
        )
    return body_version if body_version is not None else header_version
