"""The quality engine's services on the real database: agreement reports and their jobs, consensus
and adjudication, audit samples and reviews. Figures are checked against the pure core functions
run on the same annotations (to 1e-9)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation import services as annotation_services
from annotation.models import Annotation, Item
from annotation.selectors import schema_version_current
from core.errors import NotAllowed, QuorumError
from projects.models import Membership, Project
from quality import aggregation, encoding, figures
from quality.agreement.alpha import per_label_alpha
from quality.agreement.matrices import multilabel_counts
from quality.models import Adjudication, AgreementReport, AuditSample, Consensus, QualityJob, Review
from quality.report import quality_report
from quality.selectors.queues import adjudication_queue, consensus_final_labels
from quality.selectors.reports import agreement_stale_project_ids
from quality.services import jobs as job_services
from quality.services import reports as report_services
from quality.services.audits import (
    audit_sample_draw,
    audit_sample_plan,
    review_record,
    seeded_uniform,
    stratum_allocation,
)
from quality.services.consensus import adjudication_record, consensus_compute, consensus_enqueue
from quality.services.jobs import JOB_STALE_AFTER
from quality.services.reports import agreement_refresh, agreement_report_compute, agreement_report_enqueue
from tests.accounts.factories import UserFactory
from tests.annotation.factories import BatchFactory, GuidelineFactory
from tests.quality.factories import (
    KEYS,
    MULTI_LABELS,
    SEVERITY,
    annotations_make,
    items_make,
    noisy_rows,
)

pytestmark = pytest.mark.django_db

READERS = ["orm", "auto"]  # "auto" is the packed reader on PostgreSQL, the ORM one on SQLite


# --- Helpers ------------------------------------------------------------------------------------------


def _fill(quality, *, items: int = 60, overlap: int = 3, accuracy: float = 0.75, seed: int = 0, batch=None):
    """Regular items with `overlap` noisy answers each, four single-annotated items, and two gold
    items answered by everyone (left out of agreement)."""
    batch = batch or quality.batch
    regular = items_make(batch, items)
    annotations_make(noisy_rows(regular, quality.people, overlap=overlap, accuracy=accuracy, seed=seed))
    singles = items_make(batch, 4)
    annotations_make([(item, quality.people[i], KEYS[i]) for i, item in enumerate(singles)])
    gold = items_make(batch, 0, gold=[["hate"], ["safe"]])
    annotations_make([(item, person, "spam") for item in gold for person in quality.people])
    return regular, singles, gold


def _rows(project, **filters):
    return list(
        Annotation.objects.filter(project=project, item__is_gold=False, **filters)
        .order_by("item_id", "annotator_id")
        .values_list("item_id", "annotator_id", "labels")
    )


def _codes(rows):
    item_ids = sorted({row[0] for row in rows})
    annotator_ids = sorted({row[1] for row in rows})
    items = encoding.codes_for([row[0] for row in rows], item_ids, what="item")
    annotators = encoding.codes_for([row[1] for row in rows], annotator_ids, what="annotator")
    return items, annotators, item_ids, annotator_ids


def _oracle(rows, *, keys=KEYS, severity=SEVERITY, bootstrap=200, seed=0):
    """The core's whole report on the same annotations, encoded independently of the service."""
    items, annotators, item_ids, annotator_ids = _codes(rows)
    labels = encoding.label_codes([row[2] for row in rows], keys)
    report = quality_report(
        items,
        annotators,
        labels,
        n_items=len(item_ids),
        n_annotators=len(annotator_ids),
        n_categories=len(keys),
        label_keys=keys,
        severity=severity,
        n_resamples=bootstrap,
        seed=seed,
        dawid_skene=False,
    )
    return report, annotator_ids


def _close(value, expected):
    if expected is None or (isinstance(expected, float) and np.isnan(expected)):
        return value is None
    return value == pytest.approx(expected, abs=1e-9)


def _same_report(first: AgreementReport, second: AgreementReport) -> None:
    columns = [
        "n_annotations", "n_items", "n_items_left_out", "n_annotators", "alpha", "alpha_low", "alpha_high",
        "alpha_ordinal", "observed_agreement", "fleiss_kappa",
    ]  # fmt: skip
    for column in columns:
        assert _close(getattr(first, column), getattr(second, column)), column
    one = {k: v for k, v in first.details.items() if k != "seconds"}
    two = {k: v for k, v in second.details.items() if k != "seconds"}
    assert one.keys() == two.keys()
    for key in one:
        assert _json_close(one[key], two[key]), key


def _json_close(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_json_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_json_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, abs=1e-9)
    return a == b


# --- Agreement reports: the figures -------------------------------------------------------------------


@pytest.mark.parametrize("reader", READERS)
def test_agreement_report_figures_equal_the_core_functions(quality, reader):
    _fill(quality)
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=200, seed=3, reader=reader)
    oracle, annotator_ids = _oracle(_rows(quality.project), bootstrap=200, seed=3)

    assert _close(report.alpha, oracle.alpha.value)
    assert _close(report.alpha_low, oracle.alpha_ci.low) and _close(report.alpha_high, oracle.alpha_ci.high)
    assert report.alpha_low < report.alpha < report.alpha_high
    assert _close(report.alpha_ordinal, oracle.severity_alpha.value)
    assert _close(report.observed_agreement, oracle.observed_agreement)
    assert _close(report.fleiss_kappa, oracle.fleiss.value)
    details = report.details
    for key in KEYS:
        assert _close(details["per_label_alpha"][key], oracle.per_label_alpha[key])
    assert np.allclose(details["coincidences"], oracle.coincidences, atol=1e-9)
    assert [(p["label_a"], p["label_b"]) for p in details["confused_pairs"]] == list(
        zip(oracle.confused_pairs["label_a"], oracle.confused_pairs["label_b"], strict=True)
    )
    assert details["pairwise_kappa"]["n_pairs"] == len(oracle.pairwise_kappa.table)
    assert _close(details["pairwise_kappa"]["mean"], float(oracle.pairwise_kappa.table["kappa"].mean()))
    by_annotator = {row["annotator_id"]: row for row in details["annotators"]}
    for code, annotator_id in enumerate(annotator_ids):
        expected = oracle.annotators.loc[code]
        assert _close(by_annotator[annotator_id]["agreement"], float(expected["agreement"]))
        assert _close(by_annotator[annotator_id]["kappa"], float(expected["kappa"]))
        assert by_annotator[annotator_id]["n_annotations"] == int(expected["n_annotations"])


