"""The lead's authoring pages with Django's client: the schema editor (rows, errors on the row and
field, preview as the task page shows it, use this version, conflicts that keep the input), the
guideline editor (htmx preview, publish, who has not acknowledged) and the annotator's
acknowledgement on the task page."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from annotation import services
from annotation.models import LabelSchemaVersion
from annotation.selectors import guideline_current, schema_version_current
from annotation.selectors_authoring import schema_draft_state
from annotation.services import authoring
from tests.accounts.test_views import assert_csp_clean
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _rows(rows: list[dict], extra: int = 0) -> dict:
    data = {"labels-TOTAL_FORMS": str(len(rows) + extra), "labels-INITIAL_FORMS": "0"}
    for index, row in enumerate(rows):
        for field, value in row.items():
            data[f"labels-{index}-{field}"] = value
    for index in range(len(rows), len(rows) + extra):
        data[f"labels-{index}-severity"] = "0"
    return data


def _post(**settings) -> dict:
    return {"selection": "single", "revision": "0", "note": "", "action": "save", **settings}


ROWS = [
    {"key": "violation", "name": "Violation", "shortcut": "v", "severity": "2"},
    {
        "key": "hate",
        "name": "Hate <b>",
        "parent": "violation",
        "shortcut": "h",
        "severity": "3",
        "examples": "one\ntwo",
    },
]


@pytest.fixture
def blank(lead):
    return ProjectFactory(name="Blank", lead=lead, label_schema=None, phase="design")


def test_schema_page_creates_a_schema_for_the_project(client, lead, blank):
    client.force_login(lead)
    page = client.get(reverse("projects:schema_edit", args=[blank.pk]))
    assert page.status_code == 200 and "New schema" in page.content.decode()
    assert_csp_clean(page.content.decode())
    answer = client.post(
        reverse("projects:schema_edit", args=[blank.pk]), {**_post(name="Tree"), **_rows(ROWS, extra=2)}
    )
    assert answer.status_code == 302
    blank.refresh_from_db()
    state = schema_draft_state(schema=blank.label_schema)
    assert [(r["key"], r["parent"], r["examples"]) for r in state.labels] == [
        ("violation", None, []),
        ("hate", "violation", ["one", "two"]),
    ]
    page = client.get(reverse("projects:schema_edit", args=[blank.pk])).content.decode()
    # The preview is the task page's label fieldset: keys, nesting and escaped names.
    assert 'data-key="h"' in page and "label-option--depth-1" in page
    assert "Hate &lt;b&gt;" in page and "Hate <b>" not in page
    assert "Use this version (v1)" in page


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"key": "a"}, {"key": "a"}], "Label row 2, key: 'a' is used twice"),
        ([{"key": "a", "shortcut": "z"}, {"key": "b", "shortcut": "z"}], "Label row 2, shortcut:"),
        ([{"key": "a", "parent": "b"}, {"key": "b", "parent": "a"}], "Label row 1, parent: the hierarchy loops back"),
        ([{"key": "a", "parent": "zz"}], "Label row 1, parent: 'zz' is not a key in this schema"),
    ],
)
def test_schema_page_errors_name_the_row_and_field_and_keep_input(client, lead, blank, rows, message):
    client.force_login(lead)
    answer = client.post(reverse("projects:schema_edit", args=[blank.pk]), {**_post(name="Tree"), **_rows(rows)})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert message in unescape(html)
    assert 'value="a"' in html  # the typed rows are still there
    blank.refresh_from_db()
    assert blank.label_schema is None


def test_schema_page_row_numbers_count_blank_rows(client, lead, blank):
    client.force_login(lead)
    rows = [{"key": "a"}, {"key": ""}, {"key": "a"}]
    answer = client.post(reverse("projects:schema_edit", args=[blank.pk]), {**_post(name="Tree"), **_rows(rows)})
    assert "Label row 3, key:" in answer.content.decode()


def test_schema_page_conflict_keeps_input_and_says_what_changed(client, lead, other_lead, project):
    state = schema_draft_state(schema=project.label_schema)
    authoring.schema_draft_save(
        schema=project.label_schema,
        labels=[*state.labels, {"key": "theirs"}],
        actor=other_lead,
        revision=state.revision,
    )
    client.force_login(lead)
    rows = [{"key": "mine", "name": "Mine"}]
    answer = client.post(
        reverse("projects:schema_edit", args=[project.pk]), {**_post(revision=str(state.revision)), **_rows(rows)}
    )
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "other-lead saved revision" in unescape(html) and "label 'theirs' added" in unescape(html)
    assert 'value="mine"' in html
    current = schema_draft_state(schema=project.label_schema).revision
    assert f'name="revision" value="{current}"' in html
    # Saving again, knowingly, replaces their draft.
    again = client.post(
        reverse("projects:schema_edit", args=[project.pk]), {**_post(revision=str(current)), **_rows(rows)}
    )
    assert again.status_code == 302
    assert [r["key"] for r in schema_draft_state(schema=project.label_schema).labels] == ["mine"]


def test_schema_page_use_this_version(client, lead, project):
    client.force_login(lead)
    state = schema_draft_state(schema=project.label_schema)
    draft = authoring.schema_draft_save(
        schema=project.label_schema, labels=state.labels[:2], actor=lead, revision=state.revision
    )
    answer = client.post(reverse("projects:schema_publish", args=[project.pk]), {"revision": str(draft.revision)})
    assert answer.status_code == 302
    assert schema_version_current(schema_id=project.label_schema_id).number == 2
    stale = client.post(reverse("projects:schema_publish", args=[project.pk]), {"revision": "0"}, follow=True)
    assert "no open draft" in stale.content.decode()


def test_schema_preview_htmx_shows_errors_and_the_labels(client, lead, blank):
    client.force_login(lead)
    answer = client.post(
        reverse("projects:schema_preview", args=[blank.pk]),
        {**_post(selection="multi", none_option="on"), **_rows(ROWS)},
        HTTP_HX_REQUEST="true",
    )
    html = answer.content.decode()
    assert answer.status_code == 200 and "<html" not in html
    assert "Choose every label that applies" in html and "None of these" in html and 'data-key="0"' in html
    bad = client.post(
        reverse("projects:schema_preview", args=[blank.pk]), {**_post(), **_rows([{"key": "a"}, {"key": "a"}])}
    )
    assert "Label row 2, key:" in bad.content.decode()


def test_authoring_pages_refuse_other_roles(client, annotator, project):
    client.force_login(annotator)
    for name in ("schema_edit", "guideline_edit"):
        assert client.get(reverse(f"projects:{name}", args=[project.pk])).status_code == 403
    other = ProjectFactory(name="Not yours")
    assert client.get(reverse("projects:schema_edit", args=[other.pk])).status_code == 404
    assert client.post(reverse("projects:guideline_publish", args=[other.pk]), {"revision": "0"}).status_code == 404


def test_guideline_page_save_preview_publish_and_acknowledgements(client, lead, annotator, project):
    project.phase, project.gold_rate = "production", 0
    project.save()
    ItemFactory.create_batch(2, batch=BatchFactory(project=project))
    services.annotation_submit(
        assignment=services.assignment_next(project=project, annotator=annotator), labels=["safe"], actor=annotator
    )
    client.force_login(lead)
    page = client.get(reverse("projects:guideline_edit", args=[project.pk]))
    assert page.status_code == 200 and "Draft of v2" in page.content.decode()
    preview = client.post(
        reverse("projects:guideline_preview", args=[project.pk]),
        {"body": "**bold** <script>alert(1)</script>"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<strong>bold</strong>" in preview and "<script>" not in preview
    saved = client.post(
        reverse("projects:guideline_edit", args=[project.pk]),
        {"body": "# Guideline v2\n\nSlurs are hate.", "note": "Slurs", "revision": "0"},
    )
    assert saved.status_code == 302
    published = client.post(reverse("projects:guideline_publish", args=[project.pk]), {"revision": "1"}, follow=True)
    html = published.content.decode()
    assert "Guideline v2 published: Slurs" in html
    assert guideline_current(project=project).version == 2
    assert "not yet" in html and annotator.display_name in html


def test_guideline_page_conflict_keeps_input(client, lead, other_lead, project):
    authoring.guideline_draft_save(project=project, body="theirs", actor=lead, revision=0)
    from projects.models import Membership

    Membership.objects.create(project=project, user=other_lead, role=Membership.Role.LEAD)
    client.force_login(other_lead)
    answer = client.post(
        reverse("projects:guideline_edit", args=[project.pk]), {"body": "my words", "note": "", "revision": "0"}
    )
    assert answer.status_code == 409
    html = answer.content.decode()
    assert "my words" in html and "lead saved revision 1" in unescape(html)


def test_guideline_publish_without_changelog_line_says_so(client, lead, project):
    authoring.guideline_draft_save(project=project, body="# new", actor=lead, revision=0)
    client.force_login(lead)
    answer = client.post(reverse("projects:guideline_publish", args=[project.pk]), {"revision": "1"}, follow=True)
    assert "note: write a changelog line" in answer.content.decode()
    assert not LabelSchemaVersion.objects.filter(schema=project.label_schema, number=2).exists()
    assert guideline_current(project=project).version == 1


def test_task_page_asks_for_acknowledgement_before_the_next_item(client, lead, annotator, project):
    project.phase, project.gold_rate = "production", 0
    project.save()
    ItemFactory.create_batch(2, batch=BatchFactory(project=project))
    services.annotation_submit(
        assignment=services.assignment_next(project=project, annotator=annotator), labels=["safe"], actor=annotator
    )
    body = guideline_current(project=project).body + "\n\nNew: <em>slurs</em> are hate."
    guideline = services.guideline_publish(project=project, body=body, actor=lead, note="Slurs <b>")
    client.force_login(annotator)
    page = client.get(reverse("annotation:task", args=[project.pk]))
    html = page.content.decode()
    assert "The guideline changed: version 2" in html
    assert "Slurs &lt;b&gt;" in html
    assert "diff__line--added" in html and "New: &lt;em&gt;slurs&lt;/em&gt; are hate." in html
    assert 'data-assignment="' not in html  # no item until acknowledged
    assert_csp_clean(html)
    answer = client.post(
        reverse("annotation:task_acknowledge", args=[project.pk]), {"guideline": guideline.pk}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200
    assert 'data-assignment="' in answer.content.decode()


def test_task_page_none_of_these(client, lead, annotator, project):
    draft = authoring.schema_draft_create(
        name="Multi", labels=[{"key": "a"}, {"key": "b"}], selection="multi", none_option=True, actor=lead
    )
    authoring.schema_draft_publish(schema=draft.schema, actor=lead, revision=draft.revision)
    project.label_schema, project.phase, project.gold_rate = draft.schema, "production", 0
    project.save()
    ItemFactory.create_batch(2, batch=BatchFactory(project=project))
    client.force_login(annotator)
    html = client.get(reverse("annotation:task", args=[project.pk])).content.decode()
    assert "None of these" in html
    assignment = services.assignment_next(project=project, annotator=annotator)
    empty = client.post(reverse("annotation:task", args=[project.pk]), {"assignment": assignment.pk}, follow=True)
    assert "choose at least one label" in empty.content.decode()
    both = client.post(
        reverse("annotation:task", args=[project.pk]),
        {"assignment": assignment.pk, "labels": "a", "none_of_these": "1"},
        follow=True,
    )
    assert "not both" in both.content.decode()
    client.post(reverse("annotation:task", args=[project.pk]), {"assignment": assignment.pk, "none_of_these": "1"})
    assignment.refresh_from_db()
    assert assignment.annotation.labels == []
