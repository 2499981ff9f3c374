"""The annotation workflow API through its real URLs: next → submit, skip, flag, annotations and
their filters, flags for the leads, imports; role denial across projects, errors naming the
field, pagination and pinned query counts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import yaml
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from rest_framework.pagination import PageNumberPagination

from accounts.models import User
from annotation import selectors, services
from annotation.models import Annotation, Assignment, Flag, ImportJob, Item
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/assignments/next/"
ASSIGNMENTS = "/api/v1/assignments/"
ANNOTATIONS = "/api/v1/annotations/"
FLAGS = "/api/v1/flags/"
IMPORTS = "/api/v1/imports/"
ITEM_FIELDS = {
    "id",
    "external_id",
    "modality",
    "text",
    "image_url",
    "video_url",
    "audio_url",
    "ocr_text",
    "metadata",
    "language",
    "is_graphic",
}


def _as(api_client, user):
    api_client.force_authenticate(user=user)
    return api_client


def _items(project, count, **fields):
    batch = fields.pop("batch", None) or BatchFactory(project=project)
    return [ItemFactory(batch=batch, **fields) for _ in range(count)]


def _annotators(project, count, prefix="worker"):
    people = []
    for index in range(count):
        person = UserFactory(username=f"{prefix}{index}", role=User.Role.ANNOTATOR)
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
        people.append(person)
    return people


def _submit_url(assignment_id: int, verb: str = "submit") -> str:
    return f"{ASSIGNMENTS}{assignment_id}/{verb}/"


def _work(project, person, label="safe", **fields):
    """One next → submit cycle through the services; returns the annotation."""
    assignment = services.assignment_next(project=project, annotator=person)
    return services.annotation_submit(assignment=assignment, labels=[label], actor=person, **fields)


# --- Next and submit ---------------------------------------------------------------------------


def test_next_submit_loop_until_no_work_is_left(api_client, live, annotator):
    items = _items(live, 3, required_annotations=1)
    Item.objects.filter(pk=items[2].pk).update(priority=5)
    client = _as(api_client, annotator)
    seen = []
    for _ in range(3):
        response = client.post(NEXT, {"project": live.pk}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body["item"]) == ITEM_FIELDS
        seen.append(body["item"]["id"])
        response = client.post(_submit_url(body["id"]), {"labels": ["spam"], "time_spent_ms": 1200}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["item"] == body["item"]["id"] and response.json()["labels"] == ["spam"]
    assert seen == [items[2].pk, items[0].pk, items[1].pk]  # priority first, then oldest
    response = client.post(NEXT, {"project": live.pk}, format="json")
    assert response.status_code == 204 and response.content == b""
    assert Annotation.objects.filter(annotator=annotator).count() == 3
    assert all(i.annotations_done == 1 for i in Item.objects.filter(project=live))


def test_next_answers_the_work_with_lease_schema_and_guideline(api_client, live, annotator):
    (item,) = _items(live, 1, text="<script>alert(1)</script>", metadata={"source": "feed"}, language="en")
    live.guidelines.all().delete()
    guideline = GuidelineFactory(project=live, created_by=live.lead, version=4)
    response = _as(api_client, annotator).post(NEXT, {"project": live.pk}, format="json")
    assert response.status_code == 200
    body = response.json()
    assignment = Assignment.objects.get(pk=body["id"])
    assert body["project"] == live.pk and body["status"] == "active"
    assert body["expires_at"] == assignment.expires_at.isoformat().replace("+00:00", "Z")
    assert body["item"]["text"] == "<script>alert(1)</script>"  # stored as given; clients escape it
    assert body["item"]["metadata"] == {"source": "feed"} and body["item"]["external_id"] == item.external_id
    assert body["schema_version"]["number"] == 1 and body["schema_version"]["selection"] == "single"
    assert body["schema_version"]["id"] == live.label_schema.versions.get().pk
    assert [label["key"] for label in body["labels"]] == ["safe", "spam", "hate", "harassment", "violence"]
    assert body["labels"][2] == {
        "key": "hate",
        "name": "Hate",
        "description": "",
        "shortcut": "3",
        "severity": 3,
        "parent": None,
    }
    assert body["guideline"] == {"id": guideline.pk, "version": 4}


def test_next_shows_the_newest_schema_version_with_parents(api_client, live, annotator, lead):
    _items(live, 1)
    labels = [{"key": "abuse", "name": "Abuse"}, {"key": "slur", "name": "Slur", "parent": "abuse", "shortcut": "q"}]
    services.schema_version_create(schema=live.label_schema, labels=labels, actor=lead)
    body = _as(api_client, annotator).post(NEXT, {"project": live.pk}, format="json").json()
    assert body["schema_version"]["number"] == 2
    assert [(label["key"], label["parent"]) for label in body["labels"]] == [("abuse", None), ("slur", "abuse")]


def test_next_resumes_the_open_lease(api_client, live, annotator):
    _items(live, 2)
    client = _as(api_client, annotator)
    first = client.post(NEXT, {"project": live.pk}, format="json").json()
    again = client.post(NEXT, {"project": live.pk}, format="json").json()
    assert again["id"] == first["id"] and again["item"] == first["item"]
    assert Assignment.objects.filter(annotator=annotator).count() == 1


def test_gold_answers_are_never_exposed(api_client, live, annotator):
    live.gold_rate = 1
    live.save()
    (gold,) = _items(live, 1, is_gold=True, gold_labels=["violence"], text="known")
    client = _as(api_client, annotator)
    response = client.post(NEXT, {"project": live.pk}, format="json")
    body = response.json()
    assert body["item"]["id"] == gold.pk and set(body["item"]) == ITEM_FIELDS
    assert "gold" not in response.content.decode()
    client.post(_submit_url(body["id"]), {"labels": ["safe"]}, format="json")
    for url in (ASSIGNMENTS, f"{ASSIGNMENTS}{body['id']}/", ANNOTATIONS):
        response = client.get(url)
        assert response.status_code == 200 and "gold" not in response.content.decode()
        assert "violence" not in response.content.decode()


def test_double_submit_returns_the_same_annotation(api_client, live, annotator):
    _items(live, 1)
    client = _as(api_client, annotator)
    work = client.post(NEXT, {"project": live.pk}, format="json").json()
    first = client.post(_submit_url(work["id"]), {"labels": ["hate"], "comment": "slur"}, format="json")
    second = client.post(_submit_url(work["id"]), {"labels": ["safe"]}, format="json")
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert first.json()["labels"] == ["hate"] and first.json()["comment"] == "slur"
    assert Annotation.objects.filter(assignment_id=work["id"]).count() == 1
    assert Item.objects.get(pk=work["item"]["id"]).annotations_done == 1


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"labels": ["terror"]}, "labels", "'terror' is not a label of this schema"),
        ({"labels": ["hate", "spam"]}, "labels", "single-choice; choose exactly one label"),
        ({"labels": []}, "labels", "choose at least one label"),
        ({}, "labels", "This field is required"),
        ({"labels": "hate,spam"}, "labels", 'Expected a list of items but got type "str"'),
        ({"labels": ["hate"], "time_spent_ms": -5}, "time_spent_ms", "greater than or equal to 0"),
        ({"labels": ["hate"], "time_spent_ms": "soon"}, "time_spent_ms", "A valid integer is required"),
    ],
)
def test_submit_refuses_bad_labels_naming_the_field(api_client, live, annotator, payload, field, message):
    _items(live, 1)
    client = _as(api_client, annotator)
    work = client.post(NEXT, {"project": live.pk}, format="json").json()
    response = client.post(_submit_url(work["id"]), payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field and message in body["detail"] and body["detail"].startswith(field)
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(pk=work["id"]).status == "active"


def test_skip_frees_the_slot_and_flag_asks_the_lead(api_client, live, annotator):
    first, _second = _items(live, 2, required_annotations=1)
    client = _as(api_client, annotator)
    work = client.post(NEXT, {"project": live.pk}, format="json").json()
    response = client.post(_submit_url(work["id"], "flag"), {"question": "  "}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "question"
    response = client.post(_submit_url(work["id"], "flag"), {"question": "Is a quoted slur hate?"}, format="json")
    assert response.status_code == 201, response.content
    flag = response.json()
    assert flag["status"] == "open" and flag["external_id"] == first.external_id and flag["assignment"] == work["id"]
    assert flag["raised_by"] == {"id": annotator.pk, "username": "annotator"}
    response = client.post(_submit_url(work["id"], "skip"), {"reason": ""}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "reason"
    response = client.post(_submit_url(work["id"], "skip"), {"reason": "Not my language"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "skipped" and response.json()["skip_reason"] == "Not my language"
    assert Item.objects.get(pk=first.pk).assigned_count == 0
    response = client.post(_submit_url(work["id"]), {"labels": ["safe"]}, format="json")
    assert response.status_code == 400 and "you skipped this item" in response.json()["detail"]
    nxt = client.post(NEXT, {"project": live.pk}, format="json").json()
    assert nxt["item"]["id"] != first.pk  # a skipped item never comes back to the annotator


def test_assignment_list_shows_only_your_own_with_filters(api_client, live, annotator):
    other_project = ProjectFactory(lead=live.lead, label_schema=live.label_schema, phase="production", gold_rate=0)
    Membership.objects.create(project=other_project, user=annotator, role=Membership.Role.ANNOTATOR)
    _items(live, 2)
    _items(other_project, 1)
    (colleague,) = _annotators(live, 1)
    _work(live, annotator)
    mine = services.assignment_next(project=live, annotator=annotator)
    services.assignment_next(project=other_project, annotator=annotator)
    services.assignment_next(project=live, annotator=colleague)
    client = _as(api_client, annotator)
    rows = client.get(ASSIGNMENTS).json()["results"]
    assert len(rows) == 3 and {row["project"] for row in rows} == {live.pk, other_project.pk}
    rows = client.get(ASSIGNMENTS, {"project": live.pk, "status": "active"}).json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    assert rows[0]["external_id"] == mine.item.external_id
    assert client.get(ASSIGNMENTS, {"status": "submitted"}).json()["count"] == 1


def test_someone_elses_assignment_is_not_found(api_client, live, annotator):
    _items(live, 1)
    (colleague,) = _annotators(live, 1)
    theirs = services.assignment_next(project=live, annotator=colleague)
    client = _as(api_client, annotator)
    assert client.get(f"{ASSIGNMENTS}{theirs.pk}/").status_code == 404
    assert client.post(_submit_url(theirs.pk), {"labels": ["safe"]}, format="json").status_code == 404
    assert client.post(_submit_url(theirs.pk, "skip"), {"reason": "x"}, format="json").status_code == 404
    assert client.post(_submit_url(theirs.pk, "flag"), {"question": "x"}, format="json").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active" and not Annotation.objects.exists() and not Flag.objects.exists()
    # Their lead does not see it among their assignments either: the list is one's own work.
    assert _as(api_client, live.lead).get(f"{ASSIGNMENTS}{theirs.pk}/").status_code == 404


def test_next_refuses_non_members_other_roles_and_idle_projects(api_client, live, reviewer, annotator):
    _items(live, 1)
    stranger = UserFactory(username="stranger", role=User.Role.ANNOTATOR)
    response = _as(api_client, stranger).post(NEXT, {"project": live.pk}, format="json")
    assert response.status_code == 404  # another project's existence does not leak
    assert _as(api_client, annotator).post(NEXT, {"project": 10**9}, format="json").status_code == 404
    response = _as(api_client, reviewer).post(NEXT, {"project": live.pk}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "not_allowed"
    response = _as(api_client, annotator).post(NEXT, {"project": "x"}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "project"
    live.phase = "qa"
    live.save()
    response = _as(api_client, annotator).post(NEXT, {"project": live.pk}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "project"
    assert "work is given out only in pilot and production" in response.json()["detail"]
    assert not Assignment.objects.exists()


@pytest.mark.parametrize("url", [ASSIGNMENTS, ANNOTATIONS, FLAGS, IMPORTS])
def test_unauthenticated_gets_401(api_client, url):
    assert api_client.get(url).status_code == 401
    assert api_client.post(NEXT, {"project": 1}, format="json").status_code == 401


# --- Annotations -------------------------------------------------------------------------------


@pytest.fixture
def labelled(live, annotator):
    """Annotations in `live` by `annotator` and two colleagues, over two batches, on two days;
    plus one annotation in another lead's project."""
    first_batch, second_batch = BatchFactory(project=live), BatchFactory(project=live)
    _items(live, 2, batch=first_batch, required_annotations=3)
    _items(live, 1, batch=second_batch, required_annotations=3)
    people = [annotator, *_annotators(live, 2)]
    answers = {annotator: ["hate", "spam", "safe"], people[1]: ["hate", "hate", "hate"], people[2]: ["safe"] * 3}
    for person, labels in answers.items():
        for label in labels:
            _work(live, person, label)
    early = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    Annotation.objects.filter(annotator=people[2]).update(submitted_at=early)
    foreign = ProjectFactory(phase="production", gold_rate=0, label_schema=live.label_schema)
    (outsider,) = _annotators(foreign, 1, prefix="outsider")
    _items(foreign, 1)
    _work(foreign, outsider, "hate")
    return {"people": people, "batches": (first_batch, second_batch), "foreign": foreign}


