"""Agreement reports: the scopes a report measures, queueing and computing one, the periodic
refresh of stale ones, and alpha as of now from the kept value counts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from annotation.models import Annotation, Batch, Guideline
from core.errors import QuorumError
from projects.access import require_lead
from projects.models import Project
from quality import figures, loading
from quality.agreement.alpha import AlphaResult, krippendorff_alpha
from quality.models import AgreementReport, QualityJob
from quality.selectors.reports import agreement_stale_project_ids
from quality.services.common import CHUNK_SIZE, project_get, regular_annotations
from quality.services.counts import label_counts_refresh
from quality.services.jobs import (
    PROGRESS_LOAD_SHARE,
    JobStatus,
    Progress,
    job_enqueue,
    job_succeed,
    locked_job,
    quality_job_start,
)

if TYPE_CHECKING:
    from accounts.models import User

Scope = AgreementReport.Scope

DEFAULT_BOOTSTRAP = 1000
MIN_SHARED = 20  # annotator pairs sharing fewer items get no Cohen's kappa


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
    project = project_get(project_id)
    require_lead(actor, project)
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
    return job_enqueue(project=project, kind=QualityJob.Kind.AGREEMENT_REPORT, params=params, actor=actor)


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


def _scope_annotations(
    project_id: int, scope: str, scope_key: str, start: datetime | None, end: datetime | None
) -> QuerySet[Annotation]:
    """The annotations a scope measures (gold items left out)."""
    annotations = regular_annotations(project_id)
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
    project = project_get(project_id)
    scope, scope_key, start, end = _scope_clean(project, scope, scope_key, window)
    space = loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
    if not space.size:
        raise QuorumError(
            f"project {project.name!r} has no label schema, so there is nothing to measure", field="project_id"
        )
    # The source's state before reading: anything submitted meanwhile makes the report stale, not lost.
    source = Annotation.objects.filter(project_id=project.pk).aggregate(n=Count("id"), last=Max("submitted_at"))
    annotations = _scope_annotations(project.pk, scope, scope_key, start, end)
    progress = Progress(job_id, annotations.count() if job_id is not None else 0)
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
            job = locked_job(job_id)
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
            job_succeed(job, report=report, result={"report_id": report.pk, "alpha": report.alpha})
    return report


def agreement_refresh() -> list[int]:
    """Queue a project-scope report for every project whose annotations changed since its latest
    one (beat runs this). Returns the ids of the jobs queued (or already waiting)."""
    jobs = []
    for project_id in agreement_stale_project_ids():
        job = agreement_report_enqueue(project_id=project_id, actor=None)
        jobs.append(job.pk)
    return jobs


# --- Alpha as of now, from the kept value counts -----------------------------------------------------


@dataclass(frozen=True)
class AlphaNow:
    """Nominal alpha over a project's regular items as of `computed_at`."""

    alpha: AlphaResult
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
        alpha=krippendorff_alpha(current.counts.counts),
        n_annotations=current.counts.n_annotations,
        through_annotation_id=current.through_annotation_id,
        computed_at=timezone.now(),
        rebuilt=current.rebuilt,
        annotations_read=current.annotations_read,
    )
