"""Reads of the team and staff pages and their API: a project's members, the people picker,
and the staff lists of users and teams. Each is scoped to what the caller may see and loads
what its rows show in a fixed number of queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Team
from projects import access
from projects.models import Membership

if TYPE_CHECKING:
    from accounts.models import User
    from projects.models import Project

PICKER_LIMIT = 20


def membership_list(*, user: User) -> QuerySet[Membership]:
    """The active memberships of the projects `user` leads (a team is its leads' business: anyone
    else sees none of it), with the member and the project loaded."""
    return (
        Membership.objects.filter(project_id__in=access.led_project_ids(user), is_active=True)
        .select_related("user", "project")
        .order_by("project_id", "role", "user__username", "id")
    )


def project_member_list(*, project: Project) -> list[Membership]:
    """The active members of one project, by role then name, each with their user."""
    return list(
        Membership.objects.filter(project=project, is_active=True)
        .select_related("user")
        .order_by("role", "user__username", "id")
    )


def user_search(*, q: str = "", limit: int = PICKER_LIMIT) -> list[User]:
    """Active people whose username, name or email contains `q` (everyone when empty), by username:
    the picker of the team page and the staff pages."""
    users = get_user_model().objects.filter(is_active=True)
    q = (q or "").strip()
    if q:
        users = users.filter(
            Q(username__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q) | Q(email__icontains=q)
        )
    return list(users.order_by("username")[:limit])


def staff_user_list(*, user: User, q: str = "", active: bool | None = None) -> QuerySet:
    """Every account, for staff (none for anyone else), with its team; filtered by `q` (username,
    name, email) and active or not."""
    users = get_user_model().objects.select_related("team").order_by("username", "id")
    if not access.can_manage_accounts(user):
        return users.none()
    q = (q or "").strip()
    if q:
        users = users.filter(
            Q(username__icontains=q) | Q(first_name__icontains=q) | Q(last_name__icontains=q) | Q(email__icontains=q)
        )
    if active is not None:
        users = users.filter(is_active=active)
    return users


def staff_team_list(*, user: User) -> QuerySet[Team]:
    """Every team, for staff (none for anyone else), with its member count and its members."""
    teams = Team.objects.annotate(member_count=Count("members")).order_by("name", "id")
    if not access.can_manage_accounts(user):
        return teams.none()
    members = get_user_model().objects.order_by("username")
    return teams.prefetch_related(Prefetch("members", queryset=members))
