"""The projects API through its real URLs: status codes, role denial across projects and teams,
clear errors naming the field, filters, pagination, token auth and pinned query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.pagination import PageNumberPagination

from accounts.models import User
from projects.models import Blocker, DataRequest, Membership, Project
from tests.accounts.factories import PASSWORD, TeamFactory, UserFactory
from tests.projects.factories import BlockerFactory, DataRequestFactory, MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/requests/"
PROJECTS = "/api/v1/projects/"
BLOCKERS = "/api/v1/blockers/"


def _days(n: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=n)).isoformat()


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _request_payload(**overrides):
    payload = {
        "title": "Hate speech EN/PT",
        "purpose": "training",
        "modality": "text",
        "languages": ["en", "pt-BR"],
        "proposed_labels": [{"key": "hate", "name": "Hate"}, {"key": "safe", "name": "Safe"}],
        "volume_total": 1000,
        "volume_per_class": {"hate": 400, "safe": 500},
        "deadline": _days(30),
        "min_alpha": 0.7,
        "priority": 3,
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def outsider_requester(db):
    return UserFactory(username="outsider", role=User.Role.REQUESTER, team=TeamFactory(name="Ads", slug="ads"))


# --- Data requests ----------------------------------------------------------------------------


def test_datarequest_create_by_requester_returns_the_request(api_client, requester):
    response = _as(api_client, requester).post(reverse("datarequest-list"), _request_payload(), format="json")
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["status"] == "submitted" and body["requester"] == "requester" and body["team"] == "Trust ML"
    assert body["languages"] == ["en", "pt-BR"] and body["volume_per_class"] == {"hate": 400, "safe": 500}
    assert body["project"] is None and body["rejection_reason"] == ""
    assert DataRequest.objects.get(pk=body["id"]).requester == requester


def test_datarequest_list_and_detail_show_only_the_team_requests(api_client, requester, outsider_requester):
    teammate = UserFactory(username="teammate", role=User.Role.REQUESTER, team=requester.team)
    own = DataRequestFactory(requester=requester)
    teams = DataRequestFactory(requester=teammate)
    foreign = DataRequestFactory(requester=outsider_requester)
    client = _as(api_client, requester)
    ids = {row["id"] for row in client.get(REQUESTS).json()["results"]}
    assert ids == {own.pk, teams.pk}
    assert client.get(f"{REQUESTS}{teams.pk}/").status_code == 200
    assert client.get(f"{REQUESTS}{foreign.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"deadline": _days(-1)}, "deadline", "is in the past"),
        ({"languages": ["english"]}, "languages", "'english' is not a language code"),
        ({"volume_per_class": {"hate": 900, "safe": 200}}, "volume_per_class", "more than volume_total (1000)"),
        ({"volume_per_class": {"spam": 3}}, "volume_per_class", "'spam' is not one of the requested labels"),
        ({"title": None}, "title", "may not be null"),
        ({"volume_total": "lots"}, "volume_total", "A valid integer is required"),
        ({"volume_total": 0}, "volume_total", "greater than or equal to 1"),
        ({"languages": "en"}, "languages", "Expected a list of items"),
        ({"deadline": "next week"}, "deadline", "Date has wrong format"),
        ({"min_alpha": 1.5}, "min_alpha", "less than or equal to 1"),
        ({"modality": "smell"}, "modality", "is not a valid choice"),
        ({"proposed_labels": [{"name": "no key"}]}, "proposed_labels.0.key", "required"),
    ],
)
def test_datarequest_create_refuses_bad_input_naming_the_field(api_client, requester, overrides, field, message):
    response = _as(api_client, requester).post(REQUESTS, _request_payload(**overrides), format="json")
    assert response.status_code == 400
    body = response.json()  # one shape, whether the serializer or the service refused it
    assert body["field"] == field and message in body["detail"] and body["detail"].startswith(field)
    assert not DataRequest.objects.exists()


def test_datarequest_create_needs_a_title(api_client, requester):
    payload = _request_payload()
    del payload["title"]
    response = _as(api_client, requester).post(REQUESTS, payload, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "title: This field is required.",
        "code": "invalid",
        "field": "title",
        "errors": {"title": ["This field is required."]},
    }


def test_datarequest_create_refuses_annotators(api_client, annotator):
    response = _as(api_client, annotator).post(REQUESTS, _request_payload(), format="json")
    assert response.status_code == 403
    assert "requesters and project leads" in response.json()["detail"]
    assert not DataRequest.objects.exists()


def test_datarequest_accept_creates_and_returns_the_project(api_client, requester, lead):
    data_request = DataRequestFactory(requester=requester, modality="image", priority=3)
    response = _as(api_client, lead).post(reverse("datarequest-accept", args=[data_request.pk]), {}, format="json")
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["request"] == data_request.pk and body["phase"] == "requirements"
    assert body["lead"] == {"id": lead.pk, "username": "lead"} and body["modality"] == "image"
    assert body["open_blockers"] == 0 and body["next_phases"] == ["design", "on_hold"]
    data_request.refresh_from_db()
    assert data_request.status == "accepted"
    # The requester now follows the request and its project.
    api_client.force_authenticate(user=requester)
    assert api_client.get(f"{REQUESTS}{data_request.pk}/").json()["project"] == body["id"]
    assert api_client.get(f"{PROJECTS}{body['id']}/").status_code == 200


def test_datarequest_accept_hands_the_project_to_another_lead(api_client, requester, lead, other_lead):
    data_request = DataRequestFactory(requester=requester)
    response = _as(api_client, lead).post(
        f"{REQUESTS}{data_request.pk}/accept/", {"lead": other_lead.pk, "name": "Hate v2"}, format="json"
    )
    assert response.status_code == 201, response.data
    assert response.json()["name"] == "Hate v2" and response.json()["lead"]["username"] == "other-lead"


def test_datarequest_accept_twice_is_refused_clearly(api_client, requester, lead):
    data_request = DataRequestFactory(requester=requester)
    client = _as(api_client, lead)
    assert client.post(f"{REQUESTS}{data_request.pk}/accept/").status_code == 201
    response = client.post(f"{REQUESTS}{data_request.pk}/accept/")
    assert response.status_code == 400
    assert "was already accepted" in response.json()["detail"]
    assert Project.objects.filter(request=data_request).count() == 1


def test_datarequest_accept_by_non_lead_is_forbidden(api_client, requester):
    data_request = DataRequestFactory(requester=requester)
    response = _as(api_client, requester).post(f"{REQUESTS}{data_request.pk}/accept/")
    assert response.status_code == 403
    assert not Project.objects.exists()


def test_datarequest_reject_needs_a_reason(api_client, requester, lead):
    data_request = DataRequestFactory(requester=requester)
    client = _as(api_client, lead)
    response = client.post(f"{REQUESTS}{data_request.pk}/reject/", {}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "reason"
    response = client.post(f"{REQUESTS}{data_request.pk}/reject/", {"reason": "   "}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "reason"
    response = client.post(f"{REQUESTS}{data_request.pk}/reject/", {"reason": "Out of scope"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected" and response.json()["rejection_reason"] == "Out of scope"


def test_datarequest_list_filters_and_orders(api_client, requester, lead):
    soon = DataRequestFactory(requester=requester, deadline=timezone.localdate() + dt.timedelta(days=5))
    later = DataRequestFactory(requester=requester, deadline=timezone.localdate() + dt.timedelta(days=50))
    DataRequestFactory(requester=requester, status="rejected", rejection_reason="no")
    client = _as(api_client, lead)
    submitted = client.get(REQUESTS, {"status": "submitted", "ordering": "-deadline"}).json()["results"]
    assert [row["id"] for row in submitted] == [later.pk, soon.pk]
    assert [row["id"] for row in client.get(REQUESTS, {"deadline_before": _days(10)}).json()["results"]] == [soon.pk]
    assert client.get(REQUESTS, {"ordering": "title"}).status_code == 200  # unknown ordering is ignored


# --- Projects ---------------------------------------------------------------------------------


def test_project_create_by_lead(api_client, lead):
    payload = {"name": "Spam PT", "languages": ["pt-BR"], "deadline": _days(20), "default_overlap": 2}
    response = _as(api_client, lead).post(reverse("project-list"), payload, format="json")
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["lead"]["id"] == lead.pk and body["default_overlap"] == 2 and body["phase"] == "requirements"
    assert Membership.objects.filter(project_id=body["id"], user=lead, role="lead").exists()


def test_project_create_refuses_non_leads_and_bad_settings(api_client, lead, annotator):
    response = _as(api_client, annotator).post(PROJECTS, {"name": "Mine"}, format="json")
    assert response.status_code == 403
    client = _as(api_client, lead)
    response = client.post(PROJECTS, {"name": "X", "default_overlap": 4, "max_overlap": 3}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "max_overlap"
    response = client.post(PROJECTS, {"name": "X", "lead": annotator.pk}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "lead"
    assert "annotator is not a project lead" in response.json()["detail"]
    response = client.post(PROJECTS, {"name": "X", "languages": ["EN!"]}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "languages"
    assert not Project.objects.exists()


def test_project_list_filters_by_phase_lead_and_deadline(api_client, lead, other_lead):
    today = timezone.localdate()
    design = ProjectFactory(lead=lead, phase="design", deadline=today + dt.timedelta(days=10))
    pilot = ProjectFactory(lead=lead, phase="pilot", deadline=today + dt.timedelta(days=40))
    production = ProjectFactory(lead=lead, phase="production", deadline=today + dt.timedelta(days=70))
    MembershipFactory(project=ProjectFactory(lead=other_lead), user=lead, role="reviewer")
    client = _as(api_client, lead)

    def ids(**params):
        response = client.get(PROJECTS, params)
        assert response.status_code == 200, response.data
        return {row["id"] for row in response.json()["results"]}

    assert ids(phase="design") == {design.pk}
    assert ids(phase=["pilot", "production"]) == {pilot.pk, production.pk}
    assert ids(lead=lead.pk) == {design.pk, pilot.pk, production.pk}
    assert len(ids(lead=other_lead.pk)) == 1
    assert ids(deadline_before=_days(40)) == {design.pk, pilot.pk}
    assert ids(deadline_after=_days(40), lead=lead.pk) == {pilot.pk, production.pk}
    response = client.get(PROJECTS, {"phase": "shipping"})
    assert response.status_code == 400 and response.json()["field"] == "phase"


def test_project_list_paginates(api_client, lead, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    for _ in range(5):
        ProjectFactory(lead=lead)
    client = _as(api_client, lead)
    first = client.get(PROJECTS).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    assert first["next"].endswith("/api/v1/projects/?page=2")
    last = client.get(PROJECTS, {"page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None
    assert client.get(PROJECTS, {"page": 4}).status_code == 404


def test_project_detail_counts_open_blockers_and_risks(api_client, project, lead):
    BlockerFactory(project=project, kind="blocker")
    BlockerFactory(project=project, kind="risk")
    BlockerFactory(project=project, kind="risk", status="resolved", resolved_at=timezone.now(), resolution="ok")
    body = _as(api_client, lead).get(f"{PROJECTS}{project.pk}/").json()
    assert body["open_blockers"] == 1 and body["open_risks"] == 1
    assert body["next_phases"] == ["pilot", "requirements", "on_hold"]


def test_project_of_another_lead_is_invisible(api_client, project, other_lead):
    foreign_blocker = BlockerFactory(project=project)
    own = ProjectFactory(lead=other_lead)
    client = _as(api_client, other_lead)
    assert {row["id"] for row in client.get(PROJECTS).json()["results"]} == {own.pk}
    assert client.get(f"{PROJECTS}{project.pk}/").status_code == 404
    response = client.post(f"{PROJECTS}{project.pk}/transition/", {"to_phase": "pilot"}, format="json")
    assert response.status_code == 404
    assert client.get(BLOCKERS, {"project": project.pk}).json()["count"] == 0
    assert client.get(f"{BLOCKERS}{foreign_blocker.pk}/").status_code == 404
    assert client.post(f"{BLOCKERS}{foreign_blocker.pk}/resolve/", {"resolution": "x"}).status_code == 404
    response = client.post(BLOCKERS, {"project": project.pk, "title": "Sneaky"}, format="json")
    assert (
        response.status_code == 400
        and "does not exist" in response.json()["detail"]
        and response.json()["field"] == "project"
    )
    project.refresh_from_db()
    assert project.phase == "design" and project.blockers.count() == 1


def test_project_annotator_member_may_read_but_not_transition(api_client, project, annotator):
    client = _as(api_client, annotator)
    assert client.get(f"{PROJECTS}{project.pk}/").status_code == 200
    response = client.post(f"{PROJECTS}{project.pk}/transition/", {"to_phase": "pilot"}, format="json")
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.phase == "design"


def test_project_transition_moves_the_phase(api_client, project, lead):
    response = _as(api_client, lead).post(
        reverse("project-transition", args=[project.pk]), {"to_phase": "pilot", "reason": "Guideline ready"}
    )
    assert response.status_code == 200, response.data
    assert response.json()["phase"] == "pilot" and response.json()["next_phases"] == ["production", "design", "on_hold"]


def test_project_transition_illegal_names_the_allowed_phases(api_client, project, lead):
    client = _as(api_client, lead)
    response = client.post(f"{PROJECTS}{project.pk}/transition/", {"to_phase": "delivered"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "to_phase" and body["code"] == "illegal_transition"
    assert "from design it can go to pilot, requirements, on_hold" in body["detail"]
    response = client.post(f"{PROJECTS}{project.pk}/transition/", {"to_phase": "shipping"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "to_phase"


def test_project_on_hold_shows_its_blocker(api_client, project, lead):
    client = _as(api_client, lead)
    response = client.post(f"{PROJECTS}{project.pk}/transition/", {"to_phase": "on_hold", "reason": "Legal review"})
    assert response.status_code == 200, response.data
    assert response.json()["open_blockers"] == 1 and response.json()["next_phases"] == ["design"]


# --- Blockers ---------------------------------------------------------------------------------


def test_blocker_open_by_member_and_resolve_by_lead(api_client, project, lead, annotator):
    payload = {"project": project.pk, "title": "Images fail to load", "severity": 3, "owner": lead.pk}
    response = _as(api_client, annotator).post(reverse("blocker-list"), payload, format="json")
    assert response.status_code == 201, response.data
    body = response.json()
    assert body["status"] == "open" and body["opened_by"] == "annotator" and body["owner"]["username"] == "lead"
    blocker_url = reverse("blocker-detail", args=[body["id"]])
    response = api_client.post(f"{blocker_url}resolve/", {"resolution": "works for me"}, format="json")
    assert response.status_code == 403
    api_client.force_authenticate(user=lead)
    response = api_client.post(f"{blocker_url}resolve/", {"resolution": ""}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "resolution"
    response = api_client.post(f"{blocker_url}resolve/", {"resolution": "CDN allow-list fixed"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "resolved" and response.json()["resolved_by"] == "lead"
    response = api_client.post(f"{blocker_url}resolve/", {"resolution": "again"}, format="json")
    assert response.status_code == 400 and "already resolved" in response.json()["detail"]


def test_blocker_owner_may_resolve(api_client, project, annotator):
    blocker = BlockerFactory(project=project, owner=annotator)
    response = _as(api_client, annotator).post(f"{BLOCKERS}{blocker.pk}/resolve/", {"resolution": "Re-uploaded"})
    assert response.status_code == 200 and response.json()["status"] == "resolved"


def test_blocker_open_refused_to_requesters_who_only_follow(api_client, requester, lead):
    data_request = DataRequestFactory(requester=requester)
    project = ProjectFactory(lead=lead, request=data_request)
    client = _as(api_client, requester)
    assert client.get(f"{PROJECTS}{project.pk}/").status_code == 200
    response = client.post(BLOCKERS, {"project": project.pk, "title": "Too slow"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "not_allowed"
    assert not Blocker.objects.exists()


def test_blocker_create_refuses_bad_input(api_client, project, lead):
    client = _as(api_client, lead)
    response = client.post(BLOCKERS, {"project": project.pk, "title": "x", "kind": "meteor"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "kind"
    response = client.post(BLOCKERS, {"title": "x"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "project"
    outsider = UserFactory(username="outsider-annotator")
    response = client.post(BLOCKERS, {"project": project.pk, "title": "x", "owner": outsider.pk}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "owner"


def test_blocker_assign_by_lead_only_to_members(api_client, project, lead, annotator):
    blocker = BlockerFactory(project=project)
    url = reverse("blocker-assign", args=[blocker.pk])
    response = _as(api_client, annotator).post(url, {"owner": annotator.pk}, format="json")
    assert response.status_code == 403
    client = _as(api_client, lead)
    outsider = UserFactory(username="outsider-annotator")
    response = client.post(url, {"owner": outsider.pk}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "owner"
    response = client.post(url, {}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "owner"
    response = client.post(url, {"owner": annotator.pk}, format="json")
    assert response.status_code == 200 and response.json()["owner"] == {"id": annotator.pk, "username": "annotator"}


def test_blocker_list_filters(api_client, project, lead):
    high = BlockerFactory(project=project, severity=4, kind="risk")
    BlockerFactory(project=project, severity=1)
    client = _as(api_client, lead)
    rows = client.get(BLOCKERS, {"severity_min": 3, "kind": "risk", "status": "open"}).json()["results"]
    assert [row["id"] for row in rows] == [high.pk]


# --- Authentication ---------------------------------------------------------------------------


def test_token_auth_end_to_end(api_client, requester):
    response = api_client.post(reverse("api-token"), {"username": "requester", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = api_client.post(REQUESTS, _request_payload(), format="json")
    assert response.status_code == 201, response.data
    assert api_client.get(REQUESTS).json()["count"] == 1
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert api_client.get(REQUESTS).status_code == 401


def test_token_obtain_refuses_a_wrong_password(api_client, requester):
    response = api_client.post(reverse("api-token"), {"username": "requester", "password": "nope"}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("url", [REQUESTS, PROJECTS, BLOCKERS, f"{PROJECTS}1/"])
def test_unauthenticated_gets_401(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_unauthenticated_write_gets_401(api_client):
    assert api_client.post(REQUESTS, _request_payload(), format="json").status_code == 401


# --- Query counts -----------------------------------------------------------------------------
# Two queries per list page (the count and the page), however many rows: output serializers
# read only what the selectors loaded.


@pytest.mark.parametrize("rows", [1, 6])
def test_datarequest_list_query_count_is_flat(api_client, django_assert_num_queries, requester, lead, rows):
    for index in range(rows):
        data_request = DataRequestFactory(requester=requester, decided_by=lead)
        if index % 2:
            ProjectFactory(lead=lead, request=data_request)
    client = _as(api_client, requester)
    with django_assert_num_queries(2):
        response = client.get(REQUESTS)
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [1, 6])
def test_project_list_query_count_is_flat(api_client, django_assert_num_queries, lead, requester, rows):
    for _ in range(rows):
        project = ProjectFactory(lead=lead, request=DataRequestFactory(requester=requester))
        BlockerFactory(project=project)
    client = _as(api_client, lead)
    with django_assert_num_queries(2):
        response = client.get(PROJECTS)
    assert response.json()["count"] == rows and response.json()["results"][0]["open_blockers"] == 1


@pytest.mark.parametrize("rows", [1, 6])
def test_blocker_list_query_count_is_flat(api_client, django_assert_num_queries, project, lead, annotator, rows):
    for _ in range(rows):
        BlockerFactory(project=project, owner=annotator)
    BlockerFactory(project=project, status="resolved", resolved_at=timezone.now(), resolved_by=lead, resolution="x")
    client = _as(api_client, lead)
    with django_assert_num_queries(2):
        response = client.get(BLOCKERS)
    assert response.json()["count"] == rows + 1


def test_project_patch_changes_settings_by_lead_only(api_client, project, lead, annotator):
    url = f"/api/v1/projects/{project.pk}/"
    response = _as(api_client, annotator).patch(url, {"priority": 4}, format="json")
    assert response.status_code == 403
    response = _as(api_client, lead).patch(
        url, {"graphic_daily_cap": 20, "require_language_match": True}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["graphic_daily_cap"] == 20 and response.json()["require_language_match"] is True
    response = _as(api_client, lead).patch(url, {"max_overlap": 1}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "max_overlap"
    response = _as(api_client, lead).put(url, {"name": "x"}, format="json")
    assert response.status_code == 405
