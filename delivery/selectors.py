"""Reads of the delivery app, scoped to what the user may see (anything else is a 404)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from delivery import policies
from delivery.models import Delivery, Evaluation, WebhookAttempt, WebhookEndpoint

if TYPE_CHECKING:
    from accounts.models import User


def delivery_list(*, user: User) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(policies.visible_deliveries(user))
        .select_related("project", "request", "request__team", "created_by")
        .order_by("-created_at", "-id")
    )


def delivery_get(*, user: User, pk: int) -> Delivery:
    """The delivery if `user` may see it (Delivery.DoesNotExist otherwise)."""
    return delivery_list(user=user).get(pk=pk)


def evaluation_list(*, user: User) -> QuerySet[Evaluation]:
    """Evaluations on the deliveries `user` may see."""
    return (
        Evaluation.objects.filter(delivery__in=Delivery.objects.filter(policies.visible_deliveries(user)).values("pk"))
        .select_related("delivery", "delivery__project", "created_by")
        .order_by("-created_at", "-id")
    )


def webhook_endpoint_list(*, user: User) -> QuerySet[WebhookEndpoint]:
    """The endpoints of the user's team."""
    if user.is_superuser:
        return WebhookEndpoint.objects.select_related("team")
    return WebhookEndpoint.objects.filter(team_id=user.team_id or -1).select_related("team")


def webhook_attempt_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookAttempt]:
    return endpoint.attempts.order_by("-created_at", "-id")
