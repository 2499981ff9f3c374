"""What the quality services share: the project row, the role checks (answered by projects.access),
a project's regular annotations and the size of a streamed chunk."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, QuerySet

from annotation.models import Annotation, Item
from core.errors import NotAllowed, QuorumError
from projects.access import can_manage_project, project_roles
from projects.models import Project

if TYPE_CHECKING:
    from accounts.models import User

CHUNK_SIZE = 50_000  # annotations per streamed chunk (whole items): bounded memory per step


def project_get(project_id: int, *, lock: bool = False) -> Project:
    """The project, locked for update when `lock`; QuorumError (field project_id) when missing."""
    projects = Project.objects.select_for_update(of=("self",)) if lock else Project.objects
    try:
        return projects.get(pk=project_id)
    except Project.DoesNotExist:
        raise QuorumError(f"project {project_id} does not exist", field="project_id")


def require_lead(actor: User | None, project: Project) -> None:
    """NotAllowed unless `actor` leads the project; `actor` None is the system (beat, commands)."""
    if actor is not None and not can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")


def require_reviewer(user: User, project: Project) -> None:
    """NotAllowed unless `user` reviews or leads the project."""
    if not project_roles(user, project) & {"reviewer", "lead"}:
        raise NotAllowed(f"{user.username} is not a reviewer of project {project.name!r}")


def regular_annotations(project_id: int) -> QuerySet[Annotation]:
    """The project's annotations on regular items. NOT EXISTS over the (few) gold items is an
    anti-join against a tiny hash: far cheaper than joining every annotation to its item (0.4 s a
    million on PostgreSQL), and unlike NOT IN it leaves parallel plans open."""
    gold = Item.objects.filter(pk=OuterRef("item_id"), is_gold=True)
    return Annotation.objects.filter(project_id=project_id).filter(~Exists(gold))
