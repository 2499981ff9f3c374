"""What an algorithm team does with /api/v1/requests/, through the real URLs and a real token:
file a request with every field the issue lists, follow its stage (submitted, accepted with its
project, rejected with the reason, in production with progress, delivered), and talk about it in
its comment thread. Other teams' requests are 404, never 403."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.errors import NotAllowed, QuorumError
from projects.models import Activity, DailyRollup, DataRequest, Project, RequestComment
from tests.accounts.factories import PASSWORD, TeamFactory, UserFactory
from tests.annotation.factories import schema_with_labels
from tests.projects.factories import DataRequestFactory, ProjectFactory
from workbench.services.datarequests import datarequest_accept, request_comment_add

pytestmark = pytest.mark.django_db

REQUESTS = "/api/v1/requests/"


def _days(n: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=n)).isoformat()


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _comments(data_request: DataRequest) -> str:
    return f"{REQUESTS}{data_request.pk}/comments/"


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider", role=User.Role.REQUESTER, team=TeamFactory(name="Ads", slug="ads"))


@pytest.fixture
def full_payload():
    """Every field the issue asks a requester for."""
    return {
        "title": "Harassment in PT-BR comments",
        "description": "Comments on short videos.",
        "purpose": "evaluation",
        "modality": "text",
        "languages": ["pt-BR"],
        "regions": ["BR", "PT"],
        "proposed_labels": [
            {"key": "harassment", "name": "Harassment", "definition": "Targets a person with abuse."},
            {"key": "ok", "name": "Not harassment", "definition": "Anything else."},
        ],
        "volume_total": 2000,
        "volume_per_class": {"harassment": 800, "ok": 1200},
        "sampling_notes": "Stratify by region; no more than 10% from one channel.",
        "privacy_notes": "Strip usernames and phone numbers.",
        "deadline": _days(21),
        "min_alpha": 0.75,
        "min_gold_accuracy": 0.9,
        "priority": 4,
    }


# --- Filing -----------------------------------------------------------------------------------


def test_request_file_keeps_every_field_the_issue_lists(api_client, requester, full_payload):
    response = _as(api_client, requester).post(REQUESTS, full_payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    for field, value in full_payload.items():
        assert body[field] == value, field
    assert body["label_schema"] is None and body["stage"] == "submitted" and body["project_status"] is None
    stored = DataRequest.objects.get(pk=body["id"])
    assert stored.regions == ["BR", "PT"] and stored.proposed_labels[0]["definition"] == "Targets a person with abuse."


def test_request_file_with_an_existing_schema_checks_classes_against_it(api_client, requester, lead, full_payload):
    schema = schema_with_labels(actor=lead)
    payload = {**full_payload, "proposed_labels": [], "label_schema": schema.pk}
    payload["volume_per_class"] = {"hate": 500, "safe": 1000}
    client = _as(api_client, requester)
    response = client.post(REQUESTS, payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["label_schema"] == schema.pk
    response = client.post(REQUESTS, {**payload, "volume_per_class": {"harassment": 5, "ok": 5}}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "volume_per_class.ok: 'ok' is not one of the requested labels"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"label_schema": 987654}, "label_schema", 'Invalid pk "987654"'),
        ({"label_schema": "x"}, "label_schema", "Incorrect type"),
        ({"regions": "BR"}, "regions", "Expected a list of items"),
        ({"purpose": "fun"}, "purpose", '"fun" is not a valid choice'),
        ({"priority": 9}, "priority", '"9" is not a valid choice'),
        ({"min_gold_accuracy": -0.1}, "min_gold_accuracy", "greater than or equal to 0"),
        ({"volume_per_class": {"harassment": -1}}, "volume_per_class.harassment", "greater than or equal to 0"),
        ({"volume_per_class": ["harassment"]}, "volume_per_class", "Expected a dictionary"),
        ({"proposed_labels": [{"key": "Bad Key"}]}, "proposed_labels[0].key", "is not a valid label key"),
        ({"proposed_labels": [{"key": "a"}, {"key": "a"}]}, "proposed_labels", "'a' is proposed twice"),
        ({"sampling_notes": None}, "sampling_notes", "may not be null"),
    ],
)
def test_request_file_refuses_bad_fields_naming_them(api_client, requester, full_payload, overrides, field, message):
    response = _as(api_client, requester).post(REQUESTS, {**full_payload, **overrides}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and message in body["detail"], body
    assert not DataRequest.objects.exists()


def test_request_file_refuses_a_schema_and_proposed_labels_together(api_client, requester, lead, full_payload):
    schema = schema_with_labels(actor=lead)
    response = _as(api_client, requester).post(REQUESTS, {**full_payload, "label_schema": schema.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "proposed_labels" and "not both" in response.json()["detail"]


# --- Following --------------------------------------------------------------------------------


def _with_project(requester, lead, **project_fields) -> DataRequest:
    data_request = DataRequestFactory(requester=requester, status=DataRequest.Status.ACCEPTED, decided_by=lead)
    ProjectFactory(request=data_request, lead=lead, **project_fields)
    return data_request


@pytest.mark.parametrize(
    ("phase", "phase_before_hold", "stage"),
    [
        ("requirements", "", "accepted"),
        ("pilot", "", "accepted"),
        ("production", "", "in_production"),
        ("qa", "", "in_production"),
        ("on_hold", "production", "in_production"),
        ("on_hold", "design", "accepted"),
        ("delivered", "", "delivered"),
        ("closed", "", "delivered"),
    ],
)
def test_request_detail_stage_follows_the_project_phase(api_client, requester, lead, phase, phase_before_hold, stage):
    data_request = _with_project(requester, lead, phase=phase, phase_before_hold=phase_before_hold)
    body = _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()
    assert body["status"] == "accepted" and body["stage"] == stage
    assert body["project_status"]["phase"] == phase and body["project"] == body["project_status"]["id"]


def test_request_detail_in_production_shows_progress(api_client, requester, lead):
    refreshed = timezone.now()
    data_request = _with_project(
        requester,
        lead,
        phase="production",
        items_total=100,
        items_completed=20,
        annotations_required=300,
        annotations_done=75,
        progress_refreshed_at=refreshed,
    )
    status = _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()["project_status"]
    assert status["items_total"] == 100 and status["items_completed"] == 20
    assert status["annotations_required"] == 300 and status["annotations_done"] == 75
    assert status["progress"] == pytest.approx(0.25)
    assert status["progress_refreshed_at"] is not None


def test_request_accept_through_the_api_then_the_requester_sees_it_accepted(api_client, requester, lead):
    data_request = DataRequestFactory(requester=requester)
    assert _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()["stage"] == "submitted"
    project = _as(api_client, lead).post(f"{REQUESTS}{data_request.pk}/accept/", {}, format="json").json()
    body = _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()
    assert body["stage"] == "accepted" and body["decided_by"] == "lead"
    assert body["project_status"]["id"] == project["id"] and body["project_status"]["phase"] == "requirements"


def test_request_reject_shows_the_reason_and_stage(api_client, requester, lead):
    data_request = DataRequestFactory(requester=requester)
    response = _as(api_client, lead).post(
        f"{REQUESTS}{data_request.pk}/reject/", {"reason": "Out of policy scope"}, format="json"
    )
    assert response.status_code == 200 and response.json()["stage"] == "rejected"
    body = _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()
    assert body["stage"] == "rejected" and body["rejection_reason"] == "Out of policy scope"
    assert body["project"] is None and body["project_status"] is None


def test_request_list_filters_and_carries_the_stage(api_client, requester, lead):
    submitted = DataRequestFactory(requester=requester)
    producing = _with_project(requester, lead, phase="production")
    rows = _as(api_client, requester).get(REQUESTS).json()["results"]
    assert {row["id"]: row["stage"] for row in rows} == {submitted.pk: "submitted", producing.pk: "in_production"}
    rows = api_client.get(REQUESTS, {"status": "accepted"}).json()["results"]
    assert [row["id"] for row in rows] == [producing.pk]


def test_request_of_another_team_is_404_everywhere(api_client, requester, outsider):
    foreign = DataRequestFactory(requester=outsider)
    client = _as(api_client, requester)
    assert client.get(f"{REQUESTS}{foreign.pk}/").status_code == 404
    assert client.get(_comments(foreign)).status_code == 404
    assert client.post(_comments(foreign), {"body": "hello?"}, format="json").status_code == 404
    assert not RequestComment.objects.exists()


def test_request_detail_forecasts_the_finish_from_recent_throughput(api_client, requester, lead):
    today = timezone.now().date()
    deadline = today + dt.timedelta(days=30)
    data_request = _with_project(
        requester, lead, phase="production", deadline=deadline, annotations_required=300, annotations_done=100
    )
    project = Project.objects.get(request=data_request)
    DailyRollup.objects.bulk_create(
        DailyRollup(project=project, day=today - dt.timedelta(days=n), annotations=20) for n in range(1, 15)
    )
    forecast = _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()["project_status"]["forecast"]
    finish = (today + dt.timedelta(days=10)).isoformat()  # 200 left at 20 a day
    assert forecast == {
        "status": "on_track",
        "finish": finish,
        "earliest": finish,
        "latest": finish,
        "deadline": deadline.isoformat(),
        "slack_days": 20,
        "remaining": 200,
        "rate": 20.0,
        "days": 14,
    }
    # The list carries it too.
    row = api_client.get(REQUESTS).json()["results"][0]
    assert row["project_status"]["forecast"]["status"] == "on_track"


def test_request_detail_forecast_is_unknown_without_throughput(api_client, requester, lead):
    data_request = _with_project(requester, lead, phase="design")
    forecast = _as(api_client, requester).get(f"{REQUESTS}{data_request.pk}/").json()["project_status"]["forecast"]
    assert forecast["status"] == "unknown" and forecast["finish"] is None


def test_request_detail_query_count_is_flat(api_client, django_assert_num_queries, requester, lead):
    data_request = _with_project(requester, lead, phase="production")
    client = _as(api_client, requester)
    # the request with requester, team, schema, decider and project; the project's daily rollups
    with django_assert_num_queries(2):
        assert client.get(f"{REQUESTS}{data_request.pk}/").status_code == 200


@pytest.mark.parametrize("rows", [1, 6])
def test_request_list_query_count_is_flat(api_client, django_assert_num_queries, requester, lead, rows):
    for _ in range(rows):
        _with_project(requester, lead, phase="production")
        DataRequestFactory(requester=requester)
    client = _as(api_client, requester)
    # count; the page (requests with their projects); the rollups of all the page's projects
    with django_assert_num_queries(3):
        assert client.get(REQUESTS).json()["count"] == 2 * rows


# --- Comments ---------------------------------------------------------------------------------


def test_request_comments_between_the_team_and_a_lead(api_client, requester, lead):
    teammate = UserFactory(username="teammate", role=User.Role.REQUESTER, team=requester.team)
    data_request = DataRequestFactory(requester=requester)
    response = _as(api_client, teammate).post(_comments(data_request), {"body": "  Any news?  "}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["body"] == "Any news?" and body["author"] == {"id": teammate.pk, "username": "teammate"}
    assert _as(api_client, lead).post(_comments(data_request), {"body": "Piloting Monday."}).status_code == 201
    thread = _as(api_client, requester).get(_comments(data_request)).json()
    assert thread["count"] == 2
    assert [(c["author"]["username"], c["body"]) for c in thread["results"]] == [
        ("teammate", "Any news?"),
        ("lead", "Piloting Monday."),
    ]


def test_request_comment_records_an_activity_on_request_and_project(api_client, requester, lead):
    data_request = _with_project(requester, lead, phase="design")
    _as(api_client, requester).post(_comments(data_request), {"body": "Can we add Spanish?"}, format="json")
    activity = Activity.objects.get(verb="request.commented")
    assert activity.request == data_request and activity.project == Project.objects.get(request=data_request)
    assert activity.actor == requester and activity.summary.startswith("requester commented on request")
    assert activity.data == {"comment": RequestComment.objects.get().pk}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "body: This field is required."),
        ({"body": ""}, "body: This field may not be blank."),
        ({"body": "   \n "}, "body: This field may not be blank."),
        ({"body": None}, "body: This field may not be null."),
        ({"body": "x" * 5001}, "body: Ensure this field has no more than 5000 characters."),
    ],
)
def test_request_comment_refuses_empty_or_long_bodies(api_client, requester, payload, message):
    data_request = DataRequestFactory(requester=requester)
    response = _as(api_client, requester).post(_comments(data_request), payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "body" and response.json()["detail"] == message
    assert not RequestComment.objects.exists()


def test_request_comment_service_checks_body_and_role(requester, annotator):
    data_request = DataRequestFactory(requester=requester)
    with pytest.raises(QuorumError, match="body: write something"):
        request_comment_add(data_request=data_request, author=requester, body=" ")
    with pytest.raises(QuorumError, match="more than the 5000 allowed"):
        request_comment_add(data_request=data_request, author=requester, body="x" * 5001)
    with pytest.raises(NotAllowed, match="may not comment"):
        request_comment_add(data_request=data_request, author=annotator, body="hi")
    assert not RequestComment.objects.exists() and not Activity.objects.filter(verb="request.commented").exists()


def test_request_comments_forbidden_to_a_teammate_who_is_not_a_requester(api_client, requester):
    # An annotator in the team sees the team's requests, but the thread is for requesters and leads.
    annotator = UserFactory(username="team-annotator", role=User.Role.ANNOTATOR, team=requester.team)
    data_request = DataRequestFactory(requester=requester)
    client = _as(api_client, annotator)
    assert client.get(f"{REQUESTS}{data_request.pk}/").status_code == 200
    response = client.post(_comments(data_request), {"body": "hi"}, format="json")
    assert response.status_code == 403 and "requesters of the request's team" in response.json()["detail"]
    assert client.get(_comments(data_request)).status_code == 403


def test_request_comment_markup_is_kept_as_text(api_client, requester):
    data_request = DataRequestFactory(requester=requester)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = _as(api_client, requester).post(_comments(data_request), {"body": hostile}, format="json")
    assert response.status_code == 201 and response["Content-Type"] == "application/json"
    assert RequestComment.objects.get().body == hostile  # stored as written; pages escape it
    browsable = api_client.get(_comments(data_request), HTTP_ACCEPT="text/html")
    assert b"<script>alert(" not in browsable.content and b"&lt;script&gt;" in browsable.content


def test_request_comments_list_query_count_is_flat(api_client, django_assert_num_queries, requester, lead):
    data_request = DataRequestFactory(requester=requester)
    for n in range(6):
        author = requester if n % 2 else lead
        request_comment_add(data_request=data_request, author=author, body=f"message {n}")
    client = _as(api_client, requester)
    # the request; the count; the page of comments with their authors
    with django_assert_num_queries(3):
        assert client.get(_comments(data_request)).json()["count"] == 6


# --- The flow of docs/api-flow.md, with a real token ------------------------------------------


def test_request_flow_with_a_token(api_client, requester, lead, full_payload):
    token = api_client.post(reverse("api-token"), {"username": "requester", "password": PASSWORD}).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    filed = api_client.post(REQUESTS, full_payload, format="json")
    assert filed.status_code == 201
    request_id = filed.json()["id"]
    assert api_client.get(f"{REQUESTS}{request_id}/").json()["stage"] == "submitted"
    comment = api_client.post(f"{REQUESTS}{request_id}/comments/", {"body": "Deadline is firm."}, format="json")
    assert comment.status_code == 201
    datarequest_accept(data_request=DataRequest.objects.get(pk=request_id), actor=lead)
    followed = api_client.get(f"{REQUESTS}{request_id}/").json()
    assert followed["stage"] == "accepted" and followed["project_status"]["phase"] == "requirements"
    assert api_client.get(f"{REQUESTS}{request_id}/comments/").json()["count"] == 1


def test_token_refused_for_a_wrong_password_says_so(api_client, requester):
    response = api_client.post(reverse("api-token"), {"username": "requester", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Unable to log in with provided credentials."


@pytest.mark.parametrize("verb", ["accept", "reject"])
def test_request_accept_and_reject_answer_404_to_whoever_gets_404_on_get(api_client, requester, outsider, verb):
    # 403 here told a caller which ids exist; the answer must match GET's.
    foreign = DataRequestFactory(requester=outsider)
    client = _as(api_client, requester)
    assert client.get(f"{REQUESTS}{foreign.pk}/").status_code == 404
    body = {"reason": "Not ours"} if verb == "reject" else {}
    for pk in (foreign.pk, 10**9):  # another team's request, and one that does not exist
        response = client.post(f"{REQUESTS}{pk}/{verb}/", body, format="json")
        assert response.status_code == 404, pk
        assert response.json()["detail"]
    foreign.refresh_from_db()
    assert foreign.status == DataRequest.Status.SUBMITTED


@pytest.mark.parametrize("verb", ["accept", "reject"])
def test_request_accept_and_reject_stay_403_for_a_requester_who_sees_the_request(api_client, requester, verb):
    own = DataRequestFactory(requester=requester)
    body = {"reason": "Not ours"} if verb == "reject" else {}
    response = _as(api_client, requester).post(f"{REQUESTS}{own.pk}/{verb}/", body, format="json")
    assert response.status_code == 403 and "Only project leads" in response.json()["detail"]
