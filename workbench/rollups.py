"""Pre-aggregated daily figures for the dashboards: per project and per (project, annotator, day).

`rollup_refresh` reads the annotations and flags added since the watermark (their ids), adds
them into DailyRollup and AnnotatorDailyRollup rows and moves the watermark, all in one
transaction per chunk, so a crash or a second worker never counts a row twice or loses one.
The annotation submit path is untouched: a beat task (projects.rollup_refresh) runs this every
QUORUM_ROLLUP_REFRESH_SECONDS. Pages read only the rollups.

Honest limits, on purpose:
- Days are UTC days of `submitted_at` (flags: `created_at`).
- Handling time is a histogram over fixed log-spaced buckets (TIME_BUCKETS_MS, ratio 1.25), so
  a median or p90 over any set of days and annotators is exact to within one bucket: the value
  shown is the bucket's geometric middle, at most ~12% from the true order statistic.
- An item counts as completed on the day of the annotation that completed it: the chunk holding
  its last annotation sees it complete (if dynamic overlap later adds a slot, the item counts
  when its new last slot is answered, once).
- Rows are read in id order up to the first one submitted less than QUORUM_ROLLUP_SETTLE_SECONDS
  ago, so an annotation whose transaction commits a moment after a higher id is not skipped.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotation.models import Annotation, Flag, Item, LabelSchema
from projects.models import AnnotatorDailyRollup, DailyRollup, Project, RollupWatermark

# Bucket upper edges in milliseconds: 250 ms × 1.25^k up to about two hours; the last bucket is open.
TIME_BUCKETS_MS: list[int] = [round(250 * 1.25**k) for k in range(41)]
CHUNK = 100_000
WATERMARK = "default"


def time_bucket(ms: int) -> int:
    """The histogram bucket of a handling time (the first edge at or above it)."""
    return bisect.bisect_left(TIME_BUCKETS_MS, ms)


def histogram_add(into: list[int], other: list[int]) -> list[int]:
    """Add two histograms (either may be shorter: trailing zeros are not stored)."""
    if len(into) < len(other):
        into = into + [0] * (len(other) - len(into))
    for index, count in enumerate(other):
        into[index] += count
    return into


def histogram_quantile(histogram: list[int], q: float) -> float | None:
    """The q-quantile (0..1) of a handling-time histogram in milliseconds: the geometric middle of
    the bucket holding the order statistic; None for an empty histogram."""
    total = sum(histogram)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            low = TIME_BUCKETS_MS[index - 1] if index > 0 else 0
            high = TIME_BUCKETS_MS[index] if index < len(TIME_BUCKETS_MS) else TIME_BUCKETS_MS[-1] * 1.25
            return math.sqrt(max(low, 1) * high) if low else high / 2
    return None  # pragma: no cover - the loop always reaches rank


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date() if timezone.is_aware(moment) else moment.date()


def _gold_correct(labels: list[str], answer: list[str] | None, multi: bool) -> bool:
    answer = answer or []
    if multi:
        return set(labels or []) == set(answer)
    return bool(labels) and labels[0] in answer


class _Totals:
    """The figures of one rollup row being built from a chunk."""

    __slots__ = (
        "annotations",
        "flags_raised",
        "gold_answered",
        "gold_correct",
        "histogram",
        "items_completed",
        "label_votes",
        "last_submitted_at",
        "time_ms_sum",
    )

    def __init__(self) -> None:
        self.annotations = 0
        self.items_completed = 0
        self.time_ms_sum = 0
        self.histogram: list[int] = []
        self.gold_answered = 0
        self.gold_correct = 0
        self.flags_raised = 0
        self.label_votes: dict[str, int] = defaultdict(int)
        self.last_submitted_at: datetime | None = None

    def add_time(self, ms: int) -> None:
        bucket = time_bucket(ms)
        if len(self.histogram) <= bucket:
            self.histogram.extend([0] * (bucket + 1 - len(self.histogram)))
        self.histogram[bucket] += 1
        self.time_ms_sum += ms


def _annotation_chunk(after: int, cutoff: datetime) -> list[tuple]:
    rows = list(
        Annotation.objects.filter(id__gt=after)
        .order_by("id")
        .values_list(
            "id",
            "project_id",
            "annotator_id",
            "item_id",
            "submitted_at",
            "time_spent_ms",
            "labels",
            "item__is_gold",
            "item__gold_labels",
        )[:CHUNK]
    )
    for index, row in enumerate(rows):
        if row[4] > cutoff:
            return rows[:index]
    return rows


def _completed_items(after: int, upto: int) -> set[int]:
    """Regular items complete now whose last annotation lies in ids (after, upto]."""
    touched = Annotation.objects.filter(id__gt=after, id__lte=upto).values("item_id")
    complete = set(
        Item.objects.filter(pk__in=touched, is_gold=False, annotations_done__gte=F("required_annotations")).values_list(
            "id", flat=True
        )
    )
    if complete:
        later = Annotation.objects.filter(id__gt=upto, item_id__in=touched).values_list("item_id", flat=True)
        complete -= set(later)
    return complete


def _merge(model: type, key_fields: tuple[str, ...], built: dict[tuple, _Totals]) -> None:
    """Add `built` into the stored rows of `model` (one read, one bulk update, one bulk create)."""
    if not built:
        return
    project_ids = {key[0] for key in built}
    days = {key[-1] for key in built}
    existing = {
        tuple(getattr(row, f"{name}_id" if name in ("project", "annotator") else name) for name in key_fields): row
        for row in model.objects.filter(project_id__in=project_ids, day__in=days)
    }
    has_project_only = model is DailyRollup
    updates, creates = [], []
    for key, totals in built.items():
        row = existing.get(key)
        if row is None:
            row = model(
                **{
                    f"{name}_id" if name in ("project", "annotator") else name: value
                    for name, value in zip(key_fields, key, strict=True)
                }
            )
            creates.append(row)
        else:
            updates.append(row)
        row.annotations += totals.annotations
        row.time_ms_sum += totals.time_ms_sum
        row.time_histogram = histogram_add(list(row.time_histogram or []), totals.histogram)
        row.gold_answered += totals.gold_answered
        row.gold_correct += totals.gold_correct
        row.flags_raised += totals.flags_raised
        if has_project_only:
            row.items_completed += totals.items_completed
            votes = dict(row.label_votes or {})
            for label, count in totals.label_votes.items():
                votes[label] = votes.get(label, 0) + count
            row.label_votes = votes
            if totals.last_submitted_at and (
                not row.last_submitted_at or totals.last_submitted_at > row.last_submitted_at
            ):
                row.last_submitted_at = totals.last_submitted_at
    fields = ["annotations", "time_ms_sum", "time_histogram", "gold_answered", "gold_correct", "flags_raised"]
    if has_project_only:
        fields += ["items_completed", "label_votes", "last_submitted_at"]
    if updates:
        model.objects.bulk_update(updates, fields, batch_size=500)
    if creates:
        model.objects.bulk_create(creates, batch_size=500)


def _rollup_chunk(watermark: RollupWatermark, cutoff: datetime) -> int:
    """Count one chunk of annotations and every new flag; returns how many annotations it read."""
    rows = _annotation_chunk(watermark.annotation_id, cutoff)
    projects: dict[tuple, _Totals] = defaultdict(_Totals)
    people: dict[tuple, _Totals] = defaultdict(_Totals)
    if rows:
        upto = rows[-1][0]
        multi = dict(
            Project.objects.filter(pk__in={row[1] for row in rows}).values_list("pk", F("label_schema__selection"))
        )
        completed = _completed_items(watermark.annotation_id, upto)
        last_of_item: dict[int, tuple[int, int, date]] = {}
        for ann_id, project_id, annotator_id, item_id, submitted_at, ms, labels, is_gold, gold_labels in rows:
            day = _day(submitted_at)
            project, person = projects[(project_id, day)], people[(project_id, annotator_id, day)]
            if is_gold:
                correct = _gold_correct(labels, gold_labels, multi.get(project_id) == LabelSchema.Selection.MULTI)
                for totals in (project, person):
                    totals.gold_answered += 1
                    totals.gold_correct += int(correct)
            else:
                for totals in (project, person):
                    totals.annotations += 1
                    totals.add_time(ms)
                for label in labels or []:
                    project.label_votes[str(label)] += 1
                if item_id in completed:
                    last_of_item[item_id] = (ann_id, project_id, day)
            if project.last_submitted_at is None or submitted_at > project.last_submitted_at:
                project.last_submitted_at = submitted_at
        for _ann_id, project_id, day in last_of_item.values():
            projects[(project_id, day)].items_completed += 1
        watermark.annotation_id = upto
    flag_rows = list(
        Flag.objects.filter(id__gt=watermark.flag_id)
        .order_by("id")
        .values_list("id", "project_id", "raised_by_id", "created_at")
    )
    for _flag_id, project_id, annotator_id, created_at in flag_rows:
        day = _day(created_at)
        projects[(project_id, day)].flags_raised += 1
        people[(project_id, annotator_id, day)].flags_raised += 1
    if flag_rows:
        watermark.flag_id = flag_rows[-1][0]
    _merge(DailyRollup, ("project", "day"), projects)
    _merge(AnnotatorDailyRollup, ("project", "annotator", "day"), people)
    watermark.refreshed_at = timezone.now()
    watermark.save()
    return len(rows)


def rollup_refresh(*, now: datetime | None = None, settle_seconds: int | None = None) -> dict[str, Any]:
    """Add every annotation and flag past the watermark into the daily rollups and move the
    watermark. Idempotent and safe to run concurrently (the watermark row is locked per chunk).
    Returns how many annotations it counted and the watermark reached."""
    now = now or timezone.now()
    settle = settings.QUORUM_ROLLUP_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    cutoff = now - timedelta(seconds=settle)
    # Nothing new (the common case for a page in embedded mode): three reads, no lock, no write.
    seen = RollupWatermark.objects.filter(name=WATERMARK).values_list("annotation_id", "flag_id").first()
    # The next annotation by id (a primary-key probe), not "any settled one": the chunk stops at the
    # first unsettled row anyway, and a filter on submitted_at could send the planner down that index.
    following = (
        Annotation.objects.filter(id__gt=seen[0]).order_by("id").values_list("submitted_at", flat=True).first()
        if seen is not None
        else None
    )
    if (
        seen is not None
        and (following is None or following > cutoff)
        and not Flag.objects.filter(id__gt=seen[1]).exists()
    ):
        return {"annotations": 0, "annotation_id": seen[0], "flag_id": seen[1]}
    RollupWatermark.objects.get_or_create(name=WATERMARK)
    counted = 0
    while True:
        with transaction.atomic():
            watermark = RollupWatermark.objects.select_for_update().get(name=WATERMARK)
            read = _rollup_chunk(watermark, cutoff)
        counted += read
        if read < CHUNK:
            break
    return {"annotations": counted, "annotation_id": watermark.annotation_id, "flag_id": watermark.flag_id}
