"""Who may see a delivery: the delivery-specific rules, built on projects.access (asking for a
delivery is `projects.access.can_manage_project`: leads of the project). Each rule is written twice
side by side, as a predicate on one delivery (asked by services, API permissions and pages) and as
a query condition (`visible_deliveries`, which delivery.selectors filter by)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q

from projects import access as project_access

if TYPE_CHECKING:
    from accounts.models import User
    from delivery.models import Delivery, Evaluation


def is_recipient(user: User, delivery: Delivery) -> bool:
    """The requester of the delivery's request, or a member of the request's team."""
    request = delivery.request
    if request is None or not user.is_authenticated:
        return False
    return request.requester_id == user.pk or bool(user.team_id and request.team_id == user.team_id)


def can_view_delivery(user: User, delivery: Delivery) -> bool:
    """Leads of the project see every build; recipients see done deliveries."""
    if project_access.can_manage_project(user, delivery.project):
        return True
    return delivery.status == "done" and is_recipient(user, delivery)


def can_retry_evaluation(user: User, evaluation: Evaluation) -> bool:
    """Who uploaded the predictions, or a lead of the delivery's project (others who see the
    evaluation may not run it again)."""
    return evaluation.created_by_id == user.pk or project_access.can_manage_project(user, evaluation.delivery.project)


def visible_deliveries(user: User) -> Q:
    """`can_view_delivery` as a condition on Delivery: every build of the projects `user` leads,
    done deliveries of the requests they or their team filed."""
    recipient = Q(request__requester=user)
    if user.team_id:
        recipient |= Q(request__team_id=user.team_id)
    return Q(project_id__in=project_access.led_project_ids(user)) | (Q(status="done") & recipient)
