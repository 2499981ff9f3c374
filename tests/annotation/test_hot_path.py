"""The annotators' hot path (next → submit) as the throughput work shaped it: the direct response
builders agree with the serializers that document them, the token memory forgets what it must,
the counters stay equal to the rows, and the query counts stay pinned."""

from __future__ import annotations

import pytest
from django.db.models import Count, Q
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from annotation import selectors, services, sql
from annotation.api.serializers import AnnotationSerializer, WorkSerializer, annotation_data, work_data
from annotation.models import Annotation, Assignment, Item
from core import authentication
from core.errors import QuorumError
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory, schema_with_labels

NEXT = "/api/v1/assignments/next/"

pytestmark = pytest.mark.usefixtures("fresh_token_memory")


def _submit_url(assignment_id: int) -> str:
    return f"/api/v1/assignments/{assignment_id}/submit/"


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _items(project, count, **fields):
    batch = BatchFactory(project=project)
    return [ItemFactory(batch=batch, **fields) for _ in range(count)]


def test_work_data_is_what_the_work_serializer_says(live, annotator, lead):
    labels = [
        {"key": "abuse", "name": "Abuse", "severity": 2, "shortcut": "a"},
        {"key": "slur", "name": "Slur", "parent": "abuse", "description": "A slur."},
    ]
    live.label_schema = schema_with_labels(name="Nested", labels=labels, selection="multi", actor=lead)
    live.save()
    _items(live, 1, metadata={"source": "forum", "n": 3}, is_graphic=True, language="de")
    assignment = services.assignment_next(project=live, annotator=annotator)
    work = selectors.assignment_work_get(assignment=assignment)
    assert work_data(work) == WorkSerializer(work).data
    # And as the endpoint's engine loads it (the lean item row), equal to the full rows.
    stored = Assignment.objects.select_related("item").get(pk=assignment.pk)
    assert work_data(work) == WorkSerializer(selectors.assignment_work_get(assignment=stored)).data
    assert work_data(work)["labels"][1]["parent"] == "abuse"


def test_annotation_data_is_what_the_annotation_serializer_says(live, annotator):
    _items(live, 1)
    client = _token_client(annotator)
    work = client.post(NEXT, {"project": live.pk}, format="json").json()
    body = client.post(_submit_url(work["id"]), {"labels": ["hate"], "comment": "é"}, format="json").json()
    stored = selectors.annotation_list(user=annotator).get(pk=body["id"])
    assert body == AnnotationSerializer(stored).data
    annotation = services.annotation_submit(assignment=Assignment(pk=work["id"]), labels=["hate"], actor=annotator)
    annotation.external_id, annotation.batch_id = annotation.item.external_id, annotation.item.batch_id
    assert annotation_data(annotation) == body  # a double submit answers the stored annotation


def test_token_is_remembered_then_forgotten_when_the_user_is_deactivated(live, annotator, django_assert_num_queries):
    _items(live, 3)
    client = _token_client(annotator)
    assert client.get("/api/v1/assignments/").status_code == 200
    with django_assert_num_queries(1):  # the list's count (no rows, so no page): no token look-up
        assert client.get("/api/v1/assignments/").status_code == 200
    annotator.is_active = False
    annotator.save()  # in this process the memory is emptied at once
    assert client.get("/api/v1/assignments/").status_code == 401


def test_token_is_forgotten_when_deleted(live, annotator):
    client = _token_client(annotator)
    assert client.get("/api/v1/assignments/").status_code == 200
    Token.objects.filter(user=annotator).delete()
    assert client.get("/api/v1/assignments/").status_code == 401


def test_token_memory_expires(live, annotator, settings, monkeypatch):
    client = _token_client(annotator)
    assert client.get("/api/v1/assignments/").status_code == 200
    # Another process deactivated the user: no signal here, the entry lapses after the TTL.
    User.objects.filter(pk=annotator.pk).update(is_active=False)
    assert client.get("/api/v1/assignments/").status_code == 200
    clock = authentication.time.monotonic() + settings.QUORUM_TOKEN_CACHE_SECONDS + 1
    monkeypatch.setattr(authentication.time, "monotonic", lambda: clock)
    assert client.get("/api/v1/assignments/").status_code == 401


