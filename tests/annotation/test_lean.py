"""The lean next and submit views (annotation.api.lean) in front of the viewset's actions: they
answer the usual token-authenticated request themselves, with the status, headers and body the
action gives; every other request, and every refusal, is the action's own answer."""

from __future__ import annotations

import functools
import json

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from annotation import services
from annotation.api import lean
from annotation.api.views import AssignmentViewSet
from annotation.models import Annotation, Assignment, Item
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_token_memory")]

NEXT = "/api/v1/assignments/next/"


def _submit_url(assignment_id: int | str) -> str:
    return f"/api/v1/assignments/{assignment_id}/submit/"


@pytest.fixture
def actions(monkeypatch):
    """The viewset's next and submit actions, counted: which requests reached DRF."""
    calls: list[str] = []
    for name in ("next", "submit"):
        original = getattr(AssignmentViewSet, name)

        @functools.wraps(original)  # with @action's attributes, should the router read them now
        def counted(self, request, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, request, *args, **kwargs)

        monkeypatch.setattr(AssignmentViewSet, name, counted)  # the view looks it up per request
    return calls


@pytest.fixture
def drf_only(monkeypatch):
    """Every request takes the viewset's way (the lean views find no token user)."""
    monkeypatch.setattr(lean, "_user", lambda request: None)


def _token(user: User) -> str:
    return Token.objects.create(user=user).key


def _client(key: str, **extra) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {key}", **extra)


