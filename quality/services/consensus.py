"""Consensus labels (majority vote or Dawid–Skene) and the reviewers' adjudications of the items
whose consensus needs a human."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from django.db import connection, transaction
from django.utils import timezone

from annotation.models import Annotation, Item, LabelSchema
from annotation.selectors import schema_version_current
from annotation.validation import labels_chosen_check
from core.errors import NotAllowed, QuorumError
from projects.access import require_lead, require_reviewer
from quality import aggregation, figures, loading
from quality.models import Adjudication, Consensus, QualityJob
from quality.services.common import CHUNK_SIZE, project_get, regular_annotations
from quality.services.jobs import (
    PROGRESS_LOAD_SHARE,
    JobStatus,
    Progress,
    job_enqueue,
    job_succeed,
    locked_job,
    quality_job_start,
)
from quality.sql import CONSENSUS_COPY_TYPES, consensus_copy_sql, consensus_insert_sql

if TYPE_CHECKING:
    from accounts.models import User


@transaction.atomic
def consensus_enqueue(
    *,
    project_id: int,
    actor: User | None,
    method: str = Consensus.Method.DAWID_SKENE,
    min_confidence: float | None = None,
) -> QualityJob:
    """Queue a consensus computation (quality.consensus_compute, on commit); returns the job. Leads only.
    `min_confidence` defaults to the project's `consensus_min_confidence`."""
    project = project_get(project_id)
    require_lead(actor, project)
    if min_confidence is None:
        min_confidence = project.consensus_min_confidence
    _consensus_params_check(method, min_confidence)
    params = {"method": method, "min_confidence": float(min_confidence)}
    return job_enqueue(project=project, kind=QualityJob.Kind.CONSENSUS, params=params, actor=actor)


def _consensus_params_check(method: str, min_confidence: float) -> None:
    if method not in Consensus.Method.values:
        raise QuorumError(f"method: {method!r} is not one of {', '.join(Consensus.Method.values)}", field="method")
    if isinstance(min_confidence, bool) or not isinstance(min_confidence, int | float) or not 0 <= min_confidence <= 1:
        raise QuorumError(f"min_confidence: {min_confidence!r} is not a number from 0 to 1", field="min_confidence")


def consensus_compute(
    *,
    project_id: int,
    method: str = Consensus.Method.DAWID_SKENE,
    min_confidence: float | None = None,
    job_id: int | None = None,
    chunk_size: int = CHUNK_SIZE,
    reader: loading.Reader = "auto",
) -> dict[str, Any]:
    """Aggregate every annotated regular item's labels and store one Consensus row per item.

    `majority`: the most voted label, confidence = its share of the votes. `dawid_skene`: the
    label with the highest posterior under the annotators' estimated confusion matrices,
    confidence = that posterior. Multi-choice schemas are aggregated label by label (chosen or
    not); the item's confidence is its least certain label's. An item whose vote is tied, or whose
    confidence is under `min_confidence` (the project's `consensus_min_confidence` unless given),
    needs adjudication. The project's rows are replaced in one transaction at the end (with the
    job's success when `job_id` is given). Returns a summary.
    """
    project = project_get(project_id)
    if min_confidence is None:
        min_confidence = project.consensus_min_confidence
    _consensus_params_check(method, min_confidence)
    job = quality_job_start(job_id=job_id) if job_id is not None else None
    if job is not None and job.status == JobStatus.SUCCEEDED:
        return job.result
    if job is not None and job.status == JobStatus.FAILED:
        raise QuorumError(f"job {job.pk} failed ({job.error}); queue a new one", field="job_id")
    space = loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
    if not space.size:
        raise QuorumError(f"project {project.name!r} has no label schema", field="project_id")
    annotations = regular_annotations(project.pk)
    progress = Progress(job_id, annotations.count() if job_id is not None else 0)
    accumulator = figures.Accumulator(space)
    for chunk in loading.annotation_chunks(
        annotations, space=space, chunk_size=chunk_size, reader=reader, on_rows=progress.rows
    ):
        accumulator.add(chunk)
    data = accumulator.result()
    progress.step(PROGRESS_LOAD_SHARE, f"Aggregating {data.n_items:,} items")
    labels, confidence, tie, iterations = _aggregate(data, space=space, method=method)
    needs = tie | (confidence < min_confidence)
    now = timezone.now()
    keys = list(space.keys)
    clipped = np.clip(np.nan_to_num(confidence, nan=0.0), 0.0, 1.0).tolist()
    # One row per item: a Python loop is unavoidable here; it builds plain tuples, not model objects.
    rows = [
        (
            item_id,
            project.pk,
            str(method),
            [keys[index] for index in np.flatnonzero(chosen_row)],
            clipped[code],
            {keys[index]: int(count) for index, count in enumerate(present_row) if count},
            int(per_item),
            bool(tie_value),
            bool(needs_value),
            now,
        )
        for code, (item_id, chosen_row, present_row, per_item, tie_value, needs_value) in enumerate(
            zip(data.item_ids.tolist(), labels, data.present, data.per_item, tie, needs, strict=True)
        )
    ]
    progress.step(0.9, "Saving the consensus labels")
    summary = {
        "method": str(method),
        "items": data.n_items,
        "needs_adjudication": int(needs.sum()),
        "ties": int(tie.sum()),
        "min_confidence": float(min_confidence),
        "iterations": iterations,
    }
    with transaction.atomic():
        if job_id is not None:
            job = locked_job(job_id)
            if job.status == JobStatus.SUCCEEDED:
                return job.result
        # Nothing points at consensus rows, so replacing a project's rows is a delete and a bulk
        # insert (measured at 200,000 items: the whole job took 28.5 s with an ORM upsert, 9.2 s so).
        Consensus.objects.filter(project_id=project.pk).delete()
        _consensus_insert(rows)
        if job is not None:
            job_succeed(job, result=summary)
    return summary


