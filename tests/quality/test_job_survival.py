"""Quality jobs survive their worker and the broker: attempts, heartbeats, the sweep, retry (API and
page), and a 503 without an orphan job when the broker is unreachable."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from config import celery_app
from core.jobs import job_publish
from projects.models import Activity
from quality import tasks
from quality.models import AgreementReport, QualityJob
from quality.services.jobs import quality_job_progress, quality_job_start, quality_job_sweep
from quality.services.reports import agreement_report_enqueue
from tests.quality.factories import annotations_make, items_make, noisy_rows

JOBS = "/api/v1/quality/jobs/"


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _job(project, *, status="pending", age_seconds=0, heartbeat_age=None, queued_age=None, **fields) -> QualityJob:
    now = timezone.now()
    job = QualityJob.objects.create(project=project, kind=QualityJob.Kind.AGREEMENT_REPORT, status=status, **fields)
    QualityJob.objects.filter(pk=job.pk).update(
        created_at=now - dt.timedelta(seconds=age_seconds),
        heartbeat_at=None if heartbeat_age is None else now - dt.timedelta(seconds=heartbeat_age),
        queued_at=None if queued_age is None else now - dt.timedelta(seconds=queued_age),
    )
    job.refresh_from_db()
    return job


def _annotated(quality, n=12):
    annotations_make(noisy_rows(items_make(quality.batch, n), quality.people[:3], seed=4))


def test_quality_job_start_counts_attempts_and_fails_the_job_after_the_limit(quality, settings):
    settings.QUORUM_JOB_MAX_ATTEMPTS = 2
    job = _job(quality.project)
    assert quality_job_start(job_id=job.pk).status == QualityJob.Status.RUNNING
    started = quality_job_start(job_id=job.pk)  # a re-delivery after a lost worker
    assert (started.status, started.attempts) == (QualityJob.Status.RUNNING, 2)
    assert started.heartbeat_at is not None
    third = quality_job_start(job_id=job.pk)
    assert third.status == QualityJob.Status.FAILED and third.attempts == 2
    assert "started 2 times without finishing" in third.error and third.finished_at is not None
    # The message delivered once more finds it failed: no report, the reason kept.
    assert tasks.agreement_report_compute(job.pk)["status"] == "failed"
    job.refresh_from_db()
    assert "started 2 times without finishing" in job.error
    assert not AgreementReport.objects.filter(project=quality.project).exists()


def test_quality_job_progress_is_its_heartbeat(quality):
    job = _job(quality.project)
    quality_job_start(job_id=job.pk)
    QualityJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
    quality_job_progress(job_id=job.pk, progress=0.5, message="half way")
    job.refresh_from_db()
    assert timezone.now() - job.heartbeat_at < dt.timedelta(seconds=30) and job.message == "half way"


def test_quality_job_sweep_fails_dead_and_never_queued_jobs_with_the_reason(quality, settings):
    settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS = 600
    settings.QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS = 3600
    project = quality.project
    dead = _job(project, status="running", age_seconds=900, heartbeat_age=601, queued_age=900, attempts=1)
    alive = _job(project, status="running", age_seconds=900, heartbeat_age=30, queued_age=900, attempts=1)
    never_queued = _job(project, age_seconds=601)
    just_made = _job(project, age_seconds=5)
    backlog = _job(project, age_seconds=1800, queued_age=1800)
    lost_in_queue = _job(project, age_seconds=3700, queued_age=3601)
    done = _job(project, status="succeeded", age_seconds=9000, finished_at=timezone.now())

    swept = quality_job_sweep()

    assert swept == {"lost": [dead.pk], "never_queued": [never_queued.pk], "lost_in_queue": [lost_in_queue.pk]}
    state = {job.pk: job for job in QualityJob.objects.filter(project=project)}
    assert "no sign of life for over 600 s" in state[dead.pk].error
    assert "never queued" in state[never_queued.pk].error
    assert "no worker took the job within 3600 s" in state[lost_in_queue.pk].error
    for job in (dead, never_queued, lost_in_queue):
        assert state[job.pk].status == "failed" and state[job.pk].finished_at is not None
    for job, status in ((alive, "running"), (just_made, "pending"), (backlog, "pending"), (done, "succeeded")):
        assert state[job.pk].status == status and state[job.pk].error == ""
    assert not QualityJob.objects.filter(status="running", heartbeat_at__lt=timezone.now() - dt.timedelta(seconds=600))
    # The dead job's message, redelivered later, does nothing.
    assert tasks.agreement_report_compute(dead.pk)["repeated"] is True
    assert tasks.quality_job_sweep() == {"lost": [], "never_queued": [], "lost_in_queue": []}


def test_an_agreement_request_never_waits_for_a_dead_or_never_queued_job(quality, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead)
    params = first.params
    now = timezone.now()
    # Running, but its heartbeat stopped 20 minutes ago: not "the running one".
    QualityJob.objects.filter(pk=first.pk).update(status="running", heartbeat_at=now - dt.timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=False):
        second = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead)
    assert second.pk != first.pk and second.params == params
    # Pending for ten minutes and never taken by the broker: not reused either.
    QualityJob.objects.filter(pk=second.pk).update(created_at=now - dt.timedelta(minutes=10), queued_at=None)
    with django_capture_on_commit_callbacks(execute=False):
        third = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead)
    assert third.pk not in (first.pk, second.pk)
    # Running with a fresh heartbeat, or queued: that one is reused.
    QualityJob.objects.filter(pk=third.pk).update(status="running", heartbeat_at=now)
    with django_capture_on_commit_callbacks(execute=False):
        assert agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead).pk == third.pk


def test_job_retry_api_reruns_a_failed_job(api_client, quality, django_capture_on_commit_callbacks):
    _annotated(quality)
    job = _job(quality.project, status="failed", error="Stopped: no sign of life", finished_at=timezone.now())
    QualityJob.objects.filter(pk=job.pk).update(params={"bootstrap": 20}, attempts=3)
    client = _as(api_client, quality.lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{JOBS}{job.pk}/retry/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["error"] == "" and body["attempts"] == 0
    assert body["message"] == f"Queued again by {quality.lead.username}"
    polled = client.get(f"{JOBS}{job.pk}/").json()
    assert polled["status"] == "succeeded" and polled["attempts"] == 1 and polled["report"] is not None
    assert AgreementReport.objects.filter(project=quality.project).count() == 1
    assert Activity.objects.filter(verb="quality.job_retried", data__job_id=job.pk).exists()


def test_job_retry_api_refuses_unfailed_jobs_other_roles_and_other_projects(api_client, quality, other_lead):
    failed = _job(quality.project, status="failed", error="boom", finished_at=timezone.now())
    running = _job(quality.project, status="running", heartbeat_age=1)
    lead = _as(api_client, quality.lead)
    refused = lead.post(f"{JOBS}{running.pk}/retry/")
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": f"job {running.pk} is running: only a failed job can be retried",
        "code": "not_failed",
        "field": "status",
    }
    member = _as(api_client, quality.people[0])
    assert member.post(f"{JOBS}{failed.pk}/retry/").status_code == 403
    stranger = _as(api_client, other_lead)
    assert stranger.post(f"{JOBS}{failed.pk}/retry/").status_code == 404
    assert lead.post(f"{JOBS}999999/retry/").status_code == 404
    failed.refresh_from_db()
    assert failed.status == "failed" and failed.error == "boom"


@pytest.mark.django_db(transaction=True)
def test_job_request_with_the_broker_down_answers_503_quickly_and_leaves_no_orphan(
    api_client, lead, broker_down, settings
):
    from tests.quality.factories import quality_project

    settings.QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS = 2
    project, _people, _batch = quality_project(lead=lead)
    client = _as(api_client, lead)
    started = time.perf_counter()
    response = client.post(JOBS, {"project": project.pk, "kind": "agreement"}, format="json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "queue_unavailable"
    assert "job queue is unavailable" in response.json()["detail"]
    assert response["Retry-After"] == "30"
    assert elapsed < 5, f"took {elapsed:.1f} s"
    job = QualityJob.objects.get(project=project)
    assert job.status == "failed" and job.error.startswith("Queue unavailable") and job.queued_at is None
    # The retry endpoint answers the same way while the broker is down, and fails the job again.
    retried = client.post(f"{JOBS}{job.pk}/retry/")
    assert retried.status_code == 503 and retried.json()["code"] == "queue_unavailable"
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("Queue unavailable")
    assert not QualityJob.objects.filter(status__in=["pending", "running"]).exists()


@pytest.mark.django_db(transaction=True)
def test_recompute_page_with_the_broker_down_says_so(client, lead, broker_down):
    from tests.quality.factories import quality_project

    project, _people, _batch = quality_project(lead=lead)
    client.force_login(lead)
    response = client.post(f"/quality/projects/{project.pk}/recompute/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "The job queue is unavailable right now" in response.content.decode()
    assert QualityJob.objects.get(project=project).status == "failed"


def test_failed_job_block_offers_retry_and_the_retry_swaps_it_back_polling(
    client, quality, django_capture_on_commit_callbacks
):
    job = _job(quality.project, status="failed", error="Stopped: <b>lost</b>", finished_at=timezone.now())
    client.force_login(quality.lead)
    block = client.get(f"/quality/projects/{quality.project.pk}/jobs/{job.pk}/", headers={"HX-Request": "true"})
    html = block.content.decode()
    assert f'hx-post="/quality/projects/{quality.project.pk}/jobs/{job.pk}/retry/"' in html
    assert "Stopped: &lt;b&gt;lost&lt;/b&gt;" in html
    with django_capture_on_commit_callbacks(execute=False):
        swapped = client.post(
            f"/quality/projects/{quality.project.pk}/jobs/{job.pk}/retry/", headers={"HX-Request": "true"}
        )
    html = swapped.content.decode()
    assert swapped.status_code == 200 and 'hx-trigger="every 1s"' in html
    assert "being computed again" in html
    job.refresh_from_db()
    assert job.status == "pending"
    annotator = quality.people[0]
    client.force_login(annotator)
    assert client.post(f"/quality/projects/{quality.project.pk}/jobs/{job.pk}/retry/").status_code == 403


@celery_app.task(name="tests.quality.raises_oserror")
def _task_raising_oserror(job_id: int) -> None:
    raise OSError(f"disk gone under job {job_id}")


def test_an_eager_task_error_is_its_own_not_a_queue_outage(quality):
    """Embedded mode has no broker: an OSError raised by the task itself propagates as it is."""
    job = _job(quality.project)
    failures = []
    with pytest.raises(OSError, match="disk gone"):
        job_publish(_task_raising_oserror, job.pk, model=QualityJob, fail=lambda pk, why: failures.append(why))
    assert failures == []
    job.refresh_from_db()
    assert job.status == "pending" and job.error == ""


def test_beat_runs_every_job_sweep_and_job_tasks_survive_a_lost_worker(settings):
    """The sweeps are scheduled under names the worker knows; the job tasks put their message back
    when their worker process dies (acks_late + reject_on_worker_lost), and Redis hands a dead
    worker's message out again only after the visibility timeout."""
    from annotation.tasks import import_run
    from delivery.tasks import delivery_build, evaluation_compute

    schedule = settings.CELERY_BEAT_SCHEDULE
    for name in ("annotation.import_job_sweep", "quality.quality_job_sweep", "delivery.job_sweep"):
        assert schedule[name]["task"] == name and name in celery_app.tasks
        assert schedule[name]["schedule"] == settings.QUORUM_JOB_SWEEP_SECONDS
    for task in (
        tasks.agreement_report_compute,
        tasks.consensus_compute,
        delivery_build,
        evaluation_compute,
        import_run,
    ):
        assert task.acks_late is True and task.reject_on_worker_lost is True, task.name
    options = celery_app.conf.broker_transport_options
    assert options["visibility_timeout"] == settings.QUORUM_BROKER_VISIBILITY_TIMEOUT_SECONDS >= 3600
    assert options["socket_connect_timeout"] == settings.QUORUM_BROKER_PUBLISH_TIMEOUT_SECONDS
