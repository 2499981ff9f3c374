"""The quality engine's Celery tasks, run in-process (eager): thin, idempotent, failures on the job."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from config import celery_app
from quality import figures, tasks
from quality.models import AgreementReport, AuditSample, Consensus, QualityJob
from quality.services import reports as report_services
from tests.quality.factories import annotations_make, items_make, noisy_rows

pytestmark = pytest.mark.django_db


def _data(quality, items=20):
    annotations_make(noisy_rows(items_make(quality.batch, items), quality.people, seed=1))


def _job(quality, **params):
    return QualityJob.objects.create(
        project=quality.project,
        kind="agreement_report",
        params={"scope": "project", "scope_key": "", "window": None, "bootstrap": 20, "seed": 0, **params},
    )


def test_agreement_report_task_computes_once(quality):
    _data(quality)
    job = _job(quality)
    result = tasks.agreement_report_compute.delay(job.pk).get()
    report = AgreementReport.objects.get()
    assert result == {"job_id": job.pk, "status": "succeeded", "report_id": report.pk, "alpha": report.alpha}
    again = tasks.agreement_report_compute.delay(job.pk).get()  # a re-delivered message
    assert again == {"job_id": job.pk, "status": "succeeded", "report_id": report.pk, "repeated": True}
    assert AgreementReport.objects.count() == 1


def test_agreement_report_task_failure_marks_the_job_and_leaves_no_report(quality, monkeypatch):
    _data(quality)
    job = _job(quality)

    def broken(*args, **kwargs):
        raise ValueError("the matrix is upside down")

    monkeypatch.setattr(figures, "agreement_figures", broken)
    result = tasks.agreement_report_compute.delay(job.pk).get()
    assert result == {"job_id": job.pk, "status": "failed", "error": "the matrix is upside down"}
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "ValueError: the matrix is upside down" and job.finished_at
    assert not AgreementReport.objects.exists()
    assert tasks.agreement_report_compute.delay(job.pk).get()["repeated"] is True  # failed stays failed


def test_agreement_report_task_fails_the_job_on_bad_data(quality):
    item = items_make(quality.batch, 1)[0]
    bad = annotations_make([(item, quality.people[0], "nope")])[0]
    job = _job(quality)
    assert tasks.agreement_report_compute.delay(job.pk).get()["status"] == "failed"
    job.refresh_from_db()
    assert f"annotation {bad.pk}: unknown label key 'nope'" in job.error


def test_agreement_report_task_retries_a_lost_database_then_fails_the_job(quality, monkeypatch):
    job = _job(quality)
    calls = []

    def lost(**kwargs):
        calls.append(kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(report_services, "agreement_report_compute", lost)  # the task looks it up there
    monkeypatch.setattr(tasks.agreement_report_compute, "default_retry_delay", 0)
    # Eager retries run in place; Celery re-applies each with the app's propagate setting.
    monkeypatch.setattr(celery_app.conf, "task_eager_propagates", False)
    tasks.agreement_report_compute.apply(args=[job.pk])
    assert len(calls) == tasks.agreement_report_compute.max_retries + 1
    job.refresh_from_db()
    assert job.status == "failed" and "server closed the connection" in job.error


def test_agreement_report_task_of_a_missing_job(db):
    assert tasks.agreement_report_compute.delay(987654).get() == {"job_id": 987654, "status": "missing"}


def test_consensus_task_computes_once(quality):
    _data(quality, items=10)
    job = QualityJob.objects.create(
        project=quality.project, kind="consensus", params={"method": "dawid_skene", "min_confidence": 0.8}
    )
    result = tasks.consensus_compute.delay(job.pk).get()
    assert result["status"] == "succeeded" and result["items"] == 10 and Consensus.objects.count() == 10
    assert tasks.consensus_compute.delay(job.pk).get()["repeated"] is True


def test_audit_sample_draw_task(quality):
    _data(quality, items=30)
    result = tasks.audit_sample_draw.delay(quality.project.pk, 0.2, 3).get()
    assert result["project_id"] == quality.project.pk and result["drawn"] == AuditSample.objects.count() > 0
    assert sum(result["strata"].values()) == result["drawn"]
    assert tasks.audit_sample_draw.delay(quality.project.pk, 0.2, 3).get()["drawn"] == 0


def test_agreement_refresh_task(quality, django_capture_on_commit_callbacks):
    _data(quality, items=10)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.agreement_refresh.delay().get()
    assert len(result["jobs"]) == 1
    assert QualityJob.objects.get(pk=result["jobs"][0]).status == "succeeded"
    assert tasks.agreement_refresh.delay().get() == {"jobs": []}
