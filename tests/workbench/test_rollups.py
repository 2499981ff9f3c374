"""Daily rollups: incremental from the watermark, idempotent, and what the pages read from them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from annotation.models import Flag
from projects.models import AnnotatorDailyRollup, DailyRollup, Membership, RollupWatermark
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.workbench.dashboard_data import annotate
from workbench import rollups, selectors
from workbench.rollups import TIME_BUCKETS_MS, histogram_quantile, time_bucket

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
DAY1, DAY2 = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)


@pytest.fixture
def work(project):
    people = [UserFactory(username=f"ann-{i}") for i in range(2)]
    for person in people:
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
    batch = BatchFactory(project=project)
    items = ItemFactory.create_batch(2, batch=batch, required_annotations=2)
    gold = ItemFactory(batch=batch, is_gold=True, gold_labels=["hate"], required_annotations=1)
    return project, people, items, gold


def test_histogram_quantile_is_within_one_bucket():
    histogram = [0] * (time_bucket(10_000) + 1)
    for ms in (1000, 2000, 3000, 4000, 10_000):
        bucket = time_bucket(ms)
        histogram[bucket] += 1
    median = histogram_quantile(histogram, 0.5)
    assert TIME_BUCKETS_MS[time_bucket(3000) - 1] <= median <= TIME_BUCKETS_MS[time_bucket(3000)]
    assert histogram_quantile([], 0.5) is None


def test_rollup_refresh_counts_days_items_gold_and_flags_once(work):
    project, (ann, bob), (first, second), gold = work
    annotate(first, ann, ["hate"], at=DAY1, ms=2000)
    annotate(first, bob, ["spam"], at=DAY2, ms=4000)  # completes `first` on day 2
    annotate(second, ann, ["hate"], at=DAY2, ms=6000)
    annotate(gold, ann, ["hate"], at=DAY2)  # correct
    annotate(gold, bob, ["safe"], at=DAY2)  # wrong
    flag = Flag.objects.create(project=project, item=second, raised_by=bob, question="Is this satire?")
    Flag.objects.filter(pk=flag.pk).update(created_at=DAY2)

    result = rollups.rollup_refresh(now=NOW, settle_seconds=0)

    assert result["annotations"] == 5
    day1 = DailyRollup.objects.get(project=project, day=DAY1.date())
    day2 = DailyRollup.objects.get(project=project, day=DAY2.date())
    assert (day1.annotations, day1.items_completed) == (1, 0)
    assert (day2.annotations, day2.items_completed, day2.gold_answered, day2.gold_correct) == (2, 1, 2, 1)
    assert day2.flags_raised == 1
    assert day2.label_votes == {"spam": 1, "hate": 1}
    assert day2.time_ms_sum == 10_000
    assert day2.last_submitted_at == DAY2
    bob_day2 = AnnotatorDailyRollup.objects.get(project=project, annotator=bob, day=DAY2.date())
    assert (bob_day2.annotations, bob_day2.gold_answered, bob_day2.gold_correct, bob_day2.flags_raised) == (1, 1, 0, 1)
    # Running again counts nothing twice.
    assert rollups.rollup_refresh(now=NOW, settle_seconds=0)["annotations"] == 0
    assert DailyRollup.objects.get(project=project, day=DAY2.date()).annotations == 2


def test_rollup_refresh_is_incremental_and_adds_into_existing_rows(work):
    project, (ann, bob), (first, _second), _gold = work
    annotate(first, ann, ["hate"], at=DAY2)
    rollups.rollup_refresh(now=NOW, settle_seconds=0)
    annotate(first, bob, ["hate"], at=DAY2 + dt.timedelta(hours=1))
    rollups.rollup_refresh(now=NOW, settle_seconds=0)
    row = DailyRollup.objects.get(project=project, day=DAY2.date())
    assert (row.annotations, row.items_completed, row.label_votes) == (2, 1, {"hate": 2})
    assert RollupWatermark.objects.get().annotation_id == project.annotations.order_by("-id").first().id


def test_rollup_refresh_leaves_annotations_younger_than_the_settle_time(work):
    _project, (ann, _bob), (first, second), _gold = work
    annotate(first, ann, ["hate"], at=NOW - dt.timedelta(minutes=5))
    annotate(second, ann, ["hate"], at=NOW - dt.timedelta(seconds=2))
    assert rollups.rollup_refresh(now=NOW, settle_seconds=10)["annotations"] == 1
    assert rollups.rollup_refresh(now=NOW + dt.timedelta(seconds=20), settle_seconds=10)["annotations"] == 1


def test_project_annotator_rows_read_the_rollups_with_median_and_p90(work, django_assert_max_num_queries):
    project, (ann, bob), (first, second), gold = work
    annotate(first, ann, ["hate"], at=DAY1, ms=1000)
    annotate(second, ann, ["hate"], at=DAY2, ms=9000)
    annotate(first, bob, ["hate"], at=DAY2, ms=3000)
    annotate(gold, ann, ["hate"], at=DAY2)
    rollups.rollup_refresh(now=NOW, settle_seconds=0)
    with django_assert_max_num_queries(2):
        rows = selectors.project_annotator_rows(project=project, agreement={ann.pk: 0.7})
    by_id = {row["annotator_id"]: row for row in rows}
    assert by_id[ann.pk]["annotations"] == 2
    assert by_id[ann.pk]["gold_accuracy"] == 1.0
    assert by_id[ann.pk]["agreement"] == 0.7
    assert 0.9 <= by_id[ann.pk]["median_s"] <= 1.2  # the 1 s bucket
    assert 8 <= by_id[ann.pk]["p90_s"] <= 10.5
    assert by_id[bob.pk]["gold_accuracy"] is None


def test_project_dashboard_charts_from_rollups(work):
    project, (ann, bob), (first, second), _gold = work
    project.items_total, project.annotations_required, project.annotations_done = 2, 4, 3
    project.deadline = NOW.date() + dt.timedelta(days=10)
    project.save()
    annotate(first, ann, ["hate"], at=DAY1)
    annotate(first, bob, ["spam"], at=DAY2)
    annotate(second, ann, ["hate"], at=DAY2)
    rollups.rollup_refresh(now=NOW, settle_seconds=0)
    dashboard = selectors.project_dashboard(project=project, today=NOW.date())
    charts = dashboard["charts"]
    assert charts["burnup"]["completed"][-1] == 1
    assert charts["burnup"]["days"][-1] == project.deadline.isoformat()
    assert charts["burnup"]["plan"][-1] == 2
    assert len(charts["burnup"]["completed"]) < len(charts["burnup"]["days"])
    assert sum(charts["throughput"]["annotations"]) == 3
    assert dict(zip(charts["labels"]["labels"], charts["labels"]["done"], strict=True)) == {"hate": 66.7, "spam": 33.3}
    assert dashboard["forecast"].remaining == 1
    assert dashboard["throughput_7d"] == 3
    assert timezone.is_aware(NOW)


def test_rollup_refresh_task_and_beat_schedule(work, settings):
    _project, (ann, _bob), (first, _second), _gold = work
    annotate(first, ann, ["hate"], at=NOW - dt.timedelta(days=1))
    from workbench.tasks import rollup_refresh

    assert rollup_refresh.delay().get()["annotations"] == 1
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["projects.rollup_refresh"]["task"] == "projects.rollup_refresh"
    assert schedule["projects.risk_sweep"]["task"] == "projects.risk_sweep"
