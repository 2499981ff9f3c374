"""Every write of the quality engine: agreement reports and the jobs that compute them, consensus
labels, audit samples and reviews, adjudications.

The numbers come from the pure core (agreement.py, gold.py, aggregation.py) through loading.py
(the database → integer codes, streamed) and figures.py. Reads (gold and audit accuracy, the
quality gate, root cause, queues) are in selectors.py.

Gold items are left out of agreement and consensus: every annotator answers each of them (they sit
outside the overlap) and their answer is known, so they would weigh far more than a regular item
and say nothing about the regular items' labels. Gold accuracy measures them instead.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotation.models import Annotation, Batch, Guideline, Item, LabelSchema
from annotation.selectors import schema_version_current
from annotation.validation import labels_chosen_check
from core.errors import NotAllowed, QuorumError
from projects.access import project_roles
from projects.models import Project
from quality import aggregation, agreement, figures, loading, selectors, valuecounts
from quality.models import (
    Adjudication,
    AgreementReport,
    AuditSample,
    Consensus,
    LabelCounts,
    QualityJob,
    Review,
)

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

Scope = AgreementReport.Scope
JobStatus = QualityJob.Status

DEFAULT_BOOTSTRAP = 1000
CHUNK_SIZE = 50_000  # annotations per streamed chunk (whole items): bounded memory per step
MIN_SHARED = 20  # annotator pairs sharing fewer items get no Cohen's kappa
# A job still pending or running after this long is presumed lost (its worker died and the
# broker gave up on it): an identical request starts a new one instead of waiting for it.
JOB_STALE_AFTER = timedelta(hours=1)
# Audits: annotators with fewer annotations than this in the project count as new.
NEW_ANNOTATOR_ANNOTATIONS = 100
# New annotators and those under the gold bar get this many times the project's audit share.
TARGETED_SHARE_FACTOR = 3.0
PROGRESS_LOAD_SHARE = 0.7  # the share of a job's progress bar that loading the annotations takes


# --- Projects (read through the foreign key; this app sits below projects) -------------------------


def _project(project_id: int, *, lock: bool = False) -> Project:
    # Lazy import: quality sits below projects (docs/architecture.md); it only reads the row.

    projects = Project.objects.select_for_update(of=("self",)) if lock else Project.objects
    try:
        return projects.get(pk=project_id)
    except Project.DoesNotExist:
        raise QuorumError(f"project {project_id} does not exist", field="project_id")


def _roles(user: User, project: Project) -> set[str]:
    # Lazy import, as above: projects.access is the one answer to "may this user ...?".

    return project_roles(user, project)


def _require_lead(actor: User | None, project: Project) -> None:
    """`actor` None is the system (beat, commands)."""
    if actor is not None and "lead" not in _roles(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")


def _require_reviewer(user: User, project: Project) -> None:
    if not _roles(user, project) & {"reviewer", "lead"}:
        raise NotAllowed(f"{user.username} is not a reviewer of project {project.name!r}")


# --- Jobs -------------------------------------------------------------------------------------------


def _job_enqueue(*, project: Project, kind: str, params: dict[str, Any], actor: User | None) -> QualityJob:
    """The unfinished job with the same kind and parameters, or a new one queued on commit."""
    recent = timezone.now() - JOB_STALE_AFTER
    waiting = QualityJob.objects.filter(
        project=project, kind=kind, status__in=[JobStatus.PENDING, JobStatus.RUNNING], created_at__gte=recent
    ).order_by("-created_at")
    for existing in waiting:
        if existing.params == params:
            return existing
    job = QualityJob(project=project, kind=kind, params=params, created_by=actor)
    job.full_clean()
    job.save()
    # Lazy import: tasks import this module.
    from quality import tasks

    task = tasks.agreement_report_compute if kind == QualityJob.Kind.AGREEMENT_REPORT else tasks.consensus_compute
    transaction.on_commit(lambda: task.delay(job.pk))
    return job


@transaction.atomic
def agreement_report_enqueue(
    *,
    project_id: int,
    actor: User | None,
    scope: str = Scope.PROJECT,
    scope_key: str = "",
    window: tuple[Any, Any] | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> QualityJob:
    """Queue an agreement report of one scope; returns the job to poll.

    The scope is checked now, so a bad request fails here rather than in the worker. An identical
    request while one is still pending or running returns that job instead of queueing another.
    The quality.agreement_report_compute task is queued on commit. Leads only (`actor` None: the
    system).
    """
    project = _project(project_id)
    _require_lead(actor, project)
    scope, scope_key, start, end = _scope_clean(project, scope, scope_key, window)
    if not isinstance(bootstrap, int) or isinstance(bootstrap, bool) or not 0 <= bootstrap <= 100_000:
        raise QuorumError(
            f"bootstrap: {bootstrap!r} is not a whole number of resamples from 0 to 100000", field="bootstrap"
        )
    params = {
        "scope": scope,
        "scope_key": scope_key,
        "window": [start.isoformat(), end.isoformat()] if start else None,
        "bootstrap": bootstrap,
        "seed": int(seed),
    }
    return _job_enqueue(project=project, kind=QualityJob.Kind.AGREEMENT_REPORT, params=params, actor=actor)


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
    project = _project(project_id)
    _require_lead(actor, project)
    if min_confidence is None:
        min_confidence = project.consensus_min_confidence
    _consensus_params_check(method, min_confidence)
    params = {"method": method, "min_confidence": float(min_confidence)}
    return _job_enqueue(project=project, kind=QualityJob.Kind.CONSENSUS, params=params, actor=actor)


def quality_job_start(*, job_id: int) -> QualityJob:
    """Mark a job running (again, after a re-delivery) and return it. A finished job is returned as it is.

    One UPDATE in its own autocommit, so pollers see it while the work runs.
    """
    QualityJob.objects.filter(pk=job_id, status__in=[JobStatus.PENDING, JobStatus.RUNNING]).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), progress=0.0, message="Started"
    )
    return QualityJob.objects.select_related("report").get(pk=job_id)


def quality_job_progress(*, job_id: int, progress: float, message: str = "") -> None:
    """Record a running job's progress (0..1) and what it is doing.

    Deliberately not atomic with the work: called outside the computation's transaction, each
    update commits at once, so pages polling the job see it move.
    """
    QualityJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress=min(max(float(progress), 0.0), 1.0), message=message[:300]
    )


def quality_job_fail(*, job_id: int, error: str) -> None:
    """Mark a job failed with the reason. A job that already succeeded stays succeeded."""
    QualityJob.objects.filter(pk=job_id).exclude(status=JobStatus.SUCCEEDED).update(
        status=JobStatus.FAILED,
        error=(error or "failed")[:4000],
        message="Failed",
        finished_at=timezone.now(),
    )


def _job_succeed(
    job: QualityJob, *, report: AgreementReport | None = None, result: dict[str, Any] | None = None
) -> None:
    """Inside the result's transaction: the job succeeded with it."""
    job.status = JobStatus.SUCCEEDED
    job.progress = 1.0
    job.message = "Done"
    job.report = report
    job.result = result or {}
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "progress", "message", "report", "result", "finished_at"])


