"""Reads of the accounts floor: a user's API tokens, the locked sign-ins staff can lift."""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User


def token_list(*, user: User) -> QuerySet[Token]:
    """The user's own API tokens, newest first (DRF's Token model holds at most one per user)."""
    return Token.objects.filter(user=user).order_by("-created")


def signin_lockout_list() -> dict[str, list[dict[str, Any]]]:
    """The accounts and the addresses whose sign-in is locked now, as django-axes decides it: the
    failures recorded for one (summed over its AccessAttempt rows, which are per account, address
    and browser) within the cool-off have reached the limit. Newest failure first."""
    attempts = AccessAttempt.objects.all()
    if settings.AXES_COOLOFF_TIME:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
    locked: dict[str, list[dict[str, Any]]] = {}
    for parameter in ("username", "ip_address"):
        rows = (
            attempts.exclude(**{f"{parameter}__isnull": True})
            .values(parameter)
            .annotate(failures=Sum("failures_since_start"), last_failure=Max("attempt_time"))
            .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
            .order_by("-last_failure", parameter)
        )
        locked[parameter] = [{"value": row[parameter], **row} for row in rows]
    return locked
