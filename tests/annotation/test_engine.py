"""The assignment engine: next, leases, gold injection, overlap, skips, flags, wellness caps."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import User
from annotation import services
from annotation.models import Assignment, Flag, Item
from core.errors import NotAllowed, QuorumError
from projects.models import Membership
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, ItemFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def _people(project, count, **fields):
    people = []
    for index in range(count):
        person = UserFactory(username=f"worker{index}", role=User.Role.ANNOTATOR, **fields)
        Membership.objects.create(project=project, user=person, role=Membership.Role.ANNOTATOR)
        people.append(person)
    return people


def _items(project, count, **fields):
    batch = BatchFactory(project=project)
    return [ItemFactory(batch=batch, **fields) for _ in range(count)]


def test_next_gives_highest_priority_first_then_resumes_the_lease(live, annotator):
    _low, high, mid = _items(live, 3, required_annotations=1)
    Item.objects.filter(pk=high.pk).update(priority=10)
    Item.objects.filter(pk=mid.pk).update(priority=5)
    first = services.assignment_next(project=live, annotator=annotator, now=NOW)
    assert first.item_id == high.pk
    again = services.assignment_next(project=live, annotator=annotator, now=NOW + dt.timedelta(minutes=1))
    assert again.pk == first.pk  # the open lease is resumed, not a second one taken
    services.annotation_submit(assignment=first, labels=["safe"], actor=annotator, now=NOW)
    assert services.assignment_next(project=live, annotator=annotator, now=NOW).item_id == mid.pk


def test_next_never_gives_an_item_twice_or_beyond_its_overlap(live):
    items = _items(live, 4, required_annotations=2)
    people = _people(live, 5)
    taken: dict[int, list[int]] = {}
    for _round in range(4):
        for person in people:
            assignment = services.assignment_next(project=live, annotator=person, now=NOW)
            if assignment is None:
                continue
            taken.setdefault(assignment.item_id, []).append(person.pk)
            services.annotation_submit(assignment=assignment, labels=["safe"], actor=person, now=NOW)
    assert sorted(len(v) for v in taken.values()) == [2, 2, 2, 2]
    assert all(len(set(v)) == len(v) for v in taken.values())
    for item in Item.objects.filter(pk__in=[i.pk for i in items]):
        assert item.annotations_done == item.assigned_count == item.required_annotations == 2
    assert all(services.assignment_next(project=live, annotator=p, now=NOW) is None for p in people)


def test_expired_lease_returns_its_slot_and_late_submit_is_kept_if_room(live):
    (item,) = _items(live, 1, required_annotations=1)
    first, second = _people(live, 2)
    lease = services.assignment_next(project=live, annotator=first, now=NOW)
    assert services.assignment_next(project=live, annotator=second, now=NOW) is None
    later = NOW + dt.timedelta(minutes=live.lease_minutes + 1)
    # The lapsed lease is swept when nothing else is open, so the slot goes to the second annotator.
    taken = services.assignment_next(project=live, annotator=second, now=later)
    assert taken is not None and taken.item_id == item.pk
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.EXPIRED
    with pytest.raises(QuorumError, match="your lease expired and its 1 slots were taken meanwhile"):
        services.annotation_submit(assignment=lease, labels=["safe"], actor=first, now=later)


def test_late_submit_on_expired_lease_is_accepted_when_slot_is_free(live):
    (item,) = _items(live, 1, required_annotations=1)
    (person,) = _people(live, 1)
    lease = services.assignment_next(project=live, annotator=person, now=NOW)
    assert services.assignment_expire_sweep(now=NOW + dt.timedelta(hours=2)) == 1
    item.refresh_from_db()
    assert item.assigned_count == 0
    annotation = services.annotation_submit(
        assignment=lease, labels=["spam"], actor=person, now=NOW + dt.timedelta(hours=2)
    )
    item.refresh_from_db()
    assert annotation.labels == ["spam"] and item.assigned_count == 1 and item.annotations_done == 1


def test_gold_is_injected_at_the_rate_and_never_twice(live, annotator):
    live.gold_rate = 0.25
    live.save()
    regular = _items(live, 12, required_annotations=3)
    gold = _items(live, 2, required_annotations=3, is_gold=True, gold_labels=["hate"])
    sequence = []
    for _ in range(14):
        assignment = services.assignment_next(project=live, annotator=annotator, now=NOW)
        if assignment is None:
            break
        sequence.append("G" if assignment.is_gold else "r")
        services.annotation_submit(assignment=assignment, labels=["hate"], actor=annotator, now=NOW)
    # Every 4th assignment is gold while gold lasts; each gold item once.
    assert "".join(sequence) == "rrrGrrrGrrrrrr"
    assert Assignment.objects.filter(annotator=annotator, is_gold=True).count() == len(gold)
    for item in Item.objects.filter(pk__in=[g.pk for g in gold]):
        assert item.assigned_count == 0 and item.annotations_done == 0  # gold sits outside the overlap
    assert len(regular) == 12


def test_dynamic_overlap_grows_on_disagreement_up_to_max(live):
    live.max_overlap = 4
    live.dynamic_overlap_threshold = 0.7
    live.save()
    (item,) = _items(live, 1, required_annotations=2)
    people = _people(live, 5)
    answers = ["hate", "harassment", "hate", "spam"]
    for person, answer in zip(people, answers, strict=False):
        assignment = services.assignment_next(project=live, annotator=person, now=NOW)
        services.annotation_submit(assignment=assignment, labels=[answer], actor=person, now=NOW)
    item.refresh_from_db()
    # 2 answers split 1:1 → 3; 3 answers 2:1 (0.67 < 0.7) → 4; 4 is the maximum.
    assert item.required_annotations == 4 and item.annotations_done == 4
    assert services.assignment_next(project=live, annotator=people[4], now=NOW) is None


def test_agreeing_answers_keep_the_overlap(live):
    (item,) = _items(live, 1, required_annotations=2)
    for person in _people(live, 2):
        assignment = services.assignment_next(project=live, annotator=person, now=NOW)
        services.annotation_submit(assignment=assignment, labels=["safe"], actor=person, now=NOW)
    item.refresh_from_db()
    assert item.required_annotations == 2


def test_skip_frees_the_slot_and_never_returns_the_item(live, annotator):
    (item,) = _items(live, 1, required_annotations=1)
    assignment = services.assignment_next(project=live, annotator=annotator, now=NOW)
    with pytest.raises(QuorumError, match="reason: say why"):
        services.assignment_skip(assignment=assignment, actor=annotator, reason=" ")
    services.assignment_skip(assignment=assignment, actor=annotator, reason="Not in my language")
    services.assignment_skip(assignment=assignment, actor=annotator, reason="again")  # idempotent
    item.refresh_from_db()
    assert item.assigned_count == 0
    assert services.assignment_next(project=live, annotator=annotator, now=NOW) is None
    with pytest.raises(QuorumError, match="you skipped this item"):
        services.annotation_submit(assignment=assignment, labels=["safe"], actor=annotator)


def test_flag_raise_and_answer(live, annotator, lead):
    _items(live, 1)
    assignment = services.assignment_next(project=live, annotator=annotator, now=NOW)
    flag = services.flag_raise(assignment=assignment, actor=annotator, question="Is a slur in a quote hate?")
    assert flag.status == Flag.Status.OPEN and flag.item_id == assignment.item_id
    with pytest.raises(NotAllowed):
        services.flag_answer(flag=flag, actor=annotator, answer="yes")
    flag = services.flag_answer(flag=flag, actor=lead, answer="Yes unless it is condemned, see 3.2")
    assert flag.status == Flag.Status.ANSWERED and flag.answered_by == lead


def test_graphic_cap_switches_to_non_graphic_work(live, annotator):
    live.graphic_daily_cap = 2
    live.save()
    graphic = _items(live, 3, required_annotations=1, is_graphic=True)
    for item in graphic:
        Item.objects.filter(pk=item.pk).update(priority=10)
    calm = _items(live, 2, required_annotations=1)
    got = []
    for _ in range(4):
        assignment = services.assignment_next(project=live, annotator=annotator, now=NOW)
        got.append(assignment.item_id)
        services.annotation_submit(assignment=assignment, labels=["violence"], actor=annotator, now=NOW)
    assert got[:2] == [graphic[0].pk, graphic[1].pk]
    assert set(got[2:]) == {c.pk for c in calm}


def test_language_qualification_filters_items(live):
    live.require_language_match = True
    live.languages = ["en", "pt"]
    live.save()
    (person,) = _people(live, 1, languages=["pt"])
    english, portuguese = _items(live, 2, required_annotations=1)
    Item.objects.filter(pk=english.pk).update(language="en", priority=9)
    Item.objects.filter(pk=portuguese.pk).update(language="pt")
    assert services.assignment_next(project=live, annotator=person, now=NOW).item_id == portuguese.pk
    (stranger,) = [UserFactory(username="de-only", languages=["de"])]
    Membership.objects.create(project=live, user=stranger, role=Membership.Role.ANNOTATOR)
    with pytest.raises(QuorumError, match="work in none of the project's languages"):
        services.assignment_next(project=live, annotator=stranger, now=NOW)


def test_next_refuses_non_annotators_and_idle_phases(live, reviewer, project):
    with pytest.raises(NotAllowed):
        services.assignment_next(project=live, annotator=reviewer, now=NOW)
    live.phase = "qa"
    live.save()
    annotator = Membership.objects.get(project=live, role="annotator").user
    with pytest.raises(QuorumError, match="work is given out only in pilot and production"):
        services.assignment_next(project=live, annotator=annotator, now=NOW)


def test_modality_qualification(live):
    (person,) = _people(live, 1, modalities=["image"])
    with pytest.raises(QuorumError, match="not qualified for text content"):
        services.assignment_next(project=live, annotator=person, now=timezone.now())
