"""Delivery builds and evaluations survive their worker and the broker: attempts, the sweep (which
also removes dead builds' temporary folders), retry through the API and the pages, and a 503 with
no orphan when the broker is unreachable."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from delivery import tasks
from delivery.models import Delivery, Evaluation
from delivery.services.build import delivery_build, delivery_create, delivery_start
from delivery.services.storage import delivery_root, temp_folder
from projects.models import Activity
from tests.accounts.factories import UserFactory
from tests.delivery.conftest import labelled_project

DELIVERIES = "/api/v1/deliveries/"
EVALUATIONS = "/api/v1/evaluations/"


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _queued(labelled, lead, captured, **options) -> Delivery:
    with captured(execute=False):
        return delivery_create(project=labelled.project, actor=lead, formats=["jsonl"], **options)


def _aged(model, pk, **ages):
    now = timezone.now()
    model.objects.filter(pk=pk).update(**{field: now - dt.timedelta(seconds=s) for field, s in ages.items()})


def test_delivery_start_counts_attempts_and_fails_the_build_after_the_limit(
    labelled, lead, settings, django_capture_on_commit_callbacks
):
    settings.QUORUM_JOB_MAX_ATTEMPTS = 2
    delivery = _queued(labelled, lead, django_capture_on_commit_callbacks)
    folder = temp_folder(delivery, "killed")
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("half a file")
    assert delivery_start(delivery_id=delivery.pk).attempts == 1
    assert delivery_start(delivery_id=delivery.pk).attempts == 2  # re-delivered after a lost worker
    failed = delivery_build(delivery_id=delivery.pk)
    assert failed.status == Delivery.Status.FAILED and failed.version is None
    assert "started 2 times without finishing" in failed.error
    assert not folder.exists()
    assert tasks.delivery_build(delivery.pk)["status"] == "failed"
    assert not Delivery.objects.filter(project=labelled.project, version__isnull=False).exists()


def test_a_rerun_after_a_killed_build_commits_one_version_and_removes_the_dead_folder(
    labelled, lead, django_capture_on_commit_callbacks
):
    delivery = _queued(labelled, lead, django_capture_on_commit_callbacks)
    delivery_start(delivery_id=delivery.pk)  # the first attempt, then its worker was killed
    dead = temp_folder(delivery, "dead-attempt")
    dead.mkdir(parents=True)
    (dead / "train.jsonl").write_text("{}")
    with django_capture_on_commit_callbacks(execute=False):
        done = delivery_build(delivery_id=delivery.pk)
    assert done.status == Delivery.Status.DONE and done.version == 1 and done.attempts == 2
    assert not dead.exists()
    assert [p.name for p in (delivery_root() / str(labelled.project.pk)).iterdir()] == ["1"]
    with django_capture_on_commit_callbacks(execute=False):
        again = delivery_build(delivery_id=delivery.pk)
    assert again.version == 1 and Delivery.objects.filter(project=labelled.project).count() == 1


def test_delivery_sweep_fails_dead_builds_removes_their_folders_and_spares_live_ones(
    labelled, lead, settings, django_capture_on_commit_callbacks
):
    settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS = 600
    dead = _queued(labelled, lead, django_capture_on_commit_callbacks)
    live = _queued(labelled, lead, django_capture_on_commit_callbacks)
    never_queued = _queued(labelled, lead, django_capture_on_commit_callbacks)
    for delivery in (dead, live):
        delivery_start(delivery_id=delivery.pk)
        temp_folder(delivery, "attempt").mkdir(parents=True)
    _aged(Delivery, dead.pk, heartbeat_at=601, created_at=900)
    _aged(Delivery, live.pk, heartbeat_at=10, created_at=900)
    _aged(Delivery, never_queued.pk, created_at=700)

    swept = tasks.job_sweep()

    assert swept["deliveries"] == {"lost": [dead.pk], "never_queued": [never_queued.pk], "lost_in_queue": []}
    dead.refresh_from_db()
    live.refresh_from_db()
    never_queued.refresh_from_db()
    assert dead.status == "failed" and "no sign of life for over 600 s" in dead.error
    assert never_queued.status == "failed" and "never queued" in never_queued.error
    assert live.status == "running" and live.error == ""
    assert not temp_folder(dead, "attempt").exists() and temp_folder(live, "attempt").exists()


def test_evaluation_sweep_fails_evaluations_whose_worker_died(labelled, lead, requester, settings):
    settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS = 600
    delivery = delivery_build(delivery_id=delivery_create(project=labelled.project, actor=lead, formats=["jsonl"]).pk)
    evaluation = Evaluation.objects.create(
        delivery=delivery, name="m", format="csv", created_by=requester, status="running", attempts=1
    )
    _aged(Evaluation, evaluation.pk, heartbeat_at=700, created_at=800)
    assert tasks.job_sweep()["evaluations"]["lost"] == [evaluation.pk]
    evaluation.refresh_from_db()
    assert evaluation.status == "failed" and "no sign of life" in evaluation.error


def test_delivery_retry_api_builds_a_failed_delivery_again(
    api_client, labelled, lead, requester, other_lead, django_capture_on_commit_callbacks
):
    delivery = _queued(labelled, lead, django_capture_on_commit_callbacks)
    Delivery.objects.filter(pk=delivery.pk).update(
        status="failed", error="Stopped: no sign of life", finished_at=timezone.now(), attempts=3
    )
    assert _as(api_client, other_lead).post(f"{DELIVERIES}{delivery.pk}/retry/").status_code == 404
    assert _as(api_client, requester).post(f"{DELIVERIES}{delivery.pk}/retry/").status_code == 404  # not done: unseen
    client = _as(api_client, lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{DELIVERIES}{delivery.pk}/retry/")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued" and response.json()["error"] == ""
    built = client.get(f"{DELIVERIES}{delivery.pk}/").json()
    assert built["status"] == "done" and built["version"] == 1 and built["attempts"] == 1
    assert Activity.objects.filter(verb="delivery.retried", data__delivery_id=delivery.pk).exists()
    # Done now: the requester sees it and may not retry it (403); the lead may not retry a done build (400).
    assert _as(api_client, requester).post(f"{DELIVERIES}{delivery.pk}/retry/").status_code == 403
    refused = _as(api_client, lead).post(f"{DELIVERIES}{delivery.pk}/retry/")
    assert refused.status_code == 400 and refused.json()["code"] == "not_failed" and refused.json()["field"] == "status"


def test_evaluation_retry_api_is_for_the_uploader_and_leads(
    api_client, labelled, lead, requester, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["jsonl"], eval_share=0.5)
    evaluation = Evaluation.objects.create(
        delivery=delivery,
        name="m",
        format="csv",
        created_by=requester,
        file=SimpleUploadedFile("p.csv", b"item_id,label\n"),
        status="failed",
        error="Stopped: no sign of life",
        finished_at=timezone.now(),
    )
    teammate = UserFactory(username="teammate", role=User.Role.REQUESTER, team=requester.team)
    assert _as(api_client, teammate).get(f"{EVALUATIONS}{evaluation.pk}/").status_code == 200
    assert _as(api_client, teammate).post(f"{EVALUATIONS}{evaluation.pk}/retry/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = _as(api_client, requester).post(f"{EVALUATIONS}{evaluation.pk}/retry/")
    assert response.status_code == 202, response.content
    evaluation.refresh_from_db()
    assert evaluation.status == "done" and evaluation.error == "" and evaluation.attempts == 1


@pytest.mark.django_db(transaction=True)
def test_delivery_request_with_the_broker_down_answers_503_quickly_and_leaves_no_orphan(
    api_client, lead, requester, broker_down
):
    labelled = labelled_project(lead=lead, requester=requester, items=20)
    client = _as(api_client, lead)
    started = time.perf_counter()
    response = client.post(DELIVERIES, {"project": labelled.project.pk, "formats": ["jsonl"]}, format="json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "queue_unavailable" and elapsed < 5
    delivery = Delivery.objects.get(project=labelled.project)
    assert delivery.status == "failed" and delivery.error.startswith("Queue unavailable")
    assert not Delivery.objects.filter(status__in=["queued", "running"]).exists()


def test_delivery_and_evaluation_pages_offer_retry_to_who_may(
    client, labelled, lead, requester, django_capture_on_commit_callbacks
):
    delivery = _queued(labelled, lead, django_capture_on_commit_callbacks)
    Delivery.objects.filter(pk=delivery.pk).update(
        status="failed", error="<script>x</script>", finished_at=timezone.now()
    )
    client.force_login(lead)
    page = client.get(f"/deliveries/{delivery.pk}/").content.decode()
    assert f'action="/deliveries/{delivery.pk}/retry/"' in page and "&lt;script&gt;x&lt;/script&gt;" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/deliveries/{delivery.pk}/retry/", follow=True)
    assert response.status_code == 200 and "being built again" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "done"
    evaluation = Evaluation.objects.create(
        delivery=delivery,
        name="m",
        format="csv",
        created_by=requester,
        file=SimpleUploadedFile("p.csv", b"item_id,label\n"),
        status="failed",
        error="Stopped",
        finished_at=timezone.now(),
    )
    client.force_login(requester)
    page = client.get(f"/deliveries/evaluations/{evaluation.pk}/").content.decode()
    assert f'action="/deliveries/evaluations/{evaluation.pk}/retry/"' in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/deliveries/evaluations/{evaluation.pk}/retry/")
    evaluation.refresh_from_db()
    assert evaluation.status == "done"
    teammate = UserFactory(username="teammate", role=User.Role.REQUESTER, team=requester.team)
    client.force_login(teammate)
    assert "retry" not in client.get(f"/deliveries/evaluations/{evaluation.pk}/").content.decode().lower()
    assert client.post(f"/deliveries/evaluations/{evaluation.pk}/retry/").status_code == 403
