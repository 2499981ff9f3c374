"""The dashboard on the pages: portfolio figures, status filter and sort; the project page's
charts data, annotator table, milestones and blocker owners."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from projects.models import Blocker, DailyRollup, Membership, Milestone
from tests.accounts.factories import UserFactory
from tests.accounts.test_views import assert_csp_clean
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import BlockerFactory, DataRequestFactory, MilestoneFactory, ProjectFactory
from tests.workbench.dashboard_data import annotate
from workbench import rollups

pytestmark = pytest.mark.django_db


def _today() -> dt.date:
    return timezone.now().date()


def _throughput(project, per_day: int, days: int = 14) -> None:
    for offset in range(1, days + 1):
        DailyRollup.objects.create(project=project, day=_today() - dt.timedelta(days=offset), annotations=per_day)


def test_portfolio_shows_throughput_forecast_and_quality_from_rollups(client, lead):
    late = ProjectFactory(name="Late one", lead=lead, annotations_required=10_000, annotations_done=0,
                          deadline=_today() + dt.timedelta(days=5))  # fmt: skip
    # Done work is the rollups' (140 for "Fine one": 160 left at 10 a day, 16 days of 30).
    fine = ProjectFactory(name="Fine one", lead=lead, annotations_required=300, annotations_done=50,
                          deadline=_today() + dt.timedelta(days=30))  # fmt: skip
    _throughput(late, 100)
    _throughput(fine, 10)
    DailyRollup.objects.filter(project=fine).update(gold_answered=10, gold_correct=9)
    client.force_login(lead)
    html = client.get(reverse("projects:portfolio")).content.decode()
    assert "badge--forecast-late" in html and "badge--forecast-on_track" in html
    assert '<td class="num">700</td>' in html and '<td class="num">70</td>' in html
    assert "gold\n" in html and "90%" in html

    only_late = client.get(reverse("projects:portfolio"), {"status": "late"}).content.decode()
    assert "Late one" in only_late and "Fine one" not in only_late
    by_status = client.get(reverse("projects:portfolio"), {"sort": "status"}).content.decode()
    assert by_status.index("Late one") < by_status.index("Fine one")
    by_deadline = client.get(reverse("projects:portfolio"), {"sort": "-deadline"}).content.decode()
    assert by_deadline.index("Fine one") < by_deadline.index("Late one")


def test_portfolio_filters_by_lead_with_the_api_filterset(client, lead, other_lead):
    ProjectFactory(name="Mine", lead=lead)
    other = ProjectFactory(name="Theirs", lead=other_lead)
    Membership.objects.create(project=other, user=lead, role=Membership.Role.LEAD)
    client.force_login(lead)
    html = client.get(reverse("projects:portfolio"), {"lead": other_lead.pk}).content.decode()
    assert "Theirs" in html and ">Mine<" not in html


@pytest.fixture
def worked(project, annotator):
    project.phase = "production"
    project.items_total, project.annotations_required, project.annotations_done = 2, 6, 2
    project.request = DataRequestFactory(volume_per_class={"hate": 600, "safe": 400})
    project.save()
    batch = BatchFactory(project=project)
    item = ItemFactory(batch=batch, required_annotations=1)
    other = UserFactory(username="second")
    Membership.objects.create(project=project, user=other, role=Membership.Role.ANNOTATOR)
    yesterday = timezone.now() - dt.timedelta(days=1)
    annotate(item, annotator, ["<b>hate</b>"], at=yesterday, ms=4000)
    annotate(ItemFactory(batch=batch), other, ["safe"], at=yesterday, ms=9000)
    rollups.rollup_refresh(settle_seconds=0)
    return project


def test_project_page_carries_chart_data_as_escaped_json_and_the_annotator_table(client, lead, annotator, worked):
    client.force_login(lead)
    html = client.get(worked.get_absolute_url()).content.decode()
    assert_csp_clean(html)
    assert "<b>hate</b>" not in html
    raw = re.search(r'data-charts="([^"]*)"', html).group(1)
    charts = json.loads(htmllib.unescape(raw))
    assert charts["labels"]["labels"] == ["<b>hate</b>", "hate", "safe"]
    assert charts["labels"]["requested"] == [0.0, 60.0, 40.0]
    assert sum(charts["throughput"]["annotations"]) == 2
    assert 'id="chart-burnup"' in html and "vendor/chartjs/chart.umd.min.js" in html and "js/dashboard.js" in html
    assert "data-sortable" in html and annotator.display_name in html
    assert "Median time (s)" in html


def test_project_page_hides_the_annotator_table_from_annotators(client, annotator, worked):
    client.force_login(annotator)
    html = client.get(worked.get_absolute_url()).content.decode()
    # Annotators get their own view of the project (issue 13): not the lead's dashboard at all.
    assert 'id="annotators"' not in html and 'id="chart-burnup"' not in html and 'id="my-figures"' in html


def test_milestone_create_and_update_via_the_page(client, lead, project):
    client.force_login(lead)
    url = reverse("projects:milestone_create", args=[project.pk])
    response = client.post(url, {"name": "Pilot done", "planned_date": "2026-12-01"})
    assert response.status_code == 302 and response.url.endswith("#milestones")
    milestone = Milestone.objects.get(project=project)
    update = reverse("projects:milestone_update", args=[project.pk, milestone.pk])
    client.post(update, {"planned_date": "2026-12-01", "actual_date": "2026-12-04"})
    milestone.refresh_from_db()
    assert milestone.actual_date == dt.date(2026, 12, 4) and milestone.slip_days == 3
    html = client.get(project.get_absolute_url()).content.decode()
    assert "3 days late" in html and 'id="chart-milestones"' in html
    response = client.post(url, {"name": "No date"}, follow=True)
    assert "planned_date: say when the milestone is planned." in response.content.decode()


def test_milestone_edits_are_for_the_lead(client, annotator, other_lead, project):
    milestone = MilestoneFactory(project=project)
    client.force_login(annotator)
    assert client.post(reverse("projects:milestone_create", args=[project.pk]), {"name": "x"}).status_code == 403
    client.force_login(other_lead)
    update = reverse("projects:milestone_update", args=[project.pk, milestone.pk])
    assert client.post(update, {"actual_date": "2026-12-04"}).status_code == 404


def test_blocker_assign_via_the_page(client, lead, annotator, reviewer, project):
    blocker = BlockerFactory(project=project, owner=annotator)
    client.force_login(lead)
    url = reverse("projects:blocker_assign", args=[project.pk, blocker.pk])
    response = client.post(url, {"owner": reviewer.pk}, follow=True)
    blocker.refresh_from_db()
    assert blocker.owner == reviewer
    assert f"Gave “{blocker.title}” to {reviewer.display_name}." in response.content.decode()
    stranger = UserFactory()
    client.post(url, {"owner": stranger.pk})
    blocker.refresh_from_db()
    assert blocker.owner == reviewer
    client.force_login(annotator)
    assert client.post(url, {"owner": annotator.pk}).status_code == 403


def test_resolved_blockers_show_time_to_resolve(client, lead, project):
    blocker = BlockerFactory(project=project)
    Blocker.objects.filter(pk=blocker.pk).update(
        status=Blocker.Status.RESOLVED, resolution="Hired two", resolved_at=blocker.opened_at + dt.timedelta(days=2)
    )
    client.force_login(lead)
    assert "resolved in 2\xa0days" in client.get(project.get_absolute_url()).content.decode()


def test_pages_catch_the_rollups_up_in_embedded_mode_only(client, lead, annotator, project, settings):
    item = ItemFactory(batch=BatchFactory(project=project))
    annotate(item, annotator, ["hate"], at=timezone.now() - dt.timedelta(minutes=5))
    client.force_login(lead)
    settings.QUORUM_ROLLUP_ON_READ = False
    client.get(reverse("projects:portfolio"))
    assert not DailyRollup.objects.exists()
    settings.QUORUM_ROLLUP_ON_READ = True
    client.get(project.get_absolute_url())
    assert DailyRollup.objects.get(project=project).annotations == 1


def test_project_page_query_count_does_not_grow_with_annotators_or_days(
    client, lead, project, settings, django_assert_num_queries
):
    from projects.models import AnnotatorDailyRollup

    settings.QUORUM_ROLLUP_ON_READ = False
    client.force_login(lead)
    people = [UserFactory() for _ in range(3)]
    for person in people:
        AnnotatorDailyRollup.objects.create(project=project, annotator=person, day=_today(), annotations=1)
    _throughput(project, 5, days=3)
    # As in test_views, without the rollups catch-up (3) and with the annotator names (1).
    with django_assert_num_queries(27) as first:
        client.get(project.get_absolute_url())
    for person in [UserFactory() for _ in range(10)]:
        for offset in range(30):
            AnnotatorDailyRollup.objects.create(
                project=project, annotator=person, day=_today() - dt.timedelta(days=offset), annotations=2,
                time_histogram=[0, 1, 2],
            )  # fmt: skip
    DailyRollup.objects.all().delete()
    _throughput(project, 5, days=60)
    with django_assert_num_queries(len(first)):
        html = client.get(project.get_absolute_url()).content.decode()
    assert html.count('<td class="num" data-value="60">60</td>') == 10
