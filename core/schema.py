"""The OpenAPI schema's AutoSchema: drf-spectacular's, plus the error answers every endpoint can give.

drf-spectacular documents only the success answer. Clients (and the contract test) also need the
errors, which all share one body (core.exceptions): 400 for bad input (a body, or query
parameters such as filters), 401 without valid credentials, 403 when the role does not allow it,
404 for an object the caller may not see or a page past the end, 413 for a body or file over its
size limit, 415 for a body in a media type the operation does not read. An operation's own
@extend_schema responses win over these.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer (see core.exceptions.api_exception_handler)."""

    detail = serializers.CharField(help_text="What is wrong, and where: 'deadline: 2020-01-01 is in the past'.")
    code = serializers.CharField(required=False, help_text="invalid, not_allowed, illegal_transition, ...")
    field = serializers.CharField(required=False, help_text="The input field at fault, when there is one.")
    row = serializers.IntegerField(required=False, help_text="The file row at fault (imports, uploads).")
    errors = serializers.JSONField(required=False, help_text="Every problem found: {field: [messages]}.")
    changes = serializers.JSONField(
        required=False, help_text="409 only: what changed since the version you sent, {field: {yours, now, by, at}}."
    )
    version = serializers.IntegerField(required=False, help_text="409 only: the version now stored.")


ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `detail` says what, `field` (or `row`) where.",
    "401": "No valid credentials (send `Authorization: Token <key>`).",
    "403": "Your role does not allow this.",
    "404": "No such object among those you may see (in the path, the query or the body), or no such page.",
    "409": "Stale write: the object changed since the version you sent; `changes` says what, `version` is current.",
    "413": "The body (or the uploaded file) is over its size limit.",
    "415": "The body's Content-Type is not one the operation reads (or the body cannot be parsed as it).",
}


class QuorumAutoSchema(AutoSchema):
    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str, registry: Any) -> Any:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        codes = []
        if "requestBody" in operation or "query" in locations:
            codes.append("400")
        authenticated = {} not in operation.get("security", [{}])
        if authenticated:
            codes += ["401", "403"]
        # A body may name an object too (a delivery, an annotator), which may be out of sight.
        if "path" in locations or "query" in locations or (authenticated and "requestBody" in operation):
            codes.append("404")
        if "requestBody" in operation:
            codes += ["413", "415"]
        error = {"application/json": {"schema": self.resolve_serializer(ErrorSerializer, "response").ref}}
        for code in codes:
            operation["responses"].setdefault(code, {"content": error, "description": ERROR_DESCRIPTIONS[code]})
        return operation
