"""Every write of the annotation app: schemas and their versions, guidelines, batches and items,
assignments and annotations. Each function validates, applies atomically and records who."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from annotation.models import Annotation, Assignment, Batch, Guideline, Item, Label, LabelSchema, LabelSchemaVersion
from annotation.selectors import guideline_current, schema_version_current
from annotation.validation import item_row_clean, label_definitions_clean, labels_chosen_check
from config.errors import NotAllowed, QuorumError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from accounts.models import User
    from projects.models import Project


def _require_lead(actor: User, project: Project) -> None:
    # Lazy import: annotation sits below projects; the policy module has no model imports.
    from projects.policies import can_manage_project

    if not can_manage_project(actor, project):
        raise NotAllowed(f"{actor.username} is not a lead of project {project.name!r}")


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
    if not actor.is_lead:
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
    if not actor.is_lead:
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
    _require_lead(actor, project)
    if not (body or "").strip():
        raise QuorumError("body: the guideline is empty", field="body")
    current = Guideline.objects.select_for_update().filter(project=project).order_by("-version").first()
    guideline = Guideline(
        project=project, version=(current.version + 1) if current else 1, body=body, note=note[:500], created_by=actor
    )
    guideline.full_clean()
    guideline.save()
    return guideline


@transaction.atomic
def batch_create(*, project: Project, name: str, actor: User, source: str = "") -> Batch:
    _require_lead(actor, project)
    name = (name or "").strip()
    if not name:
        raise QuorumError("name: give the batch a name", field="name")
    if Batch.objects.filter(project=project, name=name).exists():
        raise QuorumError(f"name: project {project.name!r} already has a batch named {name!r}", field="name")
    batch = Batch(project=project, name=name, source=source[:300], created_by=actor)
    batch.full_clean()
    batch.save()
    return batch


@transaction.atomic
def items_add(*, batch: Batch, rows: Iterable[Mapping[str, Any]], actor: User, first_row: int = 1) -> list[Item]:
    """Validate `rows` and add them to `batch` as items, all or nothing.

    A row whose external id is already in the project, or repeated in `rows`, is an error naming
    the row. Gold labels are checked against the schema version in force. On any error nothing
    is written. Queues a progress refresh of the project on commit.
    """
    project = batch.project
    _require_lead(actor, project)
    version = schema_version_current(schema_id=project.label_schema_id)
    label_keys = set(version.labels.values_list("key", flat=True)) if version else None
    multi = bool(version and version.schema.selection == LabelSchema.Selection.MULTI)
    cleaned: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for offset, row in enumerate(rows):
        row_number = first_row + offset
        values = item_row_clean(
            row, row_number=row_number, label_keys=label_keys, multi=multi, default_overlap=project.default_overlap
        )
        if values["required_annotations"] > project.max_overlap:
            raise QuorumError(
                f"row {row_number}, column required_annotations: {values['required_annotations']} is above the "
                f"project's maximum overlap ({project.max_overlap})",
                field="required_annotations",
                row=row_number,
            )
        if values["external_id"] in seen:
            raise QuorumError(
                f"row {row_number}, column external_id: {values['external_id']!r} repeats row {seen[values['external_id']]}",
                field="external_id",
                row=row_number,
            )
        seen[values["external_id"]] = row_number
        cleaned.append(values)
    existing = (
        set(Item.objects.filter(project=project, external_id__in=list(seen)).values_list("external_id", flat=True))
        if seen
        else set()
    )
    if existing:
        external_id = min(existing, key=lambda e: seen[e])
        raise QuorumError(
            f"row {seen[external_id]}, column external_id: {external_id!r} is already an item of this project",
            field="external_id",
            row=seen[external_id],
        )
    items = Item.objects.bulk_create(
        [Item(project=project, batch=batch, **values) for values in cleaned], batch_size=2000
    )
    _progress_refresh_on_commit(project.pk)
    return items


def _progress_refresh_on_commit(project_id: int) -> None:
    from projects.tasks import project_progress_refresh as project_progress_refresh_task

    transaction.on_commit(lambda: project_progress_refresh_task.delay(project_id))


@transaction.atomic
def assignment_create(*, item: Item, annotator: User, now=None) -> Assignment:
    """Lease one slot of `item` to `annotator`.

    Invariants: the annotator is an active annotator of the project; they never hold two
    assignments on one item; an item never has more live assignments (active or submitted) than
    its overlap. The item row is locked so concurrent leases of its last slot serialise.
    """
    from projects.models import Membership

    now = now or timezone.now()
    item = Item.objects.select_for_update().select_related("project").get(pk=item.pk)
    project = item.project
    if not Membership.objects.filter(
        project=project, user=annotator, role=Membership.Role.ANNOTATOR, is_active=True
    ).exists():
        raise NotAllowed(f"{annotator.username} is not an annotator of project {project.name!r}")
    if Assignment.objects.filter(item=item, annotator=annotator).exists():
        raise QuorumError(f"item {item.external_id!r}: {annotator.username} already worked on it", field="item")
    live = Assignment.objects.filter(item=item).filter(
        Q(status=Assignment.Status.SUBMITTED) | Q(status=Assignment.Status.ACTIVE, expires_at__gt=now)
    )
    if live.count() >= item.required_annotations:
        raise QuorumError(f"item {item.external_id!r}: all {item.required_annotations} slots are taken", field="item")
    try:
        with transaction.atomic():
            return Assignment.objects.create(
                project=project,
                item=item,
                annotator=annotator,
                is_gold=item.is_gold,
                expires_at=now + timedelta(minutes=project.lease_minutes),
            )
    except IntegrityError:
        raise QuorumError(
            f"item {item.external_id!r}: {annotator.username} already worked on it", field="item"
        ) from None


@transaction.atomic
def annotation_submit(
    *, assignment: Assignment, labels: list[str] | str, actor: User, time_spent_ms: int = 0, comment: str = "", now=None
) -> Annotation:
    """Record `actor`'s labels for their assignment and close it.

    Labels are checked against the schema version in force; the schema and guideline versions
    are recorded with the annotation. Submitting the same assignment again returns the stored
    annotation unchanged (idempotent double submit). The item's done-count grows by one.
    """
    now = now or timezone.now()
    assignment = Assignment.objects.select_for_update().select_related("item", "project").get(pk=assignment.pk)
    if assignment.annotator_id != actor.pk:
        raise NotAllowed("this assignment belongs to another annotator")
    existing = Annotation.objects.filter(assignment=assignment).first()
    if existing is not None:
        return existing
    if assignment.status != Assignment.Status.ACTIVE:
        raise QuorumError(f"assignment {assignment.pk}: it is {assignment.status}, not active", field="assignment")
    item = Item.objects.select_for_update().get(pk=assignment.item_id)
    if item.annotations_done >= item.required_annotations:
        raise QuorumError(
            f"item {item.external_id!r}: your lease expired and its {item.required_annotations} slots were filled meanwhile",
            field="assignment",
        )
    project = assignment.project
    version = schema_version_current(schema_id=project.label_schema_id)
    if version is None:
        raise QuorumError(f"project {project.name!r} has no label schema", field="labels")
    allowed = version.labels.values_list("key", flat=True)
    chosen = labels_chosen_check(labels, allowed=allowed, multi=version.schema.selection == LabelSchema.Selection.MULTI)
    if not isinstance(time_spent_ms, int) or time_spent_ms < 0:
        raise QuorumError("time_spent_ms: give a whole number of milliseconds, 0 or more", field="time_spent_ms")
    annotation = Annotation.objects.create(
        assignment=assignment,
        project=project,
        item=assignment.item,
        annotator=actor,
        labels=chosen,
        schema_version=version,
        guideline=guideline_current(project=project),
        time_spent_ms=time_spent_ms,
        comment=comment,
    )
    assignment.status = Assignment.Status.SUBMITTED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    Item.objects.filter(pk=item.pk).update(annotations_done=F("annotations_done") + 1)
    return annotation