def _locked_job(job_id: int) -> QualityJob:
    return QualityJob.objects.select_for_update(of=("self",)).select_related("report").get(pk=job_id)


class _Progress:
    """Loading progress of a job, as a share of the rows to read (at most one write a chunk)."""

    def __init__(self, job_id: int | None, total: int) -> None:
        self.job_id, self.total = job_id, max(total, 1)

    def rows(self, read: int) -> None:
        if self.job_id is not None:
            share = PROGRESS_LOAD_SHARE * min(read / self.total, 1.0)
            quality_job_progress(
                job_id=self.job_id, progress=share, message=f"Read {read:,} of {self.total:,} annotations"
            )

    def step(self, progress: float, message: str) -> None:
        if self.job_id is not None:
            quality_job_progress(job_id=self.job_id, progress=progress, message=message)


# --- Scopes -----------------------------------------------------------------------------------------


def _moment(value: Any, *, what: str) -> datetime:
    """An aware datetime from a datetime, a date (its start, in the current time zone) or ISO text."""
    if isinstance(value, str):
        # A date first: Python's ISO parser reads "2026-03-01" as a naive midnight.
        parsed = parse_date(value) if len(value) == 10 else parse_datetime(value)
        if parsed is None:
            raise QuorumError(f"window: {what} {value!r} is not an ISO date or date-time", field="window")
        value = parsed
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            raise QuorumError(f"window: {what} {value.isoformat()} has no time zone", field="window")
        return value
    if isinstance(value, date):
        return timezone.make_aware(datetime.combine(value, datetime.min.time()))
    raise QuorumError(f"window: {what} {value!r} is not a date or date-time", field="window")


