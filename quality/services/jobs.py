"""Quality jobs: queue one (or reuse the identical unfinished one while it is alive), mark it
running, record its progress (its heartbeat) outside the work's transaction, fail it or let it
succeed with its result, retry a failed one, sweep the ones whose worker died; and the tracker
that turns rows read into progress. The mechanics shared with the other apps' jobs (publishing
with a timeout, attempts, the sweep's rules) are core.jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from core import jobs as core_jobs
from core.errors import QuorumError
from projects import access
from projects.models import Project
from projects.services import activity_record
from quality.models import AgreementReport, QualityJob

if TYPE_CHECKING:
    from accounts.models import User

JobStatus = QualityJob.Status

# A queued job still waiting after this long is not reused by an identical request (a new one is
# queued). A running job is reused only while its heartbeat is fresh (core.jobs), and a pending one
# only once the broker took it (or while its request may still be queueing it).
JOB_STALE_AFTER = timedelta(hours=1)
PROGRESS_LOAD_SHARE = 0.7  # the share of a job's progress bar that loading the annotations takes


def _job_alive(job: QualityJob) -> bool:
    """Whether a new identical request may wait for this unfinished job instead of starting one:
    running with a fresh heartbeat, or pending and taken by the broker (or so new that its
    request may still be queueing it)."""
    if job.status == JobStatus.RUNNING:
        return core_jobs.heartbeat_fresh(job.heartbeat_at)
    return job.queued_at is not None or core_jobs.queueing_may_be_under_way(job.created_at)


def _job_task(kind: str):
    # Lazy import: tasks import this module.
    from quality import tasks

    return tasks.agreement_report_compute if kind == QualityJob.Kind.AGREEMENT_REPORT else tasks.consensus_compute


def _job_fail_quietly(job_id: int, error: str) -> None:
    quality_job_fail(job_id=job_id, error=error)


def _job_queue_on_commit(job: QualityJob) -> None:
    core_jobs.job_enqueue_on_commit(_job_task(job.kind), job.pk, model=QualityJob, fail=_job_fail_quietly)


def job_enqueue(*, project: Project, kind: str, params: dict[str, Any], actor: User | None) -> QualityJob:
    """The identical unfinished job that is alive (queued, or running with a fresh heartbeat), or
    a new one queued on commit. Broker unreachable: the new job is failed "queue unavailable" and
    core.errors.QueueUnavailable is raised after the commit (503)."""
    recent = timezone.now() - JOB_STALE_AFTER
    waiting = QualityJob.objects.filter(
        project=project, kind=kind, status__in=[JobStatus.PENDING, JobStatus.RUNNING], created_at__gte=recent
    ).order_by("-created_at")
    for existing in waiting:
        if existing.params == params and _job_alive(existing):
            return existing
    job = QualityJob(project=project, kind=kind, params=params, created_by=actor)
    job.full_clean()
    job.save()
    _job_queue_on_commit(job)
    return job


def quality_job_start(*, job_id: int) -> QualityJob:
    """Mark a job running (again, after a re-delivery) and return it: one more attempt, a fresh
    heartbeat, committed at once so pollers see it. A finished job is returned as it is; a job
    already started QUORUM_JOB_MAX_ATTEMPTS times is failed with the reason and returned failed.
    """
    core_jobs.job_claim(
        QualityJob,
        job_id,
        startable=[JobStatus.PENDING, JobStatus.RUNNING],
        running=JobStatus.RUNNING,
        updates={"started_at": timezone.now(), "progress": 0.0, "message": "Started"},
        fail=_job_fail_quietly,
    )
    return QualityJob.objects.select_related("report").get(pk=job_id)


def quality_job_progress(*, job_id: int, progress: float, message: str = "") -> None:
    """Record a running job's progress (0..1) and what it is doing.

    Deliberately not atomic with the work: called outside the computation's transaction, each
    update commits at once, so pages polling the job see it move.
    """
    QualityJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress=min(max(float(progress), 0.0), 1.0), message=message[:300], heartbeat_at=timezone.now()
    )
    core_jobs.job_checkpoint("quality", job_id)


def quality_job_fail(*, job_id: int, error: str) -> None:
    """Mark an unfinished job failed with the reason. A finished job keeps its outcome (and reason)."""
    QualityJob.objects.filter(pk=job_id, status__in=[JobStatus.PENDING, JobStatus.RUNNING]).update(
        status=JobStatus.FAILED,
        error=(error or "failed")[:4000],
        message="Failed",
        finished_at=timezone.now(),
    )


def job_succeed(
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


@transaction.atomic
def quality_job_retry(*, job: QualityJob, actor: User) -> QualityJob:
    """Queue a failed job again (leads of its project), from a clean start: no progress, no
    error, attempts back to 0. Refused (QuorumError on `status`) unless the job failed. Queued on
    commit; broker unreachable: failed again "queue unavailable" and QueueUnavailable (503)."""
    access.require_lead(actor, job.project)
    current = locked_job(job.pk)
    if current.status != JobStatus.FAILED:
        raise QuorumError(
            f"job {current.pk} is {current.status}: only a failed job can be retried", field="status", code="not_failed"
        )
    current.status = JobStatus.PENDING
    current.progress = 0.0
    current.message = f"Queued again by {actor.username}"
    current.error = ""
    current.attempts = 0
    current.started_at = current.finished_at = current.heartbeat_at = current.queued_at = None
    current.full_clean()
    current.save()
    activity_record(
        actor=actor,
        verb="quality.job_retried",
        summary=f"{actor.username} retried {current.get_kind_display().lower()} job {current.pk}",
        project=current.project,
        data={"job_id": current.pk},
    )
    _job_queue_on_commit(current)
    return current


def quality_job_sweep() -> dict[str, list[int]]:
    """Fail the jobs whose worker died (running, heartbeat older than
    QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS), never queued, or lost in the queue, each with its reason
    (beat runs this; core.jobs.job_sweep). Their late messages then find them failed and do nothing."""
    return core_jobs.job_sweep(QualityJob, waiting=JobStatus.PENDING, running=JobStatus.RUNNING, fail=_job_fail_quietly)


def locked_job(job_id: int) -> QualityJob:
    return QualityJob.objects.select_for_update(of=("self",)).select_related("report").get(pk=job_id)


class Progress:
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
