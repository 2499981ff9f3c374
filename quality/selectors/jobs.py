"""Reads of quality jobs: the jobs a user may see and what a page polling one shows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from projects import access
from quality.models import QualityJob

if TYPE_CHECKING:
    from accounts.models import User


def quality_job_list(*, user: User) -> QuerySet[QualityJob]:
    """Jobs of the projects `user` may see, newest first."""
    return QualityJob.objects.filter(project_id__in=access.visible_project_ids(user)).select_related(
        "project", "report"
    )


def quality_job_status(*, user: User, job_id: int) -> dict[str, Any]:
    """What a page polling a job shows. QualityJob.DoesNotExist when `user` may not see it."""
    job = quality_job_list(user=user).get(pk=job_id)
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "report_id": job.report_id,
        "result": job.result,
        "finished": job.is_finished,
    }
