from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import User
from annotation import services
from annotation.models import Annotation, Assignment, Item, LabelSchema
from annotation.selectors import guideline_current, schema_version_current
from core.errors import NotAllowed, QuorumError
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import POLICY_LABELS, BatchFactory, ItemFactory, schema_with_labels

pytestmark = pytest.mark.django_db


# --- Schemas ----------------------------------------------------------------------------------


def test_schema_create_makes_version_one_with_hierarchy(lead):
    labels = [
        *POLICY_LABELS,
        {"key": "graphic-violence", "name": "Graphic violence", "parent": "violence", "severity": 4},
    ]
    schema = services.schema_create(name="Policy v1", labels=labels, actor=lead)
    version = schema_version_current(schema_id=schema.pk)
    assert version.number == 1
    child = version.labels.get(key="graphic-violence")
    assert child.parent.key == "violence" and child.parent.version_id == version.pk
    assert list(version.labels.values_list("key", flat=True))[:2] == ["safe", "spam"]


def test_schema_version_create_increments_and_keeps_old_versions(lead):
    schema = schema_with_labels(actor=lead)
    version2 = services.schema_version_create(
        schema=schema, labels=[*POLICY_LABELS, {"key": "adult", "name": "Adult"}], actor=lead, note="add adult"
    )
    assert version2.number == 2
    assert schema.versions.count() == 2
    assert schema.versions.get(number=1).labels.count() == len(POLICY_LABELS)
    assert schema_version_current(schema_id=schema.pk) == version2


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "labels: give a non-empty list"),
        ([{"key": "Hate"}], "labels[0].key: 'Hate' is not a valid label key"),
        ([{"key": "hate"}, {"key": "hate"}], "labels[1].key: 'hate' is used twice"),
        ([{"key": "a", "parent": "b"}], "labels[0].parent: 'b' is not a key in this schema"),
        ([{"key": "a", "parent": "b"}, {"key": "b", "parent": "a"}], "the hierarchy loops back"),
        ([{"key": "a", "shortcut": "s"}], "labels[0].shortcut: 's' is reserved"),
        (
            [{"key": "a", "shortcut": "1"}, {"key": "b", "shortcut": "1"}],
            "labels[1].shortcut: '1' is already the shortcut of 'a'",
        ),
        ([{"key": "a", "severity": 7}], "labels[0].severity: 7 is not a whole number from 0 to 4"),
        ([{"key": "a", "colour": "red"}], "labels[0]: unknown field(s) colour"),
    ],
)
def test_schema_create_rejects_bad_labels_saying_where(lead, labels, message):
    with pytest.raises(QuorumError) as excinfo:
        services.schema_create(name="Bad", labels=labels, actor=lead)
    assert message in str(excinfo.value)
    assert not LabelSchema.objects.filter(name="Bad").exists()


def test_schema_create_only_by_leads(annotator):
    with pytest.raises(NotAllowed):
        services.schema_create(name="x", labels=POLICY_LABELS, actor=annotator)


def test_guideline_publish_versions(project, lead, annotator):
    second = services.guideline_publish(project=project, body="# v2\nMore examples.", actor=lead)
    assert second.version == 2 and guideline_current(project=project) == second
    with pytest.raises(QuorumError, match="body: the guideline is empty"):
        services.guideline_publish(project=project, body="   ", actor=lead)
    with pytest.raises(NotAllowed):
        services.guideline_publish(project=project, body="x", actor=annotator)


# --- Items ------------------------------------------------------------------------------------


def _add(project, lead, rows, name="batch"):
    batch = services.batch_create(project=project, name=name, actor=lead)
    return services.items_add(batch=batch, rows=rows, actor=lead)


