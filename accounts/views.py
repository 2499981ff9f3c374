"""Account pages: the landing redirect, your API tokens, and staff's sign-in locks."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from accounts import selectors, services
from core.errors import QuorumError


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each role to its landing page."""
    user = request.user
    if user.is_lead:
        return redirect("projects:portfolio")
    if user.role == user.Role.REQUESTER:
        return redirect("projects:request_list")
    if user.is_staff and user.role == user.Role.ANNOTATOR and not user.memberships.exists():
        return redirect("staff:users")  # staff who do not label: their work is people and teams
    return redirect("annotation:queue")


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """Your API tokens: when each was made; revoke any of them."""
    tokens = [
        {"prefix": token.key[: services.TOKEN_PREFIX_LENGTH], "created": token.created}
        for token in selectors.token_list(user=request.user)
    ]
    return render(request, "accounts/token_list.html", {"tokens": tokens})


@login_required
@require_POST
def token_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    try:
        services.token_revoke(user=request.user, prefix=prefix, actor=request.user)
    except Token.DoesNotExist:
        raise Http404("No token of yours starts with that prefix.") from None
    messages.success(request, f"The token {prefix}… is revoked: it no longer works anywhere.")
    return redirect("token_list")


def _staff(user: Any) -> bool:
    return user.is_authenticated and user.is_active and user.is_staff


@login_required
def lockout_list(request: HttpRequest) -> HttpResponse:
    """Staff: the accounts and addresses locked for failed sign-ins, each with an unlock button."""
    if not _staff(request.user):
        raise PermissionDenied("Only staff may see and lift sign-in locks.")
    context = {
        "locked": selectors.signin_lockout_list(),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": round(settings.AXES_COOLOFF_TIME.total_seconds() / 60) if settings.AXES_COOLOFF_TIME else 0,
    }
    return render(request, "accounts/lockout_list.html", context)


@login_required
@require_POST
def lockout_unlock(request: HttpRequest) -> HttpResponse:
    if not _staff(request.user):
        raise PermissionDenied("Only staff may lift sign-in locks.")
    username = request.POST.get("username", "").strip() or None
    ip_address = request.POST.get("ip_address", "").strip() or None
    try:
        services.signin_unlock(actor=request.user, username=username, ip_address=ip_address)
    except QuorumError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sign-in unlocked for {username or ip_address}.")
    return redirect("lockout_list")
