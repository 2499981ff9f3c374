"""Tasks go through the real Redis broker to a live worker process that works on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from celery.result import AsyncResult
from django.db import connection

from config.celery import healthcheck
from projects.models import Project
from tests.annotation.factories import BatchFactory, ItemFactory
from tests.projects.factories import ProjectFactory
from workbench.tasks import project_progress_refresh

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_answers_from_postgres(celery_worker_process):
    result = healthcheck.delay()
    assert isinstance(result, AsyncResult)  # sent to the broker, not run in this process
    answer = result.get(timeout=60)
    assert answer["database"] == "postgresql"
    assert answer["name"] == celery_worker_process["database"]
    # The task ran in the worker's pool child (prefork, as in production).
    status = Path(f"/proc/{answer['pid']}/status").read_text()
    parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
    assert int(parent) == celery_worker_process["process"].pid


def test_progress_refresh_task_runs_on_live_worker(celery_worker_process):
    assert connection.vendor == "postgresql"
    project = ProjectFactory()
    batch = BatchFactory(project=project)
    ItemFactory.create_batch(4, batch=batch, required_annotations=2)
    result = project_progress_refresh.delay(project.pk)
    assert result.get(timeout=60) == {
        "project_id": project.pk,
        "items_total": 4,
        "annotations_required": 8,
        "items_completed": 0,
        "annotations_done": 0,
    }
    project = Project.objects.get(pk=project.pk)
    assert project.items_total == 4 and project.progress_refreshed_at is not None


def test_task_queued_on_commit_by_a_service_reaches_the_worker(celery_worker_process, lead):
    """items_add queues the refresh with transaction.on_commit; after commit the worker runs it."""
    from annotation import services as annotation_services

    project = ProjectFactory(lead=lead)
    batch = annotation_services.batch_create(project=project, name="b", actor=lead)
    annotation_services.items_add(
        batch=batch, rows=[{"external_id": f"e{i}", "text": "t"} for i in range(3)], actor=lead
    )
    # The worker runs one task at a time in queue order: once this one is done, so is the one
    # items_add queued before it.
    healthcheck.delay().get(timeout=60)
    project = Project.objects.get(pk=project.pk)
    assert project.items_total == 3 and project.annotations_required == 9
