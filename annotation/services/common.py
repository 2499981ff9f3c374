"""What the annotation app's services share: the lead check of a project."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import NotAllowed
from projects.access import can_manage_project

if TYPE_CHECKING:
    from accounts.models import User
    from projects.models import Project


def require_lead(actor: User, project: Project) -> None:
    """Refuse (NotAllowed) unless `actor` may manage `project` (projects.access.can_manage_project)."""
    if not can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")
