"""Label schemas and their versions (shared taxonomies) and the guidelines of a project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from annotation.models import (
    Assignment,
    Guideline,
    GuidelineAcknowledgement,
    GuidelineDraft,
    Label,
    LabelSchema,
    LabelSchemaVersion,
    SchemaDraft,
)
from annotation.selectors import schema_version_current
from annotation.validation import label_definitions_clean
from core.errors import NotAllowed, QuorumError
from projects import access
from projects.models import Membership

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
            examples=data["examples"],
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
    # A draft opened before this version was made is stale now: its next save is refused.
    SchemaDraft.objects.filter(schema=schema).update(revision=F("revision") + 1)
    return version


@transaction.atomic
def guideline_publish(*, project: Project, body: str, actor: User, note: str = "") -> Guideline:
    """Publish a new guideline version for `project`; it is in force from now on.

    From version 2 on, every active annotator who has worked on the project gets a pending
    acknowledgement: `next` gives them no item until they acknowledge what changed. An open
    draft of the project's guideline becomes stale (its next save is refused)."""
    access.require_lead(actor, project)
    if not (body or "").strip():
        raise QuorumError("body: the guideline is empty", field="body")
    current = Guideline.objects.select_for_update().filter(project=project).order_by("-version").first()
    guideline = Guideline(
        project=project, version=(current.version + 1) if current else 1, body=body, note=note[:500], created_by=actor
    )
    guideline.full_clean()
    guideline.save()
    GuidelineDraft.objects.filter(project=project).update(revision=F("revision") + 1)
    if guideline.version > 1:
        _acknowledgements_open(guideline=guideline)
    return guideline


def _acknowledgements_open(*, guideline: Guideline) -> None:
    """A pending acknowledgement of `guideline` for each active annotator of its project who has
    worked there (held any assignment): they labeled under an earlier version, so they read what
    changed before their next item. Annotators who start later read the guideline in force."""
    annotators = (
        Membership.objects.filter(project_id=guideline.project_id, role=Membership.Role.ANNOTATOR, is_active=True)
        .filter(Exists(Assignment.objects.filter(project_id=guideline.project_id, annotator_id=OuterRef("user_id"))))
        .values_list("user_id", flat=True)
    )
    GuidelineAcknowledgement.objects.bulk_create(
        [
            GuidelineAcknowledgement(project_id=guideline.project_id, guideline=guideline, annotator_id=user_id)
            for user_id in annotators
        ],
        ignore_conflicts=True,
    )
