"""One DRF exception handler: domain errors become 400 (or 403, or 409 for a stale write) with
what and where; a job the broker would not take is a 503 in the same shape."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import Conflict, NotAllowed, QueueUnavailable, QuorumError, StaleEdit, TooLarge


def validation_error_body(exc: DjangoValidationError) -> dict[str, Any]:
    """A flat body for Django's ValidationError: the first message as detail, all of them by field."""
    if hasattr(exc, "error_dict"):
        errors = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
        field, messages = next(iter(errors.items()))
        detail = messages[0] if field == "__all__" else f"{field}: {messages[0]}"
        body: dict[str, Any] = {"detail": detail, "code": "invalid", "errors": errors}
        if field != "__all__":
            body["field"] = field
        return body
    return {"detail": "; ".join(exc.messages), "code": "invalid"}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotAllowed):
        return Response(exc.as_dict(), status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, QueueUnavailable):
        return Response(exc.as_dict(), status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "30"})
    if isinstance(exc, Conflict | StaleEdit):
        return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, TooLarge):
        return Response(exc.as_dict(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, QuorumError):
        return Response(exc.as_dict(), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(validation_error_body(exc), status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if isinstance(exc, exceptions.ValidationError) and response is not None:
        response.data = _serializer_errors_body(response.data)
    return response


def _serializer_errors_body(errors: Any) -> dict[str, Any]:
    """DRF's {field: [messages]} in the same shape as domain errors: the first problem as
    `detail` ("field: message") and `field`, with every error kept under `errors`."""
    field, messages = None, errors
    while isinstance(messages, dict) and messages:
        key, messages = next(iter(messages.items()))
        field = key if field is None else f"{field}.{key}"
    while isinstance(messages, list) and messages:
        messages = messages[0]
    message = str(messages)
    body: dict[str, Any] = {"code": "invalid", "errors": errors}
    if field and field != "non_field_errors":
        body["detail"] = f"{field}: {message}"
        body["field"] = field
    else:
        body["detail"] = message
    return body


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler (settings.ROOT_URLCONF's handler404). A path under /api/ that no route
    matches (`/api/v1/requests/1.5/`) answers in the API's shape, JSON, like a 404 from a view;
    pages keep Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 handler (handler400): what Django refuses before a view answers, such as a
    body over DATA_UPLOAD_MAX_MEMORY_SIZE or too many form fields. Under /api/ it answers in the
    API's shape, JSON: 413 for a body that is too large, 400 otherwise; pages keep Django's page."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = {
            "detail": f"body: the request body is over the limit of {limit} bytes "
            "(upload files as multipart form data)",
            "code": TooLarge.code,
            "field": "body",
        }
        return JsonResponse(body, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        return JsonResponse(
            {"detail": f"body: {exception}", "code": TooLarge.code, "field": "body"},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return JsonResponse({"detail": "Bad request.", "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error.", "code": "error"}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)
