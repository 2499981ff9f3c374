"""Celery tasks of the projects app: thin interfaces over services (ids in, small dict out)."""

from __future__ import annotations

from celery import shared_task

from projects import services
from projects.models import Project


@shared_task(name="projects.project_progress_refresh", bind=True, acks_late=True, max_retries=3, default_retry_delay=10)
def project_progress_refresh(self, project_id: int) -> dict[str, int]:
    """Recount one project's progress. Idempotent, so a retry or a re-delivery is harmless."""
    if not Project.objects.filter(pk=project_id).exists():
        return {"project_id": project_id, "skipped": 1}
    figures = services.project_progress_refresh(project_id=project_id)
    return {"project_id": project_id, **figures}


@shared_task(name="projects.project_progress_refresh_all", bind=True, acks_late=True, max_retries=3)
def project_progress_refresh_all(self) -> dict[str, int]:
    """Periodic (beat): refresh every project still being worked on."""
    active = Project.objects.exclude(phase__in=[Project.Phase.CLOSED]).values_list("pk", flat=True)
    count = 0
    for project_id in active:
        services.project_progress_refresh(project_id=project_id)
        count += 1
    return {"projects": count}