def test_token_memory_off(live, annotator, settings, django_assert_num_queries):
    settings.QUORUM_TOKEN_CACHE_SECONDS = 0
    client = _token_client(annotator)
    assert client.get("/api/v1/assignments/").status_code == 200
    with django_assert_num_queries(2):  # the token, and the list's count
        assert client.get("/api/v1/assignments/").status_code == 200


def test_memberships_are_not_remembered(live, annotator):
    """A removed or paused membership refuses work at once, whatever the token memory holds."""
    _items(live, 3)
    client = _token_client(annotator)
    work = client.post(NEXT, {"project": live.pk}, format="json").json()
    assert client.post(_submit_url(work["id"]), {"labels": ["safe"]}, format="json").status_code == 200
    Membership.objects.filter(user=annotator, project=live).update(is_active=False)  # no signal
    assert client.post(NEXT, {"project": live.pk}, format="json").status_code in (403, 404)


def test_each_request_gets_its_own_user(live, annotator):
    from projects import access

    client = _token_client(annotator)
    seen = []
    original = access.project_roles

    def spy(user, project):
        seen.append(user)
        return original(user, project)

    _items(live, 2)
    access.project_roles = spy
    try:
        client.post(NEXT, {"project": 10**9}, format="json")
        client.get("/api/v1/assignments/")
        work = client.post(NEXT, {"project": live.pk}, format="json").json()
        assert work["item"]["id"]
    finally:
        access.project_roles = original
    assert len({id(user) for user in seen}) == len(seen)


def test_counters_equal_the_rows_after_many_cycles(live):
    people = []
    for index in range(5):
        person = UserFactory(username=f"cycler{index}", role=User.Role.ANNOTATOR)
        Membership.objects.create(project=live, user=person, role=Membership.Role.ANNOTATOR)
        people.append(_token_client(person))
    _items(live, 4, required_annotations=3)
    done = 0
    for _ in range(5):
        for client in people:
            response = client.post(NEXT, {"project": live.pk}, format="json")
            if response.status_code == 204:
                continue
            work = response.json()
            assert client.post(_submit_url(work["id"]), {"labels": ["spam"]}, format="json").status_code == 200
            done += 1
    assert done == 12
    items = Item.objects.annotate(
        taken=Count("assignments", filter=Q(assignments__status__in=["active", "submitted"]), distinct=True),
        answered=Count("annotations", distinct=True),
    )
    for item in items:
        assert (item.assigned_count, item.annotations_done) == (item.taken, item.answered) == (3, 3)
    assert Annotation.objects.count() == 12
    assert not Assignment.objects.filter(status="active").exists()


def test_work_endpoints_query_counts(live, annotator, django_assert_num_queries):
    """next: the project with membership, open leases, what is in force and the counts behind the
    gold rate and the graphic cap (one statement); pick, slot and lease (one statement on
    PostgreSQL, a transaction of three on SQLite). submit: in a
    transaction, the locked assignment and item with what is in force (one statement), then the
    writes (one statement on PostgreSQL, three on SQLite). The token is remembered after the first
    request. (The test's own transaction makes each transaction 2 savepoint statements here.)"""
    from django.db import connection

    live.gold_rate = 0.5  # gold and the graphic cap on: their counts come with the context
    live.graphic_daily_cap = 5
    live.save()
    _items(live, 2)
    client = _token_client(annotator)
    client.get("/api/v1/assignments/")  # the token, and the per-process label cache, warmed
    client.post(NEXT, {"project": live.pk}, format="json")
    Assignment.objects.all().delete()
    Item.objects.update(assigned_count=0)
    postgres = connection.vendor == "postgresql"
    with django_assert_num_queries(2 if postgres else 6):
        work = client.post(NEXT, {"project": live.pk}, format="json").json()
    with django_assert_num_queries(4 if postgres else 6):
        response = client.post(_submit_url(work["id"]), {"labels": ["safe"]}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"labels": ["safe"]},
        {"labels": ["safe", "hate"], "time_spent_ms": 900},
        {"labels": [], "time_spent_ms": 0},
        {"labels": ["x" * 64], "time_spent_ms": 2**31 - 1},
    ],
)
def test_plain_submit_bodies_parse_as_the_serializer_does(body):
    from annotation.api.lean import plain_submit
    from annotation.api.serializers import AnnotationSubmitSerializer

    serializer = AnnotationSubmitSerializer(data=body)
    assert serializer.is_valid()
    assert plain_submit(body) == dict(serializer.validated_data)