def test_agreement_report_counts_what_went_in_and_leaves_gold_and_single_items_out(quality):
    _fill(quality, items=30, overlap=3)
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    assert report.n_annotations == 30 * 3 + 4  # the gold items' ten answers are not in
    assert report.n_items == 34
    assert report.n_items_left_out == 4 and report.n_items_pairable == 30
    assert report.n_annotators == 5
    assert report.details["alpha"]["n_single"] == 4
    assert report.alpha_low is None and report.details["alpha_ci"] is None  # bootstrap=0: no interval
    assert report.source_annotations == 30 * 3 + 4 + 10  # the source state counts everything
    assert report.source_last_submitted_at is not None


@pytest.mark.parametrize("reader", READERS)
def test_agreement_report_streamed_in_small_chunks_equals_one_shot(quality, reader):
    _fill(quality, items=40)
    small = agreement_report_compute(project_id=quality.project.pk, bootstrap=100, chunk_size=7, reader=reader)
    whole = agreement_report_compute(project_id=quality.project.pk, bootstrap=100, chunk_size=10**6, reader=reader)
    _same_report(small, whole)


def test_agreement_report_readers_agree(quality):
    _fill(quality, items=40)
    orm = agreement_report_compute(project_id=quality.project.pk, bootstrap=100, reader="orm")
    auto = agreement_report_compute(project_id=quality.project.pk, bootstrap=100, reader="auto")
    _same_report(orm, auto)


def test_agreement_report_query_count_does_not_grow_with_the_data(quality):
    _fill(quality, items=10)
    with CaptureQueriesContext(connection) as small:
        agreement_report_compute(project_id=quality.project.pk, bootstrap=10, chunk_size=5)
    _fill(quality, items=80, seed=1)
    with CaptureQueriesContext(connection) as large:
        agreement_report_compute(project_id=quality.project.pk, bootstrap=10, chunk_size=5)
    assert len(large) == len(small) <= 10


def test_agreement_report_of_a_multi_choice_schema(multi):
    rng = np.random.default_rng(5)
    keys = [label["key"] for label in MULTI_LABELS]
    severity = [label["severity"] for label in MULTI_LABELS]
    items = items_make(multi.batch, 40)
    rows = []
    for item in items:
        truth = {key for key in keys if rng.random() < 0.35} or {keys[0]}
        for person in multi.people[:3]:
            chosen = {key for key in keys if (key in truth) != (rng.random() < 0.15)} or {keys[3]}
            rows.append((item, person, sorted(chosen, key=keys.index)))
    annotations_make(rows)
    report = agreement_report_compute(project_id=multi.project.pk, bootstrap=100, seed=1)

    db_rows = _rows(multi.project)
    items_codes, annotators, item_ids, annotator_ids = _codes(db_rows)
    indicator = encoding.label_indicator([row[2] for row in db_rows], keys)
    present, per_item = multilabel_counts(items_codes, indicator, n_items=len(item_ids))
    per_label = per_label_alpha(present, per_item)
    for key, value in zip(keys, per_label, strict=True):
        assert _close(report.details["per_label_alpha"][key], float(value))
    # The nominal value is the whole answer: one category per distinct set, numbered (size, labels).
    sets = sorted({tuple(np.flatnonzero(row)) for row in indicator}, key=lambda s: (len(s), s))
    category = {answer: code for code, answer in enumerate(sets)}
    categories = np.array([category[tuple(np.flatnonzero(row))] for row in indicator])
    set_severity = [max(severity[i] for i in answer) for answer in sets]
    oracle = quality_report(
        items_codes, annotators, categories, n_items=len(item_ids), n_annotators=len(annotator_ids),
        n_categories=len(sets), severity=set_severity, n_resamples=100, seed=1, dawid_skene=False,
    )  # fmt: skip
    assert report.details["values"] == "sets"
    assert report.details["categories"] == ["+".join(keys[i] for i in answer) for answer in sets]
    assert _close(report.alpha, oracle.alpha.value)
    assert _close(report.alpha_low, oracle.alpha_ci.low) and _close(report.alpha_high, oracle.alpha_ci.high)
    assert _close(report.alpha_ordinal, oracle.severity_alpha.value)
    assert _close(report.fleiss_kappa, oracle.fleiss.value)
    assert _close(report.observed_agreement, oracle.observed_agreement)


