"""The same label keys on the task, audit and adjudication pages, a label's own letter honoured on
each, and the audit form checked in the browser before it is sent, in Chromium."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.models import Annotation
from projects.models import Membership
from quality.models import Adjudication, AuditSample, Review
from quality.services.consensus import consensus_compute
from tests.quality.factories import annotations_make, items_make, quality_project
from tests.quality.test_label_keys import KEYED

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def keyed(lead, reviewer):
    project, people, batch = quality_project(lead=lead, annotators=4, labels=KEYED, name="Keyed")
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    return project, people, batch


def _checked(page, form: str) -> list[str]:
    return page.eval_on_selector_all(f"#{form} input[data-key]:checked", "inputs => inputs.map(i => i.value)")


def test_the_task_page_takes_the_schema_order_digit_and_the_own_letter(page, browser_errors, sign_in, keyed):
    project, people, batch = keyed
    items_make(batch, 1)
    sign_in(page, people[3].username)
    page.goto(reverse("annotation:task", args=[project.pk]))
    page.wait_for_selector("#label-form")
    page.keyboard.press("3")  # adult: third in the schema, no shortcut of its own
    assert _checked(page, "label-form") == ["adult"]
    page.keyboard.press("p")  # spam's own shortcut
    assert _checked(page, "label-form") == ["spam"]
    page.keyboard.press("Enter")
    page.wait_for_function("() => !document.querySelector('#label-form input:checked')")
    assert Annotation.objects.get(annotator=people[3]).labels == ["spam"]
    assert browser_errors == []


def test_the_audit_page_checks_the_form_before_sending_and_keeps_it_on_a_refusal(
    page, browser_errors, sign_in, keyed, reviewer
):
    project, people, batch = keyed
    first, second = (
        AuditSample.objects.create(project=project, annotation=annotation, stratum=AuditSample.Stratum.RANDOM)
        for annotation in annotations_make([(item, people[0], "spam") for item in items_make(batch, 2)])
    )
    sign_in(page, reviewer.username)
    page.goto("/quality/audits/")
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url) if request.method == "POST" else None)
    error = page.locator("#review-error")
    page.keyboard.press("Enter")  # nothing chosen
    assert error.is_visible() and "Choose a verdict first" in error.inner_text()
    page.keyboard.press("x")
    page.keyboard.press("Enter")
    assert "pick the label it should have had" in error.inner_text()
    page.keyboard.press("8")  # graphic violence, by its own key
    page.keyboard.press("Enter")
    assert "choose why it is wrong" in error.inner_text()
    assert requests == [] and not Review.objects.exists()  # nothing was sent
    page.keyboard.press("m")  # misread the content
    assert page.locator("#error-cause").input_value() == "misread_content"
    page.keyboard.press("Enter")
    page.wait_for_selector(f'article.task[data-sample="{second.pk}"]')
    review = Review.objects.get(sample=first)
    assert (review.verdict, review.correct_labels, review.error_cause) == ("incorrect", ["graphic"], "misread_content")
    # The annotation's own label as the correction: the server refuses, the choices stay.
    page.keyboard.press("p")  # spam, by its own letter: implies "incorrect"
    page.keyboard.press("l")  # careless
    page.keyboard.press("Enter")
    page.wait_for_selector(".message--error")
    assert "own labels" in page.locator(".message--error").inner_text()
    assert page.locator('#review-form input[data-verdict="x"]').is_checked()
    assert _checked(page, "review-form") == ["spam"]
    assert page.locator("#error-cause").input_value() == "careless"
    assert not Review.objects.filter(sample=second).exists()
    assert browser_errors == []


def test_the_adjudication_page_takes_a_labels_own_letter(page, browser_errors, sign_in, keyed, reviewer):
    project, people, batch = keyed
    (tie,) = items_make(batch, 1, required_annotations=2)
    annotations_make([(tie, people[0], "adult"), (tie, people[1], "graphic")])
    consensus_compute(project_id=project.pk, method="majority")
    sign_in(page, reviewer.username)
    page.goto("/quality/adjudications/")
    page.wait_for_selector(f'article.task[data-item="{tie.pk}"]')
    page.keyboard.press("3")
    assert _checked(page, "adjudication-form") == ["adult"]
    page.keyboard.press("p")
    assert _checked(page, "adjudication-form") == ["spam"]
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Nothing to adjudicate")
    assert Adjudication.objects.get(item=tie).labels == ["spam"]
    assert browser_errors == []
