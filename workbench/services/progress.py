"""A project's figures kept current: the progress recount from its items and annotations, and
the gold-bar sweep that pauses annotators under the project's bar."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from annotation.models import Annotation, Item
from projects.models import Membership, Project
from projects.services import activity_record
from quality.selectors.accuracy import gold_accuracy


@transaction.atomic
def project_progress_refresh(*, project_id: int) -> dict[str, int]:
    """Recount the project's progress figures from its items and annotations and store them.

    Idempotent: it sets counts, it does not add to them. Returns the figures.
    """
    project = Project.objects.select_for_update(no_key=True).get(pk=project_id)
    # Gold items sit outside the overlap (each annotator answers each once), so progress counts
    # regular items and their annotations only.
    items = Item.objects.filter(project=project, is_gold=False).aggregate(
        total=Count("id"),
        required=Sum("required_annotations"),
        completed=Count("id", filter=Q(annotations_done__gte=F("required_annotations"))),
    )
    figures = {
        "items_total": items["total"] or 0,
        "annotations_required": items["required"] or 0,
        "items_completed": items["completed"] or 0,
        "annotations_done": Annotation.objects.filter(project=project, item__is_gold=False).count(),
    }
    for field, value in figures.items():
        setattr(project, field, value)
    project.progress_refreshed_at = timezone.now()
    project.save(update_fields=[*figures, "progress_refreshed_at"])
    return figures


# --- Gold bar: pausing and reinstating annotators -----------------------------------------------


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


@transaction.atomic
def gold_pause_sweep(*, project_id: int) -> list[str]:
    """Pause the project's annotators whose gold accuracy is under its bar, when it says so.

    Only with `pause_below_gold_bar` on and a gold bar set, and only once an annotator answered
    the project's `gold_min_items` gold items. A reinstated annotator is judged on the gold they
    answered since the reinstatement, so a lead's decision stands until new evidence builds up.
    Idempotent: paused annotators stay paused, nobody is unpaused here. Returns who was paused.
    """
    project = Project.objects.get(pk=project_id)
    if not project.pause_below_gold_bar or project.min_gold_accuracy is None:
        return []
    memberships = {
        membership.user_id: membership
        for membership in Membership.objects.select_for_update()
        .filter(project=project, role=Membership.Role.ANNOTATOR, is_active=True)
        .select_related("user")
    }
    since = {user_id: m.reinstated_at for user_id, m in memberships.items() if m.reinstated_at is not None}
    figures = gold_accuracy(project_id=project.pk, answered_after=since)
    paused = []
    now = timezone.now()
    for row in figures.annotators:
        membership = memberships.get(row["annotator_id"])
        if not row["flagged"] or membership is None or membership.paused_at is not None:
            continue
        membership.paused_at = now
        membership.paused_reason = (
            f"gold accuracy {_percent(row['accuracy'])} ({row['correct']} of {row['n']}) "
            f"is under the project's bar of {_percent(project.min_gold_accuracy)}"
        )
        membership.save(update_fields=["paused_at", "paused_reason"])
        activity_record(
            actor=None,
            verb="annotator.paused",
            project=project,
            summary=f"Quorum paused {membership.user.username}: {membership.paused_reason}",
            data={"annotator": membership.user_id, "n": row["n"], "correct": row["correct"]},
        )
        paused.append(membership.user.username)
    return paused
