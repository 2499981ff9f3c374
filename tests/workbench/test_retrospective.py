"""The retrospective: gathered figures, the Markdown download and the lead's lessons."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from core.errors import NotAllowed
from projects.models import DailyRollup
from tests.projects.factories import BlockerFactory, MilestoneFactory
from workbench import retrospective
from workbench.services.blockers import blocker_resolve
from workbench.services.lifecycle import project_transition

pytestmark = pytest.mark.django_db


def test_retrospective_markdown_has_plan_against_actual_blockers_and_lessons(lead, project):
    MilestoneFactory(project=project, name="Pilot | done", planned_date=dt.date(2026, 3, 1),
                     actual_date=dt.date(2026, 3, 4))  # fmt: skip
    blocker = BlockerFactory(project=project, title="No PT annotators")
    blocker_resolve(blocker=blocker, actor=lead, resolution="Hired two\nvia agency")
    DailyRollup.objects.create(project=project, day=dt.date(2026, 3, 2), annotations=120, items_completed=40,
                               gold_answered=10, gold_correct=8, time_histogram=[0, 0, 0, 0, 0, 0, 0, 5])  # fmt: skip
    DailyRollup.objects.create(project=project, day=dt.date(2026, 3, 4), annotations=80)
    project = project_transition(project=project, to_phase="pilot", actor=lead)
    retrospective.project_lessons_update(project=project, lessons="Plan Portuguese staffing early.", actor=lead)

    retro = retrospective.retrospective_get(project=project)
    text = retrospective.retrospective_markdown(retro)
    assert "| Pilot \\| done | 2026-03-01 | 2026-03-04 | 3 |" in text
    assert "| Design |" in text and "| Pilot |" in text and "| now |" in text
    assert "- Annotations: 200 (items completed: 40)" in text
    assert "2 active days, 100.0 per active day, 66.7 per calendar day" in text
    assert "- Best day: 120 on 2026-03-02" in text
    assert "Gold accuracy: 80.0% over 10 answers" in text
    assert "No PT annotators" in text and "Hired two via agency" in text
    assert text.rstrip().endswith("Plan Portuguese staffing early.")


def test_retrospective_pages_download_and_lessons_for_the_lead_only(client, lead, annotator, project):
    client.force_login(lead)
    page = client.get(reverse("projects:retrospective", args=[project.pk]))
    assert page.status_code == 200 and 'name="lessons"' in page.content.decode()
    download = client.get(reverse("projects:retrospective_markdown", args=[project.pk]))
    assert download["Content-Type"].startswith("text/markdown")
    assert f'filename="retrospective-project-{project.pk}.md"' in download["Content-Disposition"]
    assert download.content.decode().startswith("# Retrospective: Hate speech EN")
    client.post(reverse("projects:lessons_update", args=[project.pk]), {"lessons": "<script>x</script>"})
    project.refresh_from_db()
    assert project.lessons == "<script>x</script>"
    client.force_login(annotator)
    html = client.get(reverse("projects:retrospective", args=[project.pk])).content.decode()
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert client.post(reverse("projects:lessons_update", args=[project.pk]), {"lessons": "x"}).status_code == 403
    with pytest.raises(NotAllowed):
        retrospective.project_lessons_update(project=project, lessons="x", actor=annotator)


def test_retrospective_markdown_escapes_html_and_links_from_names_and_titles(client, lead, project):
    """Names and titles are people's text: in the download they are plain text, never live HTML or
    a link (issue 15)."""
    project.name = "<img src=x onerror=alert(1)> EN"
    project.lessons = "Keep <script>alert(2)</script> out; **bold** stays Markdown."
    project.save()
    lead.first_name, lead.last_name = "<b>Lee</b>", "[me](javascript:alert(3))"
    lead.save()
    MilestoneFactory(project=project, name="<iframe src=//evil>", planned_date=dt.date(2026, 3, 1))
    BlockerFactory(project=project, title="[click](https://evil.example) & <svg onload=alert(4)>")
    client.force_login(lead)
    text = client.get(reverse("projects:retrospective_markdown", args=[project.pk])).content.decode()
    for raw in ("<img", "<script", "<iframe", "<svg", "<b>"):
        assert raw not in text
    assert not re.search(r"(?<!\\)\]\(", text)  # no link: every bracket is escaped
    assert "# Retrospective: &lt;img src=x onerror=alert(1)&gt; EN" in text
    assert "&lt;b&gt;Lee&lt;/b&gt;" in text and "\\[me\\](javascript:alert(3))" in text
    assert "| &lt;iframe src=//evil&gt; |" in text
    assert "\\[click\\](https://evil.example) &amp; &lt;svg onload=alert(4)&gt;" in text
    assert "Keep &lt;script&gt;alert(2)&lt;/script&gt; out; **bold** stays Markdown." in text
