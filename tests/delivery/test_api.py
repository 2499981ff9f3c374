"""The delivery API through its real URLs: leads build and follow, requesters list, download and
evaluate, everyone else gets 404s; webhooks per team; pinned query counts."""

from __future__ import annotations

import hashlib
import io

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from delivery.models import Delivery
from tests.accounts.factories import TeamFactory, UserFactory

DELIVERIES = "/api/v1/deliveries/"
WEBHOOKS = "/api/v1/webhooks/"
EVALUATIONS = "/api/v1/evaluations/"


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider", role=User.Role.REQUESTER, team=TeamFactory(name="Ads", slug="ads"))


def _create(client, project, **options):
    return client.post(DELIVERIES, {"project": project.pk, "formats": ["jsonl", "csv"], **options}, format="json")


def _content(response) -> bytes:
    return b"".join(response.streaming_content)


def test_delivery_api_flow_for_lead_and_requester(
    api_client, labelled, lead, requester, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(_as(api_client, lead), labelled.project, eval_share=0.3, seed=5)
    assert response.status_code == 201, response.json()
    delivery_id = response.json()["id"]
    body = _as(api_client, lead).get(f"{DELIVERIES}{delivery_id}/").json()
    assert body["status"] == "done" and body["version"] == 1 and body["progress"] == 1.0
    client = _as(api_client, requester)
    listed = client.get(DELIVERIES, {"request": labelled.request.pk}).json()
    assert [row["id"] for row in listed["results"]] == [delivery_id]
    manifest = orjson.loads(_content(client.get(f"{DELIVERIES}{delivery_id}/files/manifest.json/")))
    for entry in manifest["files"]:
        response = client.get(f"{DELIVERIES}{delivery_id}/files/{entry['name']}/")
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        data = _content(response)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert client.get(f"{DELIVERIES}{delivery_id}/files/_index.parquet/").status_code == 404
    assert client.get(f"{DELIVERIES}{delivery_id}/files/..%2Fsecret/").status_code == 404


def test_delivery_gate_refusal_is_a_clear_400(api_client, labelled, lead):
    labelled.project.min_alpha = 0.8
    labelled.project.save()
    response = _create(_as(api_client, lead), labelled.project)
    assert response.status_code == 400
    assert response.json()["code"] == "gate_failed"
    assert response.json()["field"] == "override_reason"
    assert "no agreement report" in response.json()["detail"]
    response = _create(_as(api_client, lead), labelled.project, override_reason="Pilot data, agreed with the team")
    assert response.status_code == 201
    assert response.json()["gate_passed"] is False


def test_delivery_roles_and_scoping(api_client, labelled, lead, requester, other_lead, outsider, annotator):
    assert _create(_as(api_client, requester), labelled.project).status_code == 403
    response = _create(_as(api_client, other_lead), labelled.project)
    assert response.status_code in (400, 403)  # other leads may see the project (leads triage) but not deliver it
    response = _create(_as(api_client, outsider), labelled.project)
    assert response.status_code == 403
    delivery = Delivery.objects.get(pk=_create(_as(api_client, lead), labelled.project).json()["id"])
    for person in (outsider, annotator, other_lead):
        client = _as(api_client, person)
        assert client.get(DELIVERIES).json()["count"] == 0
        assert client.get(f"{DELIVERIES}{delivery.pk}/").status_code == 404
        assert client.get(f"{DELIVERIES}{delivery.pk}/files/manifest.json/").status_code == 404


def test_requesters_see_only_done_deliveries(api_client, labelled, lead, requester, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        queued = _create(_as(api_client, lead), labelled.project).json()["id"]
    assert _as(api_client, requester).get(f"{DELIVERIES}{queued}/").status_code == 404
    assert _as(api_client, lead).get(f"{DELIVERIES}{queued}/").json()["status"] == "queued"


@pytest.mark.parametrize("rows", [1, 4])
def test_delivery_list_query_count_is_flat(
    api_client, labelled, lead, requester, rows, django_assert_num_queries, django_capture_on_commit_callbacks
):
    for _ in range(rows):
        with django_capture_on_commit_callbacks(execute=True):
            _create(_as(api_client, lead), labelled.project)
    client = _as(api_client, requester)
    with django_assert_num_queries(2):
        assert client.get(DELIVERIES).json()["count"] == rows


def test_webhook_api_is_per_team(api_client, requester, outsider):
    client = _as(api_client, requester)
    response = client.post(WEBHOOKS, {"url": "https://ml.example.com/hooks", "secret": "x" * 20}, format="json")
    assert response.status_code == 201
    assert "secret" not in response.json()
    endpoint = response.json()["id"]
    assert client.get(f"{WEBHOOKS}{endpoint}/attempts/").json()["count"] == 0
    assert client.post(WEBHOOKS, {"url": "javascript:alert(1)", "secret": "x" * 20}, format="json").status_code == 400
    other = _as(api_client, outsider)
    assert other.get(f"{WEBHOOKS}{endpoint}/").status_code == 404
    assert other.delete(f"{WEBHOOKS}{endpoint}/").status_code == 404
    assert _as(api_client, requester).delete(f"{WEBHOOKS}{endpoint}/").status_code == 204
    assert _as(api_client, requester).get(f"{WEBHOOKS}{endpoint}/").json()["is_active"] is False


def test_evaluation_api_upload_and_compare(
    api_client, labelled, lead, requester, outsider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        delivery_id = _create(_as(api_client, lead), labelled.project, eval_share=0.5).json()["id"]
    client = _as(api_client, requester)
    eval_rows = [
        orjson.loads(line) for line in _content(client.get(f"{DELIVERIES}{delivery_id}/files/eval.jsonl/")).splitlines()
    ]
    ids = []
    for name, wrong in (("model-a", 0), ("model-b", 5)):
        lines = ["item_id,label,score"] + [
            f"{row['item_id']},{'safe' if index < wrong else row['label']},0.9" for index, row in enumerate(eval_rows)
        ]
        upload = SimpleUploadedFile(f"{name}.csv", "\n".join(lines).encode(), content_type="text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                EVALUATIONS, {"delivery": delivery_id, "file": upload, "name": name}, format="multipart"
            )
        assert response.status_code == 201, response.json()
        ids.append(response.json()["id"])
    listed = client.get(EVALUATIONS, {"delivery": delivery_id}).json()["results"]
    figures = {row["name"]: row["accuracy"] for row in listed}
    assert figures["model-a"] == 1.0 > figures["model-b"]
    detail = client.get(f"{EVALUATIONS}{ids[0]}/").json()
    assert detail["status"] == "done" and detail["report"]["confusion"]["keys"]
    # Another team can neither read these nor upload against the delivery.
    other = _as(api_client, outsider)
    assert other.get(f"{EVALUATIONS}{ids[0]}/").status_code == 404
    upload = SimpleUploadedFile("x.csv", io.BytesIO(b"item_id,label\n").getvalue())
    assert other.post(EVALUATIONS, {"delivery": delivery_id, "file": upload}, format="multipart").status_code == 404


@pytest.mark.parametrize("uploads", [1, 3])
def test_evaluation_list_query_count_is_flat(
    api_client, labelled, lead, requester, uploads, django_assert_num_queries, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        delivery_id = _create(_as(api_client, lead), labelled.project, eval_share=0.5).json()["id"]
    client = _as(api_client, requester)
    for index in range(uploads):
        upload = SimpleUploadedFile(f"m{index}.csv", b"item_id,label\n")
        with django_capture_on_commit_callbacks(execute=True):
            client.post(EVALUATIONS, {"delivery": delivery_id, "file": upload}, format="multipart")
    with django_assert_num_queries(2):
        assert client.get(EVALUATIONS, {"delivery": delivery_id}).json()["count"] == uploads
