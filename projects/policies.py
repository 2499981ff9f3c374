"""Who may do what on a project. Pure predicates: services enforce them, API permission classes
and page views ask them, so there is one answer to every "may this user ...?" question."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import User
    from projects.models import Blocker, DataRequest, Project


def project_roles(user: User, project: Project) -> set[str]:
    """The user's roles on the project ("lead" for the project's lead and superusers)."""
    if not user.is_authenticated:
        return set()
    cache = getattr(user, "_quorum_roles", None)
    if cache is None:
        cache = user._quorum_roles = {}
    if project.pk not in cache:
        roles = set(project.memberships.filter(user=user, is_active=True).values_list("role", flat=True))
        if user.is_superuser or project.lead_id == user.pk:
            roles.add("lead")
        cache[project.pk] = roles
    return cache[project.pk]


def can_view_project(user: User, project: Project) -> bool:
    if not user.is_authenticated:
        return False
    if project_roles(user, project):
        return True
    request = project.request
    return bool(user.team_id and request is not None and request.team_id == user.team_id)


def can_manage_project(user: User, project: Project) -> bool:
    """Change phase, settings, milestones, membership; resolve blockers."""
    return "lead" in project_roles(user, project)


def can_open_blocker(user: User, project: Project) -> bool:
    return bool(project_roles(user, project) & {"lead", "annotator", "reviewer"})


def can_resolve_blocker(user: User, blocker: Blocker) -> bool:
    """Leads of the project and the blocker's owner."""
    return can_manage_project(user, blocker.project) or (user.is_authenticated and blocker.owner_id == user.pk)


def can_create_project(user: User) -> bool:
    return user.is_authenticated and user.is_lead


def can_triage_requests(user: User) -> bool:
    """Accept or reject data requests (leads, across the portfolio)."""
    return user.is_authenticated and user.is_lead


def can_file_request(user: User) -> bool:
    return user.is_authenticated and (user.is_lead or user.role == "requester")


def can_view_request(user: User, data_request: DataRequest) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_lead or data_request.requester_id == user.pk:
        return True
    return bool(user.team_id and data_request.team_id == user.team_id)


def can_comment_on_request(user: User, data_request: DataRequest) -> bool:
    """Read and write a request's comment thread: leads, and the requesters of its team."""
    if not user.is_authenticated:
        return False
    if user.is_lead:
        return True
    if user.role != "requester":
        return False
    return data_request.requester_id == user.pk or bool(user.team_id and data_request.team_id == user.team_id)
