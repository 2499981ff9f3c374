"""Alpha as of now under real concurrency on PostgreSQL: reads that build, fold into and rewrite
the kept value counts at once, while annotations keep arriving, leave one row that is right."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from annotation.models import Annotation
from quality.models import LabelCounts
from quality.services.reports import agreement_report_compute, project_alpha_compute
from tests.quality.factories import annotations_make, items_make, noisy_rows, quality_project

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

READERS = 4
ROUNDS = 5


def test_concurrent_reads_and_writes_keep_one_correct_row(lead, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite's test database is one connection")
    settings.QUORUM_ROLLUP_SETTLE_SECONDS = 0
    project, people, batch = quality_project(lead=lead, annotators=5)
    annotations_make(noisy_rows(items_make(batch, 60), people, overlap=3, seed=1))
    start = threading.Barrier(READERS + 1)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            start.wait()
            for _ in range(ROUNDS):
                project_alpha_compute(project_id=project.pk)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    def write() -> None:
        try:
            start.wait()
            for round_ in range(ROUNDS):
                annotations_make(noisy_rows(items_make(batch, 4), people, overlap=3, seed=10 + round_))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(READERS - 1)] + [threading.Thread(target=write)]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert LabelCounts.objects.filter(project=project).count() == 1
    result = project_alpha_compute(project_id=project.pk)
    report = agreement_report_compute(project_id=project.pk, bootstrap=0)
    assert result.alpha.value == pytest.approx(report.alpha, abs=1e-12)
    assert result.n_annotations == Annotation.objects.filter(project=project).count() == 60 * 3 + ROUNDS * 4 * 3
    kept = LabelCounts.objects.get(project=project)
    assert kept.n_annotations == Annotation.objects.filter(pk__lte=kept.through_annotation_id, project=project).count()