def test_annotation_list_annotators_see_their_own(api_client, labelled, annotator):
    rows = _as(api_client, annotator).get(ANNOTATIONS).json()["results"]
    assert len(rows) == 3 and {row["annotator"]["id"] for row in rows} == {annotator.pk}
    assert sorted(row["labels"][0] for row in rows) == ["hate", "safe", "spam"]


def test_annotation_list_leads_see_their_projects(api_client, labelled, live, lead, other_lead):
    body = _as(api_client, lead).get(ANNOTATIONS).json()
    assert body["count"] == 9 and {row["project"] for row in body["results"]} == {live.pk}
    # A lead by membership sees them too; another project's lead does not.
    Membership.objects.create(project=live, user=other_lead, role=Membership.Role.LEAD)
    assert _as(api_client, other_lead).get(ANNOTATIONS).json()["count"] == 9
    foreign_lead = labelled["foreign"].lead
    assert _as(api_client, foreign_lead).get(ANNOTATIONS).json()["count"] == 1
    foreign_annotation = Annotation.objects.get(project=labelled["foreign"])
    assert _as(api_client, lead).get(f"{ANNOTATIONS}{foreign_annotation.pk}/").status_code == 404


def test_annotation_list_filters(api_client, labelled, live, lead, annotator):
    client = _as(api_client, lead)
    people = labelled["people"]
    first_batch, second_batch = labelled["batches"]

    def ids(**params):
        response = client.get(ANNOTATIONS, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    def where(**lookups):
        return set(Annotation.objects.filter(**lookups).values_list("pk", flat=True))

    assert ids(annotator=people[1].pk) == where(annotator=people[1])

    def with_label(key):
        return {a.pk for a in Annotation.objects.filter(project=live) if key in a.labels}

    assert ids(label="hate") == with_label("hate") and len(with_label("hate")) == 4
    assert ids(label="safe") == with_label("safe") and ids(label="violence") == set()
    assert ids(batch=second_batch.pk) == where(item__batch=second_batch) and len(ids(batch=first_batch.pk)) == 6
    assert ids(submitted_before="2026-03-01") == where(annotator=people[2])
    assert ids(submitted_after="2026-03-02") == where(project=live) - where(annotator=people[2])
    assert ids(submitted_after="2026-03-01", submitted_before="2026-03-01") == where(annotator=people[2])
    assert ids(label="spam", annotator=annotator.pk, project=live.pk) == where(annotator=annotator, labels=["spam"])
    response = client.get(ANNOTATIONS, {"label": 'hate", "spam'})
    assert response.status_code == 400 and response.json()["field"] == "label"
    response = client.get(ANNOTATIONS, {"submitted_after": "yesterday"})
    assert response.status_code == 400 and response.json()["field"] == "submitted_after"


def test_annotation_label_filter_matches_whole_keys_only(api_client, lead):
    schema = schema_with_labels(
        name="Multi",
        labels=[{"key": "hate"}, {"key": "hate-speech"}, {"key": "spam"}],
        selection="multi",
        actor=lead,
    )
    project = ProjectFactory(lead=lead, label_schema=schema, phase="production", gold_rate=0)
    people = _annotators(project, 3)
    _items(project, 1)
    for person, labels in zip(people, [["hate-speech"], ["spam", "hate"], ["spam"]], strict=True):
        assignment = services.assignment_next(project=project, annotator=person)
        services.annotation_submit(assignment=assignment, labels=labels, actor=person)
    client = _as(api_client, lead)
    assert [row["annotator"]["id"] for row in client.get(ANNOTATIONS, {"label": "hate"}).json()["results"]] == [
        people[1].pk
    ]
    assert client.get(ANNOTATIONS, {"label": "spam"}).json()["count"] == 2
    assert client.get(ANNOTATIONS, {"label": "speech"}).json()["count"] == 0


def test_annotation_list_paginates(api_client, live, lead, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    _items(live, 5, required_annotations=1)
    (person,) = _annotators(live, 1)
    for _ in range(5):
        _work(live, person)
    client = _as(api_client, lead)
    first = client.get(ANNOTATIONS).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["previous"] is None
    assert first["next"].endswith("/api/v1/annotations/?page=2")
    last = client.get(ANNOTATIONS, {"page": 3}).json()
    assert len(last["results"]) == 1 and last["next"] is None
    seen = {row["id"] for page in (1, 2, 3) for row in client.get(ANNOTATIONS, {"page": page}).json()["results"]}
    assert seen == set(Annotation.objects.values_list("pk", flat=True))
    assert client.get(ANNOTATIONS, {"page": 4}).status_code == 404


# --- Flags -------------------------------------------------------------------------------------


def test_flags_listed_and_answered_by_the_lead(api_client, live, lead, other_lead, annotator):
    _items(live, 2)
    assignment = services.assignment_next(project=live, annotator=annotator)
    question = services.flag_raise(assignment=assignment, actor=annotator, question="Satire?")
    answered = services.flag_raise(assignment=assignment, actor=annotator, question="Quotes?")
    services.flag_answer(flag=answered, actor=lead, answer="See 2.1")
    client = _as(api_client, lead)
    rows = client.get(FLAGS, {"project": live.pk, "status": "open"}).json()["results"]
    assert [row["id"] for row in rows] == [question.pk]
    url = reverse("flag-answer", args=[question.pk])
    response = client.post(url, {"answer": ""}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "answer"
    response = client.post(url, {"answer": "Satire attacking a group is still hate."}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "answered" and response.json()["answered_by"] == "lead"
    assert client.get(FLAGS, {"status": "open"}).json()["count"] == 0
    # The annotator reads their flags and answers, but may not answer; another lead sees nothing.
    client = _as(api_client, annotator)
    assert client.get(FLAGS).json()["count"] == 2
    assert client.post(url, {"answer": "I think so"}, format="json").status_code == 403
    client = _as(api_client, other_lead)
    assert client.get(FLAGS).json()["count"] == 0
    assert client.post(url, {"answer": "no"}, format="json").status_code == 404
    assert Flag.objects.get(pk=question.pk).answer == "Satire attacking a group is still hate."


# --- Imports -----------------------------------------------------------------------------------

GOOD_ROWS = [
    {"external_id": "a1", "text": "first post", "language": "en"},
    {"external_id": "a2", "image_url": "https://cdn.example.org/2.jpg", "is_graphic": True},
    {"external_id": "a3", "text": "known answer", "gold_label": "hate"},
]
BAD_ROWS = [
    {"external_id": "b1", "text": ""},
    {"external_id": "b2", "image_url": "javascript:alert(1)"},
]


def _jsonl(rows, name="items.jsonl"):
    return SimpleUploadedFile(name, "".join(json.dumps(row) + "\n" for row in rows).encode())


def _upload(client, django_capture_on_commit_callbacks, project, rows, **fields):
    payload = {"project": project.pk, "batch_name": "wave 1", "file": _jsonl(rows), **fields}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORTS, payload, format="multipart")
    assert response.status_code == 202, response.content
    return response


def test_import_upload_succeeds(api_client, live, lead, django_capture_on_commit_callbacks):
    client = _as(api_client, lead)
    response = _upload(client, django_capture_on_commit_callbacks, live, GOOD_ROWS)
    job = response.json()
    assert job["status"] == "pending" and job["batch_name"] == "wave 1" and job["format"] == "jsonl"
    assert job["mode"] == "all_or_nothing" and job["created_by"] == "lead"
    job = client.get(f"{IMPORTS}{job['id']}/").json()
    assert job["status"] == "succeeded" and job["items_created"] == 3 and job["rows_read"] == 3
    assert job["errors"] == [] and job["report_url"] is None and job["message"] == "3 items imported from 3 rows."
    assert Item.objects.filter(project=live, batch__name="wave 1").count() == 3
    assert client.get(f"{IMPORTS}{job['id']}/report/").status_code == 404
    assert [row["id"] for row in client.get(IMPORTS, {"project": live.pk}).json()["results"]] == [job["id"]]


def test_import_all_or_nothing_lists_errors_and_serves_the_report(
    api_client, live, lead, django_capture_on_commit_callbacks
):
    client = _as(api_client, lead)
    job_id = _upload(client, django_capture_on_commit_callbacks, live, GOOD_ROWS + BAD_ROWS).json()["id"]
    job = client.get(f"{IMPORTS}{job_id}/").json()
    assert job["status"] == "failed" and job["items_created"] == 0 and job["rows_invalid"] == 2
    assert [(e["row"], e["column"]) for e in job["errors"]] == [(4, "text"), (5, "image_url")]
    assert "row 5, column image_url" in job["errors"][1]["message"] and "nothing was imported" in job["message"]
    assert not Item.objects.filter(project=live).exists()
    assert job["report_url"].endswith(f"/api/v1/imports/{job_id}/report/")
    response = client.get(job["report_url"])
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert f'filename="import-{job_id}-errors.csv"' in response["Content-Disposition"]
    report = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert report[0] == ["row", "column", "message"] and [r[:2] for r in report[1:]] == [
        ["4", "text"],
        ["5", "image_url"],
    ]
    response = client.get(job["report_url"], HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    response.close()


def test_import_skip_bad_rows_then_reimport_adds_nothing(api_client, live, lead, django_capture_on_commit_callbacks):
    client = _as(api_client, lead)
    rows = GOOD_ROWS + BAD_ROWS
    job_id = _upload(client, django_capture_on_commit_callbacks, live, rows, mode="skip_bad_rows").json()["id"]
    job = client.get(f"{IMPORTS}{job_id}/").json()
    assert job["status"] == "succeeded" and job["items_created"] == 3 and job["rows_invalid"] == 2
    assert len(job["errors"]) == 2 and job["report_url"] is not None
    assert client.get(job["report_url"]).status_code == 200
    again_id = _upload(client, django_capture_on_commit_callbacks, live, rows, mode="skip_bad_rows").json()["id"]
    again = client.get(f"{IMPORTS}{again_id}/").json()
    assert again["status"] == "succeeded" and again["items_created"] == 0 and again["rows_existing"] == 3
    assert Item.objects.filter(project=live).count() == 3


def test_import_refuses_non_leads_and_bad_input(api_client, live, lead, other_lead, annotator):
    response = _as(api_client, annotator).post(
        IMPORTS, {"project": live.pk, "batch_name": "b", "file": _jsonl(GOOD_ROWS)}, format="multipart"
    )
    assert response.status_code == 403 and response.json()["code"] == "not_allowed"
    response = _as(api_client, other_lead).post(
        IMPORTS, {"project": live.pk, "batch_name": "b", "file": _jsonl(GOOD_ROWS)}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["field"] == "project"
    assert "does not exist" in response.json()["detail"]
    client = _as(api_client, lead)
    response = client.post(IMPORTS, {"project": live.pk, "batch_name": "b"}, format="multipart")
    assert response.status_code == 400 and response.json()["field"] == "file"
    response = client.post(
        IMPORTS, {"project": live.pk, "batch_name": "b", "file": _jsonl(GOOD_ROWS, "items.xlsx")}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["field"] == "file"
    assert "cannot tell the format of 'items.xlsx'" in response.json()["detail"]
    response = client.post(
        IMPORTS, {"project": live.pk, "batch_name": "b", "mode": "some", "file": _jsonl(GOOD_ROWS)}, format="multipart"
    )
    assert response.status_code == 400 and response.json()["field"] == "mode"
    assert not ImportJob.objects.exists()


def test_import_job_is_for_the_projects_leads_only(api_client, live, lead, annotator, other_lead, tmp_path):
    job = services.import_job_create(project=live, actor=lead, batch_name="b", source_path=str(tmp_path / "x.jsonl"))
    for user in (annotator, other_lead):
        client = _as(api_client, user)
        assert client.get(f"{IMPORTS}{job.pk}/").status_code == 404
        assert client.get(f"{IMPORTS}{job.pk}/report/").status_code == 404
        assert client.get(IMPORTS).json()["count"] == 0


def test_import_job_shows_rows_read_while_running(api_client, live, lead, tmp_path):
    job = services.import_job_create(project=live, actor=lead, batch_name="b", source_path=str(tmp_path / "x.jsonl"))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, rows_read=0)
    cache.set(selectors.import_progress_key(job.pk), 15000)
    try:
        body = _as(api_client, lead).get(f"{IMPORTS}{job.pk}/").json()
    finally:
        cache.delete(selectors.import_progress_key(job.pk))
    assert body["status"] == "running" and body["rows_read"] == 15000


# --- Query counts ------------------------------------------------------------------------------
# Two queries per list page (the count and the page), however many rows: the selectors load what
# the output serializers read.


@pytest.mark.parametrize("rows", [1, 6])
def test_annotation_list_query_count_is_flat(api_client, django_assert_num_queries, live, lead, rows):
    _items(live, rows, required_annotations=1)
    (person,) = _annotators(live, 1)
    for _ in range(rows):
        _work(live, person)
    for user in (lead, person):
        client = _as(api_client, user)
        with django_assert_num_queries(2):
            response = client.get(ANNOTATIONS, {"label": "safe", "submitted_after": "2020-01-01"})
        assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [1, 6])
def test_assignment_list_query_count_is_flat(api_client, django_assert_num_queries, live, annotator, rows):
    _items(live, rows, required_annotations=1)
    for _ in range(rows):
        _work(live, annotator)
    client = _as(api_client, annotator)
    with django_assert_num_queries(2):
        response = client.get(ASSIGNMENTS, {"project": live.pk})
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [1, 6])
def test_flag_list_query_count_is_flat(api_client, django_assert_num_queries, live, lead, annotator, rows):
    _items(live, 1)
    assignment = services.assignment_next(project=live, annotator=annotator)
    for index in range(rows):
        flag = services.flag_raise(assignment=assignment, actor=annotator, question=f"Question {index}?")
        if index % 2:
            services.flag_answer(flag=flag, actor=lead, answer="Answer")
    client = _as(api_client, lead)
    with django_assert_num_queries(2):
        response = client.get(FLAGS)
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [1, 6])
def test_import_list_query_count_is_flat(api_client, django_assert_num_queries, live, lead, rows, tmp_path):
    for index in range(rows):
        services.import_job_create(
            project=live, actor=lead, batch_name=f"b{index}", source_path=str(tmp_path / "x.csv")
        )
    client = _as(api_client, lead)
    with django_assert_num_queries(2):
        response = client.get(IMPORTS)
    assert response.json()["count"] == rows


def test_work_endpoints_query_counts_are_pinned(api_client, django_assert_num_queries, live, annotator):
    """The hot path of every annotator: a regression here costs throughput (bench/throughput.py).

    next: the project with membership, open leases, what is in force and the gold and graphic
    counts (one statement; the labels of a version are kept per process); in a transaction (2 savepoint
    statements here) the pick, the slot and the lease (one statement on PostgreSQL, no transaction). submit: in a transaction, the locked assignment and item with an earlier
    annotation and what is in force (one statement), the annotation, the assignment and the item
    (one statement on PostgreSQL). (A real request may add the token look-up, remembered a few
    seconds per process: tests/annotation/test_hot_path.py.)"""
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    _items(live, 2)
    client = _as(api_client, annotator)
    client.post(NEXT, {"project": live.pk}, format="json")  # warm the per-process label cache
    Assignment.objects.all().delete()
    Item.objects.update(assigned_count=0)
    with django_assert_num_queries(2 if postgres else 6):
        work = client.post(NEXT, {"project": live.pk}, format="json").json()
    with django_assert_num_queries(4 if postgres else 6):
        response = client.post(_submit_url(work["id"]), {"labels": ["safe"]}, format="json")
    assert response.status_code == 200


# --- Schema ------------------------------------------------------------------------------------


def test_schema_documents_the_annotation_api(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    paths = yaml.safe_load(target.read_text())["paths"]
    expected = {
        "/api/v1/assignments/": {"get"},
        "/api/v1/assignments/{id}/": {"get"},
        "/api/v1/assignments/next/": {"post"},
        "/api/v1/assignments/{id}/submit/": {"post"},
        "/api/v1/assignments/{id}/skip/": {"post"},
        "/api/v1/assignments/{id}/flag/": {"post"},
        "/api/v1/annotations/": {"get"},
        "/api/v1/annotations/{id}/": {"get"},
        "/api/v1/flags/": {"get"},
        "/api/v1/flags/{id}/": {"get"},
        "/api/v1/flags/{id}/answer/": {"post"},
        "/api/v1/imports/": {"get", "post"},
        "/api/v1/imports/{id}/": {"get"},
        "/api/v1/imports/{id}/report/": {"get"},
    }
    for path, verbs in expected.items():
        assert set(paths[path]) == verbs, path
        assert all(paths[path][verb]["tags"] == ["annotation"] for verb in verbs)
    # 200, 204 and 404 are its own; core.schema adds the error answers every operation may give.
    assert {"200", "204", "404"} <= set(paths["/api/v1/assignments/next/"]["post"]["responses"])
    assert "multipart/form-data" in paths["/api/v1/imports/"]["post"]["requestBody"]["content"]
    assert "text/csv" in paths["/api/v1/imports/{id}/report/"]["get"]["responses"]["200"]["content"]
    parameters = {p["name"] for p in paths["/api/v1/annotations/"]["get"]["parameters"]}
    assert {"project", "annotator", "label", "batch", "submitted_after", "submitted_before", "page"} <= parameters
