"""The assignment engine under real concurrency: a dozen annotators, each with its own HTTP
connection and token, hammer next → submit until no work is left; then the invariants are
checked straight from the database.

On PostgreSQL (marked integration) against pytest-django's live server: it answers each request
in its own thread with its own connection, so the transactions really overlap and FOR UPDATE
SKIP LOCKED is what keeps two annotators off the same last slot.

On SQLite the live server is no test: pytest-django's SQLite test database lives in memory and
the server's threads share its one connection, so nothing overlaps. The SQLite test therefore
runs the embedded mode for real: bench/throughput.py makes an SQLite file (WAL, IMMEDIATE
transactions, as in settings), serves it with gunicorn (two processes of four threads) and
checks the invariants in the file afterwards.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User
from annotation import services
from annotation.models import Annotation, Assignment, Item
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import ProjectFactory

OVERLAP = 3
ROOT = Path(__file__).resolve().parents[2]


def _project(*, items: int, annotators: int):
    lead = UserFactory(username="race-lead", role=User.Role.LEAD)
    project = ProjectFactory(
        name="Race",
        lead=lead,
        label_schema=schema_with_labels(actor=lead),
        phase="production",
        default_overlap=OVERLAP,
        gold_rate=0,
        dynamic_overlap_threshold=0,
    )
    GuidelineFactory(project=project, created_by=lead, version=1)
    batch = BatchFactory(project=project)
    for index in range(items):
        ItemFactory(batch=batch, required_annotations=OVERLAP, priority=index % 4)
    tokens = []
    for index in range(annotators):
        person = UserFactory(username=f"racer{index}", role=User.Role.ANNOTATOR)
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
        tokens.append(Token.objects.create(user=person).key)
    return project, tokens


class _Annotator(threading.Thread):
    """One annotator: its own connection and token, next → submit until the server answers 204."""

    def __init__(self, base_url: str, token: str, project_id: int):
        super().__init__(daemon=True)
        url = urlsplit(base_url)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.project_id = project_id
        self.rng = random.Random(token)
        self.submitted: list[int] = []
        self.refused: list[str] = []  # late submits the engine turned down (their slot was retaken)
        self.failures: list[str] = []
        self.finished = False
        # Released after every request, so a helper thread can act on progress instead of a clock.
        self.progress: threading.Semaphore | None = None

    def _post(self, path: str, payload: dict) -> tuple[int, bytes]:
        if self.progress is not None:
            self.progress.release()
        body = json.dumps(payload).encode()
        for attempt in (1, 2):
            try:
                self.connection.request("POST", path, body=body, headers=self.headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # Both calls are idempotent (next resumes the open lease, submit returns the
                # stored annotation), so sending again is safe.
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def run(self) -> None:
        try:
            for _ in range(1000):
                status, body = self._post("/api/v1/assignments/next/", {"project": self.project_id})
                if status == 204:
                    self.finished = True
                    return
                if status != 200:
                    self.failures.append(f"next {status}: {body[:300]!r}")
                    return
                work = json.loads(body)
                label = self.rng.choice(work["labels"])["key"]
                status, body = self._post(f"/api/v1/assignments/{work['id']}/submit/", {"labels": [label]})
                if status == 200:
                    self.submitted.append(json.loads(body)["id"])
                elif status == 400 and b"your lease expired" in body:
                    self.refused.append(work["id"])
                else:
                    self.failures.append(f"submit {status}: {body[:300]!r}")
                    return
        finally:
            self.connection.close()


def _hammer(live_server, project, tokens, *, during=None) -> list[_Annotator]:
    workers = [_Annotator(live_server.url, token, project.pk) for token in tokens]
    for worker in workers:
        worker.start()
    if during is not None:
        during(workers)
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers), "an annotator did not finish in 5 minutes"
    failures = [failure for worker in workers for failure in worker.failures]
    assert failures == []
    assert all(worker.finished for worker in workers)
    return workers


def _assert_invariants(project) -> None:
    items = Item.objects.filter(project=project)
    # No item has more annotations than its overlap, nor more slots taken.
    counted = items.annotate(
        done=Count("annotations", distinct=True),
        taken=Count("assignments", filter=Q(assignments__status__in=["active", "submitted"]), distinct=True),
    )
    assert not counted.filter(done__gt=F("required_annotations")).exists()
    # The counters are the real counts.
    assert list(counted.exclude(annotations_done=F("done")).values_list("pk", flat=True)) == []
    assert list(counted.exclude(assigned_count=F("taken")).values_list("pk", flat=True)) == []
    # No annotator twice on an item, in annotations or in assignments.
    for model in (Annotation, Assignment):
        pairs = model.objects.filter(project=project).values("item_id", "annotator_id").annotate(n=Count("id"))
        assert not pairs.filter(n__gt=1).exists()
    # Every annotation has a submitted assignment of the same annotator on the same item, and
    # every submitted assignment has its annotation.
    annotations = Annotation.objects.filter(project=project)
    assert not annotations.exclude(assignment__status=Assignment.Status.SUBMITTED).exists()
    assert not annotations.exclude(
        assignment__annotator_id=F("annotator_id"), assignment__item_id=F("item_id")
    ).exists()
    submitted = Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED)
    assert not submitted.filter(annotation__isnull=True).exists()
    # All work is done: every item has all its annotations, and no lease is left open.
    assert not items.exclude(annotations_done=F("required_annotations")).exists()
    assert not Assignment.objects.filter(project=project, status=Assignment.Status.ACTIVE).exists()
    assert annotations.count() == OVERLAP * items.count()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_never_break_the_invariants(live_server):
    assert connection.vendor == "postgresql"
    project, tokens = _project(items=80, annotators=16)
    workers = _hammer(live_server, project, tokens)
    assert sum(len(worker.submitted) for worker in workers) == OVERLAP * 80
    assert all(worker.refused == [] for worker in workers)  # no lease lapsed: none refused
    _assert_invariants(project)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_leases_expiring_mid_run_return_their_slots(live_server):
    """A sweeper lapses every open lease over and over (a `now` an hour ahead) while annotators
    work: the slots go back to the pool, late submits are kept while their item has room and
    refused once it has not, and the invariants hold."""
    assert connection.vendor == "postgresql"
    project, tokens = _project(items=60, annotators=12)
    swept: list[int] = []

    def sweep_while_working(workers: list[_Annotator]) -> None:
        progress = threading.Semaphore(0)
        for worker in workers:
            worker.progress = progress

        def sweeper() -> None:
            # Sweep after every few requests the annotators make (not on a clock): leases lapse
            # between their next and their submit, over and over, however fast the machine is.
            try:
                requests = 0
                while any(worker.is_alive() for worker in workers):
                    if progress.acquire(timeout=1):
                        requests += 1
                        if requests % 4 == 0:
                            swept.append(services.assignment_expire_sweep(now=timezone.now() + timedelta(hours=1)))
            finally:
                connection.close()

        thread = threading.Thread(target=sweeper, daemon=True)
        thread.start()
        for worker in workers:
            worker.join(timeout=300)
        thread.join(timeout=60)

    workers = _hammer(live_server, project, tokens, during=sweep_while_working)
    assert sum(swept) > 0, "the sweeper expired no lease: the test did not test expiry"
    assert Assignment.objects.filter(project=project, status=Assignment.Status.EXPIRED).count() > 0
    refused = sum(len(worker.refused) for worker in workers)
    submitted = sum(len(worker.submitted) for worker in workers)
    assert submitted == OVERLAP * 60
    # Each refused submit left its expired assignment without an annotation.
    refused_ids = [assignment_id for worker in workers for assignment_id in worker.refused]
    assert Assignment.objects.filter(pk__in=refused_ids, status=Assignment.Status.EXPIRED).count() == refused
    _assert_invariants(project)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_concurrent_annotators_on_an_sqlite_file_never_break_the_invariants():
    name = f"quorum_test_race_{_free_port()}"
    command = [
        *(sys.executable, str(ROOT / "bench" / "throughput.py"), "--db", "sqlite", "--db-name", name),
        *("--items", "60", "--annotators", "12", "--until-done", "--json", "--port", str(_free_port())),
        *("--workers", "2", "--threads", "4"),
    ]
    try:
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"/tmp/{name}.sqlite3{suffix}").unlink(missing_ok=True)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == {} and result["ran_out_of_work"]
    verify = result["verify"]
    assert verify["items_total"] == verify["items_completed"] == 60
    assert verify["annotations"] == OVERLAP * 60 and verify["active_leases"] == 0
    for invariant in (
        "over_assigned_items",
        "over_annotated_items",
        "duplicate_annotations",
        "counter_mismatches",
        "submitted_without_annotation",
        "annotations_without_their_assignment",
    ):
        assert verify[invariant] == 0, invariant
