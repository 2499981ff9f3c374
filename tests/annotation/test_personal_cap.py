"""A person's own graphic cap (User.graphic_daily_cap) beside the project's: the lower one holds,
in the engine's one-statement context (the hot path) and in graphic_cap_reached alike; and
assignments_release, which ends a leaving member's leases."""

from __future__ import annotations

import datetime as dt

import pytest

from annotation import selectors, services
from annotation.models import Assignment, Item
from annotation.services.engine import assignments_release, work_start
from core.errors import QuorumError
from tests.annotation.factories import BatchFactory, ItemFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def _items(project, count, **fields):
    batch = BatchFactory(project=project)
    return [ItemFactory(batch=batch, required_annotations=1, **fields) for _ in range(count)]


@pytest.mark.parametrize(
    ("project_cap", "personal_cap", "expected"),
    [(0, None, None), (5, None, 5), (0, 2, 2), (5, 2, 2), (2, 5, 2), (5, 0, 0)],
)
def test_graphic_cap_for_takes_the_lower_cap(project_cap, personal_cap, expected):
    assert selectors.graphic_cap_for(project_cap=project_cap, personal_cap=personal_cap) == expected


def test_personal_cap_zero_gives_no_graphic_work_even_without_a_project_cap(live, annotator):
    live.graphic_daily_cap = 0  # the project has no cap
    live.save()
    annotator.graphic_daily_cap = 0
    annotator.save()
    graphic = _items(live, 2, is_graphic=True)
    Item.objects.filter(pk__in=[g.pk for g in graphic]).update(priority=10)
    (calm,) = _items(live, 1)
    assignment = services.assignment_next(project=live, annotator=annotator, now=NOW)
    assert assignment.item_id == calm.pk
    services.annotation_submit(assignment=assignment, labels=["safe"], actor=annotator, now=NOW)
    assert services.assignment_next(project=live, annotator=annotator, now=NOW) is None


def test_personal_cap_under_the_projects_stops_graphic_work_sooner(live, annotator):
    live.graphic_daily_cap = 10
    live.save()
    annotator.graphic_daily_cap = 1
    annotator.save()
    graphic = _items(live, 3, is_graphic=True)
    Item.objects.filter(pk__in=[g.pk for g in graphic]).update(priority=10)
    calm = _items(live, 2)
    got = []
    for _ in range(3):
        assignment = services.assignment_next(project=live, annotator=annotator, now=NOW)
        got.append(assignment.item_id)
        services.annotation_submit(assignment=assignment, labels=["violence"], actor=annotator, now=NOW)
    assert got[0] == graphic[0].pk
    assert set(got[1:]) == {c.pk for c in calm}


@pytest.mark.parametrize(("project_cap", "personal_cap"), [(0, 1), (3, 1), (1, None), (0, None), (1, 4)])
def test_next_context_counts_as_graphic_cap_reached_does(live, annotator, project_cap, personal_cap):
    live.graphic_daily_cap = project_cap
    live.save()
    annotator.graphic_daily_cap = personal_cap
    annotator.save()
    (item,) = _items(live, 1, is_graphic=True)
    services.assignment_create(item=item, annotator=annotator, now=NOW)
    _project, context = work_start(project_id=live.pk, annotator=annotator, now=NOW)
    assert context.graphic_capped == selectors.graphic_cap_reached(project=live, annotator=annotator, now=NOW)
    assert context.graphic_capped == (personal_cap == 1 or project_cap == 1)


def test_assignments_release_closes_open_leases_and_frees_their_slots(live, annotator, reviewer):
    _items(live, 2)
    done = services.assignment_next(project=live, annotator=annotator, now=NOW)
    annotation = services.annotation_submit(assignment=done, labels=["safe"], actor=annotator, now=NOW)
    open_lease = services.assignment_next(project=live, annotator=annotator, now=NOW)
    assert Item.objects.get(pk=open_lease.item_id).assigned_count == 1
    released = assignments_release(project=live, annotator=annotator, reason="released: removed", now=NOW)
    assert released == 1
    open_lease.refresh_from_db()
    assert open_lease.status == Assignment.Status.SKIPPED and open_lease.skip_reason == "released: removed"
    assert Item.objects.get(pk=open_lease.item_id).assigned_count == 0
    assert annotation.__class__.objects.filter(pk=annotation.pk).exists()  # their work stays
    with pytest.raises(QuorumError):  # a late submit of the released lease is refused
        services.annotation_submit(assignment=open_lease, labels=["safe"], actor=annotator, now=NOW)
    assert assignments_release(project=live, annotator=annotator, reason="again", now=NOW) == 0
