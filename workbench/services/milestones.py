"""Milestones of a project: planning one, re-planning it, recording when it was reached."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.db import transaction

from projects import access
from projects.models import Milestone, Project
from projects.services import activity_record

if TYPE_CHECKING:
    from accounts.models import User


@transaction.atomic
def milestone_create(*, project: Project, name: str, planned_date: date, actor: User, notes: str = "") -> Milestone:
    access.require_lead(actor, project)
    milestone = Milestone(project=project, name=(name or "").strip(), planned_date=planned_date, notes=notes)
    milestone.full_clean()
    milestone.save()
    activity_record(
        actor=actor,
        verb="milestone.created",
        project=project,
        summary=f"{actor.username} planned milestone “{milestone.name}” for {planned_date}",
    )
    return milestone


@transaction.atomic
def milestone_update(
    *,
    milestone: Milestone,
    actor: User,
    planned_date: date | None = None,
    actual_date: date | None = None,
    notes: str | None = None,
) -> Milestone:
    """Re-plan a milestone or record when it was reached."""
    access.require_lead(actor, milestone.project)
    changes = []
    if planned_date is not None and planned_date != milestone.planned_date:
        changes.append(f"re-planned to {planned_date}")
        milestone.planned_date = planned_date
    if actual_date is not None and actual_date != milestone.actual_date:
        changes.append(f"reached on {actual_date}")
        milestone.actual_date = actual_date
    if notes is not None:
        milestone.notes = notes
    milestone.full_clean()
    milestone.save()
    if changes:
        activity_record(
            actor=actor,
            verb="milestone.updated",
            project=milestone.project,
            summary=f"{actor.username}: milestone “{milestone.name}” {', '.join(changes)}",
        )
    return milestone
