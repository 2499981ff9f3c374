"""Celery tasks of the quality engine: thin interfaces over services (ids in, small dict out).

The computing tasks take a QualityJob id: the job holds the parameters, shows the progress and
ends succeeded (with its report or result) or failed (with the reason). They are idempotent: a
job that already finished is not computed again, so a re-delivered message does nothing twice.
Errors in the data fail the job at once; a lost database connection is retried. A worker process
that dies mid-job puts the message back (reject_on_worker_lost) and the job runs again, up to
QUORUM_JOB_MAX_ATTEMPTS starts; the beat sweep fails jobs whose heartbeat stopped.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from quality.models import QualityJob
from quality.services import audits, consensus, jobs, reports

logger = logging.getLogger(__name__)

RETRYABLE = (OperationalError, InterfaceError)


def _finished(job_id: int) -> dict[str, Any] | None:
    """The answer for a job that needs no work: missing, or already finished."""
    job = QualityJob.objects.filter(pk=job_id).values("status", "report_id", "result", "error").first()
    if job is None:
        return {"job_id": job_id, "status": "missing"}
    if job["status"] in (QualityJob.Status.SUCCEEDED, QualityJob.Status.FAILED):
        return {"job_id": job_id, "status": job["status"], "report_id": job["report_id"], "repeated": True}
    return None


def _job_failure(task, job_id: int, exc: Exception) -> dict[str, Any]:
    """Retry what a retry can fix; fail the job (through the service) for the rest."""
    if isinstance(exc, RETRYABLE) and task.request.retries < task.max_retries:
        raise task.retry(exc=exc)
    logger.exception("%s: job %s failed", task.name, job_id)
    jobs.quality_job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}")
    return {"job_id": job_id, "status": QualityJob.Status.FAILED, "error": str(exc)}


@shared_task(
    name="quality.agreement_report_compute",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=30,
)
def agreement_report_compute(self, job_id: int) -> dict[str, Any]:
    """Compute the agreement report a job asks for (see services.reports.agreement_report_compute)."""
    done = _finished(job_id)
    if done is not None:
        return done
    job = QualityJob.objects.get(pk=job_id)
    try:
        report = reports.agreement_report_compute(project_id=job.project_id, job_id=job.pk, **job.params)
    except Exception as exc:
        return _job_failure(self, job_id, exc)
    return {"job_id": job_id, "status": QualityJob.Status.SUCCEEDED, "report_id": report.pk, "alpha": report.alpha}


@shared_task(
    name="quality.consensus_compute",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=30,
)
def consensus_compute(self, job_id: int) -> dict[str, Any]:
    """Aggregate the labels of a job's project (see services.consensus.consensus_compute)."""
    done = _finished(job_id)
    if done is not None:
        return done
    job = QualityJob.objects.get(pk=job_id)
    try:
        summary = consensus.consensus_compute(project_id=job.project_id, job_id=job.pk, **job.params)
    except Exception as exc:
        return _job_failure(self, job_id, exc)
    return {"job_id": job_id, "status": QualityJob.Status.SUCCEEDED, **summary}


@shared_task(name="quality.audit_sample_draw", bind=True, acks_late=True, max_retries=3, default_retry_delay=30)
def audit_sample_draw(self, project_id: int, share: float, seed: int = 0) -> dict[str, Any]:
    """Draw audit samples (idempotent: a repeat draws only annotations not drawn before)."""
    samples = audits.audit_sample_draw(project_id=project_id, share=share, seed=seed)
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample.stratum] = counts.get(sample.stratum, 0) + 1
    return {"project_id": project_id, "drawn": len(samples), "strata": counts}


@shared_task(name="quality.agreement_refresh", bind=True, acks_late=True, max_retries=3)
def agreement_refresh(self) -> dict[str, Any]:
    """Periodic (beat): queue a project report for every project with annotations newer than its latest."""
    return {"jobs": reports.agreement_refresh()}


@shared_task(name="quality.quality_job_sweep", bind=True, acks_late=True, max_retries=3)
def quality_job_sweep(self) -> dict[str, Any]:
    """Periodic (beat): fail the jobs whose worker died or that were never queued, with the reason."""
    return jobs.quality_job_sweep()
