"""Who may do what on a project, and which projects (and data requests) a user may see, lead,
review or annotate.

The one home of Quorum's access rules. Predicates ("may this user ...?") are pure: services
enforce them (through `require_lead` and `require_reviewer`, which raise NotAllowed), API
permission classes and page views ask them. The project sets (`*_project_ids`,
`*_projects`) are the same rules as querysets, for selectors of every app to filter by, so no
app writes its own "projects this user leads" query.

Roles on a project are the user's active memberships, plus "lead" for the project's lead and for
superusers (who lead every project).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from core.errors import NotAllowed
from projects.models import DataRequest, Membership, Project

if TYPE_CHECKING:
    from collections.abc import Iterable

    from accounts.models import User
    from projects.models import Blocker

Role = Membership.Role
# The phases in which each kind of member has work: annotators label in pilot and production,
# reviewers also audit during QA.
ANNOTATING_PHASES = (Project.Phase.PILOT, Project.Phase.PRODUCTION)
REVIEWING_PHASES = (Project.Phase.PILOT, Project.Phase.PRODUCTION, Project.Phase.QA)


# --- Project sets -----------------------------------------------------------------------------------


def project_ids_with_roles(user: User, roles: Iterable[str] | None = None) -> QuerySet:
    """The ids (a subquery) of the projects where `user` holds one of `roles` (any role when None),
    "lead" counting the project's lead and superusers, as `project_roles` has it."""
    if user.is_superuser:
        return Project.objects.values("pk")
    memberships = Membership.objects.filter(user=user, is_active=True)
    roles = None if roles is None else set(roles)
    if roles is not None:
        memberships = memberships.filter(role__in=sorted(roles))
    condition = Q(pk__in=memberships.values("project_id"))
    if roles is None or Role.LEAD in roles:
        condition |= Q(lead=user)
    return Project.objects.filter(condition).values("pk")


def led_project_ids(user: User) -> QuerySet:
    """Projects `user` leads: their own, an active "lead" membership, or every one for superusers."""
    return project_ids_with_roles(user, {Role.LEAD})


def member_project_ids(user: User) -> QuerySet:
    """Projects `user` leads or is an active member of (a requester's team view is not enough)."""
    return project_ids_with_roles(user)


def visible_project_ids(user: User) -> QuerySet:
    """Projects `user` may see: where they have a role, or (requesters) where the project answers
    a request of their team. The set behind `can_view_project`."""
    if user.is_superuser:
        return Project.objects.values("pk")
    condition = Q(pk__in=member_project_ids(user))
    if user.team_id:
        condition |= Q(request__team_id=user.team_id)
    return Project.objects.filter(condition).values("pk")


def visible_projects(user: User) -> QuerySet[Project]:
    """The projects themselves, of `visible_project_ids`."""
    return Project.objects.filter(pk__in=visible_project_ids(user))


def annotator_projects(*, user: User) -> QuerySet[Project]:
    """Projects in which `user` is an active annotator and work can be done (pilot or production)."""
    return Project.objects.filter(
        pk__in=_membership_project_ids(user, Role.ANNOTATOR), phase__in=ANNOTATING_PHASES
    ).select_related("lead")


def reviewer_projects(*, user: User) -> QuerySet[Project]:
    """Projects in which `user` is an active reviewer and there is work to review (pilot to QA)."""
    return Project.objects.filter(
        pk__in=_membership_project_ids(user, Role.REVIEWER), phase__in=REVIEWING_PHASES
    ).select_related("lead")


def reviewed_project_ids(user: User) -> QuerySet:
    """Projects where `user` is an active reviewer (a membership: leading is not reviewing)."""
    return _membership_project_ids(user, Role.REVIEWER)


def adjudicating_project_ids(user: User) -> QuerySet:
    """Projects where `user` may settle items: they review them, or lead them."""
    return project_ids_with_roles(user, {Role.REVIEWER, Role.LEAD})


