"""A reviewer settles unsure items on the adjudication page with the keyboard only, in Chromium."""

from __future__ import annotations

import pytest

from annotation.models import Item
from projects.models import Membership
from quality.models import Adjudication
from quality.services.consensus import consensus_compute
from tests.quality.factories import annotations_make, items_make, quality_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reviewer_settles_and_skips_items_with_the_keyboard(page, browser_errors, sign_in, lead, reviewer):
    project, people, batch = quality_project(lead=lead, annotators=3)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    tie, unsure, sure = items_make(batch, 3, text="<img src=x onerror=alert(1)> post")
    Item.objects.filter(pk=tie.pk).update(required_annotations=2)  # the tie is all its votes
    a, b, c = people
    annotations_make(
        [
            (tie, a, "hate"), (tie, b, "spam"),
            (unsure, a, "hate"), (unsure, b, "hate"), (unsure, c, "spam"),
            (sure, a, "safe"), (sure, b, "safe"), (sure, c, "safe"),
        ]
    )  # fmt: skip
    consensus_compute(project_id=project.pk, method="majority")
    sign_in(page, reviewer.username)
    page.goto("/quality/adjudications/")
    article = page.locator("article.task")
    assert article.get_attribute("data-item") == str(tie.pk)
    assert page.locator(".item-text").inner_text() == "<img src=x onerror=alert(1)> post"  # shown as text
    page.keyboard.press("1")  # the first label of the schema
    first_key = page.locator('#adjudication-form input[data-key="1"]')
    assert first_key.is_checked()
    page.keyboard.press("w")
    page.keyboard.type("context shows it is quoted")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'article.task[data-item="{unsure.pk}"]')
    decision = Adjudication.objects.get(item=tie)
    assert decision.labels == [first_key.get_attribute("value")] and decision.reason == "context shows it is quoted"
    page.locator("#adjudication-area").focus()
    page.keyboard.press("s")
    page.wait_for_selector("text=Nothing to adjudicate")
    assert not Adjudication.objects.filter(item=unsure).exists()
    assert browser_errors == []
