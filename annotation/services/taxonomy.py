"""Label schemas and their versions (shared taxonomies) and the guidelines of a project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from annotation.models import Guideline, Label, LabelSchema, LabelSchemaVersion
from annotation.selectors import schema_version_current
from annotation.validation import label_definitions_clean
from core.errors import NotAllowed, QuorumError
from projects import access

if TYPE_CHECKING:
    from accounts.models import User
    from projects.models import Project


@transaction.atomic
def schema_create(
    *,
    name: str,
    labels: list[dict[str, Any]],
    actor: User,
    selection: str = LabelSchema.Selection.SINGLE,
    description: str = "",
) -> LabelSchema:
    """Create a label schema with its first version (v1) holding `labels`.

    Invariants: label keys and shortcuts unique, parents name keys of the same version, no cycles.
    """
    if not access.can_author_schemas(actor):
        raise NotAllowed("only project leads create label schemas")
    name = (name or "").strip()
    if not name:
        raise QuorumError("name: give the schema a name", field="name")
    if selection not in LabelSchema.Selection.values:
        raise QuorumError(
            f"selection: {selection!r} is not one of {', '.join(LabelSchema.Selection.values)}", field="selection"
        )
    if LabelSchema.objects.filter(name=name).exists():
        raise QuorumError(f"name: a schema named {name!r} already exists", field="name")
    schema = LabelSchema(name=name, description=description, selection=selection, created_by=actor)
    schema.full_clean()
    schema.save()
    schema_version_create(schema=schema, labels=labels, actor=actor, note="Initial version")
    return schema


@transaction.atomic
def schema_version_create(
    *, schema: LabelSchema, labels: list[dict[str, Any]], actor: User, note: str = ""
) -> LabelSchemaVersion:
    """Add a new version of `schema` with `labels`; it becomes the version in force.

    Earlier versions stay untouched: annotations keep pointing at the version they were made under.
    """
    if not access.can_author_schemas(actor):
        raise NotAllowed("only project leads change label schemas")
    cleaned = label_definitions_clean(labels)
    LabelSchema.objects.select_for_update().filter(pk=schema.pk).first()
    current = schema_version_current(schema_id=schema.pk)
    version = LabelSchemaVersion.objects.create(
        schema=schema, number=(current.number + 1) if current else 1, note=note[:500], created_by=actor
    )
    by_key: dict[str, Label] = {}
    for order, data in enumerate(cleaned):
        label = Label(
            version=version,
            key=data["key"],
            name=data["name"],
            description=data["description"],
            severity=data["severity"],
            shortcut=data["shortcut"],
            order=order,
        )
        label.full_clean(exclude=["version", "parent"])
        by_key[label.key] = label
    Label.objects.bulk_create(by_key.values())
    children = []
    for data in cleaned:
        if data["parent"]:
            label = by_key[data["key"]]
            label.parent = by_key[data["parent"]]
            children.append(label)
    if children:
        Label.objects.bulk_update(children, ["parent"])
    return version


@transaction.atomic
def guideline_publish(*, project: Project, body: str, actor: User, note: str = "") -> Guideline:
    """Publish a new guideline version for `project`; it is in force from now on."""
    access.require_lead(actor, project)
    if not (body or "").strip():
        raise QuorumError("body: the guideline is empty", field="body")
    current = Guideline.objects.select_for_update().filter(project=project).order_by("-version").first()
    guideline = Guideline(
        project=project, version=(current.version + 1) if current else 1, body=body, note=note[:500], created_by=actor
    )
    guideline.full_clean()
    guideline.save()
    return guideline
