"""The algorithm team's whole flow over the real URL routes, with the real broker and a live worker:
a filed request, an accepted project moved to production, annotations made through next → submit,
a passed gate, a delivery built by the worker, downloaded and checked against its manifest, a signed
webhook received by a local receiver, and a model evaluation whose figures match scikit-learn's."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from sklearn import metrics as sk

from annotation.models import Annotation
from config.celery import healthcheck
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory, schema_with_labels
from tests.delivery.receiver import Receiver, signature_valid
from tests.quality.factories import items_make

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "integration-secret-0123456789"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _after_queued_work(client, url: str) -> dict:
    """`url`'s body once the worker has run everything queued so far: it runs one task at a time
    in queue order (one pool child, --concurrency=1), so a health check sent now answers after them."""
    healthcheck.delay().get(timeout=120)
    return client.get(url).json()


@pytest.fixture
def worker_media(settings):
    """The worker writes where its settings say (it inherits this environment): use the same folder."""
    root = Path(os.environ.get("DJANGO_MEDIA_ROOT", str(django_settings.BASE_DIR / "media")))
    settings.MEDIA_ROOT = root
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = True  # the local receiver is on 127.0.0.1, as in the worker's env
    yield root


def test_requester_flow_to_delivery_webhook_and_evaluation(celery_worker_process, worker_media, lead, requester):
    schema = schema_with_labels(actor=lead)
    keys = ["safe", "spam", "hate", "harassment", "violence"]
    team = _client(requester)
    filed = team.post(
        "/api/v1/requests/",
        {
            "title": "Integration: hate speech",
            "purpose": "training",
            "label_schema": schema.pk,
            "volume_total": 100,
            "deadline": (dt.date.today() + dt.timedelta(days=30)).isoformat(),  # noqa: DTZ011
            "min_alpha": 0.5,
        },
        format="json",
    )
    assert filed.status_code == 201, filed.json()
    accepted = _client(lead).post(f"/api/v1/requests/{filed.json()['id']}/accept/", {}, format="json")
    assert accepted.status_code == 201, accepted.json()
    project_id = accepted.json()["id"]
    from projects.models import Membership, Project

    project = Project.objects.get(pk=project_id)
    GuidelineFactory(project=project, version=1, created_by=lead)
    people = [UserFactory(username=f"flow-annotator-{i}") for i in range(3)]
    for person in people:
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
    items = items_make(BatchFactory(project=project), 100)
    rng = np.random.default_rng(4)
    truth = {item.pk: keys[index % 5] for index, item in enumerate(items)}
    lead_client = _client(lead)
    for phase in ("design", "pilot", "production"):
        moved = lead_client.post(f"/api/v1/projects/{project_id}/transition/", {"to_phase": phase}, format="json")
        assert moved.status_code == 200, moved.json()
    # The annotators work through the API, next → submit, until no work is left for them.
    for person in people:
        annotator = _client(person)
        while (
            work := annotator.post("/api/v1/assignments/next/", {"project": project_id}, format="json")
        ).status_code == 200:
            body = work.json()
            label = truth[body["item"]["id"]] if rng.random() < 0.9 else keys[int(rng.integers(5))]
            submitted = annotator.post(
                f"/api/v1/assignments/{body['id']}/submit/", {"labels": [label], "time_spent_ms": 900}, format="json"
            )
            assert submitted.status_code == 200, submitted.json()
        assert work.status_code == 204, work.content
    assert Annotation.objects.filter(project_id=project_id).count() == len(items) * len(people)
    job = lead_client.post("/api/v1/quality/jobs/", {"project": project_id, "kind": "agreement"}, format="json")
    assert job.status_code == 202, job.json()
    _after_queued_work(lead_client, f"/api/v1/quality/jobs/{job.json()['id']}/")
    gate = lead_client.get("/api/v1/quality/gate/", {"project": project_id}).json()
    assert gate["passed"] is True, gate

    with Receiver() as receiver:
        hook = team.post("/api/v1/webhooks/", {"url": receiver.url, "secret": SECRET}, format="json")
        assert hook.status_code == 201
        created = lead_client.post(
            "/api/v1/deliveries/",
            {"project": project_id, "formats": ["jsonl", "csv", "parquet"], "eval_share": 0.3, "seed": 11},
            format="json",
        )
        assert created.status_code == 201, created.json()
        delivery_id = created.json()["id"]
        body = _after_queued_work(lead_client, f"/api/v1/deliveries/{delivery_id}/")
        assert body["status"] == "done", body
        assert receiver.event.wait(30), "no webhook arrived"
    try:
        (call,) = [c for c in receiver.received if orjson.loads(c["body"])["delivery"]["id"] == delivery_id]
        assert signature_valid(SECRET, call["headers"], call["body"])
        attempts = team.get(f"/api/v1/webhooks/{hook.json()['id']}/attempts/").json()["results"]
        assert attempts[0]["status_code"] == 200 and attempts[0]["delivered_at"]

        # The requester downloads everything and checks it against the manifest.
        listed = team.get("/api/v1/deliveries/", {"request": filed.json()["id"]}).json()["results"]
        assert [row["id"] for row in listed] == [delivery_id]
        response = team.get(f"/api/v1/deliveries/{delivery_id}/files/manifest.json/")
        manifest_bytes = b"".join(response.streaming_content)
        assert hashlib.sha256(manifest_bytes).hexdigest() == body["manifest_sha256"]
        manifest = orjson.loads(manifest_bytes)
        assert manifest["quality"]["gate_passed"] is True
        assert manifest["request"]["id"] == filed.json()["id"]
        contents = {}
        for entry in manifest["files"]:
            response = team.get(f"/api/v1/deliveries/{delivery_id}/files/{entry['name']}/")
            data = b"".join(response.streaming_content)
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["bytes"]
            contents[entry["name"]] = data
        eval_rows = [orjson.loads(line) for line in contents["eval.jsonl"].splitlines()]
        assert len(eval_rows) == manifest["counts"]["by_split"]["eval"] > 0

        # A model's predictions for the evaluation split, scored by the worker.
        lines, y_true, y_pred = ["item_id,label,score"], [], []
        for row in eval_rows:
            guess = row["label"] if rng.random() < 0.75 else keys[int(rng.integers(5))]
            lines.append(f"{row['item_id']},{guess},{rng.random():.4f}")
            y_true.append(row["label"])
            y_pred.append(guess)
        upload = SimpleUploadedFile("model.csv", "\n".join(lines).encode(), content_type="text/csv")
        posted = team.post(
            "/api/v1/evaluations/", {"delivery": delivery_id, "file": upload, "name": "baseline"}, format="multipart"
        )
        assert posted.status_code == 201, posted.json()
        evaluation = _after_queued_work(team, f"/api/v1/evaluations/{posted.json()['id']}/")
        assert evaluation["status"] == "done", evaluation
        report = evaluation["report"]
        assert report["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
        precision, recall, f1, support = sk.precision_recall_fscore_support(
            y_true, y_pred, labels=report["confusion"]["keys"], zero_division=0
        )
        for code, row in enumerate(report["labels"]):
            assert (row["precision"], row["recall"], row["f1"], row["support"]) == (
                pytest.approx(precision[code]),
                pytest.approx(recall[code]),
                pytest.approx(f1[code]),
                support[code],
            )
        p, r, f, _ = sk.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
        assert report["macro"] == pytest.approx({"precision": p, "recall": r, "f1": f})
        assert (
            report["confusion"]["matrix"]
            == sk.confusion_matrix(y_true, y_pred, labels=report["confusion"]["keys"]).tolist()
        )
    finally:
        from delivery.models import Evaluation

        shutil.rmtree(worker_media / "deliveries" / str(project_id), ignore_errors=True)
        for evaluation in Evaluation.objects.filter(delivery__project_id=project_id):
            evaluation.file.delete(save=False)
