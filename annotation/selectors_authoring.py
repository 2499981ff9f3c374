"""Reads for authoring: the draft of a schema's next version and of a project's next guideline
(or, when none is open, what is in force, to start one from), who has acknowledged the guideline
in force, and what an annotator must read before their next item.

Beside annotation.selectors (not in it) so that the authoring pages and API own their reads.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from annotation.models import Guideline, GuidelineAcknowledgement, GuidelineDraft, LabelSchema, SchemaDraft
from annotation.selectors import guideline_current, schema_version_current
from annotation.services.authoring import version_label_rows
from projects.models import Membership

if TYPE_CHECKING:
    from accounts.models import User
    from projects.models import Project


@dataclass(frozen=True)
class SchemaDraftState:
    """What a schema editor starts from: the open draft, else the version in force (revision is
    the draft row's, 0 when there never was one; a save names it)."""

    schema: LabelSchema
    labels: list[dict[str, Any]]
    selection: str
    none_option: bool
    note: str
    revision: int
    is_open: bool
    current_number: int | None  # the version in force (None: not published yet)
    next_number: int
    updated_by: str | None
    updated_at: datetime | None


def schema_draft_state(*, schema: LabelSchema) -> SchemaDraftState:
    draft = SchemaDraft.objects.filter(schema=schema).select_related("updated_by").first()
    version = schema_version_current(schema_id=schema.pk)
    current_number = version.number if version else None
    if draft is not None and draft.is_open:
        labels, selection, none_option, note = draft.labels, draft.selection, draft.none_option, draft.note
    else:
        labels = version_label_rows(version) if version else []
        selection, none_option, note = schema.selection, schema.none_option, ""
    return SchemaDraftState(
        schema=schema,
        labels=labels,
        selection=selection,
        none_option=none_option,
        note=note,
        revision=draft.revision if draft else 0,
        is_open=bool(draft and draft.is_open),
        current_number=current_number,
        next_number=(current_number or 0) + 1,
        updated_by=draft.updated_by.username if draft else None,
        updated_at=draft.updated_at if draft else None,
    )


@dataclass(frozen=True)
class GuidelineDraftState:
    body: str
    note: str
    revision: int
    is_open: bool
    current: Guideline | None
    next_version: int
    updated_by: str | None
    updated_at: datetime | None


def guideline_draft_state(*, project: Project) -> GuidelineDraftState:
    draft = GuidelineDraft.objects.filter(project=project).select_related("updated_by").first()
    current = guideline_current(project=project)
    if draft is not None and draft.is_open:
        body, note = draft.body, draft.note
    else:
        body, note = (current.body if current else ""), ""
    return GuidelineDraftState(
        body=body,
        note=note,
        revision=draft.revision if draft else 0,
        is_open=bool(draft and draft.is_open),
        current=current,
        next_version=(current.version if current else 0) + 1,
        updated_by=draft.updated_by.username if draft else None,
        updated_at=draft.updated_at if draft else None,
    )


def guideline_versions(*, project: Project) -> list[Guideline]:
    """The project's guideline versions, newest first, with who published them (no bodies)."""
    return list(
        Guideline.objects.filter(project=project).select_related("created_by").defer("body").order_by("-version")
    )


@dataclass(frozen=True)
class AcknowledgementRow:
    annotator_id: int
    username: str
    display_name: str
    acknowledged_at: datetime | None


def guideline_acknowledgement_rows(*, guideline: Guideline) -> list[AcknowledgementRow]:
    """Who had to acknowledge `guideline` and when they did (None: not yet), pending first. The
    annotators who must are those who worked on the project before it was published (see
    annotation.services.taxonomy.guideline_publish); an inactive member is left out."""
    active = Membership.objects.filter(
        project_id=guideline.project_id, role=Membership.Role.ANNOTATOR, is_active=True
    ).values("user_id")
    rows = (
        GuidelineAcknowledgement.objects.filter(guideline=guideline, annotator_id__in=active)
        .select_related("annotator")
        .order_by("acknowledged_at", "annotator__username")
    )
    result = [
        AcknowledgementRow(
            annotator_id=row.annotator_id,
            username=row.annotator.username,
            display_name=row.annotator.display_name,
            acknowledged_at=row.acknowledged_at,
        )
        for row in rows
    ]
    return sorted(result, key=lambda row: (row.acknowledged_at is not None, row.username))


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "same", "gap"
    text: str


@dataclass(frozen=True)
class GuidelineChanges:
    """What an annotator reads before their next item: the guideline in force, the versions
    published since they last acknowledged (their changelog lines), and the text's changes from
    the version they knew."""

    guideline: Guideline
    since: Guideline | None  # the version they knew (None: none before)
    versions: list[Guideline] = field(default_factory=list)
    diff: list[DiffLine] = field(default_factory=list)


def guideline_changes(*, project: Project, annotator: User) -> GuidelineChanges | None:
    """What `annotator` must acknowledge in `project` (None: nothing pending)."""
    pending = list(
        GuidelineAcknowledgement.objects.filter(project=project, annotator=annotator, acknowledged_at__isnull=True)
        .select_related("guideline")
        .order_by("guideline__version")
    )
    current = guideline_current(project=project)
    if not pending or current is None:
        return None
    first = pending[0].guideline.version
    since = Guideline.objects.filter(project=project, version__lt=first).order_by("-version").first()
    versions = list(Guideline.objects.filter(project=project, version__gte=first).order_by("version"))
    return GuidelineChanges(
        guideline=current, since=since, versions=versions, diff=text_diff(since.body if since else "", current.body)
    )


def text_diff(before: str, after: str, *, context: int = 2) -> list[DiffLine]:
    """The lines of `after` that differ from `before`, with `context` unchanged lines around each
    change ("gap" marks lines left out). Plain text: templates escape it."""
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        if lines:
            lines.append(DiffLine("gap", "…"))
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                lines += [DiffLine("same", text) for text in matcher.b[b1:b2]]
                continue
            if tag in ("replace", "delete"):
                lines += [DiffLine("removed", text) for text in matcher.a[a1:a2]]
            if tag in ("replace", "insert"):
                lines += [DiffLine("added", text) for text in matcher.b[b1:b2]]
    return lines
