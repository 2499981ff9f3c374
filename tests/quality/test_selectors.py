"""The quality engine's reads: reports and trend, job status, queues, gold and audit accuracy, the
quality gate and root cause."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.models import Annotation
from projects.models import Membership, Project
from quality import gold
from quality.models import AgreementReport, AuditSample, QualityJob
from quality.selectors.accuracy import audit_accuracy, gold_accuracy
from quality.selectors.gate import NO_AUDIT, NO_GOLD, NO_REPORT, quality_gate, root_cause
from quality.selectors.jobs import quality_job_status
from quality.selectors.queues import adjudication_queue, audit_queue
from quality.selectors.reports import (
    agreement_report_is_stale,
    agreement_report_latest,
    agreement_report_latest_list,
    agreement_report_list,
    agreement_trend,
)
from quality.services.audits import review_record
from quality.services.consensus import consensus_compute
from quality.services.reports import agreement_report_compute
from tests.accounts.factories import UserFactory
from tests.annotation.factories import GuidelineFactory
from tests.quality.factories import annotations_make, items_make, noisy_rows, quality_project

pytestmark = pytest.mark.django_db


def _bars(project, **bars):
    Project.objects.filter(pk=project.pk).update(**bars)


def _report(project, *, computed_at=None, **fields):
    values = {
        "scope": "project", "scope_key": "", "computed_at": computed_at or timezone.now(), "n_annotations": 10,
        "n_items": 5, "n_items_left_out": 0, "n_annotators": 2, **fields,
    }  # fmt: skip
    return AgreementReport.objects.create(project=project, **values)


# --- Reports ----------------------------------------------------------------------------------------


def test_agreement_report_latest_per_scope_and_trend(quality):
    project = quality.project
    start = timezone.now() - dt.timedelta(days=10)
    for day, alpha in enumerate([0.5, 0.6, 0.7]):
        _report(project, computed_at=start + dt.timedelta(days=day), alpha=alpha)
    _report(project, computed_at=start, scope="label", scope_key="hate", alpha=0.2)
    newest_label = _report(
        project, computed_at=start + dt.timedelta(days=1), scope="label", scope_key="hate", alpha=0.3
    )
    window = _report(
        project, computed_at=start + dt.timedelta(days=5), scope="window", alpha=0.9,
        window_start=start, window_end=start + dt.timedelta(days=1),
    )  # fmt: skip
    _report(
        project,
        computed_at=start + dt.timedelta(days=6),
        alpha=0.99,
        window_start=start,
        window_end=start + dt.timedelta(days=2),
    )

    latest = agreement_report_latest(project_id=project.pk)
    assert latest.alpha == 0.7  # the windowed project report does not stand for the whole project
    assert agreement_report_latest(project_id=project.pk, scope="label", scope_key="hate") == newest_label
    assert agreement_report_latest(project_id=project.pk, scope="window") == window
    with CaptureQueriesContext(connection) as queries:
        per_scope = agreement_report_latest_list(project_id=project.pk)
    assert len(queries) == 1
    assert sorted((r.scope, r.scope_key, r.alpha) for r in per_scope) == [
        ("label", "hate", 0.3), ("project", "", 0.7), ("project", "", 0.99), ("window", "", 0.9),
    ]  # fmt: skip
    trend = agreement_trend(project_id=project.pk)
    assert [row["alpha"] for row in trend] == [0.5, 0.6, 0.7]
    assert [row["alpha"] for row in agreement_trend(project_id=project.pk, limit=2)] == [0.6, 0.7]


def test_agreement_report_list_and_job_status_are_scoped_to_visible_projects(quality, other_lead):
    report = _report(quality.project, alpha=0.5)
    job = QualityJob.objects.create(project=quality.project, kind="agreement_report", status="running", progress=0.4)
    assert list(agreement_report_list(user=quality.lead)) == [report]
    assert list(agreement_report_list(user=other_lead)) == []
    status = quality_job_status(user=quality.reviewer, job_id=job.pk)
    assert status == {
        "id": job.pk, "kind": "agreement_report", "status": "running", "progress": 0.4, "message": "", "error": "",
        "report_id": None, "result": {}, "finished": False,
    }  # fmt: skip
    with pytest.raises(QualityJob.DoesNotExist):
        quality_job_status(user=other_lead, job_id=job.pk)


# --- Queues -----------------------------------------------------------------------------------------


def test_audit_queue_for_a_reviewer(quality, lead):
    items = items_make(quality.batch, 6)
    annotations = annotations_make([(item, quality.people[0], "hate") for item in items])
    annotations += annotations_make([(items[0], quality.people[1], "spam")])
    other_project, other_people, other_batch = quality_project(lead=lead, name="Elsewhere")
    elsewhere = annotations_make([(items_make(other_batch, 1)[0], other_people[0], "hate")])[0]
    colleague = UserFactory()
    Membership.objects.create(project=quality.project, user=colleague, role=Membership.Role.REVIEWER)
    # The reviewer also annotates: their own annotation never reaches them.
    Membership.objects.create(project=quality.project, user=quality.reviewer, role=Membership.Role.ANNOTATOR)
    own = annotations_make([(items[1], quality.reviewer, "safe")])[0]
    samples = [
        AuditSample.objects.create(project=quality.project, annotation=annotation, stratum="random")
        for annotation in annotations
    ]
    AuditSample.objects.create(project=quality.project, annotation=own, stratum="random")
    AuditSample.objects.create(project=other_project, annotation=elsewhere, stratum="random")
    AuditSample.objects.filter(pk=samples[1].pk).update(reviewer=colleague)  # someone else's
    AuditSample.objects.filter(pk=samples[2].pk).update(status="reviewed")
    AuditSample.objects.filter(pk=samples[3].pk).update(reviewer=quality.reviewer)  # assigned to them
    AuditSample.objects.filter(pk=samples[0].pk).update(created_at=timezone.now() + dt.timedelta(minutes=1))
    with CaptureQueriesContext(connection) as queries:
        queue = list(audit_queue(reviewer=quality.reviewer))
        [sample.annotation.item.external_id for sample in queue]
    assert len(queries) == 1
    assert [s.pk for s in queue] == [samples[3].pk, samples[4].pk, samples[5].pk, samples[6].pk, samples[0].pk]
    assert audit_queue(reviewer=quality.reviewer, project_id=other_project.pk).count() == 0
    assert audit_queue(reviewer=quality.people[2]).count() == 0  # not a reviewer


def test_adjudication_queue_leaves_out_a_reviewers_own_items(quality):
    items = items_make(quality.batch, 3, required_annotations=2)  # each gets all its votes
    a, b = quality.people[:2]
    annotations_make([(item, a, "hate") for item in items] + [(item, b, "spam") for item in items])
    annotations_make([(items[2], quality.reviewer, "hate")])
    consensus_compute(project_id=quality.project.pk, method="majority")
    assert adjudication_queue(project_id=quality.project.pk).count() == 3
    with CaptureQueriesContext(connection) as queries:
        queue = [
            c.item.external_id for c in adjudication_queue(project_id=quality.project.pk, reviewer=quality.reviewer)
        ]
    assert len(queries) == 1 and len(queue) == 2


# --- Gold -------------------------------------------------------------------------------------------


def _gold_answers(quality, answers_by_person):
    """Gold items answered per person: {person index: [(gold answer, given label), ...]}."""
    for index, pairs in answers_by_person.items():
        items = items_make(quality.batch, 0, gold=[[answer] for answer, _ in pairs])
        annotations_make([(item, quality.people[index], given) for item, (_, given) in zip(items, pairs, strict=True)])


def test_gold_accuracy_per_annotator_and_label_with_flags(quality):
    _bars(quality.project, min_gold_accuracy=0.8)
    _gold_answers(
        quality,
        {
            0: [("hate", "hate")] * 12,  # 12/12
            1: [("hate", "hate")] * 6 + [("spam", "safe")] * 6,  # 6/12: flagged
            2: [("safe", "safe")] + [("violence", "hate")] * 4,  # 1/5: under the bar, too few to flag
        },
    )
    figures = gold_accuracy(project_id=quality.project.pk)
    assert figures.bar == 0.8 and figures.min_items == quality.project.gold_min_items == 10
    rows = {row["annotator_id"]: row for row in figures.annotators}
    first, second, third = (rows[p.pk] for p in quality.people[:3])
    assert (first["n"], first["correct"], first["accuracy"], first["flagged"]) == (12, 12, 1.0, False)
    assert (second["accuracy"], second["below_bar"], second["flagged"]) == (0.5, True, True)
    assert (third["accuracy"], third["below_bar"], third["flagged"]) == (0.2, True, False)
    assert third["confidently_below"] is True  # even the interval's top (0.62) is under: watched, not flagged
    low, high = gold.wilson_interval([6], [12])
    assert second["low"] == pytest.approx(low[0]) and second["high"] == pytest.approx(high[0])
    assert second["username"] == quality.people[1].username
    assert figures.flagged_ids == [quality.people[1].pk]
    labels = {row["key"]: row for row in figures.labels}
    assert (labels["hate"]["n"], labels["hate"]["correct"]) == (18, 18)
    assert (labels["spam"]["n"], labels["spam"]["correct"]) == (6, 0)
    assert (labels["violence"]["n"], labels["violence"]["correct"]) == (4, 0)
    assert figures.overall["n"] == 29 and figures.overall["correct"] == 19


def test_gold_accuracy_without_a_bar_or_answers(quality):
    empty = gold_accuracy(project_id=quality.project.pk)
    assert empty.overall == {"n": 0, "correct": 0, "accuracy": None, "low": None, "high": None}
    _gold_answers(quality, {0: [("hate", "spam")] * 12})
    row = gold_accuracy(project_id=quality.project.pk).annotators[0]
    assert row["accuracy"] == 0.0 and row["flagged"] is False  # no bar, nothing to flag against


def test_gold_accuracy_accepts_any_of_several_gold_labels(quality):
    item = items_make(quality.batch, 0, gold=[["hate", "harassment"]])[0]
    annotations_make([(item, quality.people[0], "harassment"), (item, quality.people[1], "spam")])
    figures = gold_accuracy(project_id=quality.project.pk)
    assert figures.overall["correct"] == 1 and figures.labels == [
        {"key": "hate", "n": 2, "correct": 1, "accuracy": 0.5, "low": pytest.approx(0.0945, abs=1e-4),
         "high": pytest.approx(0.9055, abs=1e-4)},
    ]  # fmt: skip


def test_gold_accuracy_of_a_multi_choice_schema(multi):
    items = items_make(multi.batch, 0, gold=[["hate", "violence"], ["spam"]])
    a, b = multi.people[:2]
    annotations_make([(items[0], a, ["hate", "violence"]), (items[1], a, ["spam"])])
    annotations_make([(items[0], b, ["hate"]), (items[1], b, ["spam", "sexual"])])
    figures = gold_accuracy(project_id=multi.project.pk)
    rows = {row["annotator_id"]: row for row in figures.annotators}
    assert rows[a.pk]["accuracy"] == 1.0 and rows[b.pk]["accuracy"] == 0.0  # exact set match
    labels = {row["key"]: row for row in figures.labels}
    assert (labels["violence"]["n"], labels["violence"]["correct"]) == (4, 3)  # b missed it once
    assert (labels["sexual"]["n"], labels["sexual"]["correct"]) == (4, 3)  # b added it once


# --- Audits -----------------------------------------------------------------------------------------


def _reviewed(quality, stratum, verdict, *, person=0, labels="hate", cause=""):
    item = items_make(quality.batch, 1)[0]
    annotation = annotations_make([(item, quality.people[person], labels)])[0]
    sample = AuditSample.objects.create(project=quality.project, annotation=annotation, stratum=stratum)
    correct = None if verdict == "correct" else ["spam"]
    review_record(sample=sample, reviewer=quality.reviewer, verdict=verdict, correct_labels=correct, error_cause=cause)


def test_audit_accuracy_overall_comes_from_the_random_stratum_only(quality):
    for _ in range(8):
        _reviewed(quality, "random", "correct", person=0)
    _reviewed(quality, "random", "incorrect", person=1, cause="careless")
    _reviewed(quality, "random", "incorrect", person=1, labels="harassment", cause="guideline_gap")
    for _ in range(6):
        _reviewed(quality, "under_bar", "incorrect", person=1, cause="guideline_gap")
    pending = annotations_make([(items_make(quality.batch, 1)[0], quality.people[2], "safe")])[0]
    AuditSample.objects.create(project=quality.project, annotation=pending, stratum="random")
    with CaptureQueriesContext(connection) as queries:
        figures = audit_accuracy(project_id=quality.project.pk)
    assert len(queries) == 3
    assert (figures.overall["n"], figures.overall["correct"], figures.overall["accuracy"]) == (10, 8, 0.8)
    assert (figures.all_strata["n"], figures.all_strata["accuracy"]) == (16, 0.5)
    assert figures.pending == 1
    strata = {row["stratum"]: row for row in figures.strata}
    assert strata["under_bar"]["accuracy"] == 0.0 and strata["random"]["n"] == 10
    people = {row["annotator_id"]: row for row in figures.annotators}
    assert people[quality.people[0].pk]["accuracy"] == 1.0 and people[quality.people[1].pk]["n"] == 8
    assert people[quality.people[1].pk]["username"] == quality.people[1].username
    assert {row["key"]: row["n"] for row in figures.labels} == {"hate": 15, "harassment": 1}
    assert figures.error_causes == [
        {"cause": "guideline_gap", "n": 7, "share": 7 / 8},
        {"cause": "careless", "n": 1, "share": 1 / 8},
    ]


def test_audit_accuracy_without_reviews(quality):
    figures = audit_accuracy(project_id=quality.project.pk)
    assert figures.overall["accuracy"] is None and figures.annotators == [] and figures.pending == 0


# --- The quality gate -------------------------------------------------------------------------------


def _agreeing(quality, *, items=20, accuracy=0.95, seed=0):
    annotations_make(noisy_rows(items_make(quality.batch, items), quality.people, accuracy=accuracy, seed=seed))


def test_quality_gate_passes_without_bars(quality):
    result = quality_gate(project_id=quality.project.pk)
    assert result.passed and result.reasons == [] and [c.threshold for c in result.checks] == [None, None, None]


def test_quality_gate_fails_with_every_missing_figure(quality):
    _bars(quality.project, min_alpha=0.6, min_gold_accuracy=0.8, min_audit_accuracy=0.9)
    result = quality_gate(project_id=quality.project.pk)
    assert not result.passed
    assert result.reasons == [NO_REPORT, NO_GOLD, NO_AUDIT]


def test_quality_gate_alpha_reasons(quality):
    _bars(quality.project, min_alpha=0.6)
    same = items_make(quality.batch, 3)
    annotations_make([(item, person, "safe") for item in same for person in quality.people[:2]])
    agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    assert quality_gate(project_id=quality.project.pk).reasons[0].startswith("alpha is undefined: every")
    _agreeing(quality, accuracy=0.3, seed=1)
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    assert quality_gate(project_id=quality.project.pk).reasons == [f"alpha {report.alpha:.3f} is under the bar 0.600"]
    _agreeing(quality, items=200, accuracy=1.0, seed=2)
    result = quality_gate(project_id=quality.project.pk)
    assert "older than the latest annotations; recompute it" in result.reasons[0]
    agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    result = quality_gate(project_id=quality.project.pk)
    assert result.passed and result.checks[0].value > 0.6


def test_quality_gate_gold_and_audit_reasons_and_passing(quality):
    _bars(quality.project, min_gold_accuracy=0.8, min_audit_accuracy=0.75)
    _gold_answers(quality, {0: [("hate", "hate")] * 3 + [("hate", "spam")] * 2})
    _reviewed(quality, "random", "correct")
    _reviewed(quality, "random", "incorrect", cause="careless")
    result = quality_gate(project_id=quality.project.pk)
    assert result.reasons == [
        "gold accuracy 0.600 is under the bar 0.800 (5 answers)",
        "audit accuracy 0.500 is under the bar 0.750 (2 reviewed random samples)",
    ]
    _gold_answers(quality, {1: [("hate", "hate")] * 10})
    for _ in range(4):
        _reviewed(quality, "random", "correct")
    for _ in range(3):
        _reviewed(quality, "under_bar", "incorrect", cause="careless")  # targeted: not in the estimate
    result = quality_gate(project_id=quality.project.pk)
    assert result.passed and result.reasons == []
    assert [c.value for c in result.checks] == [None, pytest.approx(13 / 15), pytest.approx(5 / 6)]


# --- Root cause -------------------------------------------------------------------------------------


def test_root_cause_gathers_labels_pairs_annotators_causes_and_guideline_versions(quality):
    _bars(quality.project, min_gold_accuracy=0.8)
    v1 = quality.project.guidelines.get(version=1)
    v2 = GuidelineFactory(project=quality.project, version=2, created_by=quality.lead, note="clarified hate")
    annotations_make(noisy_rows(items_make(quality.batch, 40), quality.people, accuracy=0.5, seed=3), guideline=v1)
    annotations_make(noisy_rows(items_make(quality.batch, 40), quality.people, accuracy=0.9, seed=4), guideline=v2)
    _gold_answers(quality, {3: [("hate", "spam")] * 10 + [("hate", "hate")] * 2})
    _reviewed(quality, "random", "incorrect", person=3, cause="misread_content")
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=0)

    cause = root_cause(project_id=quality.project.pk)
    assert cause.report == report
    alphas = [row["alpha"] for row in cause.labels]
    assert alphas == sorted(alphas) and {row["key"] for row in cause.labels} == set(report.details["per_label_alpha"])
    assert cause.confused_pairs == report.details["confused_pairs"]
    weakest = cause.annotators[0]
    assert weakest["annotator_id"] == quality.people[3].pk and weakest["gold_flagged"]
    assert weakest["audit_n"] == 1 and weakest["audit_accuracy"] == 0.0 and weakest["agreement"] is not None
    assert {row["annotator_id"] for row in cause.annotators} == {p.pk for p in quality.people}
    assert cause.error_causes == [{"cause": "misread_content", "n": 1, "share": 1.0}]
    first, second = cause.guideline_versions
    assert (first["version"], first["alpha_before"], first["change"]) == (1, None, None)
    assert (
        second["version"] == 2 and second["note"] == "clarified hate" and second["n_annotations"] == 121
    )  # with the reviewed one
    assert second["alpha_before"] == first["alpha"] and second["change"] == pytest.approx(
        second["alpha"] - first["alpha"]
    )
    assert second["change"] > 0


def test_root_cause_without_a_report(quality):
    cause = root_cause(project_id=quality.project.pk)
    assert cause.report is None and cause.labels == [] and cause.annotators == []
    assert [row["alpha"] for row in cause.guideline_versions] == [None]


def test_agreement_report_is_stale_follows_new_annotations(quality):
    _agreeing(quality, items=5)
    report = agreement_report_compute(project_id=quality.project.pk, bootstrap=0)
    assert not agreement_report_is_stale(report)
    annotation = Annotation.objects.filter(project=quality.project).first()
    annotations_make([(annotation.item, quality.reviewer, "safe")])
    assert agreement_report_is_stale(report)
