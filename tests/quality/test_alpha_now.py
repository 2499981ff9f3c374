"""Alpha as of now from the kept value counts (quality.valuecounts, LabelCounts,
label_counts_refresh / project_alpha_compute): always the value a project-scope report
computed now gives, however the kept row got out of step."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.models import Annotation, Item
from projects.models import Membership
from quality import valuecounts
from quality.agreement.matrices import NO_PAIRABLE
from quality.loading import Chunk, LabelSpace
from quality.models import LabelCounts
from quality.services.counts import label_counts_refresh, label_counts_store
from quality.services.reports import agreement_report_compute, project_alpha_compute
from tests.accounts.factories import UserFactory
from tests.quality.factories import KEYS, annotations_make, items_make, noisy_rows

pytestmark = pytest.mark.django_db

READERS = ["orm", "auto"]  # "auto" is the packed reader on PostgreSQL, the ORM one on SQLite


@pytest.fixture(autouse=True)
def _settled_at_once(settings):
    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 0  # every annotation counts as settled unless a test says not


def _fill(quality, *, items: int = 40, overlap: int = 3, seed: int = 0):
    regular = items_make(quality.batch, items)
    annotations_make(noisy_rows(regular, quality.people, overlap=overlap, accuracy=0.7, seed=seed))
    gold = items_make(quality.batch, 0, gold=[["hate"], ["safe"]])
    annotations_make([(item, person, "spam") for item in gold for person in quality.people])
    return regular, gold


def _report_alpha(project) -> float:
    return agreement_report_compute(project_id=project.pk, bootstrap=0).alpha


def _kept(project) -> LabelCounts:
    return LabelCounts.objects.get(project=project)


# --- The pure value ---------------------------------------------------------------------------------


def _chunk(item_ids, rows, keys) -> Chunk:
    indicator = np.zeros((len(rows), len(keys)), dtype=bool)
    for index, chosen in enumerate(rows):
        indicator[index, [keys.index(key) for key in chosen]] = True
    n = len(item_ids)
    ids = np.asarray(item_ids, dtype=np.int64)
    return Chunk(ids, np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64), indicator)


def test_value_counts_from_a_chunk_count_answers_per_item_and_category():
    keys = ("a", "b", "c")
    space = LabelSpace(keys=keys, severity=np.zeros(3, dtype=np.int64), multi=False)
    counts = valuecounts.from_chunk(
        _chunk([5, 5, 5, 9, 9], [["a"], ["b"], ["a"], ["c"], ["c"]], keys), space, valuecounts.for_space(space)
    )
    assert counts.item_ids.tolist() == [5, 9]
    assert counts.categories == (("a",), ("b",), ("c",))
    assert counts.counts.tolist() == [[2, 1, 0], [0, 0, 2]]


def test_multi_choice_categories_are_answer_sets_whatever_the_key_order():
    keys = ("x", "y", "z")
    space = LabelSpace(keys=keys, severity=np.zeros(3, dtype=np.int64), multi=True)
    counts = valuecounts.from_chunk(_chunk([1, 1, 1, 2], [["y", "x"], ["x", "y"], [], ["z"]], keys), space)
    assert counts.categories == ((), ("x", "y"), ("z",))  # distinct masks in ascending order
    assert counts.counts.tolist() == [[1, 2, 0], [0, 0, 1]]


def test_merge_adds_shared_items_and_aligns_categories_by_key():
    first = valuecounts.ValueCounts(np.array([1, 4]), np.array([[1, 0], [0, 2]]), (("a",), ("b",)))
    second = valuecounts.ValueCounts(np.array([2, 4]), np.array([[3, 0], [1, 1]]), (("b",), ("c",)))
    merged = valuecounts.merge(first, second)
    assert merged.categories == (("a",), ("b",), ("c",))
    assert merged.item_ids.tolist() == [1, 2, 4]
    assert merged.counts.tolist() == [[1, 0, 0], [0, 3, 0], [0, 3, 1]]
    # Disjoint and in order (how chunks arrive): concatenated, same result as the general path.
    tail = valuecounts.ValueCounts(np.array([7]), np.array([[0, 1]]), (("a",), ("b",)))
    assert valuecounts.merge(first, tail).counts.tolist() == [[1, 0], [0, 2], [0, 1]]
    assert valuecounts.merge(valuecounts.empty(), first).counts.tolist() == first.counts.tolist()


def test_pack_round_trips_and_refuses_what_does_not_fit():
    counts = valuecounts.ValueCounts(np.array([3, 8]), np.array([[1, 2], [0, 65535]]), (("a",), ("b",)))
    back = valuecounts.unpack(*valuecounts.pack(counts), counts.categories)
    assert back.item_ids.tolist() == [3, 8] and back.counts.tolist() == counts.counts.tolist()
    with pytest.raises(ValueError, match="more than 65535"):
        valuecounts.pack(valuecounts.ValueCounts(np.array([1]), np.array([[65536]]), (("a",),)))
    items, cells = valuecounts.pack(counts)
    with pytest.raises(ValueError, match="3 cells for 2 items × 2 categories"):
        valuecounts.unpack(items, cells[:-2], counts.categories)


def test_without_items_drops_only_the_named_rows():
    counts = valuecounts.ValueCounts(np.array([1, 2, 3]), np.array([[1], [2], [3]]), (("a",),))
    assert valuecounts.without_items(counts, [2, 99]).counts.tolist() == [[1], [3]]


# --- The service --------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_alpha_now_equals_a_report_computed_now_and_keeps_the_counts(quality, reader):
    _fill(quality)
    result = project_alpha_compute(project_id=quality.project.pk, reader=reader)
    assert result.rebuilt is True
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)
    regular = Annotation.objects.filter(project=quality.project, item__is_gold=False).count()
    assert result.n_annotations == regular  # gold items left out
    kept = _kept(quality.project)
    assert kept.n_annotations == Annotation.objects.filter(project=quality.project).count()  # gold kept in the row
    assert kept.through_annotation_id == Annotation.objects.filter(project=quality.project).latest("pk").pk
    again = project_alpha_compute(project_id=quality.project.pk, reader=reader)
    assert again.rebuilt is False and again.annotations_read == 0
    assert again.alpha.value == result.alpha.value


@pytest.mark.parametrize("reader", READERS)
def test_new_annotations_are_read_past_the_watermark_only(quality, reader):
    regular, _ = _fill(quality)
    project_alpha_compute(project_id=quality.project.pk, reader=reader)
    more = items_make(quality.batch, 10)
    annotations_make(noisy_rows(more, quality.people, overlap=3, accuracy=0.5, seed=9))
    # A late answer on an old item: its row in the kept matrix grows.
    annotations_make([(regular[0], person, "spam") for person in quality.people if not _answered(regular[0], person)])
    new = Annotation.objects.filter(project=quality.project).count() - _kept(quality.project).n_annotations
    result = project_alpha_compute(project_id=quality.project.pk, reader=reader)
    assert result.rebuilt is False and result.annotations_read == new
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)
    assert _kept(quality.project).n_annotations == Annotation.objects.filter(project=quality.project).count()


def _answered(item, person) -> bool:
    return Annotation.objects.filter(item=item, annotator=person).exists()


def test_unsettled_annotations_count_but_are_not_kept(quality, settings):
    _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    through = _kept(quality.project).through_annotation_id
    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 10
    annotations_make(noisy_rows(items_make(quality.batch, 5), quality.people, overlap=3, seed=4))
    result = project_alpha_compute(project_id=quality.project.pk)
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)
    assert result.annotations_read == 15
    assert _kept(quality.project).through_annotation_id == through  # not settled: read each time
    # Settled once they are older than the settling time.
    Annotation.objects.filter(pk__gt=through).update(submitted_at=timezone.now() - dt.timedelta(seconds=11))
    project_alpha_compute(project_id=quality.project.pk)
    assert _kept(quality.project).through_annotation_id > through


def test_a_deleted_annotation_makes_the_next_read_rebuild(quality):
    regular, _ = _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    doomed = Annotation.objects.filter(item=regular[3]).first()
    Annotation.objects.filter(pk=doomed.pk).delete()
    result = project_alpha_compute(project_id=quality.project.pk)
    assert result.rebuilt is True
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)
    assert _kept(quality.project).n_annotations == Annotation.objects.filter(project=quality.project).count()


def test_a_late_commit_under_the_watermark_makes_the_next_read_rebuild(quality):
    """An annotation whose id is under the watermark but which was not there when the row was
    kept (its transaction committed after a higher id was read): the count tells, and it is counted."""
    regular, _ = _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    kept = _kept(quality.project)
    late = annotations_make([(regular[1], p, "hate") for p in quality.people if not _answered(regular[1], p)][:1])
    LabelCounts.objects.filter(pk=kept.pk).update(through_annotation_id=late[0].pk)  # as if read before it landed
    result = project_alpha_compute(project_id=quality.project.pk)
    assert result.rebuilt is True
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)


def test_an_item_turning_gold_leaves_at_once_without_a_rebuild(quality):
    regular, _ = _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    Item.objects.filter(pk=regular[0].pk).update(is_gold=True, gold_labels=["safe"])
    result = project_alpha_compute(project_id=quality.project.pk)
    assert result.rebuilt is False
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)


def test_a_damaged_row_is_rebuilt(quality):
    _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    LabelCounts.objects.filter(project=quality.project).update(cells=b"\x00\x01\x02")
    result = project_alpha_compute(project_id=quality.project.pk)
    assert result.rebuilt is True
    assert result.alpha.value == pytest.approx(_report_alpha(quality.project), abs=1e-12)


def test_a_read_that_lost_the_race_leaves_the_newer_row(quality):
    _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    stale = _kept(quality.project)
    annotations_make(noisy_rows(items_make(quality.batch, 4), quality.people, overlap=3, seed=2))
    project_alpha_compute(project_id=quality.project.pk)  # moves the row on
    newer = _kept(quality.project)
    counts = label_counts_refresh(project_id=quality.project.pk).counts
    label_counts_store(
        quality.project.pk, stale, counts, through=stale.through_annotation_id, n_annotations=stale.n_annotations
    )
    assert _kept(quality.project).through_annotation_id == newer.through_annotation_id


def test_multi_choice_alpha_now_equals_the_report(multi):
    items = items_make(multi.batch, 12)
    rng = np.random.default_rng(5)
    keys = ["hate", "violence", "sexual", "spam"]
    rows = []
    for item in items:
        for person in multi.people[:3]:
            rows.append((item, person, sorted(set(rng.choice(keys, size=int(rng.integers(1, 3))).tolist()))))
    annotations_make(rows)
    first = project_alpha_compute(project_id=multi.project.pk)
    assert first.alpha.value == pytest.approx(_report_alpha(multi.project), abs=1e-12)
    annotations_make([(items[0], multi.people[3], ["spam", "hate"])])  # a set in another key order
    second = project_alpha_compute(project_id=multi.project.pk)
    assert second.rebuilt is False
    assert second.alpha.value == pytest.approx(_report_alpha(multi.project), abs=1e-12)


def test_alpha_now_of_a_project_without_pairs_says_why(quality):
    items = items_make(quality.batch, 3)
    annotations_make([(item, quality.people[0], KEYS[0]) for item in items])
    result = project_alpha_compute(project_id=quality.project.pk)
    assert result.alpha.value is None and result.alpha.reason == NO_PAIRABLE
    assert result.alpha.n_single == 3


def test_a_current_row_reads_in_a_fixed_number_of_queries(quality):
    _fill(quality)
    project_alpha_compute(project_id=quality.project.pk)
    annotations_make(noisy_rows(items_make(quality.batch, 30), quality.people, overlap=3, seed=8))
    project_alpha_compute(project_id=quality.project.pk)
    with CaptureQueriesContext(connection) as queries:
        project_alpha_compute(project_id=quality.project.pk)
    # project, label space (2), kept row, the count check, the settled id, the recent annotations, gold items
    assert len(queries) <= 9, [query["sql"][:80] for query in queries]


# --- The API ------------------------------------------------------------------------------------------


def test_api_alpha_for_members_only(quality, api_client):
    _fill(quality)
    url = "/api/v1/quality/alpha/"
    api_client.force_authenticate(quality.people[0])
    response = api_client.get(url, {"project": quality.project.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["alpha"] == pytest.approx(_report_alpha(quality.project), abs=1e-12)
    assert body["project"] == quality.project.pk
    assert body["n_annotations"] == Annotation.objects.filter(project=quality.project, item__is_gold=False).count()
    assert body["n_items"] == 40 and body["n_items_left_out"] == 0 and body["reason"] is None
    stranger = UserFactory()
    api_client.force_authenticate(stranger)
    assert api_client.get(url, {"project": quality.project.pk}).status_code == 404
    requester = UserFactory()
    Membership.objects.create(project=quality.project, user=requester, role=Membership.Role.REQUESTER)
    api_client.force_authenticate(requester)
    assert api_client.get(url, {"project": quality.project.pk}).status_code == 200
    api_client.force_authenticate(quality.people[0])
    missing = api_client.get(url)
    assert missing.status_code == 400 and missing.json()["field"] == "project"