def _scope_clean(
    project: Project, scope: str, scope_key: Any, window: Any
) -> tuple[str, str, datetime | None, datetime | None]:
    """Check a scope against the project: (scope, scope_key as text, window start, window end)."""
    if scope not in Scope.values:
        raise QuorumError(f"scope: {scope!r} is not one of {', '.join(Scope.values)}", field="scope")
    key = "" if scope_key is None else str(scope_key).strip()
    start = end = None
    if window is not None:
        if not isinstance(window, list | tuple) or len(window) != 2:
            raise QuorumError("window: give [start, end)", field="window")
        start, end = _moment(window[0], what="start"), _moment(window[1], what="end")
        if start >= end:
            raise QuorumError(
                f"window: the start {start.isoformat()} is not before the end {end.isoformat()}", field="window"
            )
    if scope in (Scope.PROJECT, Scope.WINDOW):
        if key:
            raise QuorumError(f"scope_key: the {scope} scope takes no key, got {key!r}", field="scope_key")
        if scope == Scope.WINDOW and start is None:
            raise QuorumError("window: the window scope needs [start, end)", field="window")
        return scope, "", start, end
    if not key:
        raise QuorumError(f"scope_key: say which {scope.replace('_', ' ')}", field="scope_key")
    if scope == Scope.LABEL:
        space = loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
        if key not in space.keys:
            raise QuorumError(f"scope_key: {key!r} is not a label of project {project.name!r}", field="scope_key")
        return scope, key, start, end
    if not key.isdigit():
        raise QuorumError(f"scope_key: {key!r} is not a {scope.replace('_', ' ')} number", field="scope_key")
    number = int(key)
    if scope == Scope.BATCH and not Batch.objects.filter(project=project, pk=number).exists():
        raise QuorumError(f"scope_key: project {project.name!r} has no batch {number}", field="scope_key")
    if scope == Scope.GUIDELINE_VERSION and not Guideline.objects.filter(project=project, version=number).exists():
        raise QuorumError(f"scope_key: project {project.name!r} has no guideline version {number}", field="scope_key")
    if scope == Scope.ANNOTATOR:
        from django.contrib.auth import get_user_model

        if not get_user_model().objects.filter(pk=number).exists():
            raise QuorumError(f"scope_key: there is no annotator {number}", field="scope_key")
    return scope, str(number), start, end


def _regular_annotations(project_id: int) -> QuerySet[Annotation]:
    """The project's annotations on regular items. NOT EXISTS over the (few) gold items is an
    anti-join against a tiny hash: far cheaper than joining every annotation to its item (0.4 s a
    million on PostgreSQL), and unlike NOT IN it leaves parallel plans open."""
    gold = Item.objects.filter(pk=OuterRef("item_id"), is_gold=True)
    return Annotation.objects.filter(project_id=project_id).filter(~Exists(gold))


def _scope_annotations(
    project_id: int, scope: str, scope_key: str, start: datetime | None, end: datetime | None
) -> QuerySet[Annotation]:
    """The annotations a scope measures (gold items left out)."""
    annotations = _regular_annotations(project_id)
    if start is not None:
        annotations = annotations.filter(submitted_at__gte=start, submitted_at__lt=end)
    if scope == Scope.BATCH:
        annotations = annotations.filter(item__batch_id=int(scope_key))
    elif scope == Scope.GUIDELINE_VERSION:
        annotations = annotations.filter(guideline__version=int(scope_key))
    elif scope == Scope.ANNOTATOR:
        # Their agreement with the others: every annotation of the items they labelled.
        theirs = Annotation.objects.filter(project_id=project_id, annotator_id=int(scope_key))
        if start is not None:
            theirs = theirs.filter(submitted_at__gte=start, submitted_at__lt=end)
        annotations = annotations.filter(item_id__in=theirs.values("item_id"))
    return annotations


# --- Agreement reports ------------------------------------------------------------------------------


