"""Celery tasks of the projects app: thin interfaces over services (ids in, small dict out)."""

from __future__ import annotations

from celery import shared_task

from projects.models import Project
from workbench import risks, rollups
from workbench.services import progress


@shared_task(name="projects.project_progress_refresh", bind=True, acks_late=True, max_retries=3, default_retry_delay=10)
def project_progress_refresh(self, project_id: int) -> dict[str, int]:
    """Recount one project's progress. Idempotent, so a retry or a re-delivery is harmless."""
    if not Project.objects.filter(pk=project_id).exists():
        return {"project_id": project_id, "skipped": 1}
    figures = progress.project_progress_refresh(project_id=project_id)
    return {"project_id": project_id, **figures}


@shared_task(name="projects.project_progress_refresh_all", bind=True, acks_late=True, max_retries=3)
def project_progress_refresh_all(self) -> dict[str, int]:
    """Periodic (beat): refresh every project still being worked on."""
    active = Project.objects.exclude(phase__in=[Project.Phase.CLOSED]).values_list("pk", flat=True)
    count = 0
    for project_id in active:
        progress.project_progress_refresh(project_id=project_id)
        count += 1
    return {"projects": count}


@shared_task(name="projects.gold_pause_sweep", bind=True, acks_late=True, max_retries=3, default_retry_delay=10)
def gold_pause_sweep(self, project_id: int) -> dict[str, object]:
    """Pause annotators under the project's gold bar (when the project says so). Idempotent."""
    if not Project.objects.filter(pk=project_id).exists():
        return {"project_id": project_id, "skipped": 1}
    return {"project_id": project_id, "paused": progress.gold_pause_sweep(project_id=project_id)}


@shared_task(name="projects.gold_pause_sweep_all", bind=True, acks_late=True, max_retries=3)
def gold_pause_sweep_all(self) -> dict[str, int]:
    """Periodic (beat): the gold-bar sweep over every project in pilot or production that pauses."""
    projects = Project.objects.filter(
        phase__in=[Project.Phase.PILOT, Project.Phase.PRODUCTION], pause_below_gold_bar=True
    ).values_list("pk", flat=True)
    paused = 0
    for project_id in projects:
        paused += len(progress.gold_pause_sweep(project_id=project_id))
    return {"projects": len(projects), "paused": paused}


@shared_task(name="projects.rollup_refresh", bind=True, acks_late=True, max_retries=3, default_retry_delay=10)
def rollup_refresh(self) -> dict[str, int]:
    """Periodic (beat): add the annotations and flags past the watermark into the daily rollups.
    Safe to re-run or run twice at once (the watermark row is locked per chunk)."""
    return rollups.rollup_refresh()


@shared_task(name="projects.risk_sweep", bind=True, acks_late=True, max_retries=3, default_retry_delay=30)
def risk_sweep(self) -> dict[str, int]:
    """Periodic (beat): open and close the automatic risks of every project not yet closed."""
    return risks.risk_sweep()