def test_agreement_report_spans_schema_versions(quality):
    """Annotations made under v1 keep their key after v2 drops it: the label space has both."""
    project = quality.project
    v1 = schema_version_current(schema_id=project.label_schema_id)
    items = items_make(quality.batch, 6)
    annotations_make([(item, person, "hate") for item in items[:3] for person in quality.people[:2]], version=v1)
    v2_labels = [{"key": k, "name": k.title(), "severity": s} for k, s in zip(KEYS[:4], SEVERITY[:4], strict=True)]
    annotation_services.schema_version_create(
        schema=project.label_schema,
        labels=[*v2_labels, {"key": "scam", "name": "Scam", "severity": 2}],
        actor=quality.lead,
    )
    v2 = schema_version_current(schema_id=project.label_schema_id)
    annotations_make([(item, person, "scam") for item in items[3:] for person in quality.people[:2]], version=v2)
    annotations_make([(items[0], quality.people[2], "violence")], version=v1)
    report = agreement_report_compute(project_id=project.pk, bootstrap=0)
    assert report.details["label_keys"] == ["safe", "spam", "hate", "harassment", "scam", "violence"]
    assert report.n_annotations == 13
    assert report.details["per_label_alpha"]["violence"] is not None


def test_agreement_report_names_the_annotation_with_an_unknown_label(quality):
    items = items_make(quality.batch, 2)
    annotations_make([(item, person, "hate") for item in items for person in quality.people[:2]])
    bad = annotations_make([(items[0], quality.people[2], "nope")])[0]
    for reader in READERS:
        with pytest.raises(ValueError, match=rf"annotation {bad.pk}: unknown label key 'nope'"):
            agreement_report_compute(project_id=quality.project.pk, bootstrap=0, reader=reader)
    assert not AgreementReport.objects.exists()


def test_agreement_report_of_a_project_without_annotations_is_empty_not_an_error(quality):
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=50)
    assert (report.n_annotations, report.n_items, report.alpha, report.alpha_low) == (0, 0, None, None)
    assert "nothing to compare" in report.details["alpha"]["reason"]


def test_agreement_report_undefined_alpha_says_why(quality):
    items = items_make(quality.batch, 5)
    annotations_make([(item, person, "safe") for item in items for person in quality.people[:3]])
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=20)
    assert report.alpha is None and report.observed_agreement == 1.0
    assert "0/0" in report.details["alpha"]["reason"]


# --- Agreement reports: scopes ------------------------------------------------------------------------


def test_agreement_report_batch_scope_measures_only_that_batch(quality):
    _fill(quality, items=20, seed=1)
    other = BatchFactory(project=quality.project)
    _fill(quality, items=25, seed=2, batch=other)
    report = agreement_report_compute(
        project_id=quality.project.pk, scope="batch", scope_key=str(other.pk), bootstrap=50
    )
    oracle, _ = _oracle(_rows(quality.project, item__batch=other), bootstrap=50)
    assert (report.scope, report.scope_key) == ("batch", str(other.pk))
    assert report.n_items == 29 and report.n_items_left_out == 4
    assert _close(report.alpha, oracle.alpha.value) and _close(report.alpha_low, oracle.alpha_ci.low)


def test_agreement_report_label_scope_is_that_labels_binary_alpha(quality):
    _fill(quality, items=50)
    project_report = agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    report = agreement_report_compute(project_id=quality.project.pk, scope="label", scope_key="hate", bootstrap=100)
    assert report.details["values"] == "binary" and report.details["categories"] == ["not hate", "hate"]
    assert _close(report.alpha, project_report.details["per_label_alpha"]["hate"])
    assert report.alpha_ordinal is None
    assert report.alpha_low <= report.alpha <= report.alpha_high


def test_agreement_report_annotator_scope_is_the_items_they_labelled(quality):
    _fill(quality, items=40)
    person = quality.people[1]
    report = agreement_report_compute(
        project_id=quality.project.pk, scope="annotator", scope_key=str(person.pk), bootstrap=0
    )
    theirs = set(Annotation.objects.filter(annotator=person, item__is_gold=False).values_list("item_id", flat=True))
    oracle, _ = _oracle(_rows(quality.project, item_id__in=theirs), bootstrap=1)
    assert report.n_items == len(theirs)
    assert _close(report.alpha, oracle.alpha.value)
    assert report.details["annotator"]["annotator_id"] == person.pk
    project_report = agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    row = next(r for r in project_report.details["annotators"] if r["annotator_id"] == person.pk)
    assert _close(report.details["annotator"]["agreement"], row["agreement"])  # the same leave-one-out figure


def test_agreement_report_guideline_version_scope_and_per_version_alpha(quality):
    project = quality.project
    v1 = project.guidelines.get(version=1)
    v2 = GuidelineFactory(project=project, version=2, created_by=quality.lead)
    first, second = items_make(quality.batch, 30), items_make(quality.batch, 30)
    annotations_make(noisy_rows(first, quality.people, accuracy=0.5, seed=1), guideline=v1)
    annotations_make(noisy_rows(second, quality.people, accuracy=0.95, seed=2), guideline=v2)
    report = agreement_report_compute(project_id=project.pk, scope="guideline_version", scope_key="2", bootstrap=0)
    oracle, _ = _oracle(_rows(project, guideline=v2), bootstrap=1)
    assert report.n_annotations == 90 and _close(report.alpha, oracle.alpha.value)
    by_version = agreement_report_compute(project_id=project.pk, bootstrap=0).details["by_guideline_version"]
    assert set(by_version) == {"1", "2"}
    assert by_version["2"]["n_annotations"] == 90 and _close(by_version["2"]["alpha"], oracle.alpha.value)
    assert by_version["1"]["alpha"] < by_version["2"]["alpha"]