def test_items_add_stores_every_modality(project, lead):
    rows = [
        {"external_id": "t1", "text": "<script>alert(1)</script>", "language": "en", "priority": 5},
        {"external_id": "i1", "image_url": "https://cdn.example.org/a.jpg", "is_graphic": "true"},
        {"external_id": "v1", "video_url": "https://cdn.example.org/a.mp4"},
        {"external_id": "a1", "audio_url": "http://cdn.example.org/a.mp3"},
        {"external_id": "o1", "ocr_text": "BUY NOW", "image_url": "https://cdn.example.org/o.png", "modality": "ocr"},
        {
            "external_id": "m1",
            "text": "caption",
            "image_url": "https://cdn.example.org/m.jpg",
            "metadata": '{"source": "feed"}',
        },
        {"external_id": "g1", "text": "gold one", "gold_label": "hate", "required_annotations": 5},
    ]
    items = {item.external_id: item for item in _add(project, lead, rows)}
    assert {i.modality for i in items.values()} == {"text", "image", "video", "audio", "ocr", "multimodal"}
    assert items["t1"].text == "<script>alert(1)</script>"  # stored as given; escaped on output
    assert items["i1"].is_graphic is True and items["t1"].priority == 5
    assert items["m1"].metadata == {"source": "feed"}
    assert items["g1"].gold_labels == ["hate"] and items["g1"].required_annotations == 5
    assert items["t1"].required_annotations == project.default_overlap
    assert len(items["t1"].content_hash) == 64


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ({"external_id": "x", "text": ""}, "row 2, column text: missing: the item has no content"),
        ({"external_id": "", "text": "hi"}, "row 2, column external_id: missing"),
        (
            {"external_id": "x", "modality": "image", "text": "hi"},
            "row 2, column image_url: missing: an item of modality image needs image_url",
        ),
        (
            {"external_id": "x", "image_url": "javascript:alert(1)"},
            "row 2, column image_url: 'javascript:alert(1)' is not an http(s) URL",
        ),
        ({"external_id": "x", "image_url": "ftp://host/a.png"}, "row 2, column image_url"),
        ({"external_id": "x", "image_url": "//host/a.png"}, "is not an http(s) URL"),
        (
            {"external_id": "x", "text": "hi", "gold_label": "terrorism"},
            "row 2, column gold_label: 'terrorism' is an unknown gold label",
        ),
        ({"external_id": "x", "text": "hi", "gold_label": "hate|spam"}, "single-choice"),
        ({"external_id": "ok-1", "text": "dup"}, "row 2, column external_id: 'ok-1' repeats row 1"),
        (
            {"external_id": "x", "text": "hi", "priority": "high"},
            "row 2, column priority: 'high' is not a whole number",
        ),
        ({"external_id": "x", "text": "hi", "required_annotations": 9}, "above the project's maximum overlap (5)"),
        ({"external_id": "x", "text": "hi", "metadata": "{oops"}, "row 2, column metadata: is not valid JSON"),
        ({"external_id": "x", "text": "hi", "language": "English"}, "row 2, column language"),
        ({"external_id": "x", "text": "a\x00b"}, "row 2, column text: contains a NUL character"),
        (
            {"external_id": "x", "text": "hi", "modality": "hologram"},
            "row 2, column modality: 'hologram' is not one of",
        ),
    ],
)
def test_items_add_is_all_or_nothing_and_names_row_and_column(project, lead, bad_row, message):
    with pytest.raises(QuorumError) as excinfo:
        _add(project, lead, [{"external_id": "ok-1", "text": "fine"}, bad_row])
    assert message in str(excinfo.value)
    assert excinfo.value.row == 2
    assert Item.objects.filter(project=project).count() == 0


def test_items_add_refuses_external_ids_already_in_project(project, lead):
    _add(project, lead, [{"external_id": "p-1", "text": "first"}], name="first")
    with pytest.raises(QuorumError, match="row 2, column external_id: 'p-1' is already an item of this project"):
        _add(
            project, lead, [{"external_id": "p-2", "text": "x"}, {"external_id": "p-1", "text": "again"}], name="second"
        )
    assert sorted(Item.objects.values_list("external_id", flat=True)) == ["p-1"]


def test_items_add_only_by_project_lead(project, lead, other_lead):
    batch = BatchFactory(project=project)
    with pytest.raises(NotAllowed):
        services.items_add(batch=batch, rows=[{"external_id": "x", "text": "y"}], actor=other_lead)


# --- Assignments and annotations --------------------------------------------------------------


def _annotators(project, count):
    people = []
    for index in range(count):
        person = UserFactory(username=f"ann{index}", role=User.Role.ANNOTATOR)
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
        people.append(person)
    return people