def agreement_report_compute(
    *,
    project_id: int,
    scope: str = Scope.PROJECT,
    scope_key: str = "",
    window: tuple[Any, Any] | list[Any] | None = None,
    job_id: int | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    chunk_size: int = CHUNK_SIZE,
    reader: loading.Reader = "auto",
    actor: User | None = None,
) -> AgreementReport:
    """Compute and store the agreement report of one scope of a project.

    Streams the scope's annotations (in item order, in chunks of whole items) into the
    value-counts matrix, then computes nominal alpha with a bootstrap CI
    (`bootstrap` resamples, seeded), ordinal alpha over the labels' severity, observed agreement,
    Fleiss' kappa, per-label binary alpha, the most confused label pairs, pairwise Cohen's kappa,
    each annotator's agreement with the others and alpha per guideline version. Items with one
    annotation are left out of the statistics and counted (`n_items_left_out`).

    The report row is written in one transaction at the end, with the job's success when
    `job_id` is given: a worker killed on the way leaves no report. Progress goes to the job as
    it reads, outside that transaction. A job that already succeeded returns its report (a
    re-delivered task computes nothing twice).
    """
    started = time.perf_counter()
    job = quality_job_start(job_id=job_id) if job_id is not None else None
    if job is not None and job.status == JobStatus.SUCCEEDED and job.report is not None:
        return job.report
    if job is not None and job.status == JobStatus.FAILED:
        raise QuorumError(f"job {job.pk} failed ({job.error}); queue a new one", field="job_id")
    project = _project(project_id)
    scope, scope_key, start, end = _scope_clean(project, scope, scope_key, window)
    space = loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
    if not space.size:
        raise QuorumError(
            f"project {project.name!r} has no label schema, so there is nothing to measure", field="project_id"
        )
    # The source's state before reading: anything submitted meanwhile makes the report stale, not lost.
    source = Annotation.objects.filter(project_id=project.pk).aggregate(n=Count("id"), last=Max("submitted_at"))
    annotations = _scope_annotations(project.pk, scope, scope_key, start, end)
    progress = _Progress(job_id, annotations.count() if job_id is not None else 0)
    accumulator = figures.Accumulator(space, label=scope_key if scope == Scope.LABEL else None)
    for chunk in loading.annotation_chunks(
        annotations, space=space, chunk_size=chunk_size, reader=reader, on_rows=progress.rows
    ):
        accumulator.add(chunk)
    data = accumulator.result()
    seconds = {"load": time.perf_counter() - started}
    progress.step(PROGRESS_LOAD_SHARE, f"Read {len(data.items):,} annotations; computing agreement")
    versions = dict(Guideline.objects.filter(project=project).values_list("pk", "version"))
    result = figures.agreement_figures(
        data,
        bootstrap=bootstrap,
        seed=seed,
        min_shared=MIN_SHARED,
        guideline_versions=versions,
        focus_annotator=int(scope_key) if scope == Scope.ANNOTATOR else None,
        seconds=seconds,
    )
    result.details["seconds"]["total"] = round(time.perf_counter() - started, 4)
    progress.step(0.95, "Saving the report")
    with transaction.atomic():
        if job_id is not None:
            job = _locked_job(job_id)
            if job.status == JobStatus.SUCCEEDED and job.report is not None:
                return job.report  # a duplicate delivery finished first
        report = AgreementReport(
            project=project,
            scope=scope,
            scope_key=scope_key,
            window_start=start,
            window_end=end,
            computed_at=timezone.now(),
            n_annotations=result.n_annotations,
            n_items=result.n_items,
            n_items_left_out=result.n_items_left_out,
            n_annotators=result.n_annotators,
            source_annotations=source["n"],
            source_last_submitted_at=source["last"],
            alpha=result.alpha,
            alpha_low=result.alpha_low,
            alpha_high=result.alpha_high,
            alpha_ordinal=result.alpha_ordinal,
            observed_agreement=result.observed_agreement,
            fleiss_kappa=result.fleiss_kappa,
            details=result.details,
            created_by=actor if actor is not None else (job.created_by if job is not None else None),
        )
        # The row is computed, not typed in: the database enforces its check constraints at insert,
        # so full_clean skips them here (each would cost a query and a savepoint).
        report.full_clean(validate_constraints=False)
        report.save()
        if job is not None:
            _job_succeed(job, report=report, result={"report_id": report.pk, "alpha": report.alpha})
    return report


def agreement_refresh() -> list[int]:
    """Queue a project-scope report for every project whose annotations changed since its latest
    one (beat runs this). Returns the ids of the jobs queued (or already waiting)."""
    jobs = []
    for project_id in selectors.agreement_stale_project_ids():
        job = agreement_report_enqueue(project_id=project_id, actor=None)
        jobs.append(job.pk)
    return jobs


# --- Kept value counts, and alpha as of now -------------------------------------------------------


@dataclass(frozen=True)
class ProjectValueCounts:
    """The value counts of a project's regular items over all its annotations at the time of reading."""

    counts: valuecounts.ValueCounts
    through_annotation_id: int  # the kept row's watermark after this read
    rebuilt: bool  # the kept row was missing or out of step, so every annotation was read
    annotations_read: int  # rows read from the annotations table by this call