def _post(client: Client, url: str, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def _items(project, count, **fields):
    batch = BatchFactory(project=project)
    return [ItemFactory(batch=batch, **fields) for _ in range(count)]


def _answer(response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


# --- The usual requests: answered by the lean views, as the actions answer them ----------------


def test_lean_next_and_submit_answer_without_the_actions(live, annotator, actions):
    _items(live, 2, required_annotations=1)
    client = _client(_token(annotator))
    response = _post(client, NEXT, {"project": live.pk})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    work = response.json()
    response = _post(client, _submit_url(work["id"]), {"labels": ["spam"], "time_spent_ms": 700})
    assert response.status_code == 200, response.content
    assert response.json()["labels"] == ["spam"] and response.json()["time_spent_ms"] == 700
    assert actions == []
    stored = Annotation.objects.get(assignment_id=work["id"])
    assert stored.annotator == annotator and stored.labels == ["spam"]
    assert Item.objects.get(pk=work["item"]["id"]).annotations_done == 1


def test_lean_answers_equal_the_actions_answers(live, annotator, monkeypatch):
    """Status, every header and the body, byte for byte: the open lease resumed, the stored
    annotation of a double submit, and no work left, first lean and then through DRF."""
    _items(live, 1, required_annotations=1, text="Ünïcode \u2028 <b>", metadata={"source": "feed", "n": 1.5})
    client = _client(_token(annotator))

    def both(url, body):
        lean_answer = _answer(_post(client, url, body))
        with monkeypatch.context() as patch:
            patch.setattr(lean, "_user", lambda request: None)
            drf_answer = _answer(_post(client, url, body))
        assert lean_answer == drf_answer
        return lean_answer

    status, headers, content = both(NEXT, {"project": live.pk})  # (the lease is taken by the first)
    assert status == 200 and headers["Allow"] == "POST, OPTIONS" and headers["Vary"] == "Accept"
    assert b"\\u2028" in content  # DRF's renderer escapes it; so does the lean answer
    work = json.loads(content)
    first = _answer(_post(client, _submit_url(work["id"]), {"labels": ["hate"]}))
    assert both(_submit_url(work["id"]), {"labels": ["safe"]}) == first  # the stored annotation
    status, headers, content = both(NEXT, {"project": live.pk})
    assert (status, content) == (204, b"") and "Content-Type" not in headers


def test_lean_next_resumes_the_open_lease_and_pins_its_queries(live, annotator, django_assert_num_queries):
    from django.db import connection

    _items(live, 2)
    client = _client(_token(annotator))
    first = _post(client, NEXT, {"project": live.pk}).json()
    with django_assert_num_queries(2):  # the project with the context; the open lease (the token is remembered)
        again = _post(client, NEXT, {"project": live.pk}).json()
    assert again == first
    assert Assignment.objects.filter(annotator=annotator).count() == 1
    postgres = connection.vendor == "postgresql"
    with django_assert_num_queries(4 if postgres else 6):
        assert _post(client, _submit_url(first["id"]), {"labels": ["safe"]}).status_code == 200


def test_lean_accepts_what_drf_answers_in_json(live, annotator, actions):
    _items(live, 3)
    key = _token(annotator)
    for accept in ("*/*", "application/json"):
        client = _client(key, HTTP_ACCEPT=accept)
        work = _post(client, NEXT, {"project": live.pk}).json()
        assert _post(client, _submit_url(work["id"]), {"labels": ["safe"]}).status_code == 200
    assert actions == []


# --- Everything else: the actions' own answers -------------------------------------------------


def test_session_authentication_takes_the_actions_way_with_its_csrf_check(live, annotator, actions):
    _items(live, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    response = _post(client, NEXT, {"project": live.pk})
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not Assignment.objects.exists() and actions == []  # refused by DRF's authentication
    token = "k" * 32  # a CSRF secret: as cookie and as header, the check passes
    client.cookies["csrftoken"] = token
    response = _post(client, NEXT, {"project": live.pk}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and actions == ["next"]
    response = _post(client, _submit_url(response.json()["id"]), {"labels": ["safe"]}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and actions == ["next", "submit"]


def test_a_token_wins_over_the_session_and_needs_no_csrf_token(live, annotator, lead, actions):
    _items(live, 1)
    client = _client(_token(annotator), enforce_csrf_checks=True)
    client.force_login(lead)  # the session is someone else's: the token decides, as in DRF
    response = _post(client, NEXT, {"project": live.pk})
    assert response.status_code == 200 and actions == []
    assert Assignment.objects.get().annotator == annotator


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        ("Token nosuchkey", "Invalid token."),
        ("Token", "Invalid token header. No credentials provided."),
        ("Token a b", "Invalid token header. Token string should not contain spaces."),
    ],
)
def test_bad_tokens_get_drfs_401(live, annotator, actions, authorization, detail):
    client = Client(HTTP_AUTHORIZATION=authorization)
    for url in (NEXT, _submit_url(1)):
        response = _post(client, url, {"project": live.pk} if url == NEXT else {"labels": ["safe"]})
        assert response.status_code == 401 and response.json()["detail"] == detail
        assert response["WWW-Authenticate"] == "Token"
    assert actions == []  # refused before the action


def test_an_inactive_users_token_is_refused(live, annotator):
    _items(live, 1)
    key = _token(annotator)
    User.objects.filter(pk=annotator.pk).update(is_active=False)
    response = _post(_client(key), NEXT, {"project": live.pk})
    assert response.status_code == 401 and response.json()["detail"] == "User inactive or deleted."
    assert not Assignment.objects.exists()


def test_other_authorization_schemes_are_drfs(live, annotator):
    response = _post(Client(HTTP_AUTHORIZATION="Bearer abc"), NEXT, {"project": live.pk})
    assert response.status_code == 401 and response.json()["detail"].startswith("Authentication credentials")


def test_other_methods_are_the_actions(live, annotator):
    client = _client(_token(annotator))
    response = client.get(NEXT)
    assert response.status_code == 405 and response.json()["detail"] == 'Method "GET" not allowed.'
    response = client.options(NEXT)
    assert response.status_code == 200 and response.json()["name"] == "Next"
    response = client.put(_submit_url(1), "{}", content_type="application/json")
    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"


@pytest.mark.parametrize(
    ("body", "content_type", "extra", "called"),
    [
        ({"project": "{project}"}, "application/json", {}, True),  # a numeric string: the serializer's way
        ({"project": 0}, "application/json", {}, True),
        ({"project": "{project}", "x": 1}, "application/json", {}, True),
        (None, "application/json; charset=utf-8", {}, True),
        (None, "application/json", {"HTTP_ACCEPT": "application/json; indent=2"}, True),
        (None, "application/json", {"QUERY_STRING": "format=json"}, True),
    ],
)
def test_unusual_next_requests_are_the_actions(live, annotator, actions, body, content_type, extra, called):
    _items(live, 1)
    body = {"project": live.pk} if body is None else {k: v for k, v in body.items()}
    if body.get("project") == "{project}":
        body["project"] = str(live.pk)
    response = _client(_token(annotator)).post(NEXT, json.dumps(body), content_type=content_type, **extra)
    assert actions == ["next"]
    if body.get("project") == 0:
        assert response.status_code == 400 and response.json()["field"] == "project"
    elif "x" in body:
        assert response.status_code == 200  # the serializer ignores unknown fields
    else:
        assert response.status_code == 200, response.content
    if "indent=2" in extra.get("HTTP_ACCEPT", ""):
        assert response.content.startswith(b'{\n  "id"')


def test_bad_json_and_other_content_types_are_the_actions(live, annotator, actions):
    client = _client(_token(annotator))
    response = client.post(NEXT, b'{"project": ', content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"].startswith("JSON parse error")
    response = client.post(NEXT, b'{"project": NaN}', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    response = client.post(NEXT, {"project": live.pk})  # multipart, as a form posts it
    assert response.status_code == 204  # no items: the form's body is parsed by DRF and accepted
    response = client.post(NEXT, "project=1", content_type="text/plain")
    assert response.status_code == 415
    assert actions == ["next"] * 4


def test_the_browsable_api_is_the_actions(live, annotator, actions):
    _items(live, 1)
    response = _post(_client(_token(annotator)), NEXT, {"project": live.pk}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert actions == ["next"]


def test_refusals_are_the_actions_answer_and_change_nothing(live, annotator, reviewer, actions):
    """A refused next or submit is run again by the action, which answers it: once the lean view
    tried, once the action; the state is as before either way."""
    _items(live, 1)
    stranger = UserFactory(username="stranger", role=User.Role.ANNOTATOR)
    response = _post(_client(_token(stranger)), NEXT, {"project": live.pk})
    assert response.status_code == 404 and response.json()["detail"] == "No such project among yours."
    response = _post(_client(_token(reviewer)), NEXT, {"project": live.pk})
    assert response.status_code == 403 and response.json()["code"] == "not_allowed"
    client = _client(_token(annotator))
    assert _post(client, NEXT, {"project": 10**9}).status_code == 404
    assert actions == ["next"] * 3 and not Assignment.objects.exists()

    work = _post(client, NEXT, {"project": live.pk}).json()
    response = _post(client, _submit_url(work["id"]), {"labels": ["terror"]})
    assert response.status_code == 400 and response.json()["field"] == "labels"
    assert "'terror' is not a label of this schema" in response.json()["detail"]
    response = _post(client, _submit_url(work["id"]), {"labels": ["hate", "spam"]})
    assert response.status_code == 400 and "single-choice" in response.json()["detail"]
    other = _post(_client(_token(UserFactory(role=User.Role.ANNOTATOR))), _submit_url(work["id"]), {"labels": ["safe"]})
    assert other.status_code == 404  # another annotator's assignment, as get_object would answer
    assert _post(client, _submit_url(10**12), {"labels": ["safe"]}).status_code == 404
    assert _post(client, _submit_url("0"), {"labels": ["safe"]}).status_code == 404
    assert _post(client, _submit_url(2**64), {"labels": ["safe"]}).status_code == 404
    assert actions[3:] == ["submit"] * 6
    assert not Annotation.objects.exists()
    assignment = Assignment.objects.get(pk=work["id"])
    assert assignment.status == "active" and Item.objects.get(pk=assignment.item_id).assigned_count == 1


def test_someone_elses_assignment_is_not_found_through_the_lean_view(live, annotator, actions):
    _items(live, 1)
    colleague = UserFactory(username="colleague", role=User.Role.ANNOTATOR)
    Membership.objects.create(project=live, user=colleague, role=Membership.Role.ANNOTATOR)
    theirs = services.assignment_next(project=live, annotator=colleague)
    response = _post(_client(_token(annotator)), _submit_url(theirs.pk), {"labels": ["safe"]})
    assert response.status_code == 404 and response.json()["detail"] == "No such assignment among yours."
    assert actions == ["submit"]
    theirs.refresh_from_db()
    assert theirs.status == "active" and not Annotation.objects.exists()


def test_skipped_and_lapsed_submits_answer_as_the_action(live, annotator, actions):
    from datetime import timedelta

    from django.utils import timezone

    items = _items(live, 2, required_annotations=1)
    client = _client(_token(annotator))
    work = _post(client, NEXT, {"project": live.pk}).json()
    services.assignment_skip(assignment=Assignment(pk=work["id"]), actor=annotator, reason="not mine")
    response = _post(client, _submit_url(work["id"]), {"labels": ["safe"]})
    assert response.status_code == 400 and "you skipped this item" in response.json()["detail"]
    work = _post(client, NEXT, {"project": live.pk}).json()
    Assignment.objects.filter(pk=work["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    services.assignment_expire_sweep()
    Item.objects.filter(pk=work["item"]["id"]).update(assigned_count=1)  # its slot taken meanwhile
    response = _post(client, _submit_url(work["id"]), {"labels": ["safe"]})
    assert response.status_code == 400 and "your lease expired" in response.json()["detail"]
    assert actions == ["submit", "submit"] and not Annotation.objects.exists()
    assert {item.pk for item in items} >= {work["item"]["id"]}


def test_the_router_still_names_and_documents_both_actions(client):
    from django.urls import reverse

    assert reverse("assignment-next") == NEXT
    assert reverse("assignment-submit", kwargs={"pk": 5}) == _submit_url(5)
    schema = APIClient().get("/api/v1/schema/?format=json")
    paths = schema.json()["paths"]
    assert set(paths["/api/v1/assignments/next/"]) == {"post"}
    assert set(paths["/api/v1/assignments/{id}/submit/"]) == {"post"}
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values() if "operationId" in op]
    assert len(operation_ids) == len(set(operation_ids))
