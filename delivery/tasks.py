"""Celery tasks of the delivery app: thin interfaces over services (ids in, a small dict out).

`delivery.delivery_build` and `delivery.evaluation_compute` are idempotent (a finished row is not
worked again), so a re-delivered message is safe: a worker process killed mid-job puts its message
back (acks_late, reject_on_worker_lost) and the job runs again, up to QUORUM_JOB_MAX_ATTEMPTS
starts; `delivery.job_sweep` (beat) fails the builds and evaluations whose heartbeat stopped. `delivery.webhook_send`
retries with exponential backoff until the receiver answers 2xx or the attempts run out; every
attempt is recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from delivery.services.build import delivery_build as delivery_build_service
from delivery.services.build import delivery_build_fail, delivery_job_sweep
from delivery.services.evaluation import evaluation_compute as evaluation_compute_service
from delivery.services.evaluation import evaluation_fail, evaluation_job_sweep
from delivery.services.webhooks import webhook_send as webhook_send_service

logger = logging.getLogger(__name__)

RETRYABLE = (OperationalError, InterfaceError)


@shared_task(
    name="delivery.delivery_build",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=30,
)
def delivery_build(self, delivery_id: int) -> dict[str, Any]:
    """Build a delivery's files and commit its version (see delivery.services.build.delivery_build)."""
    try:
        delivery = delivery_build_service(delivery_id=delivery_id)
    except Exception as exc:
        if isinstance(exc, RETRYABLE) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc) from exc
        logger.exception("delivery.delivery_build: delivery %s failed", delivery_id)
        delivery_build_fail(delivery_id=delivery_id, error=f"{type(exc).__name__}: {exc}")
        return {"delivery_id": delivery_id, "status": "failed", "error": str(exc)}
    return {"delivery_id": delivery_id, "status": delivery.status, "version": delivery.version}


@shared_task(name="delivery.webhook_send", bind=True, acks_late=True, max_retries=None)
def webhook_send(self, endpoint_id: int, delivery_id: int, event_id: str) -> dict[str, Any]:
    """POST one event; until the receiver answers 2xx, retry after base × 2^(attempt-1) seconds, up
    to QUORUM_WEBHOOK_MAX_ATTEMPTS attempts in all. Every attempt is recorded by the service."""
    attempt = self.request.retries + 1
    while True:
        record = webhook_send_service(
            endpoint_id=endpoint_id, delivery_id=delivery_id, event_id=event_id, attempt=attempt
        )
        result = {"attempt_id": record.pk, "attempt": attempt, "status_code": record.status_code}
        if record.delivered_at is not None or attempt >= settings.QUORUM_WEBHOOK_MAX_ATTEMPTS:
            return result
        if self.request.is_eager:
            # Embedded mode has no broker to hold a delayed retry (and an eager retry would raise
            # into the caller): try again at once.
            attempt += 1
            continue
        raise self.retry(countdown=settings.QUORUM_WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1))


@shared_task(
    name="delivery.evaluation_compute",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    default_retry_delay=30,
)
def evaluation_compute(self, evaluation_id: int) -> dict[str, Any]:
    """Score uploaded predictions (see delivery.services.evaluation.evaluation_compute)."""
    try:
        evaluation = evaluation_compute_service(evaluation_id=evaluation_id)
    except Exception as exc:
        if isinstance(exc, RETRYABLE) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc) from exc
        logger.exception("delivery.evaluation_compute: evaluation %s failed", evaluation_id)
        evaluation_fail(evaluation_id=evaluation_id, error=f"{type(exc).__name__}: {exc}")
        return {"evaluation_id": evaluation_id, "status": "failed", "error": str(exc)}
    return {"evaluation_id": evaluation_id, "status": evaluation.status, "rows_bad": evaluation.rows_bad}


@shared_task(name="delivery.job_sweep", bind=True, acks_late=True, max_retries=3)
def job_sweep(self) -> dict[str, Any]:
    """Periodic (beat): fail the builds and evaluations whose worker died or that were never queued,
    with the reason; dead builds' temporary folders are removed."""
    return {"deliveries": delivery_job_sweep(), "evaluations": evaluation_job_sweep()}