def label_counts_refresh(*, project_id: int, reader: loading.Reader = "auto") -> ProjectValueCounts:
    """The project's per-item value counts as of now, from its LabelCounts row plus the
    annotations past the row's watermark.

    Annotations submitted more than QUORUM_ROLLUP_SETTLE_SECONDS ago are folded into the row and
    the watermark moves past them (newer ones are counted but not kept, so one whose transaction
    commits a moment after a higher id is not skipped). The row is built from every annotation
    when it is missing, and rebuilt when the project's annotations up to the watermark are no
    longer the number it counted (some were deleted, or committed later than the settling time),
    so the result always equals counting every annotation now. Gold items are taken out as they
    are now. Two reads at once do not conflict: the row moves only from the state its read began
    with, otherwise the other read's update stands.
    """
    project = _project(project_id)
    space = loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
    kept = LabelCounts.objects.filter(project_id=project.pk).defer("item_ids", "cells").first()
    stored = _label_counts_kept(kept)
    rebuilt = stored is None
    through = 0 if kept is None or rebuilt else kept.through_annotation_id
    n_kept = 0 if kept is None or rebuilt else kept.n_annotations
    if stored is None:
        stored = valuecounts.empty(valuecounts.for_space(space))
    read = 0
    cutoff = timezone.now() - timedelta(seconds=settings.QUORUM_ROLLUP_SETTLE_SECONDS)
    settled = (
        Annotation.objects.filter(project_id=project.pk, pk__gt=through, submitted_at__lt=cutoff).aggregate(
            last=Max("pk")
        )["last"]
        or through
    )
    if settled > through or rebuilt:
        folded, rows = _value_counts_between(project.pk, space, after=through, upto=settled, reader=reader)
        stored, n_kept, read = valuecounts.merge(stored, folded), n_kept + rows, read + rows
        _label_counts_store(project.pk, kept, stored, through=settled, n_annotations=n_kept)
        through = settled
    recent, rows = _value_counts_between(project.pk, space, after=through, upto=None, reader=reader)
    current = valuecounts.merge(stored, recent)
    gold = Item.objects.filter(project_id=project.pk, is_gold=True).values_list("pk", flat=True)
    current = valuecounts.without_items(current, np.fromiter(gold, dtype=np.int64))
    return ProjectValueCounts(current, through_annotation_id=through, rebuilt=rebuilt, annotations_read=read + rows)


def _label_counts_kept(kept: LabelCounts | None) -> valuecounts.ValueCounts | None:
    """The kept matrix, or None when there is none or it is out of step with the annotations:
    the project's annotation count, less those past the watermark, must be the count it kept
    (one statement, so both counts see the same moment)."""
    if kept is None:
        return None
    table = connection.ops.quote_name(Annotation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COUNT(*) FROM {table} WHERE project_id = %s), "
            f"(SELECT COUNT(*) FROM {table} WHERE id > %s AND project_id = %s)",
            [kept.project_id, kept.through_annotation_id, kept.project_id],
        )
        total, past = cursor.fetchone()
    if total - past != kept.n_annotations:
        logger.info(
            "project %s: %s annotations up to %s, the kept value counts have %s; rebuilding them",
            kept.project_id,
            total - past,
            kept.through_annotation_id,
            kept.n_annotations,
        )
        return None
    try:
        categories = tuple(tuple(category) for category in kept.categories)
        return valuecounts.unpack(*_label_counts_matrix(kept.pk), categories)
    except ValueError:
        logger.exception("project %s: the kept value counts cannot be read; rebuilding them", kept.project_id)
        return None


def _value_counts_between(
    project_id: int, space: loading.LabelSpace, *, after: int, upto: int | None, reader: loading.Reader
) -> tuple[valuecounts.ValueCounts, int]:
    """The value counts of the project's annotations with after < id <= upto (no upper bound when
    None), gold items included, and how many annotations that was."""
    annotations = Annotation.objects.filter(project_id=project_id, pk__gt=after)
    if upto is not None:
        annotations = annotations.filter(pk__lte=upto)
    counts, rows = valuecounts.empty(), 0
    for chunk in loading.annotation_chunks(annotations, space=space, reader=reader):
        counts = valuecounts.merge(counts, valuecounts.from_chunk(chunk, space, counts.categories))
        rows += len(chunk)
    return counts, rows


