"""The API keeps its OpenAPI contract: schemathesis generates requests from /api/v1/schema/ and
sends them through the Django WSGI app, as every role (a lead, a requester, an annotator, a
reviewer, and a requester of another team) on a small seeded dataset, then runs its stateful
phase (linked sequences of calls) as a lead with every check it has. No answer may be a server
error, use a status code the schema does not document, or have a body or content type the schema
does not describe.

Deterministic (derandomized, a fixed example budget per operation, no example database) and
bounded: about 3.5 minutes of CPU for the whole file (the lead's run most of it; the other roles
a smaller budget each; the stateful phase about 25 s). Each operation runs as its own subtest, so
a failure names it, with a curl to replay it. No endpoint is excluded: file uploads and the
Celery-backed writes (eager here) are fuzzed like the rest.
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.generation.stateful import run_state_machine_as_test
from schemathesis.specs.openapi import checks as openapi_checks

from accounts.models import User
from projects.models import DataRequest, Membership
from tests.accounts.factories import TeamFactory, UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import BlockerFactory, DataRequestFactory
from workbench.services.datarequests import datarequest_accept, request_comment_add
from workbench.services.lifecycle import project_transition, project_update

pytestmark = pytest.mark.django_db

# Per operation and role. Enough for each operation's parameters and bodies to be tried from
# several sides (types, bounds, missing fields), small enough for the whole run to stay short.
MAX_EXAMPLES = 15
ROLE_MAX_EXAMPLES = 6
STATEFUL_SCENARIOS, STATEFUL_STEPS = 25, 6

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@pytest.fixture
def wsgi_app(settings):
    """The real WSGI app, talking to the test's database connection and transaction.

    Django's own test client detaches close_old_connections from the request signals, because
    closing "old" connections at the end of a request would end the test's transaction; we are
    a client too, so we do the same for the test's duration."""
    settings.ALLOWED_HOSTS = ["localhost"]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(db):
    """A small portfolio: a lead with a project in production (schema, guideline, items, an
    annotator), a request of the requester's team accepted into it, one still submitted, one of
    another team, a blocker and a comment. Returns an API token per role."""
    lead = UserFactory(username="contract-lead", role=User.Role.LEAD)
    team = TeamFactory(name="Trust ML", slug="trust-ml")
    requester = UserFactory(username="contract-requester", role=User.Role.REQUESTER, team=team)
    annotator = UserFactory(username="contract-annotator", role=User.Role.ANNOTATOR, languages=["en"])
    reviewer = UserFactory(username="contract-reviewer", role=User.Role.REVIEWER, languages=["en"])
    outsider = UserFactory(
        username="contract-outsider", role=User.Role.REQUESTER, team=TeamFactory(name="Ads", slug="ads")
    )
    schema = schema_with_labels(actor=lead)
    accepted = DataRequestFactory(requester=requester, title="Hate EN", label_schema=schema)
    project = datarequest_accept(data_request=accepted, actor=lead)
    project_update(project=project, actor=lead, label_schema=schema)
    GuidelineFactory(project=project, created_by=lead, version=1)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    batch = BatchFactory(project=project, created_by=lead)
    ItemFactory.create_batch(5, batch=batch)
    for phase in ("design", "pilot", "production"):
        project_transition(project=project, actor=lead, to_phase=phase)
    DataRequestFactory(requester=requester, title="Spam PT", deadline=dt.date.today() + dt.timedelta(days=20))  # noqa: DTZ011
    DataRequestFactory(requester=outsider, title="Ads review")
    BlockerFactory(project=project, opened_by=lead, title="Guideline gap")
    request_comment_add(data_request=accepted, author=requester, body="When is the pilot?")
    assert DataRequest.objects.count() == 3
    users = {"lead": lead, "requester": requester, "annotator": annotator, "reviewer": reviewer, "outsider": outsider}
    return {role: Token.objects.create(user=user).key for role, user in users.items()}


@pytest.fixture
def api_schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app)


schema = schemathesis.pytest.from_fixture("api_schema")
# A requester's surface: their requests, the projects answering them, deliveries, evaluations and
# webhooks. Annotation and quality operations answer a requester only 403, 404 or empty lists, in
# the same documented shapes the lead's run already checks, so they are left to that run.
requester_schema = schema.include(path_regex=r"^/api/v1/(auth|requests|projects|deliveries|evaluations|webhooks)/")
# An annotator's and a reviewer's surface: their work loop, annotations, flags, the projects they
# work on and the quality pages of those; the lead-only and team-only rest answers them 403/404 in
# the shapes the lead's run checks. A requester of another team (outsider) sees none of the seeded
# objects: its run checks that those refusals and empty lists keep the contract too.
annotator_schema = schema.include(path_regex=r"^/api/v1/(auth|assignments|annotations|flags|projects)/")
reviewer_schema = schema.include(path_regex=r"^/api/v1/(auth|quality|annotations|projects)/")
outsider_schema = schema.include(path_regex=r"^/api/v1/(requests|projects|deliveries)/")


HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
# Scenarios of a few linked steps each, a bounded number of them.
STATEFUL_HYPOTHESIS = settings(HYPOTHESIS, max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS)


@schema.parametrize()
@HYPOTHESIS
def test_api_keeps_its_contract_for_a_lead(case, seeded):
    case.call_and_validate(headers={"Authorization": f"Token {seeded['lead']}"}, checks=CHECKS)


@requester_schema.parametrize()
@HYPOTHESIS
def test_api_keeps_its_contract_for_a_requester(case, seeded):
    case.call_and_validate(headers={"Authorization": f"Token {seeded['requester']}"}, checks=CHECKS)


# The other roles get a smaller budget each: their surface's shapes are the lead's, what differs
# is what they may see and do.
ROLE_HYPOTHESIS = settings(HYPOTHESIS, max_examples=ROLE_MAX_EXAMPLES)


@annotator_schema.parametrize()
@ROLE_HYPOTHESIS
def test_api_keeps_its_contract_for_an_annotator(case, seeded):
    case.call_and_validate(headers={"Authorization": f"Token {seeded['annotator']}"}, checks=CHECKS)


@reviewer_schema.parametrize()
@ROLE_HYPOTHESIS
def test_api_keeps_its_contract_for_a_reviewer(case, seeded):
    case.call_and_validate(headers={"Authorization": f"Token {seeded['reviewer']}"}, checks=CHECKS)


@outsider_schema.parametrize()
@ROLE_HYPOTHESIS
def test_api_keeps_its_contract_for_a_requester_of_another_team(case, seeded):
    case.call_and_validate(headers={"Authorization": f"Token {seeded['outsider']}"}, checks=CHECKS)


# Every check schemathesis has, one configured: a schema-valid body names ids (a project, a
# delivery) that the generator cannot know to exist, and the API refuses those as 400 naming the
# field (documented), so "positive data acceptance" takes a 400 as an answer too.
STATEFUL_CHECKS = {
    "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]}
}


def test_api_keeps_its_contract_in_stateful_sequences_with_every_check(seeded, wsgi_app):
    """Schemathesis's stateful phase: sequences that follow the links it infers between operations
    (a created object's id into the next call), as a lead, with every check it has (besides the
    conformance checks: use after delete, availability after create, ignored auth, negative data
    rejected, positive data accepted, unsupported methods, ...)."""
    # The lead's token as the schema's tokenAuth scheme, so that the ignored-auth check knows the
    # real credentials and sends each call once without them (which must be a 401).
    auth = {"openapi": {"tokenAuth": {"api_key": f"Token {seeded['lead']}"}}}
    config = schemathesis.config.SchemathesisConfig.from_dict({"checks": STATEFUL_CHECKS, "auth": auth})
    api_schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app, config=config)

    class Lead(api_schema.as_state_machine()):
        pass

    run_state_machine_as_test(Lead, settings=STATEFUL_HYPOTHESIS)


# --- What the contract run found, pinned as plain tests ---------------------------------------


def test_unmatched_api_path_answers_json_404(client, lead):
    # The router's ids are `[^/.]+` (plus a `.format` suffix), so /requests/1.5e-282/ matches no
    # route: Django's HTML 404 page was the answer, which no API client can read (ST105).
    client.force_login(lead)
    for path in ("/api/v1/requests/1.5e-282/", "/api/v1/no-such-thing/"):
        response = client.get(path)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", path
        assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert client.get("/projects/no-such-page/")["Content-Type"].startswith("text/html")  # pages keep theirs


@pytest.mark.parametrize("value", ["1e308", str(2**64), "1.5"])
def test_id_filters_refuse_numbers_the_database_cannot_hold(api_client, lead, value):
    # NumberFilter took any decimal and the driver overflowed binding it: a 500 (ST101).
    api_client.force_authenticate(user=lead)
    for url in ("/api/v1/blockers/?project=", "/api/v1/flags/?project=", "/api/v1/quality/reports/?project="):
        response = api_client.get(url + value)
        assert response.status_code == 400, url
        assert response.json()["field"] == "project"


