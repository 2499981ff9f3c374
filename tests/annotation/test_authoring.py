"""Authoring services: schema drafts and versions, guideline drafts, the revision check, the
"none of these" answer, and guideline acknowledgements enforced by `next`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import services
from annotation.models import Annotation, GuidelineAcknowledgement, Label, LabelSchema, LabelSchemaVersion
from annotation.selectors import guideline_current, schema_version_current
from annotation.selectors_authoring import guideline_acknowledgement_rows, guideline_changes, schema_draft_state
from annotation.services import authoring
from core.errors import AcknowledgementNeeded, NotAllowed, QuorumError, StaleEdit
from projects.models import Membership
from tests.annotation.factories import BatchFactory, ItemFactory, schema_with_labels

LABELS = [
    {"key": "violation", "name": "Violation", "shortcut": "v"},
    {"key": "hate", "name": "Hate", "parent": "violation", "severity": 3, "shortcut": "h", "examples": ["an example"]},
    {"key": "ok", "name": "Fine", "shortcut": "o"},
]


def _draft(lead, **kwargs):
    return authoring.schema_draft_create(name=kwargs.pop("name", "Draft schema"), labels=LABELS, actor=lead, **kwargs)


def test_schema_draft_create_has_no_version_until_published(lead):
    draft = _draft(lead)
    assert schema_version_current(schema_id=draft.schema_id) is None
    version = authoring.schema_draft_publish(schema=draft.schema, actor=lead, revision=draft.revision)
    assert version.number == 1
    labels = {label.key: label for label in version.labels.all()}
    assert labels["hate"].parent.key == "violation"
    assert labels["hate"].examples == ["an example"]
    assert labels["hate"].shortcut == "h"
    assert schema_draft_state(schema=draft.schema).is_open is False


@pytest.mark.parametrize(
    ("labels", "field", "words"),
    [
        ([{"key": "a"}, {"key": "a"}], "labels[1].key", "used twice"),
        ([{"key": "a", "shortcut": "z"}, {"key": "b", "shortcut": "z"}], "labels[1].shortcut", "already the shortcut"),
        ([{"key": "a", "parent": "b"}, {"key": "b", "parent": "a"}], "labels[0].parent", "loops back"),
        ([{"key": "a", "parent": "nope"}], "labels[0].parent", "not a key"),
        ([{"key": "a", "examples": "not a list"}], "labels[0].examples", "list of example texts"),
        ([{"key": "Bad Key"}], "labels[0].key", "not a valid label key"),
    ],
)
def test_schema_draft_refusals_name_the_row_and_field(lead, labels, field, words):
    with pytest.raises(QuorumError) as caught:
        authoring.schema_draft_create(name="Bad", labels=labels, actor=lead)
    assert caught.value.field == field
    assert words in caught.value.message
    assert not LabelSchema.objects.filter(name="Bad").exists()


def test_none_option_needs_multi_choice(lead):
    with pytest.raises(QuorumError) as caught:
        _draft(lead, none_option=True)
    assert caught.value.field == "none_option"


def test_schema_draft_save_refuses_a_stale_revision_with_what_changed(lead, other_lead):
    draft = _draft(lead)
    first = authoring.schema_draft_save(
        schema=draft.schema, labels=[*LABELS, {"key": "spam"}], actor=lead, revision=draft.revision
    )
    assert first.revision == draft.revision + 1
    with pytest.raises(StaleEdit) as caught:
        authoring.schema_draft_save(schema=draft.schema, labels=LABELS, actor=other_lead, revision=draft.revision)
    assert "label 'spam' added" in caught.value.message
    assert caught.value.current["revision"] == first.revision
    assert caught.value.current["updated_by"] == "lead"
    stored = schema_draft_state(schema=draft.schema)
    assert [label["key"] for label in stored.labels] == ["violation", "hate", "ok", "spam"]


def test_a_version_with_annotations_is_never_changed(live, lead, annotator):
    version = schema_version_current(schema_id=live.label_schema_id)
    item = ItemFactory(batch=BatchFactory(project=live))
    assignment = services.assignment_create(item=item, annotator=annotator)
    services.annotation_submit(assignment=assignment, labels=["hate"], actor=annotator)
    labels_before = list(version.labels.values_list("key", "name"))
    state = schema_draft_state(schema=live.label_schema)
    edited = [dict(label, name=label["name"] + " (edited)") for label in state.labels]
    authoring.schema_draft_save(schema=live.label_schema, labels=edited, actor=lead, revision=state.revision)
    # The draft changed; the version in force and its labels did not.
    assert schema_version_current(schema_id=live.label_schema_id).pk == version.pk
    assert list(version.labels.values_list("key", "name")) == labels_before
    new = authoring.schema_draft_publish(
        schema=live.label_schema, actor=lead, revision=schema_draft_state(schema=live.label_schema).revision
    )
    assert new.number == version.number + 1
    assert schema_version_current(schema_id=live.label_schema_id).pk == new.pk
    assert list(version.labels.values_list("key", "name")) == labels_before
    assert Annotation.objects.get().schema_version_id == version.pk


def test_publish_needs_to_lead_every_project_on_the_schema(project, other_lead):
    state = schema_draft_state(schema=project.label_schema)
    draft = authoring.schema_draft_save(
        schema=project.label_schema, labels=state.labels, actor=other_lead, revision=state.revision
    )
    with pytest.raises(NotAllowed):
        authoring.schema_draft_publish(schema=project.label_schema, actor=other_lead, revision=draft.revision)
    assert LabelSchemaVersion.objects.filter(schema=project.label_schema).count() == 1


def test_publish_refuses_multi_to_single_once_annotated(lead, live, annotator):
    schema = schema_with_labels(name="Multi", selection="multi", actor=lead)
    live.label_schema = schema
    live.save()
    item = ItemFactory(batch=BatchFactory(project=live))
    services.annotation_submit(
        assignment=services.assignment_create(item=item, annotator=annotator), labels=["hate", "spam"], actor=annotator
    )
    state = schema_draft_state(schema=schema)
    draft = authoring.schema_draft_save(
        schema=schema, labels=state.labels, selection="single", actor=lead, revision=state.revision
    )
    with pytest.raises(QuorumError) as caught:
        authoring.schema_draft_publish(schema=schema, actor=lead, revision=draft.revision)
    assert caught.value.field == "selection"


def test_none_of_these_is_an_empty_answer_only_when_offered(lead, live, annotator):
    schema = schema_with_labels(name="Multi none", selection="multi", actor=lead)
    live.label_schema = schema
    live.save()
    first, second = ItemFactory.create_batch(2, batch=BatchFactory(project=live))
    with pytest.raises(QuorumError, match="choose at least one label"):
        services.annotation_submit(
            assignment=services.assignment_create(item=first, annotator=annotator), labels=[], actor=annotator
        )
    state = schema_draft_state(schema=schema)
    draft = authoring.schema_draft_save(
        schema=schema, labels=state.labels, none_option=True, actor=lead, revision=state.revision
    )
    authoring.schema_draft_publish(schema=schema, actor=lead, revision=draft.revision)
    assignment = services.assignment_create(item=second, annotator=annotator)
    annotation = services.annotation_submit(assignment=assignment, labels=[], actor=annotator)
    assert Annotation.objects.get(pk=annotation.pk).labels == []


def test_project_schema_use_refuses_once_annotated_under_another(live, lead, annotator):
    item = ItemFactory(batch=BatchFactory(project=live))
    services.annotation_submit(
        assignment=services.assignment_create(item=item, annotator=annotator), labels=["hate"], actor=annotator
    )
    draft = _draft(lead)
    with pytest.raises(QuorumError) as caught:
        authoring.project_schema_use(project=live, schema=draft.schema, actor=lead)
    assert caught.value.field == "label_schema"


def test_guideline_draft_save_and_publish_with_revision_check(project, lead, other_lead):
    Membership.objects.create(project=project, user=other_lead, role=Membership.Role.LEAD)
    draft = authoring.guideline_draft_save(
        project=project, body="# v2\n\nNew rule.", note="Adds a rule", actor=lead, revision=0
    )
    with pytest.raises(StaleEdit) as caught:
        authoring.guideline_draft_save(project=project, body="# other", actor=other_lead, revision=0)
    assert caught.value.current["revision"] == draft.revision
    guideline = authoring.guideline_draft_publish(project=project, actor=lead, revision=draft.revision)
    assert (guideline.version, guideline.note) == (2, "Adds a rule")
    # Publishing moved the revision on: a save from the page read before it is stale.
    with pytest.raises(StaleEdit):
        authoring.guideline_draft_save(project=project, body="late", actor=other_lead, revision=draft.revision)


def test_guideline_publish_needs_a_changelog_line(project, lead):
    draft = authoring.guideline_draft_save(project=project, body="# v2", actor=lead, revision=0)
    with pytest.raises(QuorumError) as caught:
        authoring.guideline_draft_publish(project=project, actor=lead, revision=draft.revision)
    assert caught.value.field == "note"
    assert guideline_current(project=project).version == 1


def test_guideline_draft_refuses_annotators(project, annotator):
    with pytest.raises(NotAllowed):
        authoring.guideline_draft_save(project=project, body="x", actor=annotator, revision=0)


def test_new_guideline_version_blocks_next_until_acknowledged(live, lead, annotator):
    ItemFactory.create_batch(3, batch=BatchFactory(project=live))
    first = services.assignment_next(project=live, annotator=annotator)
    services.annotation_submit(assignment=first, labels=["safe"], actor=annotator)
    draft = authoring.guideline_draft_save(
        project=live,
        body="# Guideline\n\nLabel hate when a group is attacked.\n\nNew: slurs are hate.",
        note="Slurs",
        actor=lead,
        revision=0,
    )
    guideline = authoring.guideline_draft_publish(project=live, actor=lead, revision=draft.revision)
    with pytest.raises(AcknowledgementNeeded) as caught:
        services.assignment_next(project=live, annotator=annotator)
    assert caught.value.guideline_id == guideline.pk
    rows = guideline_acknowledgement_rows(guideline=guideline)
    assert [(row.username, row.acknowledged_at) for row in rows] == [("annotator", None)]
    changes = guideline_changes(project=live, annotator=annotator)
    assert [v.version for v in changes.versions] == [2]
    assert ("added", "New: slurs are hate.") in [(line.kind, line.text) for line in changes.diff]
    authoring.guideline_acknowledge(guideline=guideline, actor=annotator)
    assert services.assignment_next(project=live, annotator=annotator) is not None
    assert guideline_acknowledgement_rows(guideline=guideline)[0].acknowledged_at is not None
    assert guideline_changes(project=live, annotator=annotator) is None


def test_annotators_who_never_worked_need_no_acknowledgement(live, lead, annotator):
    ItemFactory(batch=BatchFactory(project=live))
    services.guideline_publish(project=live, body="# v2", actor=lead, note="Second")
    assert not GuidelineAcknowledgement.objects.exists()
    assert services.assignment_next(project=live, annotator=annotator) is not None


def test_acknowledging_an_old_version_is_refused(live, lead, annotator):
    ItemFactory(batch=BatchFactory(project=live))
    services.assignment_next(project=live, annotator=annotator)
    second = services.guideline_publish(project=live, body="# v2", actor=lead, note="Second")
    services.guideline_publish(project=live, body="# v3", actor=lead, note="Third")
    with pytest.raises(QuorumError, match="no longer in force"):
        authoring.guideline_acknowledge(guideline=second, actor=annotator)
    # Acknowledging the one in force closes the pending acknowledgement of v2 as well.
    authoring.guideline_acknowledge(guideline=guideline_current(project=live), actor=annotator)
    assert not GuidelineAcknowledgement.objects.filter(acknowledged_at__isnull=True).exists()


def test_request_accept_prefills_a_draft_schema(lead, requester):
    from workbench.services.datarequests import datarequest_accept, datarequest_create

    data_request = datarequest_create(
        requester=requester,
        title="Spam in comments",
        volume_total=100,
        deadline=timezone.localdate() + timedelta(days=30),
        proposed_labels=[{"key": "spam", "name": "Spam", "definition": "Unwanted ads"}, {"key": "ham", "name": "Ham"}],
    )
    project = datarequest_accept(data_request=data_request, actor=lead)
    state = schema_draft_state(schema=project.label_schema)
    assert state.is_open and state.current_number is None
    assert [(label["key"], label["description"]) for label in state.labels] == [("spam", "Unwanted ads"), ("ham", "")]
    assert not Label.objects.filter(version__schema=project.label_schema).exists()


def test_quality_engine_takes_none_of_these_answers(lead, live):
    from quality.models import Consensus
    from quality.services.consensus import consensus_compute
    from quality.services.reports import agreement_report_compute, project_alpha_compute
    from tests.accounts.factories import UserFactory

    draft = authoring.schema_draft_create(
        name="Multi none q", labels=[{"key": "a"}, {"key": "b"}], selection="multi", none_option=True, actor=lead
    )
    authoring.schema_draft_publish(schema=draft.schema, actor=lead, revision=draft.revision)
    live.label_schema = draft.schema
    live.save()
    people = [UserFactory(username=f"q{n}", role="annotator") for n in range(3)]
    for person in people:
        Membership.objects.create(project=live, user=person, role=Membership.Role.ANNOTATOR)
    answers = [[[], [], ["a"]], [["a", "b"], ["a"], ["a"]], [[], [], []]]
    for item_answers in answers:
        item = ItemFactory(batch=BatchFactory(project=live), required_annotations=3)
        for person, labels in zip(people, item_answers, strict=True):
            services.annotation_submit(
                assignment=services.assignment_create(item=item, annotator=person), labels=labels, actor=person
            )
    report = agreement_report_compute(project_id=live.pk, bootstrap=0)
    assert report.n_annotations == 9
    assert project_alpha_compute(project_id=live.pk).alpha.value == pytest.approx(report.alpha)
    consensus_compute(project_id=live.pk, method="majority")
    labels = sorted(tuple(row.labels) for row in Consensus.objects.filter(project=live))
    assert labels == [(), (), ("a",)]
