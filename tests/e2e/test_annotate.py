"""The annotator's task page in Chromium, driven with the keyboard only: label items of several
modalities, skip one with a reason, ask the lead about one; blurred media revealed only on demand
and blurred again on the next item; the break reminder (with Playwright's clock); "My work".
And the lead's side: answering the question and importing a file of items, under the same CSP."""

from __future__ import annotations

import re
import struct
import zlib

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import User
from annotation import services
from annotation.models import Annotation, Assignment, Flag, ImportJob
from projects.models import Membership, Project
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import ProjectFactory

pytestmark = pytest.mark.e2e

MEDIA = "https://media.quorum.test"
GUIDELINE = """# Hate speech: how to label

Label **hate** when a post attacks people for a protected characteristic (religion, ethnicity,
nationality, gender, sexual orientation, disability). Quoting a slur to condemn it is not hate.

## Quick rules

1. An insult at one person, without a protected characteristic: **harassment**.
2. Ads, scams and engagement bait: **spam**.
3. Threats or praise of violence: **violence**.
4. When unsure, press **F** and ask.
"""


def _png(width: int = 480, height: int = 300) -> bytes:
    """A small gradient PNG, so the blur is visible in the screenshots (no image files in the repo)."""
    raw = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 150))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _serve_media(page) -> None:
    """Item media come from other hosts; the test answers for them (no network in tests)."""
    png = _png()
    page.route(f"{MEDIA}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=png))


def _project(*, break_minutes: int = 50) -> tuple[Project, User, User]:
    lead = UserFactory(username="e2e-lead", first_name="Lena", last_name="Lead", role=User.Role.LEAD)
    annotator = UserFactory(username="e2e-ana", first_name="Ana", last_name="Annotator", role=User.Role.ANNOTATOR)
    project = ProjectFactory(
        name="Hate speech EN",
        lead=lead,
        label_schema=schema_with_labels(actor=lead),
        phase=Project.Phase.PRODUCTION,
        gold_rate=0,
        break_reminder_minutes=break_minutes,
    )
    GuidelineFactory(project=project, created_by=lead, version=1, body=GUIDELINE)
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    return project, lead, annotator


def _items(project: Project) -> None:
    batch = BatchFactory(project=project, name="Week 1")
    ItemFactory(
        batch=batch,
        external_id="post-text",
        priority=50,
        text="They should all be sent back where they came from.\n    <script>alert('xss')</script>",
        metadata={"source": "<b>forum</b>", "reports": 3},
        language="en",
    )
    ItemFactory(
        batch=batch,
        external_id="post-image",
        priority=40,
        modality="image",
        text="",
        image_url=f"{MEDIA}/image-1.png",
        is_graphic=True,
    )
    ItemFactory(
        batch=batch,
        external_id="post-meme",
        priority=30,
        modality="multimodal",
        text="When the new neighbours move in",
        image_url=f"{MEDIA}/meme-1.png",
        metadata={"platform": "imageboard", "likes": 1204},
        language="en",
    )
    ItemFactory(
        batch=batch,
        external_id="post-ocr",
        priority=20,
        modality="ocr",
        text="",
        image_url=f"{MEDIA}/screenshot-1.png",
        ocr_text="CLICK HERE to win a free phone!!!",
    )
    ItemFactory(batch=batch, external_id="post-question", priority=10, text="Is this one a dog whistle?")


def _filter(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).filter")


def _heading(page):
    return page.locator("#item-heading")


def test_annotator_labels_skips_and_asks_with_the_keyboard_only(
    page, live_server, transactional_db, browser_errors, artifacts_dir, sign_in
):
    project, lead, annotator = _project()
    _items(project)
    _serve_media(page)
    page.clock.install()
    sign_in(page, annotator.username)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your queue")

    # From the queue: "Start" on the project, with the keyboard.
    page.get_by_role("link", name="Start labeling Hate speech EN").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{reverse('annotation:task', args=[project.pk])}")
    page.evaluate("window.quorumMarker = 'same page'")  # gone if a submit reloads the page

    # 1. Text: shown escaped with its white space; 3 picks "Hate"; Enter submits.
    expect(_heading(page)).to_have_text("Item post-text")
    text = page.locator(".item-text").first
    expect(text).to_have_text("They should all be sent back where they came from.\n    <script>alert('xss')</script>")
    expect(page.locator(".item-metadata")).to_contain_text("<b>forum</b>")
    page.keyboard.press("3")
    expect(page.locator('input[name="labels"][value="hate"]')).to_be_checked()
    page.clock.fast_forward(4000)
    page.keyboard.press("Enter")

    # 2. Image: blurred until R reveals it; 1 picks "Safe".
    expect(_heading(page)).to_have_text("Item post-image")
    image = page.locator("img.media__el")
    expect(image).to_have_js_property("complete", True)
    assert _filter(image) == "blur(32px)"
    page.keyboard.press("r")
    expect(image).to_have_css("filter", "none")
    expect(page.locator(".media__reveal-shown")).to_be_visible()
    page.keyboard.press("1")
    page.keyboard.press("Enter")

    # 3. Multimodal: the new image arrives blurred again; G opens the guideline beside it.
    expect(_heading(page)).to_have_text("Item post-meme")
    image = page.locator("img.media__el")
    expect(image).to_have_css("filter", "blur(32px)")
    page.keyboard.press("g")
    guideline = page.locator("#guideline")
    expect(guideline).to_have_attribute("open", "")
    expect(guideline.get_by_role("heading", name="Hate speech: how to label")).to_be_visible()
    page.keyboard.press("3")
    expect(image).to_have_js_property("complete", True)
    page.screenshot(path=str(artifacts_dir / "task.png"), full_page=True)
    page.keyboard.press("Escape")
    expect(guideline).not_to_have_attribute("open", "")
    page.keyboard.press("Enter")

    # 4. OCR: S asks for a reason, 2 picks one, Enter confirms; the next item comes.
    expect(_heading(page)).to_have_text("Item post-ocr")
    expect(page.locator(".item-text--ocr")).to_have_text("CLICK HERE to win a free phone!!!")
    page.keyboard.press("s")
    skip = page.locator('details[data-panel="skip"]')
    expect(skip).to_have_attribute("open", "")
    page.keyboard.press("2")
    expect(skip.locator('input[value="cannot-load"]')).to_be_checked()
    page.keyboard.press("Enter")

    # 5. F asks the lead; typing in the question never picks labels or opens panels; the item stays.
    expect(_heading(page)).to_have_text("Item post-question")
    expect(page.get_by_role("status").first).to_have_text("Skipped. Here is the next item.")
    page.keyboard.press("f")
    question = page.get_by_label("Your question about this item")
    expect(question).to_be_focused()
    page.keyboard.type("Is 3 stars a dog whistle, or just a rating?")
    expect(page.locator('input[name="labels"]:checked')).to_have_count(0)
    expect(skip).to_have_count(1)
    expect(page.locator('details[data-panel="skip"][open]')).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator("#flag-panel")).to_contain_text("Question sent to the lead.")
    expect(_heading(page)).to_have_text("Item post-question")

    assert page.evaluate("window.quorumMarker") == "same page"  # no full reload all along
    annotations = {a.item.external_id: a for a in Annotation.objects.select_related("item")}
    assert {key: a.labels for key, a in annotations.items()} == {
        "post-text": ["hate"],
        "post-image": ["safe"],
        "post-meme": ["hate"],
    }
    assert annotations["post-text"].time_spent_ms >= 4000
    skipped = Assignment.objects.get(status=Assignment.Status.SKIPPED)
    assert (skipped.item.external_id, skipped.skip_reason) == ("post-ocr", "The content does not load or is unreadable")
    flag = Flag.objects.get()
    assert flag.question == "Is 3 stars a dog whistle, or just a rating?" and flag.item.external_id == "post-question"
    assert Assignment.objects.get(status=Assignment.Status.ACTIVE).item.external_id == "post-question"

    # My work: today's three items, and the question waiting for its answer.
    services.flag_answer(flag=flag, actor=lead, answer="A rating: label it safe.")
    page.goto(reverse("annotation:my_work"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My work")
    row = page.locator("#work-table tbody tr").first
    expect(row).to_contain_text("Hate speech EN")
    expect(row.locator("td").first).to_have_text("3")
    expect(page.locator(".flag-answer")).to_contain_text("A rating: label it safe.")
    page.screenshot(path=str(artifacts_dir / "my-work.png"), full_page=True)
    assert browser_errors == []


def test_grayscale_choice_is_remembered_and_media_never_autoplay(
    page, live_server, transactional_db, browser_errors, sign_in
):
    project, _lead, annotator = _project()
    batch = BatchFactory(project=project)
    ItemFactory(batch=batch, external_id="clip", modality="video", text="", video_url=f"{MEDIA}/clip.mp4", priority=2)
    _serve_media(page)
    page.route(f"{MEDIA}/clip.mp4", lambda route: route.fulfill(status=204, body=b""))
    sign_in(page, annotator.username)
    page.goto(reverse("annotation:task", args=[project.pk]))

    video = page.locator("video.media__el")
    expect(video).to_have_js_property("muted", True)
    expect(video).to_have_js_property("autoplay", False)
    expect(video).to_have_js_property("paused", True)
    expect(video).to_have_css("filter", "blur(32px)")
    button = page.get_by_role("button", name="Grayscale media")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(video).to_have_css("filter", "blur(32px) grayscale(1)")
    page.reload()
    expect(page.get_by_role("button", name="Grayscale media")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).to_have_class(re.compile(r"\bgrayscale-media\b"))
    page.keyboard.press("r")
    expect(page.locator("video.media__el")).to_have_css("filter", "grayscale(1)")
    # Browsers log a failed media load (the 204 above) as an error; nothing else may appear.
    assert [e for e in browser_errors if "clip.mp4" not in e and "MEDIA_ERR" not in e] == []


def test_break_reminder_after_a_stretch_of_continuous_work(
    page, live_server, transactional_db, browser_errors, sign_in
):
    project, _lead, annotator = _project(break_minutes=20)
    _items(project)
    _serve_media(page)
    page.clock.install()
    sign_in(page, annotator.username)
    page.goto(reverse("annotation:task", args=[project.pk]))
    reminder = page.locator("#break-reminder")
    expect(reminder).to_be_hidden()

    def work_for(minutes: int) -> None:
        """Keep working: a key every four minutes (a pause of five minutes or more is a break)."""
        for _ in range(minutes // 4):
            page.clock.fast_forward("04:00")
            page.keyboard.press("Shift")

    work_for(16)
    expect(reminder).to_be_hidden()
    work_for(4)  # twenty minutes in a row
    expect(reminder).to_be_visible()
    expect(reminder).to_contain_text("You have been working for 20 minutes in a row.")
    reminder.get_by_role("button", name="Dismiss").focus()
    page.keyboard.press("Enter")
    expect(reminder).to_be_hidden()

    # A real pause is a break: the next stretch starts after it.
    page.clock.fast_forward("06:00")
    page.keyboard.press("Shift")
    work_for(16)
    expect(reminder).to_be_hidden()
    work_for(4)
    expect(reminder).to_be_visible()
    assert browser_errors == []


def test_lead_answers_a_question_and_imports_items_on_the_project_page(
    page, live_server, transactional_db, browser_errors, artifacts_dir, sign_in, tmp_path
):
    project, lead, annotator = _project()
    item = ItemFactory(batch=BatchFactory(project=project), external_id="post-9")
    assignment = services.assignment_create(item=item, annotator=annotator)
    services.flag_raise(assignment=assignment, actor=annotator, question="Does <b>sarcasm</b> count as hate?")
    sign_in(page, lead.username)
    page.goto(project.get_absolute_url())

    flags = page.locator("#flags")
    expect(flags).to_contain_text("Does <b>sarcasm</b> count as hate?")
    flags.get_by_label("Your answer").fill("Only when it attacks a protected group.")
    flags.get_by_role("button", name="Answer").click()
    expect(page.get_by_role("status")).to_have_text("Answered Ana Annotator's question on item post-9.")
    expect(flags).to_contain_text("Recently answered")
    expect(flags).to_contain_text("Only when it attacks a protected group.")

    upload = tmp_path / "week-2.csv"
    upload.write_text(
        "external_id,text,image_url\np1,first post,\np2,,javascript:alert(1)\np3,a caption,https://cdn.example.org/3.jpg\n"
    )
    imports = page.locator("#imports")
    imports.get_by_label("File (CSV, JSON Lines or Parquet)").set_input_files(str(upload))
    imports.get_by_label("Batch name").fill("Week 2")
    imports.get_by_label("Import the good rows, report the bad").check()
    imports.get_by_role("button", name="Import").click()

    expect(page.get_by_role("status")).to_have_text("Import of week-2.csv into batch “Week 2” started.")
    job = ImportJob.objects.get()
    block = page.locator(f"#import-{job.pk}")
    expect(block).to_contain_text("Succeeded")
    expect(block).to_contain_text("2 items imported from 3 rows")
    expect(block.locator("table")).to_contain_text("image_url")
    expect(block.get_by_role("link", name="Download the error report (CSV)")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "project-lead-sections.png"), full_page=True)
    assert browser_errors == []


def test_task_page_fits_a_laptop_screen_with_the_guideline_beside_the_item(
    page, live_server, transactional_db, browser_errors, sign_in
):
    """At 1366×768 the item, every label, Submit, Skip and Ask are on the first screen, the
    progress line counts the annotator's day, and the guideline opens beside the item."""
    project, _lead, annotator = _project()
    _items(project)
    _serve_media(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, annotator.username)
    page.goto(f"/annotate/{project.pk}/")
    expect(page.locator("#task-progress")).to_contain_text("0 done today")
    for control in ("#label-form button[type=submit]", "[data-panel=skip] summary", "[data-panel=flag] summary"):
        box = page.locator(control).bounding_box()
        assert box is not None and box["y"] + box["height"] <= 768, f"{control} is below the fold: {box}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    expect(page.locator("#task-progress")).to_contain_text("1 done today")
    page.keyboard.press("g")
    guideline, item = page.locator("#guideline .guideline__body"), page.locator("article.task")
    expect(guideline).to_be_visible()
    g, i = guideline.bounding_box(), item.bounding_box()
    assert g["x"] >= i["x"] + i["width"] - 1 and g["y"] < 300, f"guideline not beside the item: {g} vs {i}"
    assert not browser_errors