def _label_counts_store(
    project_id: int, kept: LabelCounts | None, counts: valuecounts.ValueCounts, *, through: int, n_annotations: int
) -> None:
    """Write the kept row: create it, or move it on from the state `kept` was read in. A
    concurrent read that got there first wins (its row is as good), so nothing waits or fails."""
    item_ids, cells = valuecounts.pack(counts)
    fields = {
        "categories": [list(category) for category in counts.categories],
        "item_ids": item_ids,
        "cells": cells,
        "through_annotation_id": through,
        "n_annotations": n_annotations,
        "refreshed_at": timezone.now(),
    }
    if kept is None:
        try:
            with transaction.atomic():
                LabelCounts.objects.create(project_id=project_id, **fields)
        except IntegrityError:  # another read created it meanwhile
            pass
        return
    if connection.vendor != "postgresql":
        LabelCounts.objects.filter(pk=kept.pk, through_annotation_id=kept.through_annotation_id).update(**fields)
        return
    # The matrix as binary parameters: Django binds on the client, as a hex literal three times the
    # size, which PostgreSQL then parses (0.12 s against 0.04 s for a 5.6 MB matrix).
    import psycopg

    fields["categories"] = orjson.dumps(fields["categories"]).decode()
    table = connection.ops.quote_name(LabelCounts._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in fields)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} WHERE id = %s AND through_annotation_id = %s",
            [*fields.values(), kept.pk, kept.through_annotation_id],
        )


def _label_counts_matrix(pk: int) -> tuple[bytes, bytes]:
    """The kept row's packed item ids and cells (on PostgreSQL in binary: a third of the time of
    Django's text transfer for a 5.6 MB matrix)."""
    if connection.vendor != "postgresql":
        item_ids, cells = LabelCounts.objects.filter(pk=pk).values_list("item_ids", "cells").get()
        return bytes(item_ids), bytes(cells)
    import psycopg

    table = connection.ops.quote_name(LabelCounts._meta.db_table)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"SELECT item_ids, cells FROM {table} WHERE id = %s", [pk], binary=True)
        item_ids, cells = cursor.fetchone()
    return bytes(item_ids), bytes(cells)


@dataclass(frozen=True)
class AlphaNow:
    """Nominal alpha over a project's regular items as of `computed_at`."""

    alpha: agreement.AlphaResult
    n_annotations: int
    through_annotation_id: int
    computed_at: datetime
    rebuilt: bool
    annotations_read: int


def project_alpha_compute(*, project_id: int, reader: loading.Reader = "auto") -> AlphaNow:
    """Krippendorff's alpha (nominal; over answer sets for multi-choice schemas) of every
    annotation of the project's regular items submitted so far, from the kept value counts
    (label_counts_refresh, which it brings up to date). The same value as a project-scope
    agreement report computed now, without reading every annotation again."""
    current = label_counts_refresh(project_id=project_id, reader=reader)
    return AlphaNow(
        alpha=agreement.krippendorff_alpha(current.counts.counts),
        n_annotations=current.counts.n_annotations,
        through_annotation_id=current.through_annotation_id,
        computed_at=timezone.now(),
        rebuilt=current.rebuilt,
        annotations_read=current.annotations_read,
    )


# --- Consensus --------------------------------------------------------------------------------------


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
    project = _project(project_id)
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
    annotations = _regular_annotations(project.pk)
    progress = _Progress(job_id, annotations.count() if job_id is not None else 0)
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
            job = _locked_job(job_id)
            if job.status == JobStatus.SUCCEEDED:
                return job.result
        # Nothing points at consensus rows, so replacing a project's rows is a delete and a bulk
        # insert (measured at 200,000 items: the whole job took 28.5 s with an ORM upsert, 9.2 s so).
        Consensus.objects.filter(project_id=project.pk).delete()
        _consensus_insert(rows)
        if job is not None:
            _job_succeed(job, result=summary)
    return summary


_CONSENSUS_COLUMNS = (
    "item_id", "project_id", "method", "labels", "confidence", "votes", "n_annotations", "tie",
    "needs_adjudication", "computed_at",
)  # fmt: skip
_CONSENSUS_COPY_TYPES = ["int8", "int8", "varchar", "jsonb", "float8", "jsonb", "int2", "bool", "bool", "timestamptz"]


