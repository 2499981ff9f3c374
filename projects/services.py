"""Writes of the project floor: the activity log and who is on a project (memberships, and an
annotator's pause for the gold bar lifted). The lead's lifecycle services (workbench.services)
and the apps between them call these; each checks the actor's role and records the change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from core.errors import IllegalTransition, NotAllowed, QuorumError
from projects import access
from projects.models import Activity, DataRequest, Membership, Project

if TYPE_CHECKING:
    from accounts.models import User


def activity_record(
    *,
    actor: User | None,
    verb: str,
    summary: str,
    project: Project | None = None,
    data_request: DataRequest | None = None,
    data: dict[str, Any] | None = None,
) -> Activity:
    """Append one line to the activity log. Called by the services that change state."""
    return Activity.objects.create(
        actor=actor, verb=verb, summary=summary[:500], project=project, request=data_request, data=data or {}
    )


@transaction.atomic
def membership_add(*, project: Project, user: User, role: str, actor: User) -> Membership:
    """Give `user` `role` on `project` (idempotent; reactivates an inactive membership)."""
    access.require_lead(actor, project)
    if role not in Membership.Role.values:
        raise QuorumError(f"role: {role!r} is not one of {', '.join(Membership.Role.values)}", field="role")
    membership, created = Membership.objects.get_or_create(project=project, user=user, role=role)
    reactivated = not created and not membership.is_active
    if reactivated:
        membership.is_active = True
        membership.save(update_fields=["is_active"])
    if created or reactivated:
        activity_record(
            actor=actor,
            verb="membership.added",
            project=project,
            summary=f"{actor.username} {'added' if created else 'added back'} {user.username} as {role}",
        )
    return membership


@transaction.atomic
def annotator_reinstate(*, project: Project, annotator: User, actor: User, note: str = "") -> Membership:
    """A lead gives a paused annotator work again. From now on the gold bar counts only the gold
    they answer after this moment (see gold_pause_sweep)."""
    if not access.can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} may not reinstate annotators of {project.name!r} (its leads may)")
    membership = (
        Membership.objects.select_for_update()
        .filter(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
        .first()
    )
    if membership is None:
        raise QuorumError(f"annotator: {annotator.username} is not an annotator of {project.name!r}", field="annotator")
    if membership.paused_at is None:
        raise IllegalTransition(f"annotator: {annotator.username} is not paused", field="annotator")
    reason = membership.paused_reason
    membership.paused_at = None
    membership.paused_reason = ""
    membership.reinstated_at = timezone.now()
    membership.reinstated_by = actor
    membership.save(update_fields=["paused_at", "paused_reason", "reinstated_at", "reinstated_by"])
    summary = f"{actor.username} reinstated {annotator.username} (paused because {reason})"
    if note.strip():
        summary += f": {note.strip()}"
    activity_record(actor=actor, verb="annotator.reinstated", project=project, summary=summary)
    return membership
