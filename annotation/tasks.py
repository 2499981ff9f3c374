"""Celery tasks of the annotation app: thin interfaces over services (ids in, small dict out)."""

from __future__ import annotations

from celery import shared_task

from annotation import services


@shared_task(
    name="annotation.import_run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=2,
    default_retry_delay=30,
)
def import_run(self, job_id: int) -> dict[str, object]:
    """Import one uploaded file. The import is one transaction, so a retry after a crash starts
    clean, and a worker process killed mid-import puts the message back for a clean rerun (up to
    QUORUM_JOB_MAX_ATTEMPTS starts)."""
    try:
        job = services.import_job_run(job_id=job_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            services.import_job_fail(job_id=job_id, message=f"The import stopped with an internal error: {exc!r}")
            raise
        raise self.retry(exc=exc) from exc
    return {
        "job_id": job.pk,
        "status": job.status,
        "items_created": job.items_created,
        "rows_invalid": job.rows_invalid,
    }


@shared_task(name="annotation.assignment_expire_sweep", bind=True, acks_late=True, max_retries=3)
def assignment_expire_sweep(self) -> dict[str, int]:
    """Periodic (beat): give the slots of lapsed leases back."""
    return {"expired": services.assignment_expire_sweep()}


@shared_task(name="annotation.work_queue_vacuum", ignore_result=True)
def work_queue_vacuum() -> dict[str, float | None]:
    """Periodic (beat, every QUORUM_QUEUE_VACUUM_SECONDS): vacuum the work queue's tables."""
    return {"seconds": services.work_queue_vacuum()}


@shared_task(name="annotation.import_job_sweep", bind=True, acks_late=True, max_retries=3)
def import_job_sweep(self) -> dict[str, list[int]]:
    """Periodic (beat): fail the imports whose worker died or that were never queued, with the reason."""
    return services.import_job_sweep()
