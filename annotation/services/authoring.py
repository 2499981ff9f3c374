"""Authoring: drafts of label schemas and guidelines, saved under a revision check and published
as versions, and annotators' acknowledgements of a new guideline version.

A draft is never in force, so it may change; a version (LabelSchemaVersion, Guideline) never
does. Each draft row carries a `revision` that grows on every save and publish (and on a version
made some other way, annotation.services.taxonomy): a save or publish that names an older revision
is refused with StaleEdit, which says who changed the draft, when, and how it differs from the
refused input, so two leads editing at once never overwrite each other unseen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from annotation.models import (
    Annotation,
    Guideline,
    GuidelineAcknowledgement,
    GuidelineDraft,
    LabelSchema,
    LabelSchemaVersion,
    SchemaDraft,
)
from annotation.selectors import guideline_current, schema_version_current
from annotation.services.taxonomy import guideline_publish, schema_version_create
from annotation.validation import label_definitions_clean
from core.errors import NotAllowed, QuorumError, StaleEdit
from projects import access
from projects.models import Project
from projects.services import activity_record

if TYPE_CHECKING:
    from accounts.models import User

GUIDELINE_MAX_CHARS = 200_000


# --- What changed (for the refusal of a stale edit) ------------------------------------------------


def label_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """How the label list `after` differs from `before`, as short lines (added, removed, changed
    fields, order)."""
    old = {label["key"]: label for label in before}
    new = {label["key"]: label for label in after}
    lines = [f"label {key!r} added" for key in new if key not in old]
    lines += [f"label {key!r} removed" for key in old if key not in new]
    for key, label in new.items():
        if key in old:
            fields = [
                field
                for field in ("name", "description", "parent", "severity", "shortcut", "examples")
                if (label.get(field) or None) != (old[key].get(field) or None)
            ]
            if fields:
                lines.append(f"label {key!r}: {', '.join(fields)} changed")
    shared = [key for key in new if key in old]
    if not lines and shared != [key for key in old if key in new]:
        lines.append("the labels' order changed")
    return lines


def _stale(
    *, what: str, revision: int, current_revision: int, updated_by_id, updated_at, changes: list[str]
) -> StaleEdit:
    name = get_user_model().objects.filter(pk=updated_by_id).values_list("username", flat=True).first() or "someone"
    when = f" at {timezone.localtime(updated_at):%Y-%m-%d %H:%M:%S %Z}" if updated_at else ""
    differs = "; ".join(changes) if changes else "no difference in content"
    return StaleEdit(
        f"revision: {what} changed since you opened it: you edited revision {revision}, and {name} saved revision "
        f"{current_revision}{when}. Nothing of yours was saved. Theirs differs from yours: {differs}.",
        current={
            "revision": current_revision,
            "updated_by": name,
            "updated_at": updated_at.isoformat() if updated_at else None,
            "changes": changes,
        },
    )


def _revision_check(revision: Any) -> int:
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise QuorumError(
            f"revision: {revision!r} is not a revision number; send the revision you read with the draft",
            field="revision",
        )
    return revision


# --- Label schemas ----------------------------------------------------------------------------------


def _selection_check(selection: Any, none_option: Any) -> tuple[str, bool]:
    if selection not in LabelSchema.Selection.values:
        raise QuorumError(
            f"selection: {selection!r} is not one of {', '.join(LabelSchema.Selection.values)}", field="selection"
        )
    if not isinstance(none_option, bool):
        raise QuorumError("none_option: give true or false", field="none_option")
    if none_option and selection != LabelSchema.Selection.MULTI:
        raise QuorumError(
            'none_option: "none of these" is for multi-choice schemas; a single-choice schema needs a label for it',
            field="none_option",
        )
    return selection, none_option


def _name_check(name: Any) -> str:
    name = (name or "").strip() if isinstance(name, str) or name is None else None
    if not name:
        raise QuorumError("name: give the schema a name", field="name")
    if len(name) > 200:
        raise QuorumError("name: at most 200 characters", field="name")
    if LabelSchema.objects.filter(name=name).exists():
        raise QuorumError(f"name: a schema named {name!r} already exists", field="name")
    return name


@transaction.atomic
def schema_draft_create(
    *,
    name: str,
    labels: list[dict[str, Any]],
    actor: User,
    selection: str = LabelSchema.Selection.SINGLE,
    none_option: bool = False,
    description: str = "",
    note: str = "",
) -> SchemaDraft:
    """Create a label schema with no version yet and a draft of its v1 holding `labels` (checked
    as a version's would be: keys and shortcuts unique, parents exist, no cycles). The schema is in
    force nowhere until the draft is published (schema_draft_publish)."""
    if not access.can_author_schemas(actor):
        raise NotAllowed("only project leads create label schemas")
    name = _name_check(name)
    selection, none_option = _selection_check(selection, none_option)
    cleaned = label_definitions_clean(labels)
    schema = LabelSchema(
        name=name, description=description or "", selection=selection, none_option=none_option, created_by=actor
    )
    schema.full_clean()
    schema.save()
    draft = SchemaDraft.objects.create(
        schema=schema,
        labels=cleaned,
        selection=selection,
        none_option=none_option,
        note=(note or "Initial version")[:500],
        revision=1,
        updated_by=actor,
    )
    activity_record(actor=actor, verb="schema.created", summary=f"{actor.username} drafted label schema “{name}”")
    return draft


def schema_unique_name(base: str) -> str:
    """`base` (cut to fit), or `base (2)`, `base (3)`… : the first name no schema has."""
    base = (base or "Labels").strip()[:190] or "Labels"
    taken = set(LabelSchema.objects.filter(name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base} ({number})" in taken:
        number += 1
    return f"{base} ({number})"


@transaction.atomic
def schema_draft_save(
    *,
    schema: LabelSchema,
    labels: list[dict[str, Any]],
    actor: User,
    revision: int,
    selection: str | None = None,
    none_option: bool | None = None,
    note: str = "",
) -> SchemaDraft:
    """Save the draft of `schema`'s next version (creating it on the first save).

    `revision` is the draft revision the editor read (0 when there was no draft): anything else
    is refused with StaleEdit (the API's 409), saving nothing. Labels are checked as a version's
    would be; the versions themselves are never touched."""
    if not access.can_author_schemas(actor):
        raise NotAllowed("only project leads change label schemas")
    revision = _revision_check(revision)
    schema = LabelSchema.objects.select_for_update().get(pk=schema.pk)
    draft = SchemaDraft.objects.filter(schema=schema).first()
    current_revision = draft.revision if draft else 0
    selection, none_option = _selection_check(
        schema.selection if selection is None else selection, schema.none_option if none_option is None else none_option
    )
    if revision != current_revision:
        stored = draft.labels if draft and draft.is_open else _version_labels(schema)
        submitted = labels if isinstance(labels, list) else []
        changes = label_changes(_plain_rows(submitted), stored)
        if draft is not None and draft.selection != selection:
            changes.insert(0, f"selection is {draft.selection}")
        raise _stale(
            what=f"the draft of {schema.name!r}",
            revision=revision,
            current_revision=current_revision,
            updated_by_id=draft.updated_by_id if draft else None,
            updated_at=draft.updated_at if draft else None,
            changes=changes,
        )
    cleaned = label_definitions_clean(labels)
    if draft is None:
        draft = SchemaDraft(schema=schema, updated_by=actor)
    draft.labels, draft.selection, draft.none_option = cleaned, selection, none_option
    draft.note, draft.is_open, draft.revision, draft.updated_by = (note or "")[:500], True, current_revision + 1, actor
    draft.full_clean()
    draft.save()
    return draft


def _plain_rows(labels: list[Any]) -> list[dict[str, Any]]:
    return [row for row in labels if isinstance(row, dict) and isinstance(row.get("key"), str)]


def _version_labels(schema: LabelSchema) -> list[dict[str, Any]]:
    version = schema_version_current(schema_id=schema.pk)
    return version_label_rows(version) if version else []


def version_label_rows(version: LabelSchemaVersion) -> list[dict[str, Any]]:
    """A version's labels as the definitions a draft (and schema_version_create) takes."""
    return [
        {
            "key": label.key,
            "name": label.name,
            "description": label.description,
            "parent": label.parent.key if label.parent_id else None,
            "severity": label.severity,
            "shortcut": label.shortcut,
            "examples": list(label.examples or []),
        }
        for label in version.labels.select_related("parent").order_by("order", "id")
    ]


@transaction.atomic
def schema_draft_publish(*, schema: LabelSchema, actor: User, revision: int) -> LabelSchemaVersion:
    """ "Use this version": publish the draft of `schema` as its next version, now in force in every
    project on the schema, and close the draft.

    The actor must lead every project that uses the schema (each moves to the new version), and
    `revision` must be the draft's (else StaleEdit). Going from multi- to single-choice is refused
    once annotations exist under the schema (their answers would not fit)."""
    if not access.can_author_schemas(actor):
        raise NotAllowed("only project leads publish label schemas")
    revision = _revision_check(revision)
    schema = LabelSchema.objects.select_for_update().get(pk=schema.pk)
    draft = SchemaDraft.objects.filter(schema=schema).first()
    if draft is None or not draft.is_open:
        raise QuorumError(f"draft: {schema.name!r} has no open draft to publish; edit the labels first", field="draft")
    if revision != draft.revision:
        raise _stale(
            what=f"the draft of {schema.name!r}",
            revision=revision,
            current_revision=draft.revision,
            updated_by_id=draft.updated_by_id,
            updated_at=draft.updated_at,
            changes=[],
        )
    for project in Project.objects.filter(label_schema=schema).order_by("pk"):
        access.require_lead(actor, project)
    if (
        schema.selection == LabelSchema.Selection.MULTI
        and draft.selection == LabelSchema.Selection.SINGLE
        and Annotation.objects.filter(schema_version__schema=schema).exists()
    ):
        raise QuorumError(
            "selection: annotations were made under multi-choice; a single-choice version would not fit them",
            field="selection",
        )
    version = schema_version_create(schema=schema, labels=draft.labels, actor=actor, note=draft.note)
    LabelSchema.objects.filter(pk=schema.pk).update(selection=draft.selection, none_option=draft.none_option)
    SchemaDraft.objects.filter(pk=draft.pk).update(is_open=False, updated_by=actor, updated_at=timezone.now())
    for project in Project.objects.filter(label_schema=schema):
        activity_record(
            actor=actor,
            verb="schema.published",
            project=project,
            summary=f"{actor.username} published {schema.name} v{version.number}; the project uses it from now on",
            data={"schema": schema.pk, "version": version.number},
        )
    return version


@transaction.atomic
def project_schema_draft_create(*, project: Project, actor: User, **fields: Any) -> SchemaDraft:
    """A new schema (schema_draft_create's `fields`) and `project`, which `actor` leads, labeled
    with it (project_schema_use), in one transaction: both happen or neither."""
    access.require_lead(actor, project)
    draft = schema_draft_create(actor=actor, **fields)
    project_schema_use(project=project, schema=draft.schema, actor=actor)
    return draft


@transaction.atomic
def project_schema_use(*, project: Project, schema: LabelSchema, actor: User) -> Project:
    """Label `project` with `schema` (its newest version is in force). Refused once the project has
    annotations under another schema: they would no longer match the labels in force."""
    access.require_lead(actor, project)
    project = Project.objects.select_for_update(no_key=True).get(pk=project.pk)
    if project.label_schema_id == schema.pk:
        return project
    if Annotation.objects.filter(project=project).exclude(schema_version__schema=schema).exists():
        raise QuorumError(
            f"label_schema: {project.name!r} has annotations under another schema; publish a new version of that "
            "schema instead",
            field="label_schema",
        )
    Project.objects.filter(pk=project.pk).update(label_schema=schema)
    project.label_schema = schema
    activity_record(
        actor=actor,
        verb="project.schema_chosen",
        project=project,
        summary=f"{actor.username} chose label schema “{schema.name}”",
        data={"schema": schema.pk},
    )
    return project


# --- Guidelines -------------------------------------------------------------------------------------


def _body_check(body: Any) -> str:
    if not isinstance(body, str):
        raise QuorumError("body: give the guideline as Markdown text", field="body")
    if len(body) > GUIDELINE_MAX_CHARS:
        raise QuorumError(f"body: {len(body)} characters, more than the {GUIDELINE_MAX_CHARS} allowed", field="body")
    return body


def _text_changes(before: str, after: str) -> list[str]:
    import difflib

    removed = added = 0
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        removed += line.startswith("- ")
        added += line.startswith("+ ")
    return [f"{added} line(s) that yours lacks, {removed} line(s) of yours it lacks"] if added or removed else []


@transaction.atomic
def guideline_draft_save(*, project: Project, body: str, actor: User, revision: int, note: str = "") -> GuidelineDraft:
    """Save the draft of `project`'s next guideline version (creating it on the first save).

    `revision` is the draft revision the editor read (0 when there was none); any other is refused
    with StaleEdit (409), which says who saved since and how their text differs."""
    access.require_lead(actor, project)
    revision = _revision_check(revision)
    body = _body_check(body)
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    draft = GuidelineDraft.objects.filter(project=project).first()
    current_revision = draft.revision if draft else 0
    if revision != current_revision:
        stored = draft.body if draft and draft.is_open else (getattr(guideline_current(project=project), "body", ""))
        raise _stale(
            what=f"the guideline draft of {project.name!r}",
            revision=revision,
            current_revision=current_revision,
            updated_by_id=draft.updated_by_id if draft else None,
            updated_at=draft.updated_at if draft else None,
            changes=_text_changes(body, stored),
        )
    if draft is None:
        draft = GuidelineDraft(project=project, updated_by=actor)
    draft.body, draft.note, draft.is_open = body, (note or "").strip()[:500], True
    draft.revision, draft.updated_by = current_revision + 1, actor
    draft.full_clean()
    draft.save()
    return draft


@transaction.atomic
def guideline_draft_publish(*, project: Project, actor: User, revision: int) -> Guideline:
    """Publish the project's guideline draft as its next numbered version (guideline_publish: in
    force at once; from v2 on annotators who worked on the project acknowledge it before their
    next item) and close the draft. The draft needs a body and a changelog line (its note)."""
    access.require_lead(actor, project)
    revision = _revision_check(revision)
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
    draft = GuidelineDraft.objects.filter(project=project).first()
    if draft is None or not draft.is_open:
        raise QuorumError("draft: there is no open guideline draft to publish; write and save one first", field="draft")
    if revision != draft.revision:
        raise _stale(
            what=f"the guideline draft of {project.name!r}",
            revision=revision,
            current_revision=draft.revision,
            updated_by_id=draft.updated_by_id,
            updated_at=draft.updated_at,
            changes=[],
        )
    if not draft.note.strip():
        raise QuorumError("note: write a changelog line: what this version changes", field="note")
    current = guideline_current(project=project)
    if current is not None and current.body == draft.body:
        raise QuorumError(
            f"body: the text is the same as v{current.version}; change it before publishing", field="body"
        )
    guideline = guideline_publish(project=project, body=draft.body, actor=actor, note=draft.note)
    GuidelineDraft.objects.filter(pk=draft.pk).update(is_open=False, updated_by=actor, updated_at=timezone.now())
    activity_record(
        actor=actor,
        verb="guideline.published",
        project=project,
        summary=f"{actor.username} published guideline v{guideline.version}: {guideline.note}",
        data={"version": guideline.version},
    )
    return guideline


@transaction.atomic
def guideline_acknowledge(*, guideline: Guideline, actor: User) -> GuidelineAcknowledgement:
    """Record that `actor`, an annotator of its project, has read `guideline` (the version in
    force) and what changed: their pending acknowledgements of it and of earlier versions close,
    and `next` gives them items again. Acknowledging twice keeps the first time."""
    project = guideline.project
    if "annotator" not in access.project_roles(actor, project):
        raise NotAllowed(f"{actor.username} is not an annotator of project {project.name!r}")
    current = guideline_current(project=project)
    if current is None or current.pk != guideline.pk:
        raise QuorumError(
            f"guideline: v{guideline.version} is no longer in force; read and acknowledge v{current.version}",
            field="guideline",
        )
    now = timezone.now()
    GuidelineAcknowledgement.objects.filter(
        project=project, annotator=actor, acknowledged_at__isnull=True, guideline__version__lte=guideline.version
    ).update(acknowledged_at=now)
    acknowledgement, _ = GuidelineAcknowledgement.objects.get_or_create(
        guideline=guideline, annotator=actor, defaults={"project": project, "acknowledged_at": now}
    )
    return acknowledgement