@pytest.mark.parametrize(
    "body",
    [
        {"labels": ["Safe"]},
        {"labels": [" safe"]},
        {"labels": ["safe\n"]},
        {"labels": ["x" * 65]},
        {"labels": [""]},
        {"labels": [1]},
        {"labels": "safe"},
        {"labels": ["safe"], "time_spent_ms": -1},
        {"labels": ["safe"], "time_spent_ms": True},
        {"labels": ["safe"], "time_spent_ms": "900"},
        {"labels": ["safe"], "comment": "why"},
        {"labels": ["safe"], "extra": 1},
        {},
        [],
    ],
)
def test_other_submit_bodies_go_through_the_serializer(body):
    from annotation.api.lean import plain_submit

    assert plain_submit(body) is None


def test_plain_next_bodies(live, annotator):
    from annotation.api.lean import plain_next

    assert plain_next({"project": 7}) == {"project": 7}
    for body in ({"project": 0}, {"project": "7"}, {"project": True}, {"project": 7, "x": 1}, {}, [7]):
        assert plain_next(body) is None
    client = _token_client(annotator)
    response = client.post(NEXT, {"project": 0}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "project"
    response = client.post(NEXT, {"project": str(live.pk)}, format="json")
    assert response.status_code == 204  # the serializer's way: a numeric string is an id too


def test_work_start_reads_the_engine_columns_as_the_orm_does(live, annotator, django_assert_num_queries):
    from projects.models import Project

    live.languages = ["en", "de"]
    live.require_language_match = True
    live.save()
    services.work_start(project_id=live.pk, annotator=annotator)  # the version's labels, kept per process
    with django_assert_num_queries(1):  # the project and the context together
        project, context = services.work_start(project_id=live.pk, annotator=annotator)
    stored = Project.objects.get(pk=live.pk)
    for name in sql.WORK_PROJECT_FIELDS:
        assert getattr(project, name) == getattr(stored, name), name
    assert project.languages == ["en", "de"] and project.require_language_match is True
    assert context.membership is not None and not context.has_open_lease
    assert project.description == stored.description  # any other column loads on first use
    assert services.work_start(project_id=10**9, annotator=annotator) == (None, None)
    assert services.work_start(project_id=2**64, annotator=annotator) == (None, None)  # no such row, no error


def test_ids_beyond_a_bigint_are_not_found(live, annotator):
    client = _token_client(annotator)
    assert client.post(NEXT, {"project": 2**64}, format="json").status_code in (400, 404)  # never a 500
    assert client.post(_submit_url(2**64), {"labels": ["safe"]}, format="json").status_code == 404
    assert client.post("/api/v1/assignments/12a/submit/", {"labels": ["safe"]}, format="json").status_code == 404


@pytest.mark.parametrize(
    ("gold_rate", "answered", "gold_answered"), [(0.25, 2, 0), (0.25, 3, 0), (0.25, 7, 1), (0.5, 3, 2)]
)
def test_work_context_counts_agree_with_the_engine_selectors(live, annotator, gold_rate, answered, gold_answered):
    """The counts next reads in its one statement say what _gold_due and graphic_cap_reached say."""
    from django.utils import timezone

    from annotation.services.engine import _gold_due, _work_context

    live.gold_rate, live.graphic_daily_cap = gold_rate, 2
    live.save()
    items = _items(live, answered - gold_answered, is_graphic=True)
    batch = items[0].batch
    gold = [ItemFactory(batch=batch, is_gold=True, gold_labels=["safe"]) for _ in range(gold_answered)]
    for item in [*items, *gold]:
        services.assignment_create(item=item, annotator=annotator)
    now = timezone.now()
    context = _work_context(project=live, annotator=annotator, now=now)
    assert context.gold_due == _gold_due(project=live, annotator=annotator)
    assert context.graphic_capped == selectors.graphic_cap_reached(project=live, annotator=annotator, now=now)
    assert context.has_open_lease and context.membership is not None
    # work_start reads the same with the project's engine columns, in one statement.
    project, started = services.work_start(project_id=live.pk, annotator=annotator, now=now)
    assert started == context
    assert project.pk == live.pk and project.gold_rate == live.gold_rate and project.languages == live.languages
    gone = type(live)(pk=10**9)
    with pytest.raises(QuorumError, match=f"project {10**9} no longer exists"):
        _work_context(project=gone, annotator=annotator, now=now)


def test_row_instance_maps_columns_by_name_and_defers_the_rest(live, django_assert_num_queries):
    from annotation.models import Guideline

    guideline = live.guidelines.get()
    with django_assert_num_queries(0):
        made = selectors.row_instance(Guideline, {"version": 7, "project_id": live.pk, "id": guideline.pk})
    assert (made.pk, made.version, made.project_id) == (guideline.pk, 7, live.pk)
    assert not made._state.adding and made.get_deferred_fields() == {"body", "note", "created_by_id", "created_at"}
    with django_assert_num_queries(1):  # a deferred column loads on first use, as the ORM's rows do
        assert made.body == guideline.body
    made.version = 8
    made.save(update_fields=["version"])  # a loaded row: saving updates it, as the ORM's rows do
    assert Guideline.objects.get(pk=guideline.pk).version == 8
    with pytest.raises(ValueError, match="Guideline has no column"):
        selectors.row_instance(Guideline, {"id": 1, "versoin": 7})


def test_the_row_instance_models_have_no_init_signal_receivers():
    """row_instance skips Model.__init__ and its pre_init/post_init signals: right only while no
    receiver listens to them for the models it makes."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_init, pre_init
    from rest_framework.authtoken.models import Token

    from annotation.models import Guideline
    from projects.models import Membership, Project

    for model in (Item, Assignment, Guideline, Project, Membership, get_user_model(), Token):
        assert not pre_init.has_listeners(model) and not post_init.has_listeners(model), model


@pytest.mark.django_db
def test_the_hot_tables_check_keys_only_to_rows_no_other_annotator_shares(live, annotator):
    """The foreign keys to the project, its schema version and its guideline are not database
    constraints (their checks locked one row shared by every annotator); the keys to the lease's
    own item, annotator and assignment are. The ORM still refuses or cascades deletes."""
    from django.db import connection
    from django.db.models import ProtectedError

    expected = {
        Assignment: {"item_id", "annotator_id"},
        Annotation: {"assignment_id", "item_id", "annotator_id"},
    }
    for model, constrained in expected.items():
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
        keys = {c["columns"][0] for c in constraints.values() if c["foreign_key"]}
        assert keys == constrained, model

    batch = BatchFactory(project=live)
    item = ItemFactory(batch=batch, required_annotations=1)
    assignment = services.assignment_create(item=item, annotator=annotator)
    label = live.label_schema.versions.get().labels.first().key
    annotation = services.annotation_submit(assignment=assignment, labels=[label], actor=annotator)
    with pytest.raises(ProtectedError):
        annotation.schema_version.delete()
    with pytest.raises(ProtectedError):
        annotation.guideline.delete()


@pytest.mark.django_db
def test_every_foreign_key_of_the_hot_tables_leads_an_index():
    """The single-column indexes of Assignment's and Annotation's foreign keys were dropped where
    another index leads with the same column (an index costs every cycle its entries); each
    key must still lead one, so look-ups and cascades by it stay indexed."""
    from django.db import connection

    for model in (Assignment, Annotation):
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
        leading = [c["columns"][0] for c in constraints.values() if (c["index"] or c["unique"]) and c["columns"]]
        singles = [c["columns"] for c in constraints.values() if c["index"] and len(c["columns"]) == 1]
        for field in model._meta.concrete_fields:
            if field.is_relation:
                assert field.column in leading, f"{model.__name__}.{field.name}"
        for column in ("item_id", "annotator_id"):
            assert [column] not in singles, f"{model.__name__}: {column} has an index of its own again"
