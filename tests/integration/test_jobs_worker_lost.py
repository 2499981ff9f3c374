"""Jobs survive their worker, on the live worker (prefork, one child) with the real Redis broker
and PostgreSQL: the child running each kind of job is killed by PID in the middle of the job, and
the job runs again to one result (no second report, version or item), or, once its attempts are
spent, is failed with the reason, the lead retries it and it succeeds. Nothing is left `running`.
A whole worker killed at once (a lost node) leaves its message unacknowledged in Redis: the job
sweep fails the build when its heartbeat stops and removes its folder. And with the broker
unreachable a request answers 503 at once and leaves no orphan job.

The job is held mid-run deterministically, not by timing: the worker runs with
QUORUM_JOB_HOLD_DIR, and a job that finds `<kind>-<id>.hold` there at a heartbeat writes its pid
to `<kind>-<id>.pid` and waits while the hold file exists (core.jobs.job_checkpoint). Each hold
file is written inside the transaction that creates the job, before the commit queues it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from annotation import services as annotation_services
from annotation.models import ImportJob, Item
from config import celery_app
from delivery import tasks as delivery_tasks
from delivery.models import Delivery, Evaluation
from delivery.services.build import delivery_create, delivery_job_sweep
from delivery.services.evaluation import evaluation_create
from delivery.services.storage import delivery_root
from quality.models import AgreementReport, QualityJob
from quality.services.reports import agreement_report_enqueue
from tests.delivery.conftest import labelled_project
from tests.integration.conftest import ROOT
from tests.projects.factories import ProjectFactory
from tests.quality.factories import annotations_make, items_make, noisy_rows, quality_project

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEADLINE = 120.0  # seconds: generous for two loaded cores; every wait polls state and ends early


def _until(what: str, check: Callable[[], Any], worker: dict, timeout: float = DEADLINE) -> Any:
    """Poll `check` until it answers something true; fail naming `what` (with the worker's log) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            log = Path(worker["log"]).read_text()[-4000:]
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n--- worker log ---\n{log}")
        time.sleep(0.05)


class Hold:
    """One job's hold file in the worker's hold folder, and the pids of the processes it held."""

    def __init__(self, worker: dict, kind: str, job_id: int) -> None:
        self.worker = worker
        self.kind, self.job_id = kind, job_id
        self.file = Path(worker["hold_dir"]) / f"{kind}-{job_id}.hold"
        self.pid_file = self.file.with_suffix(".pid")
        self.file.write_text("held")

    def held_pid(self, *, other_than: int | None = None) -> int:
        """The pid of the worker process the job waits in (a new one after a kill)."""

        def read() -> int | None:
            try:
                pid = int(self.pid_file.read_text())
            except (FileNotFoundError, ValueError):
                return None
            return pid if pid != other_than else None

        return _until(f"{self.kind} {self.job_id} to be held by a worker process", read, self.worker)

    def kill(self, pid: int) -> None:
        """SIGKILL the pool child running the job (only a child of the worker this session started)."""
        status = Path(f"/proc/{pid}/status").read_text()
        parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        assert parent == self.worker["process"].pid, f"{pid} is not a child of the test worker"
        os.kill(pid, signal.SIGKILL)

    def release(self) -> None:
        self.file.unlink(missing_ok=True)


@pytest.fixture
def holds(celery_worker_process):
    made: list[Hold] = []

    def hold(kind: str, job_id: int) -> Hold:
        made.append(Hold(celery_worker_process, kind, job_id))
        return made[-1]

    yield hold
    for each in made:  # a failing test never leaves the worker waiting
        each.release()


@pytest.fixture
def worker_media(settings):
    """The worker reads and writes where its settings say (it inherits this environment): use the same folder."""
    root = Path(os.environ.get("DJANGO_MEDIA_ROOT", str(django_settings.BASE_DIR / "media")))
    settings.MEDIA_ROOT = root
    return root


def _status(model, pk: int) -> dict[str, Any]:
    return model.objects.filter(pk=pk).values("status", "attempts").get()


def _attempts_reach(model, pk: int, n: int) -> Callable[[], bool]:
    return lambda: _status(model, pk)["attempts"] >= n


def _finished(model, pk: int, *statuses: str) -> Callable[[], bool]:
    return lambda: _status(model, pk)["status"] in statuses


def _kill_mid_run(hold: Hold, model, pk: int, *, times: int) -> int:
    """Kill the process running the job `times` times, each time once it is held mid-run again;
    the last pid killed."""
    pid = None
    for attempt in range(1, times + 1):
        pid = hold.held_pid(other_than=pid)
        assert _status(model, pk) == {"status": "running", "attempts": attempt}
        hold.kill(pid)
    assert pid is not None
    return pid


def _nothing_running() -> None:
    for model in (QualityJob, Delivery, Evaluation, ImportJob):
        assert not model.objects.filter(status="running").exists(), f"a {model.__name__} is left running"


def _report_job(lead, holds) -> tuple[QualityJob, Hold]:
    project, people, batch = quality_project(lead=lead, name="Killed report")
    annotations_make(noisy_rows(items_make(batch, 30), people, seed=8))
    with transaction.atomic():
        job = agreement_report_enqueue(project_id=project.pk, actor=lead, bootstrap=50, seed=2)
        hold = holds("quality", job.pk)
    return job, hold


def test_agreement_report_killed_with_its_worker_runs_again_to_one_report(celery_worker_process, holds, lead):
    job, hold = _report_job(lead, holds)
    killed = _kill_mid_run(hold, QualityJob, job.pk, times=1)
    hold.held_pid(other_than=killed)  # redelivered to the new pool child, held again
    _until("the second attempt", _attempts_reach(QualityJob, job.pk, 2), celery_worker_process)
    hold.release()
    _until("the report", _finished(QualityJob, job.pk, "succeeded", "failed"), celery_worker_process)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.attempts == 2 and job.report_id is not None
    assert AgreementReport.objects.filter(project_id=job.project_id).count() == 1
    _nothing_running()


def test_agreement_report_killed_every_time_fails_with_the_reason_and_the_lead_retries_it(
    celery_worker_process, holds, lead
):
    job, hold = _report_job(lead, holds)
    _kill_mid_run(hold, QualityJob, job.pk, times=django_settings.QUORUM_JOB_MAX_ATTEMPTS)
    _until("the job to fail", _finished(QualityJob, job.pk, "failed"), celery_worker_process)
    job.refresh_from_db()
    assert "started 3 times without finishing" in job.error and job.report_id is None
    assert not AgreementReport.objects.filter(project_id=job.project_id).exists()
    _nothing_running()
    hold.release()
    client = APIClient()
    client.force_authenticate(user=lead)
    response = client.post(f"/api/v1/quality/jobs/{job.pk}/retry/")
    assert response.status_code == 202, response.content
    _until("the retried report", _finished(QualityJob, job.pk, "succeeded", "failed"), celery_worker_process)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 1, job.error
    assert AgreementReport.objects.filter(project_id=job.project_id).count() == 1


def _delivery(lead, requester, holds, name: str) -> tuple[Delivery, Hold]:
    labelled = labelled_project(lead=lead, requester=requester, items=30, name=name)
    with transaction.atomic():
        delivery = delivery_create(
            project=labelled.project, actor=lead, formats=["jsonl", "csv"], override_reason="integration test"
        )
        hold = holds("delivery", delivery.pk)
    return delivery, hold


def _build_folders(delivery: Delivery) -> list[str]:
    return sorted(p.name for p in (delivery_root() / str(delivery.project_id)).glob(f".build-{delivery.pk}-*"))


def test_delivery_build_killed_with_its_worker_runs_again_to_one_version(
    celery_worker_process, holds, worker_media, lead, requester
):
    delivery, hold = _delivery(lead, requester, holds, "Killed build")
    pid = hold.held_pid()
    assert len(_build_folders(delivery)) == 1  # the killed attempt's half-written folder
    hold.kill(pid)
    hold.held_pid(other_than=pid)
    _until("the second attempt", _attempts_reach(Delivery, delivery.pk, 2), celery_worker_process)
    hold.release()
    _until("the build", _finished(Delivery, delivery.pk, "done", "failed"), celery_worker_process)
    delivery.refresh_from_db()
    assert delivery.status == "done", delivery.error
    assert delivery.version == 1 and delivery.attempts == 2
    assert Delivery.objects.filter(project_id=delivery.project_id, version__isnull=False).count() == 1
    assert _build_folders(delivery) == []  # the dead attempt's folder is gone
    final = worker_media / delivery.path
    files = {p.name for p in final.iterdir()}
    assert files == {"_index.parquet", "manifest.json", "train.csv", "train.jsonl", "eval.csv", "eval.jsonl"}
    assert {entry["name"] for entry in delivery.manifest["files"]} == files - {"_index.parquet", "manifest.json"}
    _nothing_running()


def test_delivery_build_killed_every_time_fails_with_the_reason_and_leaves_no_folder(
    celery_worker_process, holds, worker_media, lead, requester
):
    delivery, hold = _delivery(lead, requester, holds, "Doomed build")
    _kill_mid_run(hold, Delivery, delivery.pk, times=django_settings.QUORUM_JOB_MAX_ATTEMPTS)
    _until("the build to fail", _finished(Delivery, delivery.pk, "failed"), celery_worker_process)
    delivery.refresh_from_db()
    assert "started 3 times without finishing" in delivery.error and delivery.version is None
    assert _build_folders(delivery) == []
    _nothing_running()


def test_evaluation_killed_with_its_worker_runs_again(celery_worker_process, holds, worker_media, lead, requester):
    labelled = labelled_project(lead=lead, requester=requester, items=30, name="Killed evaluation")
    delivery = delivery_create(
        project=labelled.project, actor=lead, formats=["jsonl"], eval_share=0.5, override_reason="integration test"
    )
    _until("the delivery", _finished(Delivery, delivery.pk, "done", "failed"), celery_worker_process)
    delivery.refresh_from_db()
    assert delivery.status == "done", delivery.error
    eval_rows = [json.loads(line) for line in (worker_media / delivery.path / "eval.jsonl").read_text().splitlines()]
    predictions = "item_id,label\n" + "".join(f"{row['item_id']},{row['label']}\n" for row in eval_rows)
    with transaction.atomic():
        evaluation = evaluation_create(
            delivery=delivery, actor=requester, file=SimpleUploadedFile("p.csv", predictions.encode()), name="m"
        )
        hold = holds("evaluation", evaluation.pk)
    killed = _kill_mid_run(hold, Evaluation, evaluation.pk, times=1)
    hold.held_pid(other_than=killed)
    _until("the second attempt", _attempts_reach(Evaluation, evaluation.pk, 2), celery_worker_process)
    hold.release()
    _until("the evaluation", _finished(Evaluation, evaluation.pk, "done", "failed"), celery_worker_process)
    evaluation.refresh_from_db()
    assert evaluation.status == "done", evaluation.error
    assert evaluation.attempts == 2 and evaluation.report["accuracy"] == 1.0
    assert evaluation.rows_read == len(eval_rows) and evaluation.rows_bad == 0
    _nothing_running()


def test_import_killed_with_its_worker_mid_transaction_runs_again_without_duplicates(
    celery_worker_process, holds, worker_media, lead
):
    project = ProjectFactory(lead=lead, phase="production")
    rows = "".join(json.dumps({"external_id": f"k{i}", "text": f"row {i}"}) + "\n" for i in range(300))
    with transaction.atomic():
        job = annotation_services.import_job_create(
            project=project, actor=lead, batch_name="wave", upload=SimpleUploadedFile("items.jsonl", rows.encode())
        )
        hold = holds("import", job.pk)
    pid = hold.held_pid()  # after its first chunk's rows went in, inside the import's transaction
    assert Item.objects.filter(project=project).count() == 0  # not committed
    hold.kill(pid)
    hold.held_pid(other_than=pid)
    _until("the second attempt", _attempts_reach(ImportJob, job.pk, 2), celery_worker_process)
    hold.release()
    _until("the import", _finished(ImportJob, job.pk, "succeeded", "failed"), celery_worker_process)
    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    assert job.attempts == 2 and job.items_created == 300 and job.rows_existing == 0
    assert Item.objects.filter(project=project).count() == 300
    _nothing_running()


def test_import_with_the_broker_down_answers_503_fast_leaves_no_orphan_and_retries_once_it_is_back(
    celery_worker_process, worker_media, lead, broker_down
):
    project = ProjectFactory(lead=lead, phase="production")
    client = APIClient()
    client.force_authenticate(user=lead)
    upload = SimpleUploadedFile("items.jsonl", b'{"external_id": "b1", "text": "one"}\n')
    started = time.perf_counter()
    response = client.post(
        "/api/v1/imports/", {"project": project.pk, "batch_name": "wave", "file": upload}, format="multipart"
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "queue_unavailable"
    assert elapsed < 5, f"took {elapsed:.1f} s (it hung about 20 s before)"
    job = ImportJob.objects.get(project=project)
    assert job.status == "failed" and job.message.startswith("Queue unavailable")
    assert not ImportJob.objects.filter(status__in=["pending", "running"]).exists()
    # Agreement requests too: 503, and the failed job is not "the running one" for the next request.
    quality, _people, _batch = quality_project(lead=lead, name="Broker down")
    started = time.perf_counter()
    refused = client.post("/api/v1/quality/jobs/", {"project": quality.pk, "kind": "agreement"}, format="json")
    assert refused.status_code == 503 and time.perf_counter() - started < 5
    failed_report = QualityJob.objects.get(project=quality)
    assert failed_report.status == "failed" and failed_report.error.startswith("Queue unavailable")
    broker_down.up()
    retried = client.post(f"/api/v1/imports/{job.pk}/retry/")
    assert retried.status_code == 202, retried.content
    _until("the retried import", _finished(ImportJob, job.pk, "succeeded", "failed"), celery_worker_process)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.items_created == 1, job.message
    again = client.post("/api/v1/quality/jobs/", {"project": quality.pk, "kind": "agreement"}, format="json")
    assert again.status_code == 202 and again.json()["id"] != failed_report.pk


def _redis():
    import redis

    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL)


def _unacked_with(task_id: str) -> list[bytes]:
    """Delivery tags in kombu's unacknowledged set (Redis transport) whose message is task `task_id`."""
    return [tag for tag, payload in _redis().hgetall("unacked").items() if task_id.encode() in payload]


def _unacked_drop(task_id: str) -> None:
    client = _redis()
    for tag in _unacked_with(task_id):
        client.hdel("unacked", tag)
        client.zrem("unacked_index", tag)


@pytest.fixture
def lone_worker(celery_worker_process, tmp_path):
    """A second worker (the session worker's settings) consuming a queue of its own, started in a
    process group of its own so a test can kill the whole worker at once, as a lost node would."""
    queue = f"quorum-lone-{uuid.uuid4().hex[:8]}"
    nodename = f"{queue}@localhost"
    log_path = tmp_path / "lone-worker.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue, "-n", nodename,
             "--loglevel=INFO"],
            cwd=ROOT, env=celery_worker_process["env"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    worker = {**celery_worker_process, "process": process, "log": log_path, "queue": queue}
    try:
        _until(
            "the lone worker to answer", lambda: celery_app.control.ping(destination=[nodename], timeout=1.0), worker
        )
        yield worker
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_build_whose_whole_worker_died_is_failed_by_the_sweep_and_its_folder_removed(
    lone_worker, holds, worker_media, lead, requester, settings
):
    """The whole worker is killed (main process and pool child): its message waits unacknowledged
    in Redis until the visibility timeout, and the job's heartbeat stops. The sweep fails it with
    the reason and removes its temporary folder; the late message then does nothing."""
    labelled = labelled_project(lead=lead, requester=requester, items=30, name="Lost node")
    delivery = Delivery.objects.create(
        project=labelled.project, request=labelled.request, formats=["jsonl"], gate_passed=True, created_by=lead
    )
    hold = Hold(lone_worker, "delivery", delivery.pk)
    sent = delivery_tasks.delivery_build.apply_async(
        args=(delivery.pk,), queue=lone_worker["queue"], ignore_result=True
    )
    try:
        hold.held_pid()
        assert _status(Delivery, delivery.pk) == {"status": "running", "attempts": 1}
        assert len(_build_folders(delivery)) == 1
        os.killpg(lone_worker["process"].pid, signal.SIGKILL)  # the whole worker, as a lost node
        lone_worker["process"].wait(timeout=30)
        unacked = _unacked_with(sent.id)
        assert unacked, "the dead worker's message should wait in Redis's unacknowledged set"
        settings.QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS = 1  # this process's sweep: a second of silence is death

        def swept() -> bool:
            return delivery.pk in delivery_job_sweep()["lost"]

        _until("the sweep to fail the dead build", swept, lone_worker)
    finally:
        hold.release()
        _unacked_drop(sent.id)  # its redelivery is shown below, by hand: not hours from now in a later run
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "no sign of life for over 1 s" in delivery.error
    assert delivery.version is None and _build_folders(delivery) == []
    _nothing_running()
    # Its message, handed out again after the visibility timeout, finds the build failed.
    assert delivery_tasks.delivery_build(delivery.pk)["status"] == "failed"
    assert Delivery.objects.get(pk=delivery.pk).error == delivery.error
