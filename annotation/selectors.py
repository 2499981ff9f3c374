"""Reads for the annotation app: schemas and guidelines in force, items, assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from annotation.models import Guideline, Label, LabelSchemaVersion

if TYPE_CHECKING:
    from projects.models import Project


def schema_version_current(*, schema_id: int | None) -> LabelSchemaVersion | None:
    """The version in force: the newest of the schema."""
    if schema_id is None:
        return None
    return LabelSchemaVersion.objects.filter(schema_id=schema_id).select_related("schema").order_by("-number").first()


def schema_labels(*, version: LabelSchemaVersion) -> QuerySet[Label]:
    return version.labels.select_related("parent").order_by("order", "id")


def guideline_current(*, project: Project) -> Guideline | None:
    return Guideline.objects.filter(project=project).order_by("-version").first()
