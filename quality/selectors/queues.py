"""The reviewers' queues: audit samples to review, items whose consensus needs a human, the votes
an adjudicator sees, and the consensus labels in force."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from annotation.models import Annotation, Assignment
from projects import access
from quality.models import Adjudication, AuditSample, Consensus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from accounts.models import User


def audit_queue(*, reviewer: User, project_id: int | None = None) -> QuerySet[AuditSample]:
    """Pending audit samples of the projects `reviewer` reviews (active reviewer membership),
    unassigned or assigned to them, never of their own annotations; oldest first."""

    samples = AuditSample.objects.filter(
        status=AuditSample.Status.PENDING, project_id__in=access.reviewed_project_ids(reviewer)
    ).filter(Q(reviewer__isnull=True) | Q(reviewer=reviewer))
    if project_id is not None:
        samples = samples.filter(project_id=project_id)
    return (
        samples.exclude(annotation__annotator=reviewer)
        .select_related("project", "annotation", "annotation__item")
        .order_by("created_at", "id")
    )


def adjudication_ready(*, now: datetime | None = None) -> Q:
    """The condition on Consensus rows for an item that is ready to adjudicate: its votes are
    complete (the consensus counts as many annotations as the item's overlap,
    `required_annotations`, which dynamic overlap may have raised), or it is stalled: short of its overlap, with no live lease on it (every lease
    submitted, skipped or expired) and no annotation for QUORUM_ADJUDICATION_STALL_HOURS. An item
    still waiting for its annotators (one vote of three, a lease running) is not ready: the next
    votes may settle it."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.QUORUM_ADJUDICATION_STALL_HOURS)
    live_lease = Assignment.objects.filter(
        item_id=OuterRef("item_id"), status=Assignment.Status.ACTIVE, expires_at__gt=now
    )
    recent = Annotation.objects.filter(item_id=OuterRef("item_id"), submitted_at__gt=since)
    complete = Q(n_annotations__gte=F("item__required_annotations"))
    return complete | (~Exists(live_lease) & ~Exists(recent))


def adjudication_queue(*, project_id: int, reviewer: User | None = None) -> QuerySet[Consensus]:
    """Items whose consensus needs a human (tied, or under the confidence bar), that are ready
    (adjudication_ready: complete or stalled) and that nobody adjudicated yet, least confident
    first; with `reviewer`, without the items they annotated."""
    queue = (
        Consensus.objects.filter(project_id=project_id, needs_adjudication=True)
        .filter(adjudication_ready())
        .exclude(Exists(Adjudication.objects.filter(item_id=OuterRef("item_id"))))
    )
    if reviewer is not None:
        queue = queue.exclude(Exists(Annotation.objects.filter(item_id=OuterRef("item_id"), annotator=reviewer)))
    return queue.select_related("item").order_by("confidence", "item_id")


def adjudication_next(*, reviewer: User, skipped: Iterable[int] = ()) -> tuple[Consensus | None, int]:
    """The reviewer's next item to settle over all the projects they review or lead (ready ones
    only, see adjudication_ready; least confident first, never one they annotated, none of
    `skipped`), and how many are waiting."""
    queue = (
        Consensus.objects.filter(project_id__in=access.adjudicating_project_ids(reviewer), needs_adjudication=True)
        .filter(adjudication_ready())
        .exclude(Exists(Adjudication.objects.filter(item_id=OuterRef("item_id"))))
        .exclude(Exists(Annotation.objects.filter(item_id=OuterRef("item_id"), annotator=reviewer)))
    )
    waiting = queue.count()
    if waiting == 0:
        return None, 0
    first = (
        queue.exclude(item_id__in=list(skipped))
        .select_related("item", "project")
        .order_by("confidence", "item_id")
        .first()
    )
    return first, waiting


def adjudication_votes(*, consensus: Consensus) -> list[dict[str, Any]]:
    """The item's annotations for the adjudicator: labels, comments and time spent, with the
    annotators numbered rather than named (a name is not evidence)."""
    rows = Annotation.objects.filter(item_id=consensus.item_id).order_by("submitted_at", "id")
    return [
        {"number": number, "labels": row.labels, "comment": row.comment, "time_spent_ms": row.time_spent_ms}
        for number, row in enumerate(rows, start=1)
    ]


def consensus_final_labels(*, project_id: int) -> QuerySet[Consensus]:
    """Consensus rows with the labels in force: the latest adjudication's where there is one
    (`final_labels`), else the consensus labels."""
    latest = Adjudication.objects.filter(item_id=OuterRef("item_id")).order_by("-created_at", "-id")
    return (
        Consensus.objects.filter(project_id=project_id)
        .annotate(adjudicated_labels=Subquery(latest.values("labels")[:1]))
        .order_by("item_id")
    )