def test_agreement_report_window_scope_and_a_window_on_another_scope(quality):
    old, new = items_make(quality.batch, 20), items_make(quality.batch, 20)
    january = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    march = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
    annotations_make(noisy_rows(old, quality.people, seed=1), submitted_at=january)
    annotations_make(noisy_rows(new, quality.people, seed=2), submitted_at=march)
    window = [dt.date(2026, 3, 1), dt.date(2026, 4, 1)]
    report = agreement_report_compute(project_id=quality.project.pk, scope="window", window=window, bootstrap=0)
    assert report.n_items == 20 and report.n_annotations == 60
    assert report.window_start == dt.datetime(2026, 3, 1, tzinfo=dt.UTC) and report.window_end.month == 4
    oracle, _ = _oracle(_rows(quality.project, submitted_at__gte=march - dt.timedelta(days=1)), bootstrap=1)
    assert _close(report.alpha, oracle.alpha.value)
    iso = ["2026-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00"]
    batch_window = agreement_report_compute(
        project_id=quality.project.pk, scope="batch", scope_key=str(quality.batch.pk), window=iso, bootstrap=0
    )
    assert batch_window.n_items == 20 and batch_window.window_start.month == 1


@pytest.mark.parametrize(
    ("scope", "key", "window", "message"),
    [
        ("team", "", None, "scope: 'team' is not one of"),
        ("project", "3", None, "the project scope takes no key"),
        ("window", "", None, "the window scope needs"),
        ("batch", "", None, "say which batch"),
        ("batch", "999999", None, "has no batch 999999"),
        ("batch", "x", None, "'x' is not a batch number"),
        ("label", "gore", None, "'gore' is not a label"),
        ("guideline_version", "7", None, "has no guideline version 7"),
        ("annotator", "999999", None, "there is no annotator 999999"),
        ("window", "", ["2026-02-01", "2026-01-01"], "is not before the end"),
        ("window", "", ["yesterday", "2026-01-01"], "'yesterday' is not an ISO date"),
        ("window", "", [dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)], "has no time zone"),  # noqa: DTZ001
        ("window", "", ["2026-01-01"], "give [start, end)"),
    ],
)
def test_agreement_report_refuses_a_bad_scope(quality, scope, key, window, message):
    with pytest.raises(QuorumError, match=message.replace("[", r"\[").replace(")", r"\)")):
        agreement_report_compute(project_id=quality.project.pk, scope=scope, scope_key=key, window=window)
    with pytest.raises(QuorumError):
        agreement_report_enqueue(
            project_id=quality.project.pk, actor=quality.lead, scope=scope, scope_key=key, window=window
        )
    assert not QualityJob.objects.exists() and not AgreementReport.objects.exists()


# --- Agreement reports: jobs ---------------------------------------------------------------------------


def test_agreement_report_enqueue_runs_the_task_on_commit(quality, django_capture_on_commit_callbacks):
    _fill(quality, items=20)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead, bootstrap=50)
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == QualityJob.Status.SUCCEEDED and job.progress == 1.0 and job.finished_at
    assert job.report is not None and job.report.n_items == 24 and job.report.created_by == quality.lead
    assert job.params == {"scope": "project", "scope_key": "", "window": None, "bootstrap": 50, "seed": 0}
    assert job.result == {"report_id": job.report.pk, "alpha": job.report.alpha}


def test_agreement_report_enqueue_is_for_leads_and_folds_identical_requests(quality):
    with pytest.raises(NotAllowed, match="is not a lead"):
        agreement_report_enqueue(project_id=quality.project.pk, actor=quality.people[0])
    first = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead)
    again = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead)
    other = agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead, seed=1)
    assert again.pk == first.pk and other.pk != first.pk
    QualityJob.objects.filter(pk=first.pk).update(created_at=timezone.now() - JOB_STALE_AFTER * 2)
    assert agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead).pk != first.pk
    with pytest.raises(QuorumError, match="bootstrap"):
        agreement_report_enqueue(project_id=quality.project.pk, actor=quality.lead, bootstrap=-1)


def test_agreement_report_job_computed_twice_stores_one_report(quality):
    _fill(quality, items=10)
    job = agreement_report_enqueue(project_id=quality.project.pk, actor=None, bootstrap=10)
    report = agreement_report_compute(project_id=quality.project.pk, job_id=job.pk, bootstrap=10)
    again = agreement_report_compute(project_id=quality.project.pk, job_id=job.pk, bootstrap=10)
    assert again.pk == report.pk and AgreementReport.objects.count() == 1


def test_agreement_report_killed_while_writing_leaves_no_report(quality, monkeypatch):
    _fill(quality, items=10)
    job = agreement_report_enqueue(project_id=quality.project.pk, actor=None, bootstrap=10)

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(report_services, "job_succeed", crash)  # agreement_report_compute looks it up there
    with pytest.raises(RuntimeError):
        agreement_report_compute(project_id=quality.project.pk, job_id=job.pk, bootstrap=10)
    assert not AgreementReport.objects.exists()
    job.refresh_from_db()
    assert job.status == QualityJob.Status.RUNNING and job.report is None  # a re-delivery starts over


@pytest.mark.django_db(transaction=True)
def test_agreement_report_progress_is_written_outside_the_report_transaction(lead, reviewer, monkeypatch):
    from tests.quality.factories import quality_project

    project, people, batch = quality_project(lead=lead, annotators=4)
    items = items_make(batch, 30)
    annotations_make(noisy_rows(items, people))
    job = agreement_report_enqueue(project_id=project.pk, actor=None, bootstrap=10)  # eager: runs at once
    job.refresh_from_db()
    assert job.status == QualityJob.Status.SUCCEEDED
    seen = []
    progress = job_services.quality_job_progress

    def spy(**kwargs):
        seen.append((kwargs["progress"], connection.in_atomic_block))
        progress(**kwargs)
        row = QualityJob.objects.values("progress", "status").get(pk=kwargs["job_id"])
        assert row["status"] == "running" and row["progress"] == pytest.approx(min(kwargs["progress"], 1.0))

    monkeypatch.setattr(job_services, "quality_job_progress", spy)  # jobs.Progress writes through it
    fresh = QualityJob.objects.create(project=project, kind="agreement_report", params={})
    agreement_report_compute(project_id=project.pk, job_id=fresh.pk, bootstrap=10, chunk_size=10)
    assert len(seen) >= 4  # three chunks read, then the computing and saving steps
    assert all(not in_atomic for _, in_atomic in seen)
    assert [p for p, _ in seen] == sorted(p for p, _ in seen)


