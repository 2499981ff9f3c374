"""What a sign-in refused by django-axes answers: the API's error shape under /api/, the sign-in
page with the reason elsewhere; 429 with Retry-After on both (settings.AXES_LOCKOUT_CALLABLE)."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def lockout_seconds(request: HttpRequest | None = None) -> int:
    """How long the lock lasts from now: every failure while locked starts the cool-off again."""
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def lockout_message(request: HttpRequest | None = None) -> str:
    minutes = max(1, round(lockout_seconds(request) / 60))
    return (
        "Too many failed sign-ins for this account or from this address: sign-in is locked for "
        f"{minutes} minute{'s' if minutes != 1 else ''}. Try again later, or ask a staff member to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    seconds = lockout_seconds(request)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": lockout_message(request), "code": "locked_out"}, status=429)
    else:
        username = (credentials or {}).get("username") or request.POST.get("username", "")
        form = AuthenticationForm(request, initial={"username": username})
        response = render(
            request,
            "accounts/login.html",
            {"form": form, "locked_out": lockout_message(request), "next": request.POST.get("next", "")},
            status=429,
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
