"""Authoring in Chromium: a lead creates a label schema with a parent label and shortcut keys,
previews it as annotators see it, uses it, writes and publishes the guideline (live preview),
moves the project to pilot; an annotator labels with the keyboard; the lead publishes guideline v2
and the annotator acknowledges what changed before their next item."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from annotation.models import Annotation, GuidelineAcknowledgement
from annotation.selectors import schema_version_current
from projects.models import Membership, Project
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.e2e


def _row(page, number: int, field: str):
    return page.get_by_label(f"Row {number} {field}", exact=True)


def test_lead_authors_schema_and_guideline_and_annotator_acknowledges_v2(
    transactional_db, page, browser, live_server, sign_in, browser_errors
):
    lead = UserFactory(username="e2e-lead", first_name="Lena", last_name="Lead", role=User.Role.LEAD)
    annotator = UserFactory(username="e2e-ana", first_name="Ana", last_name="Annotator", role=User.Role.ANNOTATOR)
    project = ProjectFactory(name="Abuse EN", lead=lead, label_schema=None, phase=Project.Phase.DESIGN, gold_rate=0)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    ItemFactory.create_batch(3, batch=BatchFactory(project=project), text="A post to label")

    # The lead: a new schema with a parent label and shortcut keys.
    sign_in(page, "e2e-lead")
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("link", name="Label schema").click()
    expect(page.get_by_role("heading", name="New schema")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Abuse policy")
    page.get_by_label("Multiple choice").check()
    page.get_by_label(re.compile("Offer “None of these”")).check()
    _row(page, 1, "key").fill("abuse")
    _row(page, 1, "name").fill("Abuse")
    _row(page, 1, "shortcut key").fill("a")
    _row(page, 2, "key").fill("threat")
    _row(page, 2, "name").fill("Threat")
    _row(page, 2, "parent key").fill("abuse")
    _row(page, 2, "shortcut key").fill("t")
    _row(page, 2, "severity").select_option("4")
    _row(page, 3, "key").fill("fine")
    _row(page, 3, "name").fill("Fine")
    _row(page, 3, "shortcut key").fill("n")
    page.get_by_role("button", name="Preview as annotators see it").click()
    preview = page.locator("#schema-preview")
    expect(preview.get_by_text("Choose every label that applies")).to_be_visible()
    expect(preview.locator('input[data-key="t"]')).to_have_count(1)
    expect(preview.locator(".label-option--depth-1").get_by_text("Threat")).to_be_visible()
    expect(preview.get_by_text("None of these")).to_be_visible()
    page.get_by_role("button", name="Create schema").click()
    expect(page.get_by_text("created as a draft of v1")).to_be_visible()
    page.get_by_role("button", name="Use this version (v1)").click()
    expect(page.get_by_text("v1 is now in force in Abuse EN")).to_be_visible()
    project.refresh_from_db()
    version = schema_version_current(schema_id=project.label_schema_id)
    assert version.number == 1
    assert {(label.key, label.parent.key if label.parent else None) for label in version.labels.all()} == {
        ("abuse", None),
        ("threat", "abuse"),
        ("fine", None),
    }

    # The guideline, with the live preview (htmx, sanitised as the task page renders it).
    page.goto(f"/projects/{project.pk}/guideline/")
    editor = page.get_by_label("Guideline (Markdown)")
    editor.fill("# Abuse\n\nA **threat** names harm to a person.")
    expect(page.locator("#guideline-preview strong")).to_have_text("threat")
    page.get_by_label("Changelog line: what this version changes").fill("First version")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Draft saved (revision 1)")).to_be_visible()
    page.get_by_role("button", name="Publish v1").click()
    expect(page.get_by_text("Guideline v1 published: First version")).to_be_visible()

    # Pilot is allowed now.
    page.goto(f"/projects/{project.pk}/")
    page.get_by_role("button", name="Move to Pilot").click()
    project.refresh_from_db()
    assert project.phase == Project.Phase.PILOT

    # The annotator labels one item with the keyboard.
    other = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 860})
    other.set_default_timeout(10_000)
    ana = other.new_page()
    ana.on("console", lambda msg: browser_errors.append(msg.text) if msg.type == "error" else None)
    sign_in(ana, "e2e-ana")
    ana.goto(f"/annotate/{project.pk}/")
    expect(ana.locator("article.task")).to_be_visible()
    ana.keyboard.press("t")
    ana.keyboard.press("Enter")
    expect(ana.get_by_text("Saved your labels.")).to_be_visible()
    assert Annotation.objects.get(annotator=annotator).labels == ["threat"]

    # The lead publishes v2 mid-project.
    page.goto(f"/projects/{project.pk}/guideline/")
    page.get_by_label("Guideline (Markdown)").fill(
        "# Abuse\n\nA **threat** names harm to a person.\n\nNew: a threat to property is a threat too."
    )
    page.get_by_label("Changelog line: what this version changes").fill("Threats to property")
    page.get_by_role("button", name="Save draft").click()
    page.get_by_role("button", name="Publish v2").click()
    expect(page.get_by_text("Guideline v2 published: Threats to property")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Ana Annotator.*not yet"))).to_be_visible()

    # The annotator sees what changed and acknowledges it before the next item.
    ana.goto(f"/annotate/{project.pk}/")
    expect(ana.get_by_role("heading", name="The guideline changed: version 2")).to_be_visible()
    expect(ana.get_by_text("Threats to property")).to_be_visible()
    expect(ana.locator(".diff__line--added", has_text="a threat to property is a threat too")).to_have_count(1)
    expect(ana.locator("article.task")).to_have_count(0)
    ana.get_by_role("button", name="I have read the changes: next item").click()
    expect(ana.locator("article.task")).to_be_visible()
    assert GuidelineAcknowledgement.objects.get(annotator=annotator).acknowledged_at is not None
    page.reload()
    expect(page.get_by_role("row", name=re.compile("Ana Annotator"))).not_to_contain_text("not yet")
    other.close()
    assert browser_errors == []
