"""Blockers and risks of a project: opening one (by a member, or by the system for a rule),
giving it to a member, resolving it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from core.errors import IllegalTransition, NotAllowed, QuorumError
from projects import access
from projects.models import Blocker, Project
from projects.services import activity_record

if TYPE_CHECKING:
    from accounts.models import User


@transaction.atomic
def blocker_open(
    *,
    project: Project,
    actor: User | None,
    title: str,
    kind: str = Blocker.Kind.BLOCKER,
    severity: int = Blocker.Severity.MEDIUM,
    description: str = "",
    owner: User | None = None,
    rule: str = "",
) -> Blocker:
    """Open a blocker or risk on `project`. `actor` None means the system raised it (then `rule` says which)."""
    if actor is not None and not access.can_open_blocker(actor, project):
        raise NotAllowed(f"{actor.username} may not open blockers on project {project.name!r}")
    if actor is None and not rule:
        raise QuorumError("rule: a blocker the system raises must name its rule", field="rule")
    if owner is not None and not access.project_roles(owner, project):
        raise QuorumError(f"owner: {owner.username} is not a member of project {project.name!r}", field="owner")
    blocker = Blocker(
        project=project,
        kind=kind,
        title=(title or "").strip(),
        description=description,
        severity=severity,
        owner=owner,
        opened_by=actor,
        rule=rule,
    )
    blocker.full_clean()
    blocker.save()
    who = actor.username if actor else "Quorum"
    activity_record(
        actor=actor,
        verb=f"{kind}.opened",
        project=project,
        summary=f"{who} opened {kind} “{blocker.title}”",
        data={"blocker": blocker.pk},
    )
    return blocker


@transaction.atomic
def blocker_assign(*, blocker: Blocker, owner: User, actor: User) -> Blocker:
    """Give an open blocker or risk to a member of its project."""
    blocker = Blocker.objects.select_for_update().select_related("project").get(pk=blocker.pk)
    if blocker.status != Blocker.Status.OPEN:
        raise IllegalTransition(f"“{blocker.title}” is resolved; only open blockers can be assigned", field="status")
    access.require_lead(actor, blocker.project)
    if not access.project_roles(owner, blocker.project):
        raise QuorumError(f"owner: {owner.username} is not a member of project {blocker.project.name!r}", field="owner")
    blocker.owner = owner
    blocker.save(update_fields=["owner"])
    activity_record(
        actor=actor,
        verb=f"{blocker.kind}.assigned",
        project=blocker.project,
        summary=f"{actor.username} gave “{blocker.title}” to {owner.username}",
    )
    return blocker


@transaction.atomic
def blocker_resolve(*, blocker: Blocker, actor: User | None, resolution: str) -> Blocker:
    """Resolve an open blocker or risk with a resolution. Leads and the blocker's owner may;
    `actor` None is the system closing a risk whose cause is gone."""
    blocker = Blocker.objects.select_for_update().select_related("project").get(pk=blocker.pk)
    if actor is not None and not access.can_resolve_blocker(actor, blocker):
        raise NotAllowed(f"{actor.username} may not resolve “{blocker.title}” (leads and its owner may)")
    if blocker.status != Blocker.Status.OPEN:
        raise IllegalTransition(f"“{blocker.title}” is already resolved", field="status")
    resolution = (resolution or "").strip()
    if not resolution:
        raise QuorumError("resolution: say how it was resolved", field="resolution")
    blocker.status = Blocker.Status.RESOLVED
    blocker.resolution = resolution
    blocker.resolved_at = timezone.now()
    blocker.resolved_by = actor
    blocker.save(update_fields=["status", "resolution", "resolved_at", "resolved_by"])
    who = actor.username if actor else "Quorum"
    activity_record(
        actor=actor,
        verb=f"{blocker.kind}.resolved",
        project=blocker.project,
        summary=f"{who} resolved “{blocker.title}”: {resolution}",
        data={"blocker": blocker.pk},
    )
    return blocker