def active_memberships(*, user: User, project: Project, role: str) -> QuerySet[Membership]:
    """The user's active memberships in `project` with `role` (at most one): the membership row
    itself, for callers that need its fields (an annotator's pause, say)."""
    return Membership.objects.filter(project=project, user=user, role=role, is_active=True)


def _membership_project_ids(user: User, role: str) -> QuerySet:
    return Membership.objects.filter(user=user, role=role, is_active=True).values("project_id")


def visible_requests(user: User, requests: QuerySet[DataRequest] | None = None) -> QuerySet[DataRequest]:
    """The data requests `user` may see: every one for leads (they triage), else their own and their
    team's. The set behind `can_view_request`; `requests` (all by default) is the queryset to narrow,
    so a selector's joins and annotations stay as it built them."""
    requests = DataRequest.objects.all() if requests is None else requests
    if user.is_lead:
        return requests
    condition = Q(requester=user)
    if user.team_id:
        condition |= Q(team_id=user.team_id)
    return requests.filter(condition)


# --- Predicates -------------------------------------------------------------------------------------


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


def project_audience(user: User, project: Project) -> str | None:
    """Which face of the project page `user` gets: "lead" (everything), "team" (reviewers: the
    dashboard without the lead's sections), "annotator" (their own work, no one else's figures),
    "requester" (the request's team: phase, progress, forecast, quality headline, deliveries;
    never annotators' names or scores), or None when they may not see the project at all."""
    roles = project_roles(user, project)
    if Role.LEAD in roles:
        return "lead"
    if Role.REVIEWER in roles:
        return "team"
    if Role.ANNOTATOR in roles:
        return "annotator"
    # A requester membership, or the request's team: the requesting side's view.
    return "requester" if can_view_project(user, project) else None


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


def can_author_schemas(user: User) -> bool:
    """Create label schemas and their versions (leads: schemas are shared between projects)."""
    return user.is_authenticated and user.is_lead


def can_ask_for_deliveries(user: User) -> bool:
    """Ask for a delivery at all (which project's is `can_manage_project`)."""
    return user.is_authenticated and user.is_lead


def can_use_work_pages(user: User) -> bool:
    """The annotator's and reviewer's pages: everyone but requesters (superusers included)."""
    return user.is_authenticated and (user.is_superuser or user.role != user.Role.REQUESTER)


def can_use_audit_queue(user: User) -> bool:
    """The reviewer's audit queue: reviewers by account role, or by a membership in any project."""
    if not user.is_authenticated:
        return False
    return user.role == user.Role.REVIEWER or reviewed_project_ids(user).exists()


def can_manage_team_resource(user: User, team_id: int | None) -> bool:
    """Change what belongs to a requesting team (its webhook endpoints): its members, and superusers."""
    return user.is_authenticated and (user.is_superuser or (team_id is not None and user.team_id == team_id))


def can_manage_accounts(user: User) -> bool:
    """Create and deactivate users, make staff, run requester teams (staff and superusers)."""
    return user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser)


def can_manage_member_profile(user: User, project: Project, member: User) -> bool:
    """Edit `member`'s qualifications and personal wellness cap: leads of a project `member`
    belongs to (the profile is the person's, so any project they are on will do), and staff."""
    if can_manage_accounts(user):
        return True
    return can_manage_project(user, project) and (
        project.lead_id == member.pk or project.memberships.filter(user=member).exists()
    )


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


# --- Enforcement, for services ----------------------------------------------------------------------


def require_lead(actor: User | None, project: Project) -> None:
    """NotAllowed unless `actor` leads `project`; `actor` None is the system (beat, commands)."""
    if actor is not None and not can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")


def require_staff(actor: User) -> None:
    """NotAllowed unless `actor` is staff (can_manage_accounts)."""
    if not can_manage_accounts(actor):
        raise NotAllowed(f"{actor.username} is not staff: only staff manage users and teams")


def require_reviewer(user: User, project: Project) -> None:
    """NotAllowed unless `user` reviews or leads `project`."""
    if not project_roles(user, project) & {"reviewer", "lead"}:
        raise NotAllowed(f"{user.username} is not a reviewer of project {project.name!r}")
