"""Reads of the delivery app, scoped to what the user may see (anything else is a 404)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from delivery.models import Delivery, Evaluation, WebhookAttempt, WebhookEndpoint
from projects import access

if TYPE_CHECKING:
    from accounts.models import User


def _visible(user: User) -> Q:
    """Deliveries `user` may see: every build of the projects they lead; done deliveries of the
    requests they filed or their team filed."""
    if user.is_superuser:
        return Q()
    led = access.led_project_ids(user)
    recipient = Q(request__requester=user)
    if user.team_id:
        recipient |= Q(request__team_id=user.team_id)
    return Q(project_id__in=led) | (Q(status=Delivery.Status.DONE) & recipient)


def delivery_list(*, user: User) -> QuerySet[Delivery]:
    return (
        Delivery.objects.filter(_visible(user))
        .select_related("project", "request", "request__team", "created_by")
        .order_by("-created_at", "-id")
    )


def delivery_get(*, user: User, pk: int) -> Delivery:
    """The delivery if `user` may see it (Delivery.DoesNotExist otherwise)."""
    return delivery_list(user=user).get(pk=pk)


def evaluation_list(*, user: User) -> QuerySet[Evaluation]:
    """Evaluations on the deliveries `user` may see."""
    return (
        Evaluation.objects.filter(delivery__in=Delivery.objects.filter(_visible(user)).values("pk"))
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