def _consensus_insert(rows: list[tuple]) -> None:
    """Insert consensus rows (in _CONSENSUS_COLUMNS order): binary COPY on PostgreSQL, one
    executemany elsewhere. Runs on the Django connection, inside the caller's transaction."""
    if not rows:
        return
    table = connection.ops.quote_name(Consensus._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in _CONSENSUS_COLUMNS)
    if connection.vendor == "postgresql":
        from psycopg.types.json import set_json_dumps

        connection.ensure_connection()
        with connection.connection.cursor() as raw:
            set_json_dumps(orjson.dumps, context=raw)
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_CONSENSUS_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        return
    stamp = connection.ops.adapt_datetimefield_value(rows[0][-1])
    records = [
        (*row[:3], orjson.dumps(row[3]).decode(), row[4], orjson.dumps(row[5]).decode(), *row[6:9], stamp)
        for row in rows
    ]
    placeholders = ", ".join(["%s"] * len(_CONSENSUS_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", records)


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


@transaction.atomic
def adjudication_record(*, item: Item, reviewer: User, labels: list[str] | str, reason: str = "") -> Adjudication:
    """Record a reviewer's final labels for an item (the latest adjudication of an item is in force).

    Invariants: the reviewer is a reviewer (or lead) of the project and did not annotate the item
    themselves; gold items are not adjudicated (their answer is known); labels are checked
    against the schema version in force.
    """
    item = Item.objects.select_related("project").get(pk=item.pk)
    project = item.project
    _require_reviewer(reviewer, project)
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
    )
    adjudication = Adjudication(
        item=item, project=project, reviewer=reviewer, labels=chosen, reason=(reason or "").strip()
    )
    adjudication.full_clean()
    adjudication.save()
    return adjudication


# --- Audits -----------------------------------------------------------------------------------------


def seeded_uniform(ids: np.ndarray, seed: int) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per id (SplitMix64 of the id and the seed).

    The random stratum takes an annotation when its number is under the share: a coin flip per
    annotation that does not depend on when the draw runs, on the other strata or on how many
    annotations there are, so repeated draws agree and the stratum stays a plain random sample.
    Deliveries split items with it for the same reasons (delivery.services.split_assign).
    """
    with np.errstate(over="ignore"):
        x = ids.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % (1 << 64))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@transaction.atomic
def audit_sample_draw(*, project_id: int, share: float, seed: int = 0, actor: User | None = None) -> list[AuditSample]:
    """Draw annotations of a project for reviewers to audit; returns the new samples.

    Strata, in this order (an annotation is drawn once, in the first stratum that takes it):
    - `random`: each submitted annotation on a regular item with probability `share`, decided by a
      fixed coin per (annotation, seed): a plain random sample, so the project's audit accuracy
      is estimated from it alone, without bias;
    - `under_bar`: annotators whose gold accuracy is under the project's bar (after the minimum
      number of gold items) are topped up to TARGETED_SHARE_FACTOR × share of their annotations;
    - `new_annotator`: annotators with fewer than NEW_ANNOTATOR_ANNOTATIONS annotations, likewise;
    - `annotator_label`: every (annotator, label) cell is topped up to `share` of its annotations
      (at least one), so rare labels and light annotators are reviewed too.
    Idempotent: annotations already drawn are never drawn again and the top-ups count what was
    drawn before, so running it again with the same share and seed only draws new annotations.
    Concurrent draws of one project are serialised on the project row. Leads only (None: system).
    """
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise QuorumError(f"share: {share!r} is not a number above 0 and at most 1", field="share")
    project = _project(project_id, lock=True)
    _require_lead(actor, project)
    rows = list(_regular_annotations(project.pk).order_by("id").values_list("id", "annotator_id", "labels"))
    if not rows:
        return []
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    annotators = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
    # The (annotator, label) cell of each annotation; a multi-choice answer counts under its first key.
    label_codes: dict[str, int] = {}
    first_labels = np.fromiter(
        (label_codes.setdefault(min(row[2]) if row[2] else "", len(label_codes)) for row in rows),
        dtype=np.int64,
        count=len(rows),
    )
    cells = annotators * (len(label_codes) + 1) + first_labels
    taken = np.isin(
        ids,
        np.fromiter(
            AuditSample.objects.filter(project_id=project.pk).values_list("annotation_id", flat=True), dtype=np.int64
        ),
    )
    stratum = np.full(len(ids), "", dtype=object)

    def take(rows_chosen: np.ndarray, name: str) -> None:
        rows_chosen = rows_chosen[~taken[rows_chosen]]
        taken[rows_chosen] = True
        stratum[rows_chosen] = name

    take(np.flatnonzero(seeded_uniform(ids, seed) < share), AuditSample.Stratum.RANDOM)
    rng = np.random.default_rng([int(seed), project.pk])

    def top_up(groups: np.ndarray, members: np.ndarray, rate: float, name: str) -> None:
        """Within each group (of the rows where `members`), draw until `rate` of its rows are taken."""
        rows_in = np.flatnonzero(members)
        order = rows_in[np.argsort(groups[rows_in], kind="stable")]
        bounds = np.flatnonzero(np.diff(groups[order])) + 1
        for in_group in np.split(order, bounds) if len(order) else []:  # a loop over groups
            need = math.ceil(rate * len(in_group) - 1e-9) - int(taken[in_group].sum())
            free = in_group[~taken[in_group]]
            if need > 0 and len(free):
                take(rng.choice(free, size=min(need, len(free)), replace=False), name)

    targeted = min(1.0, share * TARGETED_SHARE_FACTOR)
    gold = selectors.gold_accuracy(project_id=project.pk)
    under_bar = np.isin(annotators, [row["annotator_id"] for row in gold.annotators if row["flagged"]])
    top_up(annotators, under_bar, targeted, AuditSample.Stratum.UNDER_BAR)
    known, per_annotator = np.unique(annotators, return_counts=True)
    new = np.isin(annotators, known[per_annotator < NEW_ANNOTATOR_ANNOTATIONS])
    top_up(annotators, new, targeted, AuditSample.Stratum.NEW_ANNOTATOR)
    top_up(cells, np.ones(len(ids), dtype=bool), share, AuditSample.Stratum.ANNOTATOR_LABEL)

    drawn = np.flatnonzero(stratum != "")
    samples = [AuditSample(project_id=project.pk, annotation_id=int(ids[row]), stratum=stratum[row]) for row in drawn]
    return AuditSample.objects.bulk_create(samples, batch_size=2000)


@transaction.atomic
def review_record(
    *,
    sample: AuditSample,
    reviewer: User,
    verdict: str,
    correct_labels: list[str] | str | None = None,
    error_cause: str = "",
    note: str = "",
) -> Review:
    """Record a reviewer's verdict on an audit sample, and mark the sample reviewed.

    Invariants: the reviewer is a reviewer (or lead) of the project, not the annotation's author,
    and the one the sample is assigned to if it is assigned; one review per sample (recording the
    same verdict again returns the stored review; a different one is refused). A correct verdict
    has no error cause and keeps the annotation's labels; an incorrect one names the cause and
    the right labels (checked against the annotation's schema version), which differ from the
    annotation's.
    """
    sample = (
        AuditSample.objects.select_for_update(of=("self",))
        .select_related("project", "annotation__schema_version__schema")
        .get(pk=sample.pk)
    )
    annotation = sample.annotation
    _require_reviewer(reviewer, sample.project)
    if annotation.annotator_id == reviewer.pk:
        raise NotAllowed(f"{reviewer.username} wrote annotation {annotation.pk}; another reviewer audits it")
    existing = Review.objects.filter(sample=sample).select_related("reviewer").first()
    if existing is None and sample.reviewer_id is not None and sample.reviewer_id != reviewer.pk:
        raise NotAllowed(f"audit sample {sample.pk} is assigned to another reviewer")
    if verdict not in Review.Verdict.values:
        raise QuorumError(f"verdict: {verdict!r} is not one of {', '.join(Review.Verdict.values)}", field="verdict")
    error_cause = error_cause or ""
    if verdict == Review.Verdict.CORRECT:
        if error_cause:
            raise QuorumError("error_cause: a correct annotation has no error cause", field="error_cause")
        if correct_labels not in (None, "", []) and sorted(_as_list(correct_labels)) != sorted(annotation.labels):
            raise QuorumError(
                f"correct_labels: a correct verdict keeps the annotation's labels {annotation.labels!r}",
                field="correct_labels",
            )
        labels = list(annotation.labels)
    else:
        if error_cause not in Review.ErrorCause.values:
            raise QuorumError(
                f"error_cause: say why it is wrong, one of {', '.join(Review.ErrorCause.values)}", field="error_cause"
            )
        version = annotation.schema_version
        labels = labels_chosen_check(
            correct_labels,
            allowed=version.labels.values_list("key", flat=True),
            multi=version.schema.selection == LabelSchema.Selection.MULTI,
            where="correct_labels",
        )
        if sorted(labels) == sorted(annotation.labels):
            raise QuorumError(
                "correct_labels: these are the annotation's own labels; give the right ones, or a correct verdict",
                field="correct_labels",
            )
    if existing is not None:
        same = (existing.reviewer_id, existing.verdict, sorted(existing.correct_labels), existing.error_cause) == (
            reviewer.pk,
            verdict,
            sorted(labels),
            error_cause,
        )
        if same:
            return existing
        raise QuorumError(
            f"audit sample {sample.pk} was already reviewed by {existing.reviewer.username} ({existing.verdict})",
            field="sample",
        )
    review = Review(
        sample=sample,
        annotation=annotation,
        reviewer=reviewer,
        verdict=verdict,
        correct_labels=labels,
        error_cause=error_cause,
        note=(note or "").strip(),
    )
    review.full_clean()
    review.save()
    sample.status = AuditSample.Status.REVIEWED
    sample.reviewer = reviewer
    sample.save(update_fields=["status", "reviewer"])
    return review


def _as_list(labels: list[str] | str) -> list[str]:
    return [labels] if isinstance(labels, str) else list(labels)
