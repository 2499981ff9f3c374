"""A reviewer judges audit samples with the keyboard only, in Chromium."""

from __future__ import annotations

import pytest

from projects.models import Membership
from quality.models import AuditSample, Review
from tests.quality.factories import annotations_make, items_make, quality_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reviewer_judges_samples_with_the_keyboard(page, browser_errors, sign_in, lead, reviewer):
    project, people, batch = quality_project(lead=lead, annotators=1)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    items = items_make(batch, 2, text="<b>not bold</b>")
    first, second = (
        AuditSample.objects.create(project=project, annotation=annotation, stratum=AuditSample.Stratum.RANDOM)
        for annotation in annotations_make([(item, people[0], "spam") for item in items])
    )
    sign_in(page, reviewer.username)
    page.goto("/quality/audits/")
    assert page.locator("article.task").get_attribute("data-sample") == str(first.pk)
    assert page.locator(".item-text").inner_text() == "<b>not bold</b>"
    page.keyboard.press("c")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'article.task[data-sample="{second.pk}"]')
    assert Review.objects.get(sample=first).verdict == "correct"
    page.keyboard.press("1")  # a correction implies "incorrect"
    assert page.locator('#review-form input[data-verdict="x"]').is_checked()
    page.keyboard.press("m")  # misread content
    page.keyboard.press("Enter")
    page.wait_for_selector("text=No audits waiting")
    review = Review.objects.get(sample=second)
    assert (review.verdict, review.error_cause) == ("incorrect", "misread_content")
    assert len(review.correct_labels) == 1
    assert browser_errors == []
