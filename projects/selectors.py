"""Reads of the projects app, already scoped to what the user may see and loaded for display."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet, prefetch_related_objects

from projects.models import Activity, Blocker, DataRequest, Membership, Project

if TYPE_CHECKING:
    from accounts.models import User


def project_list(*, user: User) -> QuerySet[Project]:
    """Projects `user` may see, with their lead and request loaded and open blockers counted."""
    return (
        Project.objects.visible_to(user)
        .select_related("lead", "request", "label_schema")
        .annotate(
            open_blockers=Count(
                "blockers", filter=Q(blockers__status=Blocker.Status.OPEN, blockers__kind=Blocker.Kind.BLOCKER)
            ),
            open_risks=Count(
                "blockers", filter=Q(blockers__status=Blocker.Status.OPEN, blockers__kind=Blocker.Kind.RISK)
            ),
        )
        # Aggregation drops Meta.ordering, so the order is stated (pages need a stable one).
        .order_by("deadline", "name", "id")
    )


def project_get(*, user: User, pk: int) -> Project:
    """One project `user` may see (Project.DoesNotExist otherwise, so other projects do not leak)."""
    return (
        project_list(user=user)
        .prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("user").filter(is_active=True)),
            "milestones",
        )
        .get(pk=pk)
    )


def datarequest_list(*, user: User) -> QuerySet[DataRequest]:
    """Requests `user` may see: leads see all (they triage); others their own and their team's."""
    qs = DataRequest.objects.select_related("requester", "team", "label_schema", "decided_by", "project")
    if user.is_lead:
        return qs
    condition = Q(requester=user)
    if user.team_id:
        condition |= Q(team_id=user.team_id)
    return qs.filter(condition)


def blocker_list(*, user: User) -> QuerySet[Blocker]:
    """Blockers and risks of the projects `user` may see."""
    return Blocker.objects.filter(project__in=Project.objects.visible_to(user)).select_related(
        "project", "owner", "opened_by", "resolved_by"
    )


def activity_list(*, project: Project, limit: int = 50) -> QuerySet[Activity]:
    return Activity.objects.filter(project=project).select_related("actor")[:limit]


def annotator_projects(*, user: User) -> QuerySet[Project]:
    """Projects in which `user` is an active annotator and work can be done (pilot or production)."""
    return (
        Project.objects.filter(
            memberships__user=user,
            memberships__role=Membership.Role.ANNOTATOR,
            memberships__is_active=True,
            phase__in=[Project.Phase.PILOT, Project.Phase.PRODUCTION],
        )
        .select_related("lead")
        .distinct()
    )


def project_page_get(*, user: User, pk: int) -> Project:
    """One project for its page: project_get, plus its open blockers and risks (`blockers_open`,
    most severe first) and its ten latest resolved ones (`blockers_resolved`), people loaded."""
    project = project_get(user=user, pk=pk)
    people = Blocker.objects.select_related("owner", "opened_by", "resolved_by")
    prefetch_related_objects(
        [project],
        Prefetch("blockers", queryset=people.filter(status=Blocker.Status.OPEN), to_attr="blockers_open"),
        Prefetch(
            "blockers",
            queryset=people.filter(status=Blocker.Status.RESOLVED).order_by("-resolved_at", "-id")[:10],
            to_attr="blockers_resolved",
        ),
    )
    return project


def project_lead_list(*, user: User) -> QuerySet[User]:
    """The leads of the projects `user` may see (the portfolio's lead filter offers these)."""
    return (
        get_user_model()
        .objects.filter(led_projects__in=Project.objects.visible_to(user))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def reviewer_projects(*, user: User) -> QuerySet[Project]:
    """Projects in which `user` is an active reviewer and there is work to review (pilot to QA)."""
    return (
        Project.objects.filter(
            memberships__user=user,
            memberships__role=Membership.Role.REVIEWER,
            memberships__is_active=True,
            phase__in=[Project.Phase.PILOT, Project.Phase.PRODUCTION, Project.Phase.QA],
        )
        .select_related("lead")
        .distinct()
    )
