"""Quality jobs: queue one (or reuse the identical unfinished one until it goes stale), mark it
running, record its progress outside the work's transaction, fail it or let it succeed with its
result; and the tracker that turns rows read into progress."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from projects.models import Project
from quality.models import AgreementReport, QualityJob

if TYPE_CHECKING:
    from accounts.models import User

JobStatus = QualityJob.Status

# A job still pending or running after this long is presumed lost (its worker died and the
# broker gave up on it): an identical request starts a new one instead of waiting for it.
JOB_STALE_AFTER = timedelta(hours=1)
PROGRESS_LOAD_SHARE = 0.7  # the share of a job's progress bar that loading the annotations takes


def job_enqueue(*, project: Project, kind: str, params: dict[str, Any], actor: User | None) -> QualityJob:
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
