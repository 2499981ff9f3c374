"""A request's stage follows its deliveries: once a delivery of its project is done, the request
reads delivered (through the requests API and page), whatever phase the project is still in."""

from __future__ import annotations

from delivery.models import Delivery
from delivery.services.build import delivery_build_fail
from projects.models import DataRequest, Project

DELIVERIES = "/api/v1/deliveries/"
REQUESTS = "/api/v1/requests/"


def _accepted(labelled):
    DataRequest.objects.filter(pk=labelled.request.pk).update(status=DataRequest.Status.ACCEPTED)


def _stage(api_client, user, request_id):
    api_client.force_authenticate(user=user)
    return api_client.get(f"{REQUESTS}{request_id}/").json()["stage"]


def test_a_done_delivery_moves_the_request_to_delivered(
    api_client, labelled, lead, requester, django_capture_on_commit_callbacks
):
    _accepted(labelled)
    assert labelled.project.phase == Project.Phase.PRODUCTION
    assert _stage(api_client, requester, labelled.request.pk) == "in_production"
    api_client.force_authenticate(user=lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(DELIVERIES, {"project": labelled.project.pk, "formats": ["jsonl"]}, format="json")
    assert response.status_code == 201, response.json()
    delivery = Delivery.objects.get(pk=response.json()["id"])
    assert delivery.status == Delivery.Status.DONE
    assert _stage(api_client, requester, labelled.request.pk) == "delivered"
    stamped = DataRequest.objects.get(pk=labelled.request.pk).delivered_at
    assert stamped == delivery.finished_at
    # The project's phase is the lead's to move; only the request's stage changed.
    assert Project.objects.get(pk=labelled.project.pk).phase == Project.Phase.PRODUCTION
    # A second delivery keeps the first delivery's time.
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post(DELIVERIES, {"project": labelled.project.pk, "formats": ["csv"]}, format="json")
    assert DataRequest.objects.get(pk=labelled.request.pk).delivered_at == stamped
    # The requester's list reads the same stage.
    api_client.force_authenticate(user=requester)
    rows = api_client.get(REQUESTS).json()["results"]
    assert {row["id"]: row["stage"] for row in rows}[labelled.request.pk] == "delivered"


def test_a_failed_or_unfinished_delivery_leaves_the_stage(
    api_client, labelled, lead, requester, django_capture_on_commit_callbacks
):
    _accepted(labelled)
    api_client.force_authenticate(user=lead)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(DELIVERIES, {"project": labelled.project.pk, "formats": ["jsonl"]}, format="json")
    assert response.status_code == 201
    assert _stage(api_client, requester, labelled.request.pk) == "in_production"  # queued, not built
    delivery_build_fail(delivery_id=response.json()["id"], error="disk full")
    assert _stage(api_client, requester, labelled.request.pk) == "in_production"
    assert DataRequest.objects.get(pk=labelled.request.pk).delivered_at is None
