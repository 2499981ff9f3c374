"""One source per figure: the project page's header cards, its charts and the request page count
the same annotations (the rollups), the request page shows progress in items (the unit of the
volume asked for), and the 7-day figure says that today is not in it."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from projects.models import DataRequest, Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import DataRequestFactory
from tests.workbench.dashboard_data import annotate
from workbench.services.progress import project_progress_refresh

pytestmark = pytest.mark.django_db


def _people(project, n):
    people = [UserFactory(username=f"figures-{index}") for index in range(n)]
    for person in people:
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
    return people


@pytest.fixture
def counted(project, settings):
    """20 annotations yesterday (10 items of overlap 2, all complete), the stored counters
    recounted then; then 5 more today, on 5 new items, that the counters have not seen yet."""
    settings.QUORUM_ROLLUP_ON_READ = True
    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 0
    project.phase = "production"
    project.request = DataRequestFactory(volume_total=140, status=DataRequest.Status.ACCEPTED)
    project.save()
    batch = BatchFactory(project=project)
    a, b = _people(project, 2)
    yesterday = timezone.now() - dt.timedelta(days=1)
    for _ in range(10):
        item = ItemFactory(batch=batch, required_annotations=2)
        annotate(item, a, ["hate"], at=yesterday)
        annotate(item, b, ["hate"], at=yesterday)
    later = [ItemFactory(batch=batch, required_annotations=2) for _ in range(5)]
    project_progress_refresh(project_id=project.pk)  # the counters: 20 of 30 annotations, 10 items
    for item in later:
        annotate(item, a, ["safe"], at=timezone.now() - dt.timedelta(minutes=1))
    return project


def test_the_header_cards_count_what_the_charts_count(client, lead, counted):
    client.force_login(lead)
    html = client.get(counted.get_absolute_url()).content.decode()
    charts = json.loads(htmllib.unescape(re.search(r'data-charts="([^"]*)"', html).group(1)))
    assert sum(charts["throughput"]["annotations"]) == 25
    annotations = html[html.index('id="stat-annotations"') :][:600]
    assert "25 / 30" in annotations and "20 / 30" not in annotations
    assert "the charts' count; last added" in annotations
    assert re.search(r'id="stat-items">\s*10 / 15', html)
    # The 7-day figure leaves today out, and says so, with today's work beside it.
    throughput = html[html.index('id="stat-throughput"') :][:300]
    assert "7 days to yesterday" in html
    assert "20 annotations" in throughput and "today not included; today so far: 5" in throughput


def test_the_portfolio_counts_what_the_project_page_counts(client, lead, counted):
    client.force_login(lead)
    html = client.get(reverse("projects:portfolio")).content.decode()
    assert "25 / 30" in html and "items 10 / 15" in html
    assert "7 days to yesterday" in html


def test_the_request_page_shows_progress_in_the_unit_of_the_volume(client, counted):
    requester = counted.request.requester
    client.force_login(requester)
    html = client.get(counted.request.get_absolute_url()).content.decode()
    progress = html[html.index('id="request-progress"') :][:800]
    assert "10 of 140 requested items completed" in progress
    assert "15 items imported; 25 of 30 annotations" in progress
    assert "Volume" in html and "140 items" in html