def test_assignment_next_refuses_an_id_the_database_cannot_hold(api_client, annotator):
    api_client.force_authenticate(user=annotator)
    response = api_client.post("/api/v1/assignments/next/", {"project": 2**64}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "project"


def test_schema_documents_the_error_answers(client):
    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    comments = paths["/api/v1/requests/{id}/comments/"]
    assert set(comments["post"]["responses"]) == {"201", "400", "401", "403", "404", "413", "415"}
    assert set(comments["get"]["responses"]) == {"200", "400", "401", "403", "404"}
    assert set(paths["/api/v1/requests/{id}/"]["get"]["responses"]) == {"200", "401", "403", "404"}
    error = comments["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    # An operation's own documented answers are kept (the quality gate's 404 has its own text).
    assert "No such project" in paths["/api/v1/quality/gate/"]["get"]["responses"]["404"]["description"]


# --- Issue 15: the contract gaps the fuzzer found ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/annotations/?submitted_before=", "submitted_before"),
        ("/api/v1/annotations/?submitted_after=", "submitted_after"),
        ("/api/v1/projects/?has_open_blockers=maybe", "has_open_blockers"),
        ("/api/v1/projects/?has_open_blockers=", "has_open_blockers"),
        ("/api/v1/quality/reports/?latest=sometimes", "latest"),
        ("/api/v1/projects/?deadline_before=2026-02-30", "deadline_before"),
        ("/api/v1/requests/?deadline_before=tomorrow", "deadline_before"),
        ("/api/v1/requests/?status=pending", "status"),
        ("/api/v1/imports/?status=nope", "status"),
        ("/api/v1/deliveries/?status=", "status"),
        ("/api/v1/imports/?status=", "status"),
        ("/api/v1/requests/?deadline_before=", "deadline_before"),
        ("/api/v1/projects/?deadline_before=", "deadline_before"),
        ("/api/v1/blockers/?project=", "project"),
    ],
)
def test_bad_query_values_are_refused_naming_the_parameter(api_client, lead, url, parameter):
    api_client.force_authenticate(user=lead)
    response = api_client.get(url)
    assert response.status_code == 400, (url, response.content)
    body = response.json()
    assert body["field"] == parameter and body["detail"].startswith(f"{parameter}: ")


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects/?has_open_blockers=true",
        "/api/v1/projects/?has_open_blockers=False",
        "/api/v1/quality/reports/?latest=1",
        "/api/v1/requests/?status=submitted&status=accepted",
        "/api/v1/annotations/?submitted_before=2026-01-31",
        "/api/v1/projects/?ordering=",
    ],
)
def test_good_query_values_still_filter(api_client, lead, url):
    api_client.force_authenticate(user=lead)
    assert api_client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/requests/abc/",
        "/api/v1/requests/1.5/",
        "/api/v1/requests/1.5e-282/accept/",
        "/api/v1/assignments/1.5/submit/",
        "/api/v1/no-such-thing/",
        "/api/v1/projects/x1/",
        "/api/v1/imports/%C3%A9/",
        "/api/v1/requests/abc/accept/",
        "/api/v1/assignments/abc/submit/",
        "/api/v1/deliveries/abc/files/train.csv/",
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_non_integer_ids_answer_the_apis_json_404(settings, api_client, lead, path, debug):
    # With DEBUG on (the embedded default) Django answered an unmatched path with its HTML page.
    settings.DEBUG = debug
    api_client.force_authenticate(user=lead)
    for method in ("get", "post"):
        response = getattr(api_client, method)(path)
        if response.status_code == 405:
            continue
        assert response.status_code == 404, (method, path, response.status_code)
        assert response["Content-Type"] == "application/json", (method, path)
        assert response.json()["detail"]


def test_import_report_url_is_documented_as_nullable(client):
    components = yaml.safe_load(client.get("/api/v1/schema/").content)["components"]["schemas"]
    report_url = components["ImportJob"]["properties"]["report_url"]
    assert report_url.get("nullable") is True and report_url["type"] == "string"


def test_token_endpoint_documents_its_lockout(client):
    paths = yaml.safe_load(client.get("/api/v1/schema/").content)["paths"]
    token = paths["/api/v1/auth/token/"]["post"]["responses"]
    assert {"200", "400", "429"} <= set(token)
    assert token["429"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"get"} <= set(paths["/api/v1/auth/tokens/"]) and "delete" in paths["/api/v1/auth/tokens/{prefix}/"]
