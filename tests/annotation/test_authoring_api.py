"""Authoring API through the real routes: schemas and drafts, guideline drafts and versions,
acknowledgements; 404 for what you may not see, 403 for what your role may not do, 409 on a
stale edit."""

from __future__ import annotations

import pytest

from annotation import services
from annotation.models import LabelSchemaVersion
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import ProjectFactory

LABELS = [
    {"key": "violation", "name": "Violation", "shortcut": "v"},
    {"key": "hate", "name": "Hate", "parent": "violation", "severity": 3, "shortcut": "h", "examples": ["x"]},
]


def _as(api_client, user):
    api_client.force_authenticate(user)
    return api_client


@pytest.fixture
def blank_project(lead):
    return ProjectFactory(name="Blank", lead=lead, label_schema=None, phase="design")


def test_schema_create_draft_publish_and_use(api_client, lead, blank_project):
    client = _as(api_client, lead)
    created = client.post(
        "/api/v1/schemas/",
        {"name": "Hate tree", "selection": "multi", "none_option": True, "labels": LABELS, "project": blank_project.pk},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["revision"] == 1 and body["is_open"] and body["current_number"] is None
    schema_id = body["schema"]
    blank_project.refresh_from_db()
    assert blank_project.label_schema_id == schema_id
    saved = client.put(
        f"/api/v1/schemas/{schema_id}/draft/",
        {"labels": [*LABELS, {"key": "ok"}], "revision": 1, "note": "adds ok"},
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    assert saved.json()["revision"] == 2
    published = client.post(f"/api/v1/schemas/{schema_id}/publish/", {"revision": 2}, format="json")
    assert published.status_code == 201, published.json()
    assert published.json()["number"] == 1
    listed = client.get("/api/v1/schemas/").json()
    assert [row["current_version"] for row in listed["results"] if row["id"] == schema_id] == [1]


def test_schema_draft_stale_save_is_409_with_what_changed(api_client, lead, other_lead, project):
    schema_id = project.label_schema_id
    read = _as(api_client, lead).get(f"/api/v1/schemas/{schema_id}/draft/").json()
    first = api_client.put(
        f"/api/v1/schemas/{schema_id}/draft/",
        {"labels": [*read["labels"], {"key": "spam2"}], "revision": read["revision"]},
        format="json",
    )
    assert first.status_code == 200
    second = _as(api_client, other_lead).put(
        f"/api/v1/schemas/{schema_id}/draft/", {"labels": read["labels"], "revision": read["revision"]}, format="json"
    )
    assert second.status_code == 409
    body = second.json()
    assert body["code"] == "conflict" and body["field"] == "revision"
    assert body["current"]["revision"] == first.json()["revision"]
    assert "label 'spam2' added" in body["current"]["changes"]


def test_schema_draft_error_names_row_and_field(api_client, lead, project):
    read = _as(api_client, lead).get(f"/api/v1/schemas/{project.label_schema_id}/draft/").json()
    labels = [*read["labels"], {"key": "dup", "shortcut": read["labels"][0]["shortcut"]}]
    answer = api_client.put(
        f"/api/v1/schemas/{project.label_schema_id}/draft/",
        {"labels": labels, "revision": read["revision"]},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["field"] == f"labels[{len(labels) - 1}].shortcut"


def test_schema_roles_403_and_404(api_client, annotator, requester, project):
    schema_id = project.label_schema_id
    # An annotator of the project sees its schema but may not change it.
    client = _as(api_client, annotator)
    assert client.get(f"/api/v1/schemas/{schema_id}/draft/").status_code == 200
    denied = client.put(f"/api/v1/schemas/{schema_id}/draft/", {"labels": LABELS, "revision": 0}, format="json")
    assert denied.status_code == 403
    assert client.post("/api/v1/schemas/", {"name": "x", "labels": LABELS}, format="json").status_code == 403
    assert client.post(f"/api/v1/schemas/{schema_id}/publish/", {"revision": 0}, format="json").status_code == 403
    # A requester with no project on the schema does not see it at all.
    outsider = _as(api_client, requester)
    assert outsider.get(f"/api/v1/schemas/{schema_id}/").status_code == 404
    assert outsider.get(f"/api/v1/schemas/{schema_id}/draft/").status_code == 404


def test_schema_publish_stale_is_409(api_client, lead, project):
    schema_id = project.label_schema_id
    read = _as(api_client, lead).get(f"/api/v1/schemas/{schema_id}/draft/").json()
    saved = api_client.put(
        f"/api/v1/schemas/{schema_id}/draft/", {"labels": read["labels"], "revision": read["revision"]}, format="json"
    ).json()
    assert api_client.post(f"/api/v1/schemas/{schema_id}/publish/", {"revision": 0}, format="json").status_code == 409
    assert LabelSchemaVersion.objects.filter(schema_id=schema_id).count() == 1
    ok = api_client.post(f"/api/v1/schemas/{schema_id}/publish/", {"revision": saved["revision"]}, format="json")
    assert ok.status_code == 201 and ok.json()["number"] == 2


def test_schema_use_refuses_other_leads_project(api_client, other_lead, project, blank_project):
    client = _as(api_client, other_lead)
    created = client.post("/api/v1/schemas/", {"name": "Other", "labels": LABELS}, format="json").json()
    answer = client.post(f"/api/v1/schemas/{created['schema']}/use/", {"project": blank_project.pk}, format="json")
    assert answer.status_code == 400  # a project the other lead may not see is named as not theirs
    assert answer.json()["field"] == "project"


def test_guideline_draft_save_preview_publish(api_client, lead, project):
    client = _as(api_client, lead)
    read = client.get(f"/api/v1/guideline-drafts/{project.pk}/").json()
    assert read["revision"] == 0 and read["current_version"] == 1 and not read["is_open"]
    saved = client.put(
        f"/api/v1/guideline-drafts/{project.pk}/",
        {"body": "# V2\n\n<script>alert(1)</script>**bold**", "note": "Bold rule", "revision": 0},
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    preview = client.post(
        f"/api/v1/guideline-drafts/{project.pk}/preview/", {"body": "<script>x</script>**b**"}, format="json"
    )
    assert preview.status_code == 200
    assert "<script>" not in preview.json()["html"] and "<strong>b</strong>" in preview.json()["html"]
    stale = client.put(
        f"/api/v1/guideline-drafts/{project.pk}/", {"body": "other", "note": "", "revision": 0}, format="json"
    )
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    published = client.post(
        f"/api/v1/guideline-drafts/{project.pk}/publish/", {"revision": saved.json()["revision"]}, format="json"
    )
    assert published.status_code == 201, published.json()
    assert published.json()["version"] == 2 and published.json()["note"] == "Bold rule"


def test_guideline_draft_roles(api_client, annotator, requester, project):
    assert _as(api_client, annotator).get(f"/api/v1/guideline-drafts/{project.pk}/").status_code == 403
    put = api_client.put(f"/api/v1/guideline-drafts/{project.pk}/", {"body": "x", "revision": 0}, format="json")
    assert put.status_code == 403
    stranger = UserFactory(username="stranger", role="annotator")
    assert _as(api_client, stranger).get(f"/api/v1/guideline-drafts/{project.pk}/").status_code == 404
    assert _as(api_client, requester).get(f"/api/v1/guidelines/?project={project.pk}").json()["count"] == 0


def test_acknowledgement_flow_over_the_api(api_client, lead, annotator, project):
    project.phase = "production"
    project.gold_rate = 0
    project.save()
    ItemFactory.create_batch(2, batch=BatchFactory(project=project))
    client = _as(api_client, annotator)
    work = client.post("/api/v1/assignments/next/", {"project": project.pk}, format="json").json()
    assert (
        client.post(f"/api/v1/assignments/{work['id']}/submit/", {"labels": ["safe"]}, format="json").status_code == 200
    )
    guideline = services.guideline_publish(project=project, body="# v2\n\nChanged.", actor=lead, note="Changed")
    refused = client.post("/api/v1/assignments/next/", {"project": project.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "guideline_unacknowledged"
    assert refused.json()["guideline"] == guideline.pk
    # Leads see who has not acknowledged; annotators may not.
    assert client.get(f"/api/v1/guidelines/{guideline.pk}/acknowledgements/").status_code == 403
    pending = _as(api_client, lead).get(f"/api/v1/guidelines/{guideline.pk}/acknowledgements/").json()
    assert [(row["username"], row["acknowledged_at"]) for row in pending] == [("annotator", None)]
    assert api_client.post(f"/api/v1/guidelines/{guideline.pk}/acknowledge/").status_code == 403  # the lead
    client = _as(api_client, annotator)
    acknowledged = client.post(f"/api/v1/guidelines/{guideline.pk}/acknowledge/")
    assert acknowledged.status_code == 200 and acknowledged.json()["acknowledged_at"]
    assert client.post("/api/v1/assignments/next/", {"project": project.pk}, format="json").status_code == 200


def test_guideline_list_is_scoped(api_client, annotator, project):
    other = ProjectFactory(name="Elsewhere")
    services.guideline_publish(project=other, body="# secret", actor=other.lead)
    listed = _as(api_client, annotator).get("/api/v1/guidelines/").json()
    assert {row["project"] for row in listed["results"]} == {project.pk}
    hidden = other.guidelines.get()
    assert api_client.get(f"/api/v1/guidelines/{hidden.pk}/").status_code == 404
    Membership.objects.filter(project=project).delete()
    assert api_client.get("/api/v1/guidelines/").json()["count"] == 0


def test_schema_list_query_count_does_not_grow_with_schemas(api_client, lead, django_assert_num_queries):
    client = _as(api_client, lead)
    for number in range(3):
        client.post("/api/v1/schemas/", {"name": f"Schema {number}", "labels": LABELS}, format="json")
    client.get("/api/v1/schemas/")  # warm: the session, the user's caches
    with django_assert_num_queries(2):  # the count and the page
        listed = client.get("/api/v1/schemas/")
    assert listed.json()["count"] == 3
