"""Annotator pages through real URLs: the queue, the task page (label, skip, ask the lead) and
"My work". Roles are denied across projects; hostile item content stays escaped."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import selectors, services
from annotation.forms import TIME_SPENT_MS_MAX
from annotation.models import Annotation, Assignment, Flag
from projects.models import Membership, Project
from tests.accounts.factories import UserFactory
from tests.accounts.test_views import assert_csp_clean
from tests.annotation.factories import BatchFactory, GuidelineFactory, ItemFactory, schema_with_labels
from tests.projects.factories import ProjectFactory
from tests.test_templates import assert_no_template_text

pytestmark = pytest.mark.django_db


def test_queue_lists_projects_in_pilot_or_production_with_counts(client, annotator):
    working = ProjectFactory(name="Spam PT", phase=Project.Phase.PRODUCTION, items_total=120, items_completed=30)
    resting = ProjectFactory(name="Still in design", phase=Project.Phase.DESIGN)
    for project in (working, resting):
        Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    client.force_login(annotator)
    response = client.get(reverse("annotation:queue"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "To label" in html and "Spam PT" in html and "Still in design" not in html
    assert ">120<" in html and ">30<" in html
    assert working.get_absolute_url() in html


def test_queue_shows_a_friendly_empty_state(client, annotator, project):
    client.force_login(annotator)  # `project` is in design: nothing to label yet
    html = client.get(reverse("annotation:queue")).content.decode()
    assert "Nothing to do yet" in html and project.name not in html


def test_queue_lists_reviewers_projects_to_review(client, reviewer):
    in_qa = ProjectFactory(name="Violence QA", phase=Project.Phase.QA)
    Membership.objects.create(project=in_qa, user=reviewer, role=Membership.Role.REVIEWER)
    client.force_login(reviewer)
    html = client.get(reverse("annotation:queue")).content.decode()
    assert "To review" in html and "Violence QA" in html and "To label" not in html


def test_queue_is_not_for_requesters(client, requester):
    client.force_login(requester)
    assert client.get(reverse("annotation:queue")).status_code == 403


def test_queue_escapes_project_names(client, annotator):
    hostile = ProjectFactory(name="<script>alert(1)</script>", phase=Project.Phase.PILOT)
    Membership.objects.create(project=hostile, user=annotator, role=Membership.Role.ANNOTATOR)
    client.force_login(annotator)
    html = client.get(reverse("annotation:queue")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_queue_has_a_start_button_for_each_project_to_label(client, annotator, project):
    project.phase = Project.Phase.PRODUCTION
    project.save()
    client.force_login(annotator)
    html = client.get(reverse("annotation:queue")).content.decode()
    assert f'href="{reverse("annotation:task", args=[project.pk])}"' in html and ">Start</a>" in html
    assert reverse("annotation:my_work") in html


# --- The task page ----------------------------------------------------------------------------

HOSTILE_TEXT = "<script>alert(1)</script>\n    indented & kept"
HOSTILE_HTML = "<img src=x onerror=alert(1)>"


def _item(project, **fields):
    return ItemFactory(batch=BatchFactory(project=project), **fields)


def _task_url(project) -> str:
    return reverse("annotation:task", args=[project.pk])


def _get(client, project, **headers):
    response = client.get(_task_url(project), **headers)
    assert response.status_code == 200
    return response.content.decode()


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _current(annotator, project) -> Assignment:
    return Assignment.objects.get(annotator=annotator, project=project, status=Assignment.Status.ACTIVE)


def test_task_page_shows_the_current_item_and_resumes_its_lease_on_reload(client, annotator, live):
    _item(live, external_id="low", text="Low priority")
    _item(live, external_id="high", text="High priority", priority=5)
    client.force_login(annotator)
    html = _get(client, live)
    assignment = _current(annotator, live)
    assert assignment.item.external_id == "high"
    assert '<h2 id="item-heading">Item high</h2>' in html and "High priority" in html
    assert f'data-assignment="{assignment.pk}"' in html and f'name="assignment" value="{assignment.pk}"' in html
    html = _get(client, live)
    assert Assignment.objects.filter(annotator=annotator).count() == 1
    assert f'data-assignment="{assignment.pk}"' in html
    assert "js/task.js" in html and 'data-break-minutes="50"' in html
    assert_csp_clean(html)
    assert_no_template_text(html)


def test_task_page_shows_item_text_escaped_with_its_white_space(client, annotator, live):
    _item(live, text=HOSTILE_TEXT, language="en")
    client.force_login(annotator)
    html = _get(client, live)
    assert "<script>alert(1)</script>" not in html
    assert (
        '<div class="item-text" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;\n    indented &amp; kept</div>' in html
    )
    assert_csp_clean(html)


def test_task_page_escapes_metadata_and_never_turns_it_into_links(client, annotator, live):
    metadata = {"<b>source</b>": HOSTILE_HTML, "link": "javascript:alert(1)", "nested": {"tags": ["<i>x</i>", 2]}}
    _item(live, metadata=metadata)
    client.force_login(annotator)
    html = _get(client, live)
    assert HOSTILE_HTML not in html and "<b>source</b>" not in html and "<i>x</i>" not in html
    assert "<dt>&lt;b&gt;source&lt;/b&gt;</dt>" in html
    assert "<dd>&lt;img src=x onerror=alert(1)&gt;</dd>" in html
    assert "<dd>{&quot;tags&quot;: [&quot;&lt;i&gt;x&lt;/i&gt;&quot;, 2]}</dd>" in html
    assert "<dd>javascript:alert(1)</dd>" in html  # as text only
    assert not re.search(r'(href|src)="javascript', html)


def test_task_page_renders_only_http_media_urls(client, annotator, live):
    """Import refuses other schemes; a row written some other way still never reaches a src."""
    _item(
        live,
        modality="multimodal",
        text="caption",
        image_url="javascript:alert(1)",
        video_url="data:text/html,<script>alert(1)</script>",
        audio_url="https://media.example.org/voice.mp3",
    )
    client.force_login(annotator)
    html = _get(client, live)
    assert "javascript:" not in html and "data:text/html" not in html
    assert "<img" not in html and "<video" not in html
    assert 'src="https://media.example.org/voice.mp3"' in html


def test_task_page_blurs_images_until_revealed(client, annotator, live):
    _item(live, modality="image", text="", image_url="https://media.example.org/a.png?x=1&y=<2>", is_graphic=True)
    client.force_login(annotator)
    html = _get(client, live)
    assert '<figure class="media media--blurred">' in html
    assert 'src="https://media.example.org/a.png?x=1&amp;y=&lt;2&gt;"' in html
    assert 'referrerpolicy="no-referrer"' in html and "data-reveal" in html and "Reveal the image" in html
    assert "Graphic content" in html


def test_task_page_shows_media_plainly_when_the_project_does_not_blur(client, annotator, live):
    live.blur_media = False
    live.save()
    _item(live, modality="image", text="", image_url="https://media.example.org/a.png")
    client.force_login(annotator)
    html = _get(client, live)
    assert '<figure class="media">' in html and "media--blurred" not in html and "data-reveal" not in html


def test_task_page_plays_video_muted_and_never_autoplays(client, annotator, live):
    _item(live, modality="video", text="", video_url="https://media.example.org/clip.mp4")
    client.force_login(annotator)
    html = _get(client, live)
    video = re.search(r"<video[^>]*>", html).group(0)
    assert 'src="https://media.example.org/clip.mp4"' in video
    assert " controls" in video and " muted" in video and 'preload="metadata"' in video
    assert "autoplay" not in html and "Reveal the video" in html


def test_task_page_renders_audio_with_controls(client, annotator, live):
    _item(live, modality="audio", text="", audio_url="https://media.example.org/note.mp3")
    client.force_login(annotator)
    audio = re.search(r"<audio[^>]*>", _get(client, live)).group(0)
    assert 'src="https://media.example.org/note.mp3"' in audio and " controls" in audio and "autoplay" not in audio


def test_task_page_renders_ocr_text_with_its_image(client, annotator, live):
    _item(live, modality="ocr", text="", image_url="https://media.example.org/meme.png", ocr_text="BUY <NOW>")
    client.force_login(annotator)
    html = _get(client, live)
    assert "Text in the image (OCR)" in html and "BUY &lt;NOW&gt;" in html
    assert 'src="https://media.example.org/meme.png"' in html and "OCR (text in images)" in html


def test_task_page_renders_a_multimodal_post(client, annotator, live):
    _item(live, modality="multimodal", text="nice <b>day</b>", image_url="https://media.example.org/post.jpg")
    client.force_login(annotator)
    html = _get(client, live)
    assert "nice &lt;b&gt;day&lt;/b&gt;" in html and 'src="https://media.example.org/post.jpg"' in html
    assert "Multimodal post" in html


TREE = [
    {"key": "safe", "name": "Safe", "severity": 0, "shortcut": "1"},
    {"key": "violence", "name": "Violence", "severity": 3, "shortcut": "v"},
    {"key": "spam", "name": "Spam <ads>", "severity": 1, "shortcut": "2", "description": "Ads & scams"},
    {"key": "graphic", "name": "Graphic violence", "severity": 3, "parent": "violence"},
    {"key": "threat", "name": "Violent threat", "severity": 4, "parent": "violence"},
]


def _use_schema(project, lead, labels, selection="single"):
    project.label_schema = schema_with_labels(name="Tree", labels=labels, selection=selection, actor=lead)
    project.save()


def test_task_page_lists_labels_as_a_tree_with_keys_and_severity(client, lead, annotator, live):
    _use_schema(live, lead, TREE)
    _item(live)
    client.force_login(annotator)
    html = _get(client, live)
    rows = re.findall(
        r'label-option--depth-(\d)">\s*<label[^>]*>\s*<input type="radio"\s+name="labels"\s+'
        r'value="([a-z]+)"\s+(?:data-key="(.)")?',
        html,
    )
    # Children under their parent; labels without a shortcut get their position as their key.
    assert rows == [
        ("0", "safe", "1"),
        ("0", "violence", "v"),
        ("1", "graphic", "3"),
        ("1", "threat", "4"),
        ("0", "spam", "2"),
    ]
    assert "Spam &lt;ads&gt;" in html and "Ads &amp; scams" in html
    assert re.search(r'class="badge badge--severity-4"\s+title="Severity 4 of 4">severity 4</span>', html)
    assert "Choose one label" in html


def test_task_page_offers_checkboxes_for_a_multi_choice_schema(client, lead, annotator, live):
    _use_schema(live, lead, TREE, selection="multi")
    _item(live)
    client.force_login(annotator)
    html = _get(client, live)
    assert len(re.findall(r'<input type="checkbox"\s+name="labels"', html)) == 5
    assert not re.search(r'<input type="radio"\s+name="labels"', html)
    assert "Choose every label that applies" in html


def test_task_page_shows_the_guideline_in_force_sanitised(client, lead, annotator, live):
    GuidelineFactory(
        project=live,
        version=2,
        created_by=lead,
        body=(
            "# Rules v2\n\n**Hate** is an attack on a protected group.\n\n<script>alert(1)</script>\n\n"
            "[a link](javascript:alert(1)) and [policy](https://policy.example.org/)\n\n<img src=x onerror=alert(1)>"
        ),
    )
    _item(live)
    client.force_login(annotator)
    html = _get(client, live)
    guideline = html[html.index('id="guideline"') :]
    assert "<h1>Rules v2</h1>" in guideline and "<strong>Hate</strong>" in guideline and "Version 2" in guideline
    assert "<script>alert" not in html and "javascript:" not in html and "onerror" not in html
    assert '<a href="https://policy.example.org/" rel="noopener noreferrer nofollow">policy</a>' in guideline
    assert_csp_clean(html)


def test_task_page_notes_when_the_daily_graphic_cap_is_reached(client, annotator, live):
    live.graphic_daily_cap = 1
    live.save()
    graphic = _item(live, is_graphic=True, priority=9, text="graphic one")
    _item(live, text="calm one")
    client.force_login(annotator)
    html = _get(client, live)
    assert "graphic one" in html and "limit of 1 graphic item" not in html
    client.post(_task_url(live), {"assignment": _current(annotator, live).pk, "labels": "safe"})
    html = _get(client, live)
    assert "You have reached today's limit of 1 graphic item." in html and "calm one" in html
    assert Annotation.objects.get(annotator=annotator).item == graphic


def test_task_page_says_all_done_when_nothing_is_left(client, annotator, live):
    client.force_login(annotator)
    html = _get(client, live)
    assert "All done. Thank you!" in html and reverse("annotation:my_work") in html
    assert "label-form" not in html


def test_task_page_in_a_phase_without_work_says_why(client, annotator, project):
    client.force_login(annotator)  # `project` is in design
    response = client.get(_task_url(project))
    assert response.status_code == 200
    assert any("the project is in design" in text for text in _messages(response))
    assert "No work for you here right now" in response.content.decode()


@pytest.mark.parametrize(
    ("role", "status"), [("reviewer", 403), ("lead", 403), ("other_lead", 404), ("requester", 404)]
)
def test_task_page_is_only_for_the_projects_annotators(client, request, live, role, status):
    _item(live)
    client.force_login(request.getfixturevalue(role))
    assert client.get(_task_url(live)).status_code == status
    assert client.post(_task_url(live), {"assignment": 1, "labels": "safe"}).status_code == status
    assert not Assignment.objects.exists()


def test_task_page_is_closed_to_inactive_and_other_projects_annotators(client, annotator, live):
    Membership.objects.filter(project=live, user=annotator).update(is_active=False)
    client.force_login(annotator)
    assert client.get(_task_url(live)).status_code == 404
    assert client.get(reverse("annotation:task", args=[999_999])).status_code == 404


def test_task_page_query_count(client, annotator, live, django_assert_num_queries):
    _item(live, metadata={"a": "b"})
    client.force_login(annotator)
    client.get(_task_url(live))  # the first lease
    # session, user, project, roles; the engine (membership, open lease and what is in force in
    # one statement; the lease resumed outside any transaction: a version's labels are kept per
    # process); graphic cap; the progress line (the annotator's count today); and for the whole
    # page the guideline's text
    with django_assert_num_queries(9):
        client.get(_task_url(live))
    with django_assert_num_queries(8):
        client.get(_task_url(live), HTTP_HX_REQUEST="true")


# --- Submitting -------------------------------------------------------------------------------


def test_submit_records_labels_and_time_then_redirects_to_the_next_item(client, annotator, live):
    _item(live, external_id="first", priority=2)
    _item(live, external_id="second")
    client.force_login(annotator)
    client.get(_task_url(live))
    first = _current(annotator, live)
    response = client.post(_task_url(live), {"assignment": first.pk, "labels": "hate", "time_spent_ms": "4200"})
    assert response.status_code == 302 and response["Location"] == _task_url(live)
    annotation = Annotation.objects.get(assignment=first)
    assert (annotation.labels, annotation.time_spent_ms) == (["hate"], 4200)
    response = client.get(_task_url(live))
    assert _messages(response) == ["Saved your labels."] and "Item second" in response.content.decode()


def test_submit_with_htmx_swaps_in_the_next_item(client, annotator, live):
    _item(live, external_id="first", priority=2)
    _item(live, external_id="second", text=HOSTILE_TEXT)
    client.force_login(annotator)
    client.get(_task_url(live))
    first = _current(annotator, live)
    response = client.post(_task_url(live), {"assignment": first.pk, "labels": "spam"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert "<html" not in html and 'id="guideline"' not in html and 'id="task-area"' not in html
    assert "Item second" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("Saved your labels.") == 1 and re.search(r'role="status">\s*Saved your labels.', html)
    assert f'data-assignment="{_current(annotator, live).pk}"' in html
    assert_csp_clean(html)


def test_submit_of_a_multi_choice_answer(client, lead, annotator, live):
    _use_schema(live, lead, TREE, selection="multi")
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    client.post(_task_url(live), {"assignment": assignment.pk, "labels": ["violence", "threat"]})
    assert Annotation.objects.get(assignment=assignment).labels == ["violence", "threat"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "labels: choose at least one label"),
        (["hate", "nonsense"], "labels: 'nonsense' is not a label of this schema"),
        (["hate", "spam"], "labels: this schema is single-choice; choose exactly one label"),
    ],
)
def test_submit_refused_keeps_the_item_and_the_choice(client, annotator, live, labels, message):
    _item(live, external_id="only")
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    response = client.post(_task_url(live), {"assignment": assignment.pk, "labels": labels}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and _messages(response) == [message]
    assert 'class="message message--error"' in html and "Item only" in html
    if "hate" in labels:
        assert re.search(r'value="hate"\s+data-key="3"\s+checked>', html)
    assert not Annotation.objects.exists() and _current(annotator, live) == assignment


def test_submit_twice_keeps_one_annotation(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    for _ in range(2):
        response = client.post(_task_url(live), {"assignment": assignment.pk, "labels": "safe"}, follow=True)
        assert _messages(response) == ["Saved your labels."]
    assert Annotation.objects.filter(assignment=assignment).count() == 1


def test_submit_clamps_an_overlong_handling_time_and_refuses_a_negative_one(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    response = client.post(
        _task_url(live), {"assignment": assignment.pk, "labels": "safe", "time_spent_ms": "-5"}, follow=True
    )
    assert _messages(response) == ["time_spent_ms: Ensure this value is greater than or equal to 0."]
    client.post(_task_url(live), {"assignment": assignment.pk, "labels": "safe", "time_spent_ms": str(10**12)})
    assert Annotation.objects.get(assignment=assignment).time_spent_ms == TIME_SPENT_MS_MAX


def test_submit_for_someone_elses_or_another_projects_assignment_is_404(client, annotator, live):
    other = UserFactory(username="other-annotator")
    Membership.objects.create(project=live, user=other, role=Membership.Role.ANNOTATOR)
    item = _item(live)
    theirs = services.assignment_create(item=item, annotator=other)
    elsewhere = ProjectFactory(phase=Project.Phase.PRODUCTION)
    Membership.objects.create(project=elsewhere, user=annotator, role=Membership.Role.ANNOTATOR)
    mine_elsewhere = services.assignment_create(item=_item(elsewhere), annotator=annotator)
    client.force_login(annotator)
    for pk in (theirs.pk, mine_elsewhere.pk, "not-a-number", ""):
        assert client.post(_task_url(live), {"assignment": pk, "labels": "safe"}).status_code == 404
    assert not Annotation.objects.exists()


# --- Skipping and asking the lead -------------------------------------------------------------


def test_skip_with_a_quick_reason_swaps_in_the_next_item(client, annotator, live):
    _item(live, external_id="first", priority=2)
    _item(live, external_id="second")
    client.force_login(annotator)
    client.get(_task_url(live))
    first = _current(annotator, live)
    response = client.post(
        reverse("annotation:task_skip", args=[live.pk]),
        {"assignment": first.pk, "reason": "cannot-load"},
        HTTP_HX_REQUEST="true",
    )
    first.refresh_from_db()
    assert first.status == Assignment.Status.SKIPPED
    assert first.skip_reason == "The content does not load or is unreadable"
    html = response.content.decode()
    assert "Skipped. Here is the next item." in html and "Item second" in html and "<html" not in html


def test_skip_in_own_words_without_htmx_redirects(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    response = client.post(
        reverse("annotation:task_skip", args=[live.pk]),
        {"assignment": assignment.pk, "reason": "cannot-load", "other": "Duplicate of item 7"},
    )
    assignment.refresh_from_db()
    assert response.status_code == 302 and response["Location"] == _task_url(live)
    assert assignment.skip_reason == "Duplicate of item 7"


def test_skip_without_a_reason_says_why_and_keeps_the_item(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    response = client.post(reverse("annotation:task_skip", args=[live.pk]), {"assignment": assignment.pk}, follow=True)
    assert _messages(response) == ["reason: say why you skip this item"]
    assert _current(annotator, live) == assignment


def test_skip_and_flag_accept_only_post(client, annotator, live):
    client.force_login(annotator)
    assert client.get(reverse("annotation:task_skip", args=[live.pk])).status_code == 405
    assert client.get(reverse("annotation:task_flag", args=[live.pk])).status_code == 405


def test_flag_with_htmx_swaps_only_the_flag_panel_and_keeps_the_item(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    response = client.post(
        reverse("annotation:task_flag", args=[live.pk]),
        {"assignment": assignment.pk, "question": "Is a quoted slur <hate>?"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="flag-panel" id="flag-panel">')
    assert "Question sent to the lead." in html and "label-form" not in html
    flag = Flag.objects.get()
    assert (flag.question, flag.raised_by, flag.assignment) == ("Is a quoted slur <hate>?", annotator, assignment)
    assert _current(annotator, live) == assignment  # the lease stays


def test_flag_without_htmx_redirects_with_a_message(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    assignment = _current(annotator, live)
    response = client.post(
        reverse("annotation:task_flag", args=[live.pk]), {"assignment": assignment.pk, "question": "Why?"}, follow=True
    )
    assert _messages(response) == ["Question sent to the lead. The item stays yours meanwhile."]
    assert f'data-assignment="{assignment.pk}"' in response.content.decode()


def test_flag_without_a_question_says_why(client, annotator, live):
    _item(live)
    client.force_login(annotator)
    client.get(_task_url(live))
    response = client.post(
        reverse("annotation:task_flag", args=[live.pk]),
        {"assignment": _current(annotator, live).pk, "question": " "},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "question: write the question for the lead" in html and "Question sent" not in html
    assert not Flag.objects.exists()


# --- My work ----------------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)  # a Thursday


def _annotate(item, annotator, labels, *, ms=1000, at=NOW):
    assignment = services.assignment_create(item=item, annotator=annotator, now=at)
    return services.annotation_submit(assignment=assignment, labels=labels, actor=annotator, time_spent_ms=ms, now=at)


def test_work_summary_counts_today_week_median_and_gold_per_project(lead, annotator, live):
    other = ProjectFactory(name="Spam PT", phase=Project.Phase.PRODUCTION, label_schema=live.label_schema)
    Membership.objects.create(project=other, user=annotator, role=Membership.Role.ANNOTATOR)
    for ms in (1000, 2000, 10_000):
        _annotate(_item(live), annotator, ["safe"], ms=ms)
    _annotate(_item(live), annotator, ["safe"], ms=4000, at=NOW - dt.timedelta(days=2))  # Tuesday
    _annotate(_item(live), annotator, ["safe"], ms=99_000, at=NOW - dt.timedelta(days=5))  # last week
    _annotate(_item(live, is_gold=True, gold_labels=["hate"]), annotator, ["hate"])
    _annotate(_item(live, is_gold=True, gold_labels=["hate"]), annotator, ["spam"], at=NOW - dt.timedelta(days=9))
    _annotate(_item(other), annotator, ["spam"], ms=7000, at=NOW - dt.timedelta(days=1))
    stranger = UserFactory(username="stranger")
    Membership.objects.create(project=live, user=stranger, role=Membership.Role.ANNOTATOR)
    _annotate(_item(live), stranger, ["safe"], ms=50_000)

    rows = selectors.annotator_work_summary(annotator=annotator, now=NOW)

    assert [row["project_name"] for row in rows] == ["Hate speech EN", "Spam PT"]
    mine, spam = rows
    assert (mine["today"], mine["week"], mine["total"]) == (4, 5, 7)
    # This week: 1000, 1000 (gold), 2000, 4000, 10000 → 2000 ms
    assert mine["median_seconds"] == 2.0
    assert (mine["gold_correct"], mine["gold_total"]) == (1, 2)
    assert (spam["today"], spam["week"], spam["total"], spam["median_seconds"]) == (0, 1, 1, 7.0)
    assert (spam["gold_correct"], spam["gold_total"]) == (0, 0)


def test_work_summary_median_of_an_even_count_and_gold_as_sets(lead, annotator, live):
    _use_schema(live, lead, TREE, selection="multi")
    _annotate(_item(live), annotator, ["safe"], ms=1000)
    _annotate(_item(live), annotator, ["safe"], ms=4000)
    _annotate(_item(live, is_gold=True, gold_labels=["violence", "threat"]), annotator, ["threat", "violence"], ms=2000)
    _annotate(_item(live, is_gold=True, gold_labels=["violence", "threat"]), annotator, ["violence"], ms=9000)
    (row,) = selectors.annotator_work_summary(annotator=annotator, now=NOW)
    assert row["median_seconds"] == 3.0  # (2000 + 4000) / 2
    assert (row["gold_correct"], row["gold_total"]) == (1, 2)


def test_my_work_page_shows_the_figures_and_answers(client, lead, annotator, live):
    _annotate(_item(live), annotator, ["safe"], ms=2500, at=timezone.now())
    _annotate(_item(live, is_gold=True, gold_labels=["hate"]), annotator, ["hate"], at=timezone.now())
    assignment = services.assignment_create(item=_item(live, external_id="asked"), annotator=annotator)
    flag = services.flag_raise(assignment=assignment, actor=annotator, question="Is <this> hate?")
    services.flag_answer(flag=flag, actor=lead, answer="Yes, <really>.")
    client.force_login(annotator)
    response = client.get(reverse("annotation:my_work"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Hate speech EN" in html and "1 of 1" in html and "(100%)" in html
    assert re.search(r'<td class="num">\s*1\.8 s\s*</td>', html)  # median of 1000 (gold) and 2500
    assert "Is &lt;this&gt; hate?" in html and "Yes, &lt;really&gt;." in html and "item asked" in html
    assert reverse("annotation:task", args=[live.pk]) in html
    assert_csp_clean(html)


def test_my_work_page_when_nothing_is_done_yet(client, annotator):
    client.force_login(annotator)
    html = client.get(reverse("annotation:my_work")).content.decode()
    assert "Nothing labeled yet" in html and "No questions yet." in html and "None yet" in html


def test_my_work_page_is_not_for_requesters(client, requester):
    client.force_login(requester)
    assert client.get(reverse("annotation:my_work")).status_code == 403


def test_my_work_page_query_count_does_not_grow(client, annotator, live, django_assert_num_queries):
    def project_with_work(n):
        project = ProjectFactory(name=f"P{n}", phase=Project.Phase.PRODUCTION, label_schema=live.label_schema)
        Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
        for ms in (1000, 3000):
            _annotate(_item(project), annotator, ["safe"], ms=ms, at=timezone.now())
        gold = _annotate(_item(project, is_gold=True, gold_labels=["safe"]), annotator, ["safe"], at=timezone.now())
        services.flag_raise(assignment=gold.assignment, actor=annotator, question=f"Question {n}")

    project_with_work(0)
    client.force_login(annotator)
    url = reverse("annotation:my_work")
    # session, user, counts by project, medians, gold answers, questions
    with django_assert_num_queries(6):
        client.get(url)
    for n in range(1, 5):
        project_with_work(n)
    with django_assert_num_queries(6):
        html = client.get(url).content.decode()
    assert html.count("1 of 1") == 5 and "Question 4" in html