def test_agreement_refresh_queues_reports_for_projects_with_new_annotations(
    quality, lead, django_capture_on_commit_callbacks
):
    _fill(quality, items=10)
    from tests.quality.factories import quality_project

    closed, closed_people, closed_batch = quality_project(lead=lead, name="Closed")
    annotations_make(noisy_rows(items_make(closed_batch, 5), closed_people))
    Project.objects.filter(pk=closed.pk).update(phase=Project.Phase.CLOSED)
    quality_project(lead=lead, name="Empty")  # no annotations: nothing to measure
    assert agreement_stale_project_ids() == [quality.project.pk]
    with django_capture_on_commit_callbacks(execute=True):
        jobs = agreement_refresh()
    assert len(jobs) == 1 and AgreementReport.objects.filter(project=quality.project).count() == 1
    assert agreement_stale_project_ids() == []
    with django_capture_on_commit_callbacks(execute=True):
        assert agreement_refresh() == []
    annotations_make([(items_make(quality.batch, 1)[0], quality.people[0], "spam")])
    assert agreement_stale_project_ids() == [quality.project.pk]


# --- Consensus and adjudication -------------------------------------------------------------------------


def _votes(quality):
    """Item 0: hate ×2, spam (2/3); item 1: safe ×3; item 2: hate vs spam (tie); item 3: one vote."""
    items = items_make(quality.batch, 4)
    a, b, c = quality.people[:3]
    annotations_make(
        [
            (items[0], a, "hate"), (items[0], b, "hate"), (items[0], c, "spam"),
            (items[1], a, "safe"), (items[1], b, "safe"), (items[1], c, "safe"),
            (items[2], a, "hate"), (items[2], b, "spam"),
            (items[3], c, "violence"),
        ]
    )  # fmt: skip
    return items


def test_consensus_majority_with_votes_ties_and_adjudication(quality):
    items = _votes(quality)
    summary = consensus_compute(project_id=quality.project.pk, method="majority")
    assert summary == {
        "method": "majority", "items": 4, "needs_adjudication": 2, "ties": 1, "min_confidence": 0.8, "iterations": None,
    }  # fmt: skip
    rows = {c.item_id: c for c in Consensus.objects.all()}
    assert (rows[items[0].pk].labels, rows[items[0].pk].votes) == (["hate"], {"hate": 2, "spam": 1})
    assert rows[items[0].pk].confidence == pytest.approx(2 / 3) and rows[items[0].pk].needs_adjudication
    assert rows[items[1].pk].confidence == 1.0 and not rows[items[1].pk].needs_adjudication
    assert rows[items[2].pk].tie and rows[items[2].pk].needs_adjudication
    assert rows[items[3].pk].n_annotations == 1 and rows[items[3].pk].labels == ["violence"]


def test_consensus_sends_items_under_the_projects_own_threshold_to_adjudication(quality):
    items = _votes(quality)
    quality.project.consensus_min_confidence = 0.6  # item 0's 2/3 majority is now enough
    quality.project.save()
    summary = consensus_compute(project_id=quality.project.pk, method="majority")
    assert (summary["min_confidence"], summary["needs_adjudication"]) == (0.6, 1)
    assert not Consensus.objects.get(item=items[0]).needs_adjudication
    job = consensus_enqueue(project_id=quality.project.pk, actor=quality.lead, method="majority")
    assert job.params == {"method": "majority", "min_confidence": 0.6}


def test_consensus_dawid_skene_equals_the_core_and_recomputing_updates_in_place(quality):
    regular = items_make(quality.batch, 40)
    annotations_make(noisy_rows(regular, quality.people, accuracy=0.7, seed=4))
    consensus_compute(project_id=quality.project.pk, method="dawid_skene", min_confidence=0.9)
    rows = _rows(quality.project)
    items, annotators, item_ids, annotator_ids = _codes(rows)
    labels = encoding.label_codes([row[2] for row in rows], KEYS)
    estimate = aggregation.dawid_skene(
        items, annotators, labels, n_items=len(item_ids), n_annotators=len(annotator_ids), n_categories=len(KEYS)
    )
    stored = {c.item_id: c for c in Consensus.objects.filter(project=quality.project)}
    for code, item_id in enumerate(item_ids):
        assert stored[item_id].labels == [KEYS[estimate.label[code]]]
        assert stored[item_id].confidence == pytest.approx(estimate.confidence[code], abs=1e-9)
        assert stored[item_id].needs_adjudication == bool(estimate.confidence[code] < 0.9 or stored[item_id].tie)
    done = set(Annotation.objects.filter(item=regular[0]).values_list("annotator_id", flat=True))
    annotations_make([(regular[0], p, "violence") for p in quality.people if p.pk not in done])
    consensus_compute(project_id=quality.project.pk, method="majority")
    assert Consensus.objects.filter(project=quality.project).count() == 40
    assert Consensus.objects.get(item=regular[0]).n_annotations == 5


