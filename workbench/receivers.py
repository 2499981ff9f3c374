"""The lead's side answers the lower floors' signals (connected in WorkbenchConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from annotation.signals import items_changed
from core.jobs import task_publish_or_log
from workbench.tasks import project_progress_refresh as project_progress_refresh_task


@receiver(items_changed, dispatch_uid="workbench.progress_refresh_on_items_changed")
def progress_refresh_on_items_changed(sender: Any, *, project_id: int, **kwargs: Any) -> None:
    """A project's items changed: queue the recount of its progress (the task is idempotent). With
    the broker unreachable it is left to beat's periodic refresh, and the change still commits."""
    task_publish_or_log(project_progress_refresh_task, project_id)