def test_assignment_create_respects_overlap_and_uniqueness(project):
    item = ItemFactory(batch=BatchFactory(project=project), required_annotations=2)
    first, second, third = _annotators(project, 3)
    services.assignment_create(item=item, annotator=first)
    with pytest.raises(QuorumError, match="ann0 already worked on it"):
        services.assignment_create(item=item, annotator=first)
    services.assignment_create(item=item, annotator=second)
    with pytest.raises(QuorumError, match="all 2 slots are taken"):
        services.assignment_create(item=item, annotator=third)
    assert Assignment.objects.filter(item=item).count() == 2


def test_expired_lease_frees_its_slot(project):
    item = ItemFactory(batch=BatchFactory(project=project), required_annotations=1)
    first, second = _annotators(project, 2)
    now = timezone.now()
    services.assignment_create(item=item, annotator=first, now=now)
    with pytest.raises(QuorumError, match="slots are taken"):
        services.assignment_create(item=item, annotator=second, now=now)
    later = now + dt.timedelta(minutes=project.lease_minutes + 1)
    assert services.assignment_create(item=item, annotator=second, now=later).annotator == second


def test_assignment_create_refuses_non_members(project):
    item = ItemFactory(batch=BatchFactory(project=project))
    outsider = UserFactory(username="outsider")
    with pytest.raises(NotAllowed, match="not an annotator of project"):
        services.assignment_create(item=item, annotator=outsider)


def test_annotation_submit_records_versions_and_is_idempotent(project, annotator):
    item = ItemFactory(batch=BatchFactory(project=project))
    assignment = services.assignment_create(item=item, annotator=annotator)
    annotation = services.annotation_submit(assignment=assignment, labels="hate", actor=annotator, time_spent_ms=4200)
    again = services.annotation_submit(assignment=assignment, labels=["spam"], actor=annotator, time_spent_ms=10)
    assert again.pk == annotation.pk and again.labels == ["hate"]
    assert annotation.schema_version == schema_version_current(schema_id=project.label_schema_id)
    assert annotation.guideline == guideline_current(project=project)
    assert annotation.time_spent_ms == 4200
    item.refresh_from_db()
    assert item.annotations_done == 1
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SUBMITTED and assignment.finished_at is not None
    assert Annotation.objects.count() == 1


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["terrorism"], "'terrorism' is not a label of this schema"),
        (["hate", "spam"], "single-choice"),
        ([], "choose at least one label"),
    ],
)
def test_annotation_submit_validates_labels(project, annotator, labels, message):
    assignment = services.assignment_create(item=ItemFactory(batch=BatchFactory(project=project)), annotator=annotator)
    with pytest.raises(QuorumError, match=message):
        services.annotation_submit(assignment=assignment, labels=labels, actor=annotator)
    assert Annotation.objects.count() == 0


def test_annotation_submit_by_someone_else_is_refused(project, annotator, reviewer):
    assignment = services.assignment_create(item=ItemFactory(batch=BatchFactory(project=project)), annotator=annotator)
    with pytest.raises(NotAllowed):
        services.annotation_submit(assignment=assignment, labels=["safe"], actor=reviewer)


def test_annotation_submit_multi_choice(lead, annotator):
    from tests.projects.factories import ProjectFactory

    schema = schema_with_labels(name="Multi", selection="multi", actor=lead)
    project = ProjectFactory(lead=lead, label_schema=schema)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    assignment = services.assignment_create(item=ItemFactory(batch=BatchFactory(project=project)), annotator=annotator)
    annotation = services.annotation_submit(assignment=assignment, labels=["hate", "violence"], actor=annotator)
    assert annotation.labels == ["hate", "violence"] and annotation.guideline is None


def test_task_page_keys_are_reserved_for_the_page(lead):
    for key in ("r", "?"):
        with pytest.raises(
            QuorumError, match=f"labels\\[0\\].shortcut: '\\{key}' is reserved" if key == "?" else "is reserved"
        ):
            services.schema_create(name=f"Reserved {key}", labels=[{"key": "a", "shortcut": key}], actor=lead)
