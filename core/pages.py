"""Helpers shared by the page views of every app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from core.errors import NotAllowed, QuorumError
from core.exceptions import validation_error_body

T = TypeVar("T")


def service_attempt(
    request: HttpRequest, service: Callable[..., T], /, *, forbid_not_allowed: bool = False, **kwargs: Any
) -> T | None:
    """Call a service for a page: a domain refusal becomes an error message with its text (and
    None), never a 500. With `forbid_not_allowed`, a role refusal is a 403 instead of a message."""
    try:
        return service(**kwargs)
    except NotAllowed as exc:
        if forbid_not_allowed:
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
    except QuorumError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:
        messages.error(request, validation_error_body(exc)["detail"])
    return None


def form_errors_text(form: forms.Form) -> str:
    """A form's errors as one line that says where: "title: This field is required."."""
    parts = []
    for field, errors in form.errors.items():
        where = "" if field == "__all__" else f"{field}: "
        parts.extend(f"{where}{error}" for error in errors)
    return " ".join(parts)