def test_consensus_of_a_multi_choice_schema_is_label_by_label(multi):
    item, split = items_make(multi.batch, 2)
    a, b, c, _ = multi.people
    annotations_make(
        [
            (item, a, ["hate", "violence"]), (item, b, ["hate"]), (item, c, ["hate", "spam"]),
            (split, a, ["sexual"]), (split, b, ["spam"]),
        ]
    )  # fmt: skip
    consensus_compute(project_id=multi.project.pk, method="majority")
    first = Consensus.objects.get(item=item)
    assert first.labels == ["hate"] and first.votes == {"hate": 3, "violence": 1, "spam": 1}
    assert first.confidence == pytest.approx(2 / 3)  # violence and spam: 2 of 3 said no
    second = Consensus.objects.get(item=split)
    assert second.tie and second.needs_adjudication  # one yes, one no on sexual and on spam
    summary = consensus_compute(project_id=multi.project.pk, method="dawid_skene")
    assert summary["items"] == 2 and summary["iterations"] >= 1


def test_consensus_enqueue_runs_on_commit_and_refuses_bad_parameters(quality, django_capture_on_commit_callbacks):
    _votes(quality)
    with django_capture_on_commit_callbacks(execute=True):
        job = consensus_enqueue(project_id=quality.project.pk, actor=quality.lead, method="majority")
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["items"] == 4 and job.kind == "consensus"
    with pytest.raises(QuorumError, match="method"):
        consensus_enqueue(project_id=quality.project.pk, actor=quality.lead, method="vote")
    with pytest.raises(QuorumError, match="min_confidence"):
        consensus_enqueue(project_id=quality.project.pk, actor=quality.lead, min_confidence=2)
    with pytest.raises(NotAllowed):
        consensus_enqueue(project_id=quality.project.pk, actor=quality.reviewer)


def test_adjudication_record_settles_an_item_and_empties_the_queue(quality):
    items = _votes(quality)
    Item.objects.filter(pk=items[2].pk).update(required_annotations=2)  # the tie is all its votes
    consensus_compute(project_id=quality.project.pk, method="majority")
    queue = list(adjudication_queue(project_id=quality.project.pk))
    assert [c.item_id for c in queue] == [items[2].pk, items[0].pk]  # least confident first
    adjudication = adjudication_record(
        item=items[2], reviewer=quality.reviewer, labels=["hate"], reason="a slur aimed at a group"
    )
    assert adjudication.project == quality.project and adjudication.labels == ["hate"]
    assert [c.item_id for c in adjudication_queue(project_id=quality.project.pk)] == [items[0].pk]
    adjudication_record(item=items[2], reviewer=quality.lead, labels="harassment")  # a correction
    final = {c.item_id: c for c in consensus_final_labels(project_id=quality.project.pk)}
    assert final[items[2].pk].adjudicated_labels == ["harassment"]
    assert final[items[1].pk].adjudicated_labels is None


@pytest.mark.parametrize(
    ("who", "labels", "error", "message"),
    [
        ("annotator", ["hate"], NotAllowed, "is not a reviewer"),
        ("author", ["hate"], NotAllowed, "annotated item"),
        ("reviewer", ["gore"], QuorumError, "'gore' is not a label"),
        ("reviewer", ["hate", "spam"], QuorumError, "single-choice"),
        ("reviewer", [], QuorumError, "choose at least one label"),
    ],
)
def test_adjudication_record_refuses(quality, who, labels, error, message):
    items = _votes(quality)
    author = quality.people[0]
    Membership.objects.create(project=quality.project, user=author, role=Membership.Role.REVIEWER)
    user = {"annotator": quality.people[4], "author": author, "reviewer": quality.reviewer}[who]
    with pytest.raises(error, match=message):
        adjudication_record(item=items[0], reviewer=user, labels=labels)
    assert not Adjudication.objects.exists()


def test_adjudication_record_refuses_gold_items(quality):
    gold = items_make(quality.batch, 0, gold=[["hate"]])[0]
    with pytest.raises(QuorumError, match="gold item"):
        adjudication_record(item=gold, reviewer=quality.reviewer, labels=["hate"])


# --- Audits ---------------------------------------------------------------------------------------------


def _audit_data(quality, *, per_annotator: int = 120):
    """Annotators 0-3 label `per_annotator` items each; annotator 4 (new) labels 30 of them;
    annotator 1 is under the gold bar (6 of 12), annotator 0 above it (12 of 12)."""
    Project.objects.filter(pk=quality.project.pk).update(min_gold_accuracy=0.8)
    items = items_make(quality.batch, per_annotator)
    rng = np.random.default_rng(0)
    rows = [(item, person, KEYS[int(rng.integers(5))]) for item in items for person in quality.people[:4]]
    rows += [(item, quality.people[4], "spam") for item in items[:30]]
    annotations_make(rows)
    gold = items_make(quality.batch, 0, gold=[["hate"]] * 12)
    annotations_make([(item, quality.people[0], "hate") for item in gold])
    annotations_make([(item, quality.people[1], "hate" if i % 2 else "safe") for i, item in enumerate(gold)])
    return items, gold


