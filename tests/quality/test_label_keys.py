"""One order and one key per label on every keyboard page (the task page, the audit page, the
adjudication page), error causes with keys that never clash with the labels', and an audit form
that keeps the reviewer's choices when the server refuses it. Through the real URLs."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotation.presenters import label_choices
from core.errors import QuorumError
from projects.models import Membership
from quality.models import AuditSample, Review
from quality.services.consensus import consensus_compute
from tests.annotation.factories import schema_with_labels
from tests.quality.factories import annotations_make, items_make, quality_project
from tests.quality.test_views import HTMX

pytestmark = pytest.mark.django_db

# Schema order: safe, violence, adult, spam, graphic (under violence), threat (under violence).
# Shown as a tree: safe, violence, graphic, threat, adult, spam.
KEYED = [
    {"key": "safe", "name": "Safe", "shortcut": "1"},
    {"key": "violence", "name": "Violence", "severity": 3},
    {"key": "adult", "name": "Adult content", "severity": 2},
    {"key": "spam", "name": "Spam", "severity": 1, "shortcut": "p"},
    {"key": "graphic", "name": "Graphic violence", "parent": "violence", "shortcut": "8"},
    {"key": "threat", "name": "Violent threat", "parent": "violence", "severity": 4},
]
# Own shortcuts first; the others take the free digits in schema order (2, 3, 4).
EXPECTED = [("safe", "1"), ("violence", "2"), ("graphic", "8"), ("threat", "4"), ("adult", "3"), ("spam", "p")]


def _keys(html: str, name: str) -> list[tuple[str, str]]:
    """(label key, keyboard key) of each label input named `name`, in page order."""
    inputs = re.findall(rf'<input type="(?:radio|checkbox)"\s+name="{name}"\s+value="([a-z-]+)"\s+([^>]*)>', html)
    return [(value, (re.search(r'data-key="([^"]*)"', rest) or [None, ""])[1]) for value, rest in inputs]


@pytest.fixture
def keyed(db, lead, reviewer):
    project, people, batch = quality_project(lead=lead, annotators=4, labels=KEYED, name="Keyed")
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    return project, people, batch


def test_the_keys_are_the_same_on_the_task_audit_and_adjudication_pages(client, keyed, reviewer):
    project, people, batch = keyed
    audited, tied = items_make(batch, 2, required_annotations=2)
    (annotation,) = annotations_make([(audited, people[0], "spam")])
    AuditSample.objects.create(project=project, annotation=annotation, stratum=AuditSample.Stratum.RANDOM)
    annotations_make([(tied, people[0], "adult"), (tied, people[1], "graphic")])
    consensus_compute(project_id=project.pk, method="majority")

    client.force_login(people[3])
    task = client.get(reverse("annotation:task", args=[project.pk])).content.decode()
    client.force_login(reviewer)
    audit = client.get(reverse("quality:audit_queue")).content.decode()
    adjudication = client.get(reverse("quality:adjudication_queue")).content.decode()
    assert f'data-sample="{AuditSample.objects.get().pk}"' in audit and f'data-item="{tied.pk}"' in adjudication
    assert _keys(task, "labels") == EXPECTED
    assert _keys(audit, "correct_labels") == EXPECTED
    assert _keys(adjudication, "labels") == EXPECTED
    assert '<kbd class="label-option__key">p</kbd>' in audit and '<kbd class="label-option__key">8</kbd>' in audit


def test_a_shortcut_a_page_needs_is_refused_and_an_old_one_gives_way(lead):
    for key in ("c", "x", "w"):  # the audit page's verdicts and the adjudication page's reason
        with pytest.raises(QuorumError, match=f"labels\\[0\\].shortcut: '{key}' is reserved"):
            schema_with_labels(name=f"Reserved {key}", labels=[{"key": "a", "shortcut": key}], actor=lead)
    # A row written some other way (before the rule) keeps working: its label takes a digit.
    schema = schema_with_labels(name="Old", labels=[{"key": "a", "shortcut": "q"}, {"key": "b"}], actor=lead)
    labels = list(schema.versions.get().labels.order_by("order", "id"))
    labels[0].shortcut = "c"
    assert [(row["label"].key, row["key"]) for row in label_choices(labels)] == [("a", "1"), ("b", "2")]


def test_error_causes_have_letters_that_no_label_holds(client, lead, reviewer):
    # "m" (misread) and "a" (ambiguous) are labels' shortcuts here: those causes take other letters.
    labels = [{"key": "safe", "name": "Safe", "shortcut": "m"}, {"key": "abuse", "name": "Abuse", "shortcut": "a"}]
    project, people, batch = quality_project(lead=lead, annotators=1, labels=labels, name="Letters")
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    (annotation,) = annotations_make([(items_make(batch, 1)[0], people[0], "safe")])
    AuditSample.objects.create(project=project, annotation=annotation, stratum=AuditSample.Stratum.RANDOM)
    client.force_login(reviewer)
    html = client.get(reverse("quality:audit_queue")).content.decode()
    causes = dict(re.findall(r'<option value="([a-z_]+)"\s+data-cause-key="(.)"', html))
    assert causes == {
        "guideline_gap": "g",
        "misread_content": "i",  # the next free letter of “Misread the content”
        "careless": "l",
        "ambiguous_item": "t",  # “The item is ambiguous”: t, h, e …; t is free
        "tool_problem": "o",  # t is now taken: o
    }
    assert not set(causes.values()) & {"m", "a", "c", "x", "r"}
    # Readable names in the choices, never the stored values.
    assert "The guideline does not cover it (G)" in html and ">guideline_gap<" not in html


def _sample(quality, make_items, labels="spam"):
    (annotation,) = annotations_make([(make_items(quality.batch, 1)[0], quality.people[0], labels)])
    return AuditSample.objects.create(
        project=quality.project, annotation=annotation, stratum=AuditSample.Stratum.RANDOM
    )


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_review_keeps_the_verdict_the_label_and_the_cause(client, quality, make_items, htmx):
    sample = _sample(quality, make_items)
    client.force_login(quality.reviewer)
    # The annotation's own label as the "correction": refused, with everything chosen kept.
    response = client.post(
        reverse("quality:audit_review", args=[sample.pk]),
        {"verdict": "incorrect", "correct_labels": "spam", "error_cause": "careless", "note": "looks <off>"},
        **(HTMX if htmx else {}),
    )
    html = response.content.decode()
    assert response.status_code == 200 and not Review.objects.exists()
    assert "these are the annotation&#x27;s own labels" in html
    assert re.search(r'value="incorrect"\s+data-verdict="x"\s+checked', html)
    assert not re.search(r'value="correct"\s+data-verdict="c"\s+checked', html)
    assert re.search(r'name="correct_labels"\s+value="spam"\s+data-key="2"\s+checked', html)
    assert re.search(r'<option value="careless"\s+data-cause-key="l"\s+selected>', html)
    assert ">looks &lt;off&gt;</textarea>" in html


def test_a_missing_cause_is_named_in_words(client, quality, make_items):
    sample = _sample(quality, make_items)
    client.force_login(quality.reviewer)
    html = client.post(
        reverse("quality:audit_review", args=[sample.pk]), {"verdict": "incorrect", "correct_labels": "hate"}, **HTMX
    ).content.decode()
    assert "error_cause: say why it is wrong (no cause given)" in html
    assert "“Misread the content”" in html and "“Tool problem”" in html
    message = re.search(r'class="message message--error"[^>]*>(.*?)<', html, re.S).group(1)
    assert "guideline_gap" not in message and "misread_content" not in message
    assert re.search(r'name="correct_labels"\s+value="hate"\s+data-key="3"\s+checked', html)
    # A recorded incorrect verdict says its cause in words too.
    html = client.post(
        reverse("quality:audit_review", args=[sample.pk]),
        {"verdict": "incorrect", "correct_labels": "hate", "error_cause": "misread_content"},
        **HTMX,
    ).content.decode()
    assert "Recorded: incorrect (Misread the content)." in html