def _consensus_insert(rows: list[tuple]) -> None:
    """Insert consensus rows (in sql.CONSENSUS_COLUMNS order): binary COPY on PostgreSQL, one
    executemany elsewhere. Runs on the Django connection, inside the caller's transaction."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        from psycopg.types.json import set_json_dumps

        connection.ensure_connection()
        with connection.connection.cursor() as raw:
            set_json_dumps(orjson.dumps, context=raw)
            with raw.copy(consensus_copy_sql()) as copy:
                copy.set_types(CONSENSUS_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        return
    stamp = connection.ops.adapt_datetimefield_value(rows[0][-1])
    records = [
        (*row[:3], orjson.dumps(row[3]).decode(), row[4], orjson.dumps(row[5]).decode(), *row[6:9], stamp)
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(consensus_insert_sql(), records)


def _aggregate(
    data: figures.Accumulated, *, space: loading.LabelSpace, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None]:
    """(chosen labels as an items × labels boolean matrix, confidence, tie, Dawid–Skene iterations)."""
    n, size = data.n_items, space.size
    annotator_ids, annotator_codes = np.unique(data.annotator_ids, return_inverse=True)
    annotator_codes = annotator_codes.ravel()
    if not space.multi:
        majority = aggregation.majority_vote(data.present)
        chosen = np.zeros((n, size), dtype=bool)
        if method == Consensus.Method.MAJORITY:
            label, confidence, iterations = majority.label, majority.share, None
        else:
            estimate = aggregation.dawid_skene(
                data.items,
                annotator_codes,
                data.categories,
                n_items=n,
                n_annotators=len(annotator_ids),
                n_categories=size,
            )
            label, confidence, iterations = estimate.label, estimate.confidence, estimate.iterations
        chosen[np.arange(n), label] = True
        return chosen, np.nan_to_num(confidence, nan=0.0), majority.tie, iterations
    # Multi-choice: each label is a yes/no question; the item is as sure as its least sure label.
    chosen = np.zeros((n, size), dtype=bool)
    confidence = np.ones(n)
    tie = np.zeros(n, dtype=bool)
    iterations = 0
    rows_indicator = data.category_sets[data.categories]  # per annotation, the labels it chose
    for label in range(size):  # a loop over labels, not annotations
        yes = data.present[:, label]
        binary = np.column_stack([data.per_item - yes, yes])
        majority = aggregation.majority_vote(binary)
        tie |= majority.tie
        if method == Consensus.Method.MAJORITY:
            p_yes = np.where(data.per_item > 0, yes / np.maximum(data.per_item, 1), 0.0)
        else:
            estimate = aggregation.dawid_skene(
                data.items,
                annotator_codes,
                rows_indicator[:, label].astype(np.int64),
                n_items=n,
                n_annotators=len(annotator_ids),
                n_categories=2,
            )
            p_yes, iterations = estimate.posterior[:, 1], max(iterations, estimate.iterations)
        chosen[:, label] = p_yes > 0.5
        confidence = np.minimum(confidence, np.maximum(p_yes, 1.0 - p_yes))
    return chosen, confidence, tie, iterations if method == Consensus.Method.DAWID_SKENE else None


# --- Adjudication -----------------------------------------------------------------------------------


@transaction.atomic
def adjudication_record(*, item: Item, reviewer: User, labels: list[str] | str, reason: str = "") -> Adjudication:
    """Record a reviewer's final labels for an item (the latest adjudication of an item is in force).

    Invariants: the reviewer is a reviewer (or lead) of the project and did not annotate the item
    themselves; gold items are not adjudicated (their answer is known); labels are checked
    against the schema version in force.
    """
    item = Item.objects.select_related("project").get(pk=item.pk)
    project = item.project
    require_reviewer(reviewer, project)
    if item.is_gold:
        raise QuorumError(f"item {item.external_id!r} is a gold item: its answer is known", field="item")
    if Annotation.objects.filter(item=item, annotator=reviewer).exists():
        raise NotAllowed(f"{reviewer.username} annotated item {item.external_id!r}, so another reviewer settles it")
    version = schema_version_current(schema_id=project.label_schema_id)
    if version is None:
        raise QuorumError(f"project {project.name!r} has no label schema", field="labels")
    chosen = labels_chosen_check(
        labels,
        allowed=version.labels.values_list("key", flat=True),
        multi=version.schema.selection == LabelSchema.Selection.MULTI,
        none_option=version.schema.none_option,
    )
    adjudication = Adjudication(
        item=item, project=project, reviewer=reviewer, labels=chosen, reason=(reason or "").strip()
    )
    adjudication.full_clean()
    adjudication.save()
    return adjudication