def test_audit_sample_draw_strata_stay_inside_the_share(quality):
    _audit_data(quality)
    regular = Annotation.objects.filter(project=quality.project, item__is_gold=False)
    total = regular.count()
    plan = audit_sample_plan(project_id=quality.project.pk, share=0.1, seed=7, actor=quality.lead)
    assert not AuditSample.objects.exists()  # a plan draws nothing
    samples = audit_sample_draw(project_id=quality.project.pk, share=0.1, seed=7, actor=quality.lead)
    # The share means what it says: ⌈10%⌉ of the annotations, not 10% plus every top-up.
    assert len(samples) == AuditSample.objects.count() == math.ceil(0.1 * total) == plan.target == plan.planned
    by_stratum = {}
    for sample in AuditSample.objects.select_related("annotation"):
        by_stratum.setdefault(sample.stratum, []).append(sample.annotation)
    # The preview said exactly what was drawn, per stratum.
    assert plan.by_stratum == {name: len(rows) for name, rows in by_stratum.items()}
    # Every stratum that asks gets some; the random one at least half.
    assert {"random", "under_bar", "new_annotator", "annotator_label"} == set(by_stratum)
    assert all(row["wanted"] >= row["planned"] for row in plan.strata)
    assert sum(row["wanted"] for row in plan.strata) > plan.planned  # the strata asked for more
    assert len(by_stratum["random"]) >= math.ceil(len(samples) / 2)
    # Random: the annotations with the smallest fixed coins under the share, whoever wrote them.
    ids = np.array(sorted(regular.values_list("id", flat=True)))
    coins = seeded_uniform(ids, 7)
    under = ids[coins < 0.1][np.argsort(coins[coins < 0.1], kind="stable")]
    assert {a.pk for a in by_stratum["random"]} == set(under[: len(by_stratum["random"])].tolist())
    # Targeted: only the annotator under the gold bar in under_bar; gold answers never drawn.
    assert all(a.annotator_id == quality.people[1].pk for a in by_stratum["under_bar"])
    sampled = AuditSample.objects.filter(project=quality.project)
    assert not sampled.filter(annotation__item__is_gold=True).exists()


def test_a_share_of_ten_percent_over_210_annotations_draws_21(quality):
    """The issue's case: 0.1 over 210 annotations, every annotator new (the old draw gave 84)."""
    items = items_make(quality.batch, 70)
    annotations_make([(item, person, KEYS[(i + j) % 3]) for i, item in enumerate(items) for j, person in
                      enumerate(quality.people[:3])])  # fmt: skip
    plan = audit_sample_plan(project_id=quality.project.pk, share=0.1, seed=0, actor=quality.lead)
    assert (plan.annotations, plan.target, plan.planned) == (210, 21, 21)
    assert len(audit_sample_draw(project_id=quality.project.pk, share=0.1, actor=quality.lead)) == 21
    # A larger share later tops the project up to its new total, no more.
    assert len(audit_sample_draw(project_id=quality.project.pk, share=0.2, actor=quality.lead)) == 21
    assert len(audit_sample_draw(project_id=quality.project.pk, share=0.1, actor=quality.lead)) == 0
    # All of it: every annotation, once.
    assert len(audit_sample_draw(project_id=quality.project.pk, share=1, actor=quality.lead)) == 210 - 42
    assert AuditSample.objects.values("annotation").distinct().count() == 210


@pytest.mark.parametrize(
    ("wanted", "budget", "given"),
    [
        # Enough for everybody: what each asks.
        ({"random": 5, "under_bar": 2, "new_annotator": 0, "annotator_label": 3}, 20, [5, 2, 0, 3]),
        # One each, random up to half, the rest in proportion to what is still asked.
        ({"random": 21, "under_bar": 0, "new_annotator": 42, "annotator_label": 21}, 21, [12, 0, 6, 3]),
        # A budget smaller than the strata that ask: one each in draw order, never more in all.
        ({"random": 4, "under_bar": 4, "new_annotator": 4, "annotator_label": 4}, 2, [1, 1, 0, 0]),
        ({"random": 0, "under_bar": 0, "new_annotator": 9, "annotator_label": 1}, 5, [0, 0, 4, 1]),
        ({"random": 3, "under_bar": 0, "new_annotator": 0, "annotator_label": 0}, 0, [0, 0, 0, 0]),
    ],
)
def test_stratum_allocation_never_exceeds_the_budget(wanted, budget, given):
    allocation = stratum_allocation(wanted, budget)
    assert [allocation[name] for name in ("random", "under_bar", "new_annotator", "annotator_label")] == given
    assert sum(allocation.values()) == min(budget, sum(wanted.values()))
    assert all(allocation[name] <= wanted[name] for name in wanted)


def test_audit_sample_draw_is_idempotent_and_draws_new_annotations_later(quality):
    _audit_data(quality)
    first = audit_sample_draw(project_id=quality.project.pk, share=0.1, seed=7)
    assert audit_sample_draw(project_id=quality.project.pk, share=0.1, seed=7) == []
    late = items_make(quality.batch, 60)
    annotations_make([(item, quality.people[0], "safe") for item in late])
    second = audit_sample_draw(project_id=quality.project.pk, share=0.1, seed=7)
    total = Annotation.objects.filter(project=quality.project, item__is_gold=False).count()
    # The total follows the share of all annotations; nothing is drawn twice.
    assert AuditSample.objects.count() == len(first) + len(second) == math.ceil(0.1 * total)
    assert not {s.annotation_id for s in second} & {s.annotation_id for s in first}
    assert AuditSample.objects.values("annotation").distinct().count() == AuditSample.objects.count()


@pytest.mark.parametrize("share", [0, -0.1, 1.5, True, "0.1"])
def test_audit_sample_draw_refuses_a_bad_share(quality, share):
    with pytest.raises(QuorumError, match="share"):
        audit_sample_draw(project_id=quality.project.pk, share=share)


def test_audit_sample_draw_is_for_leads(quality):
    with pytest.raises(NotAllowed):
        audit_sample_draw(project_id=quality.project.pk, share=0.1, actor=quality.reviewer)
    assert audit_sample_draw(project_id=quality.project.pk, share=0.1, actor=quality.lead) == []


def _sample(quality, labels="hate", author=0, stratum=AuditSample.Stratum.RANDOM):
    item = items_make(quality.batch, 1)[0]
    annotation = annotations_make([(item, quality.people[author], labels)])[0]
    return AuditSample.objects.create(project=quality.project, annotation=annotation, stratum=stratum)


