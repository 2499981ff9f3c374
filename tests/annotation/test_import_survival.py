"""Imports survive their worker and the broker: attempts, the sweep (a running import's heartbeat is
in the cache, its row's updates hidden by its transaction), retry through the API and the page, and
a 503 with no orphan job when the broker is unreachable."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from annotation import services, tasks
from annotation.models import ImportJob, Item
from annotation.selectors import import_heartbeat_key

IMPORTS = "/api/v1/imports/"
ROWS = [{"external_id": f"r{i}", "text": f"row {i}"} for i in range(5)]


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _jsonl(rows, name="items.jsonl"):
    return SimpleUploadedFile(name, "".join(json.dumps(row) + "\n" for row in rows).encode())


def _registered(project, lead, captured, rows=ROWS) -> ImportJob:
    with captured(execute=False):
        return services.import_job_create(project=project, actor=lead, batch_name="wave", upload=_jsonl(rows))


def _aged(pk, **ages):
    now = timezone.now()
    ImportJob.objects.filter(pk=pk).update(**{field: now - dt.timedelta(seconds=s) for field, s in ages.items()})


def test_import_run_counts_attempts_and_a_rerun_imports_each_row_once(
    live, lead, settings, django_capture_on_commit_callbacks
):
    settings.QUORUM_JOB_MAX_ATTEMPTS = 2
    job = _registered(live, lead, django_capture_on_commit_callbacks)
    ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1)  # its worker was killed mid-run
    done = services.import_job_run(job_id=job.pk)
    assert done.status == "succeeded" and done.attempts == 2 and done.items_created == 5
    assert Item.objects.filter(project=live).count() == 5
    again = _registered(live, lead, django_capture_on_commit_callbacks)
    ImportJob.objects.filter(pk=again.pk).update(status="running", attempts=2)
    failed = services.import_job_run(job_id=again.pk)
    assert failed.status == "failed" and "started 2 times without finishing" in failed.message
    assert tasks.import_run(again.pk)["status"] == "failed"
    assert Item.objects.filter(project=live).count() == 5


def test_import_sweep_fails_dead_imports_and_spares_one_whose_cache_heartbeat_lives(
    live, lead, settings, django_capture_on_commit_callbacks
):
    settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS = 600
    dead = _registered(live, lead, django_capture_on_commit_callbacks)
    busy = _registered(live, lead, django_capture_on_commit_callbacks)
    never_queued = _registered(live, lead, django_capture_on_commit_callbacks)
    for job in (dead, busy):
        ImportJob.objects.filter(pk=job.pk).update(status="running", attempts=1)
        _aged(job.pk, heartbeat_at=900, created_at=900)
    _aged(never_queued.pk, created_at=601)
    cache.set(import_heartbeat_key(busy.pk), time.time() - 5)  # written by its chunk loop just now
    cache.set(import_heartbeat_key(dead.pk), time.time() - 700)

    swept = tasks.import_job_sweep()

    assert swept == {"lost": [dead.pk], "never_queued": [never_queued.pk], "lost_in_queue": []}
    state = {job.pk: job for job in ImportJob.objects.filter(project=live)}
    assert state[dead.pk].status == "failed" and "no sign of life for over 600 s" in state[dead.pk].message
    assert state[never_queued.pk].status == "failed" and "never queued" in state[never_queued.pk].message
    assert state[busy.pk].status == "running"


def test_import_retry_api_reimports_a_failed_upload(
    api_client, live, lead, other_lead, annotator, django_capture_on_commit_callbacks
):
    job = _registered(live, lead, django_capture_on_commit_callbacks)
    services.import_job_fail(job_id=job.pk, message="Stopped: no sign of life")
    assert _as(api_client, other_lead).post(f"{IMPORTS}{job.pk}/retry/").status_code == 404
    assert _as(api_client, annotator).post(f"{IMPORTS}{job.pk}/retry/").status_code == 404
    client = _as(api_client, lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{IMPORTS}{job.pk}/retry/")
    assert response.status_code == 202, response.content
    assert response.json()["message"] == "Queued again by lead"
    polled = client.get(f"{IMPORTS}{job.pk}/").json()
    assert polled["status"] == "succeeded" and polled["items_created"] == 5 and polled["attempts"] == 1
    refused = client.post(f"{IMPORTS}{job.pk}/retry/")
    assert refused.status_code == 400 and refused.json()["code"] == "not_failed"
    assert Item.objects.filter(project=live).count() == 5


def test_import_retry_is_refused_for_server_side_files(api_client, live, lead, tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    server_side = services.import_job_create(project=live, actor=lead, batch_name="cli", source_path=str(path))
    services.import_job_fail(job_id=server_side.pk, message="Stopped")
    refused = _as(api_client, lead).post(f"{IMPORTS}{server_side.pk}/retry/")
    assert refused.status_code == 400 and refused.json()["field"] == "file"
    assert "manage.py import_items" in refused.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_import_upload_with_the_broker_down_answers_503_quickly_and_leaves_no_orphan(
    api_client, project, lead, broker_down
):
    project.phase = "production"
    project.save(update_fields=["phase"])
    client = _as(api_client, lead)
    started = time.perf_counter()
    response = client.post(
        IMPORTS, {"project": project.pk, "batch_name": "wave", "file": _jsonl(ROWS)}, format="multipart"
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["code"] == "queue_unavailable" and "job queue is unavailable" in body["detail"]
    assert elapsed < 5, f"took {elapsed:.1f} s"
    job = ImportJob.objects.get(project=project)
    assert job.status == "failed" and job.message.startswith("Queue unavailable") and job.queued_at is None
    assert not ImportJob.objects.filter(status__in=["pending", "running"]).exists()
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.django_db(transaction=True)
def test_import_page_with_the_broker_down_says_so(client, project, lead, broker_down):
    client.force_login(lead)
    response = client.post(
        f"/projects/{project.pk}/imports/",
        {"file": _jsonl(ROWS), "batch_name": "wave", "mode": "all_or_nothing"},
        follow=True,
    )
    page = response.content.decode()
    assert "The job queue is unavailable right now" in page
    assert f'hx-post="/projects/{project.pk}/imports/' in page  # the failed job's block offers a retry
    assert ImportJob.objects.get(project=project).status == "failed"


def test_import_page_retry_swaps_the_block_back_to_polling(client, live, lead, django_capture_on_commit_callbacks):
    job = _registered(live, lead, django_capture_on_commit_callbacks)
    services.import_job_fail(job_id=job.pk, message="Stopped: <img src=x>")
    client.force_login(lead)
    block = client.get(f"/projects/{live.pk}/imports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert f'hx-post="/projects/{live.pk}/imports/{job.pk}/retry/"' in block and "&lt;img src=x&gt;" in block
    with django_capture_on_commit_callbacks(execute=False):
        swapped = client.post(f"/projects/{live.pk}/imports/{job.pk}/retry/", headers={"HX-Request": "true"})
    html = swapped.content.decode()
    assert swapped.status_code == 200 and 'hx-trigger="every 1s"' in html and "queued again" in html
    job.refresh_from_db()
    assert job.status == "pending" and job.message == "Queued again by lead"


@pytest.mark.django_db(transaction=True)
def test_next_and_submit_keep_working_with_the_broker_down(api_client, project, annotator, broker_down):
    from annotation.models import Annotation
    from tests.annotation.factories import BatchFactory, ItemFactory

    project.phase = "production"
    project.gold_rate = 0
    project.save(update_fields=["phase", "gold_rate"])
    item = ItemFactory(batch=BatchFactory(project=project), required_annotations=1)
    client = _as(api_client, annotator)
    started = time.perf_counter()
    work = client.post("/api/v1/assignments/next/", {"project": project.pk}, format="json")
    assert work.status_code == 200, work.content
    assert work.json()["item"]["id"] == item.pk
    done = client.post(f"/api/v1/assignments/{work.json()['id']}/submit/", {"labels": ["spam"]}, format="json")
    assert done.status_code == 200, done.content
    assert time.perf_counter() - started < 5
    assert Annotation.objects.filter(item=item, annotator=annotator, labels=["spam"]).exists()


@pytest.mark.django_db(transaction=True)
def test_items_added_with_the_broker_down_commit_and_leave_the_recount_to_beat(project, lead, broker_down, caplog):
    batch = services.batch_create(project=project, name="by hand", actor=lead)
    started = time.perf_counter()
    items = services.items_add(batch=batch, rows=ROWS[:2], actor=lead)
    assert time.perf_counter() - started < 5
    assert len(items) == 2 and Item.objects.filter(batch=batch).count() == 2
    assert "projects.project_progress_refresh" in caplog.text and "broker is unreachable" in caplog.text
