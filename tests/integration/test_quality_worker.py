"""The quality engine's tasks go through the real Redis broker to a live worker on PostgreSQL."""

from __future__ import annotations

import pytest

from config.celery import healthcheck
from quality import tasks
from quality.models import AgreementReport, QualityJob
from quality.services.reports import agreement_report_compute, agreement_report_enqueue
from tests.quality.factories import annotations_make, items_make, noisy_rows, quality_project

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _queued_work_done() -> None:
    """The worker runs one task at a time in queue order: once this answers, what was queued before is done."""
    healthcheck.delay().get(timeout=120)


def test_agreement_report_job_runs_on_the_live_worker(celery_worker_process, lead):
    project, people, batch = quality_project(lead=lead)
    annotations_make(noisy_rows(items_make(batch, 60), people, seed=2))
    job = agreement_report_enqueue(project_id=project.pk, actor=lead, bootstrap=200, seed=5)
    _queued_work_done()
    job.refresh_from_db()
    assert job.status == QualityJob.Status.SUCCEEDED, job.error
    assert job.progress == 1.0 and job.started_at and job.finished_at
    report = AgreementReport.objects.get(pk=job.report_id)
    assert report.n_items == 60 and report.n_annotations == 180 and report.created_by == lead
    # The worker read with the packed reader; this process recomputes with the ORM reader.
    here = agreement_report_compute(project_id=project.pk, bootstrap=200, seed=5, reader="orm")
    assert report.alpha == pytest.approx(here.alpha, abs=1e-12)
    assert (report.alpha_low, report.alpha_high) == (pytest.approx(here.alpha_low), pytest.approx(here.alpha_high))


def test_a_report_task_delivered_again_after_success_does_nothing(celery_worker_process, lead):
    project, people, batch = quality_project(lead=lead)
    annotations_make(noisy_rows(items_make(batch, 20), people, seed=3))
    job = agreement_report_enqueue(project_id=project.pk, actor=lead, bootstrap=50)
    _queued_work_done()
    job.refresh_from_db()
    assert job.status == QualityJob.Status.SUCCEEDED
    again = tasks.agreement_report_compute.delay(job.pk).get(timeout=120)
    assert again == {"job_id": job.pk, "status": "succeeded", "report_id": job.report_id, "repeated": True}
    assert AgreementReport.objects.filter(project=project).count() == 1


def test_a_failing_report_marks_its_job_failed_on_the_worker(celery_worker_process, lead):
    project, people, batch = quality_project(lead=lead)
    item = items_make(batch, 1)[0]
    bad = annotations_make([(item, people[0], "nope")])[0]
    job = agreement_report_enqueue(project_id=project.pk, actor=lead, bootstrap=10)
    _queued_work_done()
    job.refresh_from_db()
    assert job.status == QualityJob.Status.FAILED
    assert f"annotation {bad.pk}: unknown label key 'nope'" in job.error
    assert not AgreementReport.objects.filter(project=project).exists()