def test_review_record_correct_and_incorrect(quality):
    sample = _sample(quality)
    review = review_record(sample=sample, reviewer=quality.reviewer, verdict="correct", note=" fine ")
    assert (review.correct_labels, review.error_cause, review.note) == (["hate"], "", "fine")
    sample.refresh_from_db()
    assert sample.status == "reviewed" and sample.reviewer == quality.reviewer
    assert review_record(sample=sample, reviewer=quality.reviewer, verdict="correct").pk == review.pk
    with pytest.raises(QuorumError, match="already reviewed by reviewer"):
        review_record(
            sample=sample,
            reviewer=quality.reviewer,
            verdict="incorrect",
            correct_labels=["spam"],
            error_cause="careless",
        )
    wrong = _sample(quality)
    review = review_record(
        sample=wrong,
        reviewer=quality.lead,
        verdict="incorrect",
        correct_labels="harassment",
        error_cause="guideline_gap",
    )
    assert review.correct_labels == ["harassment"] and Review.objects.count() == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"verdict": "maybe"}, "verdict: 'maybe' is not a verdict; choose correct or incorrect"),
        ({"verdict": ""}, "verdict: no verdict given"),
        ({"verdict": "correct", "error_cause": "careless"}, "a correct annotation has no error cause"),
        ({"verdict": "correct", "correct_labels": ["spam"]}, "a correct verdict keeps"),
        (
            {"verdict": "incorrect", "correct_labels": ["spam"]},
            "error_cause: say why it is wrong \\(no cause given\\): “The guideline does not cover it”, “Misread",
        ),
        ({"verdict": "incorrect", "correct_labels": ["spam"], "error_cause": "bad luck"}, "error_cause: say why"),
        (
            {"verdict": "incorrect", "correct_labels": ["hate"], "error_cause": "careless"},
            "the annotation's own labels",
        ),
        ({"verdict": "incorrect", "correct_labels": ["gore"], "error_cause": "careless"}, "'gore' is not a label"),
        ({"verdict": "incorrect", "error_cause": "careless"}, "choose at least one label"),
    ],
)
def test_review_record_refuses_an_inconsistent_verdict(quality, kwargs, message):
    sample = _sample(quality)
    with pytest.raises(QuorumError, match=message):
        review_record(sample=sample, reviewer=quality.reviewer, **kwargs)
    assert not Review.objects.exists()
    sample.refresh_from_db()
    assert sample.status == "pending"


def test_review_record_permissions(quality):
    sample = _sample(quality, author=0)
    with pytest.raises(NotAllowed, match="is not a reviewer"):
        review_record(sample=sample, reviewer=quality.people[1], verdict="correct")
    with pytest.raises(NotAllowed, match="is not a reviewer"):
        review_record(sample=sample, reviewer=UserFactory(), verdict="correct")
    Membership.objects.create(project=quality.project, user=quality.people[0], role=Membership.Role.REVIEWER)
    with pytest.raises(NotAllowed, match="another reviewer audits it"):
        review_record(sample=sample, reviewer=quality.people[0], verdict="correct")
    other = UserFactory()
    Membership.objects.create(project=quality.project, user=other, role=Membership.Role.REVIEWER)
    AuditSample.objects.filter(pk=sample.pk).update(reviewer=other)
    with pytest.raises(NotAllowed, match="assigned to another reviewer"):
        review_record(sample=sample, reviewer=quality.reviewer, verdict="correct")
    assert review_record(sample=sample, reviewer=other, verdict="correct").reviewer == other
    Membership.objects.filter(user=quality.reviewer).update(is_active=False)
    former = type(quality.reviewer).objects.get(pk=quality.reviewer.pk)  # roles are cached per user object
    with pytest.raises(NotAllowed):
        review_record(sample=_sample(quality), reviewer=former, verdict="correct")


def test_review_record_of_a_multi_choice_annotation(multi):
    item = items_make(multi.batch, 1)[0]
    annotation = annotations_make([(item, multi.people[0], ["hate"])])[0]
    sample = AuditSample.objects.create(project=multi.project, annotation=annotation, stratum="random")
    review = review_record(
        sample=sample,
        reviewer=multi.reviewer,
        verdict="incorrect",
        correct_labels=["hate", "violence"],
        error_cause="misread_content",
    )
    assert review.correct_labels == ["hate", "violence"]


def test_review_record_keeps_one_review_per_sample(quality):
    sample = _sample(quality)
    with transaction.atomic():
        review_record(sample=sample, reviewer=quality.reviewer, verdict="correct")
        with pytest.raises(QuorumError, match="already reviewed"):
            review_record(
                sample=sample,
                reviewer=quality.lead,
                verdict="incorrect",
                correct_labels=["spam"],
                error_cause="careless",
            )
    assert Review.objects.filter(sample=sample).count() == 1


def test_figures_accumulator_rejects_unordered_chunks():
    from quality.loading import Chunk, LabelSpace

    space = LabelSpace(keys=("a", "b"), severity=np.zeros(2, dtype=np.int64), multi=False)
    chunk = Chunk(
        item_ids=np.array([2, 1]),
        annotator_ids=np.array([1, 1]),
        guideline_ids=np.array([0, 0]),
        indicator=np.array([[True, False], [False, True]]),
    )
    with pytest.raises(ValueError, match="ordered by item"):
        figures.Accumulator(space).add(chunk)


def test_report_and_consensus_of_an_empty_multi_choice_project(multi):
    report = agreement_report_compute(project_id=multi.project.pk, bootstrap=10)
    assert (report.n_items, report.alpha, report.details["values"]) == (0, None, "sets")
    assert consensus_compute(project_id=multi.project.pk)["items"] == 0
