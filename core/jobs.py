"""Background jobs that survive their worker and the broker, for every app's job rows (a quality
job, a delivery build, an evaluation, an import): no domain here, only the mechanics they share.

- Publishing (`job_enqueue_on_commit`, `job_publish`): a job's task is published after the job's
  row commits, with a short timeout (QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS). When the broker does
  not take the message, the job is marked failed "queue unavailable" through the app's own fail
  service and QueueUnavailable is raised out of the commit: the API answers 503, pages show the
  message, and no job is left waiting for a message that was never sent. (Failing it, rather
  than leaving it pending for a sweep to queue later, because the caller was told it did not
  happen: a job that then ran anyway would surprise them, and the lead can retry it.) When the
  broker takes it, the row's `queued_at` is stamped, so a pending job with no `queued_at` is
  known never to have been queued.
- Attempts (`job_claim`): starting a job counts an attempt and stamps its heartbeat; a job
  started QUORUM_JOB_MAX_ATTEMPTS times without finishing (its worker keeps dying) is failed
  with the reason instead of being run again.
- Heartbeats and the sweep (`job_stale_ids`, the reasons): a running job writes a heartbeat with
  its progress; each app's beat sweep fails running jobs silent for longer than
  QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS, pending jobs never queued, and pending jobs no worker took
  within the broker's visibility timeout.
- `job_checkpoint`: the test hook that holds a job at a heartbeat (QUORUM_JOB_HOLD_DIR), so an
  integration test can kill its worker mid-run without timing guesses.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError

from core.errors import QueueUnavailable

logger = logging.getLogger(__name__)

HOLD_MAX_SECONDS = 300  # a held job goes on by itself after this, so a broken test never wedges a worker

FailJob = Callable[[int, str], None]


# --- Publishing ------------------------------------------------------------------------------------


def _broker_errors(task: Any) -> tuple[type[BaseException], ...]:
    connection = task.app.connection_for_write()  # lazy: builds the object, connects to nothing
    try:
        return (BrokerOperationalError, OSError, *connection.connection_errors, *connection.channel_errors)
    finally:
        connection.release()


def _publish_options() -> dict[str, Any]:
    timeout = float(settings.QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS)
    # One quick reconnect, bounded in time. No result: a job's outcome is its row, and subscribing
    # to the Redis result backend is what kept a request waiting about 20 s (its 20 reconnects, 1 s
    # apart) before it answered 500 when Redis was down.
    return {
        "ignore_result": True,
        "retry": True,
        "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
        "timeout": timeout,
    }


def job_publish(task: Any, job_id: int, *, model: type[models.Model], fail: FailJob) -> None:
    """Send `task(job_id)` to the broker now and stamp the job's `queued_at`.

    When the broker does not take it within the publish timeout, `fail(job_id, reason)` marks the
    job failed and QueueUnavailable is raised. In the embedded mode the task runs here, at once
    (no broker: what it raises is its own, and propagates).
    """
    if task.app.conf.task_always_eager:
        task.apply_async(args=(job_id,))
        model._default_manager.filter(pk=job_id, queued_at__isnull=True).update(queued_at=timezone.now())
        return
    try:
        task.apply_async(args=(job_id,), **_publish_options())
    except _broker_errors(task) as exc:
        reason = (
            "Queue unavailable: the task broker could not be reached "
            f"({type(exc).__name__}: {str(exc)[:200]}), so the job never started. Retry it once the broker is back."
        )
        fail(job_id, reason)
        raise QueueUnavailable(
            "The job queue is unavailable right now (the task broker could not be reached); nothing was "
            f"started and the job ({model._meta.verbose_name} {job_id}) is marked failed. Retry in a moment.",
            code="queue_unavailable",
        ) from exc
    model._default_manager.filter(pk=job_id, queued_at__isnull=True).update(queued_at=timezone.now())


def task_publish_or_log(task: Any, *args: Any) -> bool:
    """Publish a follow-up task that a later beat run also does (a progress recount), with the
    short timeout and no result: when the broker is unreachable, log it and go on (False) rather
    than fail the request that committed the change."""
    if task.app.conf.task_always_eager:
        task.apply_async(args=args)
        return True
    try:
        task.apply_async(args=args, **_publish_options())
    except _broker_errors(task) as exc:
        logger.warning("%s%r not queued, the broker is unreachable: %s", task.name, args, exc)
        return False
    return True


def job_enqueue_on_commit(task: Any, job_id: int, *, model: type[models.Model], fail: FailJob) -> None:
    """Publish `task(job_id)` once the current transaction commits (see job_publish).

    The QueueUnavailable of a broker that is down propagates out of the outermost atomic block,
    after the commit: the service's caller (a view) answers with it.
    """
    transaction.on_commit(lambda: job_publish(task, job_id, model=model, fail=fail))


# --- Attempts and heartbeats ------------------------------------------------------------------------


def max_attempts() -> int:
    return max(int(settings.QUORUM_JOB_MAX_ATTEMPTS), 1)


def attempts_exhausted_reason(attempts: int) -> str:
    return (
        f"Stopped: started {attempts} times without finishing (its worker was lost each time: killed, out of "
        "memory, or restarted). Retry it once the cause is fixed."
    )


def heartbeat_lost_reason(seconds: int) -> str:
    return (
        f"Stopped: no sign of life for over {seconds} s while running (its worker was lost: killed, out of "
        "memory, or its node went away). Retry it."
    )


NEVER_QUEUED_REASON = "Stopped: the job was never queued (the request that made it ended before queueing it). Retry it."


def lost_in_queue_reason(seconds: int) -> str:
    return f"Stopped: no worker took the job within {seconds} s of queueing it (its message was lost). Retry it."


def job_claim(
    model: type[models.Model],
    job_id: int,
    *,
    startable: list[str],
    running: str,
    updates: dict[str, Any],
    fail: FailJob,
) -> bool:
    """Start (or start again) a job whose status is one of `startable`: status `running`, one more
    attempt, a fresh heartbeat, plus `updates`; one UPDATE committed at once, for pollers.

    A job already started QUORUM_JOB_MAX_ATTEMPTS times is failed with the reason instead.
    Returns whether this caller may run the job.
    """
    now = timezone.now()
    limit = max_attempts()
    claimed = (
        model._default_manager.filter(pk=job_id, status__in=startable, attempts__lt=limit).update(
            status=running, attempts=F("attempts") + 1, heartbeat_at=now, **updates
        )
        > 0
    )
    if not claimed and model._default_manager.filter(pk=job_id, status__in=startable).exists():
        fail(job_id, attempts_exhausted_reason(limit))
    return claimed


def job_stale_ids(
    model: type[models.Model], *, waiting: str, running: str, now: datetime | None = None
) -> dict[str, list[int]]:
    """The jobs a sweep fails, by reason: "lost" (running, no heartbeat within
    QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS), "never_queued" (waiting, never taken by the broker, older
    than that), "lost_in_queue" (waiting since queued for longer than the visibility timeout)."""
    now = now or timezone.now()
    silent = now - timedelta(seconds=settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS)
    visibility = now - timedelta(seconds=settings.QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS)
    jobs = model._default_manager
    return {
        "lost": list(
            jobs.filter(
                Q(heartbeat_at__lt=silent) | Q(heartbeat_at__isnull=True, created_at__lt=silent), status=running
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        "never_queued": list(
            jobs.filter(status=waiting, queued_at__isnull=True, created_at__lt=silent)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        "lost_in_queue": list(
            jobs.filter(status=waiting, queued_at__lt=visibility).order_by("pk").values_list("pk", flat=True)
        ),
    }


def job_sweep(
    model: type[models.Model],
    *,
    waiting: str,
    running: str,
    fail: FailJob,
    alive: Callable[[list[int]], set[int]] | None = None,
) -> dict[str, list[int]]:
    """Fail what job_stale_ids finds, each with its reason, through the app's `fail` service.

    `alive(ids)` names running jobs among `ids` whose heartbeat lives elsewhere (an import's, in the
    cache, while its own transaction hides its row's updates): those are spared.
    """
    stale = job_stale_ids(model, waiting=waiting, running=running)
    if alive is not None and stale["lost"]:
        spared = alive(stale["lost"])
        stale["lost"] = [pk for pk in stale["lost"] if pk not in spared]
    reasons = {
        "lost": heartbeat_lost_reason(settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS),
        "never_queued": NEVER_QUEUED_REASON,
        "lost_in_queue": lost_in_queue_reason(settings.QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS),
    }
    for key, ids in stale.items():
        for pk in ids:
            fail(pk, reasons[key])
    return stale


def queueing_may_be_under_way(created_at: datetime, *, now: datetime | None = None) -> bool:
    """Whether a job made at `created_at` and not queued yet may still be queued by the request that
    made it (its commit and publish take at most about the publish timeout): past this, it never
    will be."""
    now = now or timezone.now()
    grace = max(4 * float(settings.QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS), 30.0)
    return created_at >= now - timedelta(seconds=grace)


def heartbeat_fresh(at: datetime | None, *, now: datetime | None = None) -> bool:
    """Whether a heartbeat at `at` is recent enough for its job to count as alive."""
    if at is None:
        return False
    now = now or timezone.now()
    return at >= now - timedelta(seconds=settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS)


# --- The test hook --------------------------------------------------------------------------------


def job_checkpoint(kind: str, job_id: int) -> None:
    """Tests only: while `<QUORUM_JOB_HOLD_DIR>/<kind>-<job_id>.hold` exists, write this process's
    pid to `<kind>-<job_id>.pid` and wait (at most HOLD_MAX_SECONDS). Nothing when the setting is
    unset (every real deployment): one settings read."""
    hold_dir = settings.QUORUM_JOB_HOLD_DIR
    if not hold_dir:
        return
    hold = Path(hold_dir) / f"{kind}-{job_id}.hold"
    if not hold.exists():
        return
    pid_file = hold.with_suffix(".pid")
    partial = hold.with_suffix(f".pid.{os.getpid()}")
    partial.write_text(str(os.getpid()))
    partial.replace(pid_file)  # atomic: a reader never sees half a pid
    deadline = time.monotonic() + HOLD_MAX_SECONDS
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
