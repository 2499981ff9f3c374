"""Test data for the dashboard: annotations written straight with the models at chosen times, with
the item counters kept as the assignment engine keeps them (the rollups read those)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db.models import F

from accounts.models import User
from annotation.models import Annotation, Assignment, Item
from annotation.selectors import schema_version_current


def annotate(item: Item, user: User, labels: Sequence[str], *, at: dt.datetime, ms: int = 1000) -> Annotation:
    """One submitted assignment and annotation; the item's counters move as in annotation_submit."""
    version = schema_version_current(schema_id=item.project.label_schema_id)
    assignment = Assignment.objects.create(
        project=item.project, item=item, annotator=user, status=Assignment.Status.SUBMITTED,
        is_gold=item.is_gold, expires_at=at, finished_at=at,
    )  # fmt: skip
    annotation = Annotation.objects.create(
        assignment=assignment, project=item.project, item=item, annotator=user, labels=list(labels),
        schema_version=version, submitted_at=at, time_spent_ms=ms,
    )  # fmt: skip
    if not item.is_gold:
        Item.objects.filter(pk=item.pk).update(
            assigned_count=F("assigned_count") + 1, annotations_done=F("annotations_done") + 1
        )
    return annotation
