"""Who may see a delivery: the delivery-specific predicates, built on projects.access (asking for a
delivery is `projects.access.can_manage_project`: leads of the project). Pure predicates, asked by
services, API permissions and pages; delivery.selectors holds the same rule as a queryset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from projects import access as project_access

if TYPE_CHECKING:
    from accounts.models import User
    from delivery.models import Delivery


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
