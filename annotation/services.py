"""Every write of the annotation app: schemas and their versions, guidelines, batches and items,
assignments and annotations. Each function validates, applies atomically and records who."""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson
from django.core.cache import cache
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from annotation.importers import format_from_name, read_chunks
from annotation.models import (
    Annotation,
    Assignment,
    Batch,
    Flag,
    Guideline,
    ImportJob,
    Item,
    Label,
    LabelSchema,
    LabelSchemaVersion,
)
from annotation.selectors import (
    InForce,
    graphic_cap_reached,
    graphic_day_start,
    in_force_columns_sql,
    in_force_from_row,
    row_instance,
    schema_version_current,
    work_project_columns,
    work_project_from_row,
)
from annotation.signals import items_changed
from annotation.validation import item_row_clean, label_definitions_clean, labels_chosen_check
from core.errors import NotAllowed, QuorumError
from projects.access import can_manage_project
from projects.models import Membership, Project

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from accounts.models import User


def _require_lead(actor: User, project: Project) -> None:
    # Lazy import: annotation sits below projects; the policy module has no model imports.

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


class _ItemRules:
    """What a row is checked against in one project: the schema version in force and the overlap."""

    def __init__(self, project: Project) -> None:
        version = schema_version_current(schema_id=project.label_schema_id)
        self.label_keys = set(version.labels.values_list("key", flat=True)) if version else None
        self.multi = bool(version and version.schema.selection == LabelSchema.Selection.MULTI)
        self.default_overlap = project.default_overlap
        self.max_overlap = project.max_overlap

    def clean(self, row: Mapping[str, Any], row_number: int | None) -> dict[str, Any]:
        values = item_row_clean(
            row,
            row_number=row_number,
            label_keys=self.label_keys,
            multi=self.multi,
            default_overlap=self.default_overlap,
        )
        if values["required_annotations"] > self.max_overlap:
            where = (
                f"row {row_number}, column required_annotations" if row_number is not None else "required_annotations"
            )
            raise QuorumError(
                f"{where}: {values['required_annotations']} is above the project's maximum overlap ({self.max_overlap})",
                field="required_annotations",
                row=row_number,
            )
        return values


def _existing_external_ids(project: Project, external_ids: list[str]) -> set[str]:
    """Which of `external_ids` the project already has (one indexed query per 5,000 ids)."""
    found: set[str] = set()
    table = connection.ops.quote_name(Item._meta.db_table)
    for start in range(0, len(external_ids), 5000):
        part = external_ids[start : start + 5000]
        if connection.vendor == "postgresql":
            # = ANY(array) is one parameter; an IN list of 5,000 costs PostgreSQL more to plan than to run.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT external_id FROM {table} WHERE project_id = %s AND external_id = ANY(%s)",
                    [project.pk, part],
                )
                found.update(row[0] for row in cursor.fetchall())
        else:
            found.update(
                Item.objects.filter(project=project, external_id__in=part).values_list("external_id", flat=True)
            )
    return found


@transaction.atomic
def items_add(*, batch: Batch, rows: Iterable[Mapping[str, Any]], actor: User, first_row: int = 1) -> list[Item]:
    """Validate `rows` and add them to `batch` as items, all or nothing.

    A row whose external id is already in the project, or repeated in `rows`, is an error naming
    the row. Gold labels are checked against the schema version in force. On any error nothing
    is written. Queues a progress refresh of the project on commit. (Files go through
    import_job_run, which streams, reports every bad row and skips ids already imported.)
    """
    project = batch.project
    _require_lead(actor, project)
    rules = _ItemRules(project)
    cleaned: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for offset, row in enumerate(rows):
        row_number = first_row + offset
        values = rules.clean(row, row_number)
        if values["external_id"] in seen:
            raise QuorumError(
                f"row {row_number}, column external_id: {values['external_id']!r} repeats row {seen[values['external_id']]}",
                field="external_id",
                row=row_number,
            )
        seen[values["external_id"]] = row_number
        cleaned.append(values)
    existing = _existing_external_ids(project, list(seen))
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


# --- Imports ----------------------------------------------------------------------------------

IMPORT_ERRORS_KEPT = 200


def _import_progress_key(job_id: int) -> str:
    return f"quorum:import:{job_id}:rows_read"


@transaction.atomic
def import_job_create(
    *,
    project: Project,
    actor: User,
    batch_name: str,
    upload=None,
    source_path: str | None = None,
    mode: str = ImportJob.Mode.ALL_OR_NOTHING,
    fmt: str | None = None,
) -> ImportJob:
    """Register a file of items for import into the batch `batch_name` and queue its import.

    Either `upload` (an uploaded file, stored under MEDIA_ROOT) or `source_path` (a file on the
    server, for the command line). The import itself runs in the annotation.import_run task,
    queued on commit.
    """
    _require_lead(actor, project)
    batch_name = (batch_name or "").strip()
    if not batch_name:
        raise QuorumError("batch_name: name the batch the items go into", field="batch_name")
    if mode not in ImportJob.Mode.values:
        raise QuorumError(f"mode: {mode!r} is not one of {', '.join(ImportJob.Mode.values)}", field="mode")
    if (upload is None) == (source_path is None):
        raise QuorumError("file: give exactly one file", field="file")
    name = upload.name if upload is not None else str(source_path)
    fmt = fmt or format_from_name(name)
    if fmt not in ImportJob.Format.values:
        raise QuorumError(f"format: {fmt!r} is not one of {', '.join(ImportJob.Format.values)}", field="format")
    job = ImportJob(
        project=project, created_by=actor, batch_name=batch_name, source_name=name[-300:], format=fmt, mode=mode
    )
    if upload is not None:
        job.file.save(upload.name.rsplit("/", 1)[-1], upload, save=False)
    job.save()
    if upload is not None:
        from annotation.tasks import import_run as import_run_task

        transaction.on_commit(lambda: import_run_task.delay(job.pk))
    return job


def import_job_run(
    *, job_id: int, source_path: str | None = None, on_progress: Callable[[int], None] | None = None
) -> ImportJob:
    """Run an import: stream the file in chunks, check every row, write the items.

    All or nothing (the default): if any row is bad, nothing is written and the job fails with
    every bad row reported. Skip-bad-rows: the good rows are written and the bad ones reported.
    Either way rows whose external id the project already has are skipped and counted, so
    importing the same file twice adds nothing twice; an id repeated inside the file is an error.
    The report of bad rows (row, column, message) is stored as a CSV file on the job.
    Idempotent: a finished job is returned as it is.
    """
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED):
        return job
    job.status = ImportJob.Status.RUNNING
    job.started_at = timezone.now()
    job.save(update_fields=["status", "started_at"])
    project = job.project
    rules = _ItemRules(project)
    report = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    writer = csv.writer(report)
    writer.writerow(["row", "column", "message"])
    counts = {"rows_read": 0, "items_created": 0, "rows_existing": 0, "rows_invalid": 0}
    kept_errors: list[dict[str, Any]] = []
    atomic = job.mode == ImportJob.Mode.ALL_OR_NOTHING
    file_error: QuorumError | None = None

    def bad(row_number: int | None, column: str | None, message: str) -> None:
        counts["rows_invalid"] += 1
        writer.writerow([row_number if row_number is not None else "", column or "", message])
        if len(kept_errors) < IMPORT_ERRORS_KEPT:
            kept_errors.append({"row": row_number, "column": column, "message": message})

    try:
        with transaction.atomic(), _gc_paused():
            batch, _ = Batch.objects.get_or_create(
                project=project, name=job.batch_name, defaults={"created_by": job.created_by, "source": job.source_name}
            )
            # Ids repeated inside the file are caught while checking; the database only needs
            # asking when the project had items before this import began.
            had_items = Item.objects.filter(project=project).exists()
            with _open_source(job, source_path) as handle:
                for read, good, errors in _checked_chunks(handle, fmt=job.format, rules=rules):
                    counts["rows_read"] += read
                    for error in errors:
                        bad(error.row, error.field, error.message)
                    existing = _existing_external_ids(project, [v["external_id"] for v in good]) if had_items else set()
                    counts["rows_existing"] += len(existing)
                    if not (atomic and counts["rows_invalid"]):
                        new = [v for v in good if v["external_id"] not in existing]
                        _items_insert(project_id=project.pk, batch_id=batch.pk, rows=new)
                        counts["items_created"] += len(new)
                    cache.set(_import_progress_key(job.pk), counts["rows_read"], timeout=24 * 3600)
                    if on_progress:
                        on_progress(counts["rows_read"])
            job.batch = batch
            if atomic and counts["rows_invalid"]:
                raise _RollBack
    except _RollBack:
        job.batch = None
        counts["items_created"] = 0
    except QuorumError as exc:  # the file itself could not be read
        file_error = exc
        job.batch = None
        counts["items_created"] = 0
        bad(exc.row, exc.field, exc.message)
    job.status = (
        ImportJob.Status.FAILED if (file_error or (atomic and counts["rows_invalid"])) else ImportJob.Status.SUCCEEDED
    )
    for field, value in counts.items():
        setattr(job, field, value)
    job.errors = kept_errors
    job.message = _import_message(job, file_error)
    job.finished_at = timezone.now()
    if counts["rows_invalid"]:
        report.seek(0)
        job.error_report.save(f"import-{job.pk}-errors.csv", File(report), save=False)
    report.close()
    job.save()
    cache.delete(_import_progress_key(job.pk))
    if job.items_created:
        _progress_refresh_on_commit(project.pk)
    return job


_INSERT_FIELDS = (
    "external_id",
    "modality",
    "text",
    "image_url",
    "video_url",
    "audio_url",
    "ocr_text",
    "metadata",
    "language",
    "is_graphic",
    "is_gold",
    "gold_labels",
    "priority",
    "required_annotations",
    "content_hash",
)


def _items_insert(*, project_id: int, batch_id: int, rows: list[dict[str, Any]]) -> None:
    """Insert cleaned item rows fast: binary COPY on PostgreSQL, one prepared executemany on SQLite.

    The rows come from item_row_clean, so they are valid; this skips the ORM's per-object work
    (the import's hot path: a million rows spend most of their time here otherwise).
    """
    if not rows:
        return
    columns = [
        "project_id", "batch_id", *(Item._meta.get_field(f).column for f in _INSERT_FIELDS),
        "assigned_count", "annotations_done", "created_at",
    ]  # fmt: skip
    table = connection.ops.quote_name(Item._meta.db_table)
    column_sql = ", ".join(connection.ops.quote_name(c) for c in columns)
    if connection.vendor == "postgresql":
        _items_copy(table, column_sql, project_id, batch_id, rows)
        return
    created_at = connection.ops.adapt_datetimefield_value(timezone.now())
    records = [
        (
            project_id, batch_id, r["external_id"], r["modality"], r["text"], r["image_url"], r["video_url"],
            r["audio_url"], r["ocr_text"], orjson.dumps(r["metadata"]).decode(), r["language"], r["is_graphic"],
            r["is_gold"], None if r["gold_labels"] is None else orjson.dumps(r["gold_labels"]).decode(),
            r["priority"], r["required_annotations"], r["content_hash"], 0, 0, created_at,
        )
        for r in rows
    ]  # fmt: skip
    placeholders = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders})", records)


# Column types for the binary COPY, in _items_insert's column order.
_COPY_TYPES = [
    "int8", "int8", "varchar", "varchar", "text", "varchar", "varchar", "varchar", "text", "jsonb", "varchar",
    "bool", "bool", "jsonb", "int4", "int2", "varchar", "int2", "int2", "timestamptz",
]  # fmt: skip


def _items_copy(table: str, column_sql: str, project_id: int, batch_id: int, rows: list[dict[str, Any]]) -> None:
    """Binary COPY: values are encoded by psycopg's C dumpers (JSON by orjson), about twice as fast
    as text COPY for our rows. Runs on the Django connection, so it is part of the transaction."""
    from psycopg.types.json import set_json_dumps

    connection.ensure_connection()
    now = timezone.now()
    with connection.connection.cursor() as raw:
        set_json_dumps(orjson.dumps, context=raw)
        with raw.copy(f"COPY {table} ({column_sql}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_COPY_TYPES)
            for r in rows:
                copy.write_row(
                    (
                        project_id, batch_id, r["external_id"], r["modality"], r["text"], r["image_url"],
                        r["video_url"], r["audio_url"], r["ocr_text"], r["metadata"], r["language"], r["is_graphic"],
                        r["is_gold"], r["gold_labels"], r["priority"], r["required_annotations"], r["content_hash"],
                        0, 0, now,
                    )
                )  # fmt: skip


def _checked_chunks(
    handle, *, fmt: str, rules: _ItemRules
) -> Iterator[tuple[int, list[dict[str, Any]], list[QuorumError]]]:
    """Read and check the file chunk by chunk: (rows read, good rows, errors) per chunk.

    (Running this in a thread beside the inserts was measured: no faster, as both sides hold the
    GIL for most of their work.)
    """
    seen: dict[str, int] = {}
    for chunk in read_chunks(handle, fmt=fmt):
        good: list[dict[str, Any]] = []
        errors: list[QuorumError] = []
        for row_number, row in chunk:
            try:
                values = rules.clean(row, row_number)
            except QuorumError as exc:
                errors.append(exc)
                continue
            first = seen.setdefault(values["external_id"], row_number)
            if first != row_number:
                message = f"row {row_number}, column external_id: {values['external_id']!r} repeats row {first}"
                errors.append(QuorumError(message, field="external_id", row=row_number))
                continue
            good.append(values)
        yield len(chunk), good, errors


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk import.

    The rows are short-lived dicts without cycles, so the collector finds nothing, yet allocating
    millions of them triggers it constantly: measured on a million rows, pausing it takes the
    import from 31 s to 25 s. Reference counting still frees every chunk as it goes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _RollBack(Exception):
    """Raised inside the import's transaction to undo it when a bad row makes an all-or-nothing import fail."""


def _open_source(job: ImportJob, source_path: str | None):
    if source_path is not None:
        return open(source_path, "rb")
    if not job.file:
        raise QuorumError("file: the import has no file", field="file")
    return job.file.open("rb")


def _import_message(job: ImportJob, file_error: QuorumError | None) -> str:
    if file_error is not None:
        return f"The file could not be read: {file_error.message}. Nothing was imported."
    if job.status == ImportJob.Status.FAILED:
        return (
            f"{job.rows_invalid} of {job.rows_read} rows are bad, so nothing was imported (all or nothing). "
            "Fix them, or import again with skip-bad-rows to import the good rows."
        )
    parts = [f"{job.items_created} items imported from {job.rows_read} rows"]
    if job.rows_existing:
        parts.append(f"{job.rows_existing} already imported before")
    if job.rows_invalid:
        parts.append(f"{job.rows_invalid} bad rows skipped (see the error report)")
    return "; ".join(parts) + "."


def import_job_fail(*, job_id: int, message: str) -> None:
    """Mark a job failed after its task gave up (the import's own transaction already rolled back)."""
    ImportJob.objects.filter(pk=job_id).exclude(status=ImportJob.Status.SUCCEEDED).update(
        status=ImportJob.Status.FAILED, message=message[:2000], finished_at=timezone.now(), items_created=0
    )


def _progress_refresh_on_commit(project_id: int) -> None:
    """Tell the floors above, once committed, that the project's items changed (they refresh its
    progress figures: annotation/signals.py)."""
    transaction.on_commit(lambda: items_changed.send(sender=Item, project_id=project_id))


# --- The assignment engine ------------------------------------------------------------------

ACTIVE = Assignment.Status.ACTIVE
WORKING_PHASES = ("pilot", "production")


_UNREAD = object()


def _eligibility_check(*, project: Project, annotator: User, membership: Any = _UNREAD) -> None:
    """Refuse `annotator` work in `project` unless they are an active, unpaused annotator of it and
    qualified. `membership`: their annotator membership (paused_at, paused_reason), None when
    they have none, if the caller has read it already (assignment_next does, with its other reads)."""

    if membership is _UNREAD:
        membership = (
            Membership.objects.filter(project=project, user=annotator, role=Membership.Role.ANNOTATOR, is_active=True)
            .only("paused_at", "paused_reason")
            .first()
        )
    if membership is None:
        raise NotAllowed(f"{annotator.username} is not an annotator of project {project.name!r}")
    if membership.paused_at is not None:
        raise NotAllowed(
            f"{annotator.username} is paused on {project.name!r}: {membership.paused_reason}; "
            "a lead of the project can reinstate them"
        )
    problems = annotator_qualification_problems(project=project, annotator=annotator)
    if problems:
        raise QuorumError(
            f"{annotator.username} cannot work on {project.name!r}: {'; '.join(problems)}", field="project"
        )


def annotator_qualification_problems(*, project: Project, annotator: User) -> list[str]:
    """Why `annotator` may not take work in `project` now, beyond membership (empty: they may)."""
    problems = []
    if project.phase not in WORKING_PHASES:
        problems.append(f"the project is in {project.phase}, and work is given out only in pilot and production")
    if annotator.modalities and project.modality not in annotator.modalities:
        problems.append(f"they are not qualified for {project.modality} content")
    if project.require_language_match and project.languages:
        if not set(annotator.languages or []) & set(project.languages):
            problems.append(f"they work in none of the project's languages ({', '.join(project.languages)})")
    return problems


def _lease(*, item: Item, annotator: User, project: Project, now) -> Assignment:
    """Create the assignment; a regular item's slot counter grows (the caller holds its row lock)."""
    assignment = Assignment.objects.create(
        project=project,
        item=item,
        annotator=annotator,
        is_gold=item.is_gold,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )
    if not item.is_gold:
        Item.objects.filter(pk=item.pk).update(assigned_count=F("assigned_count") + 1)
    return assignment


def assignment_create(*, item: Item, annotator: User, now=None) -> Assignment:
    """Lease one slot of a chosen `item` to `annotator` (the engine's `assignment_next` picks for you).

    Invariants: the annotator is an active annotator of the project; they never hold two
    assignments on one item; a regular item never has more slots taken than its overlap. The item
    row is locked so concurrent leases of its last slot serialise. Lapsed leases of the item are
    expired first, before any lock is held.
    """
    now = now or timezone.now()
    _expire_stale(item_id=item.pk, now=now)
    return _assignment_create_locked(item=item, annotator=annotator, now=now)


@transaction.atomic
def _assignment_create_locked(*, item: Item, annotator: User, now) -> Assignment:

    item = Item.objects.select_for_update(of=("self",)).select_related("project").get(pk=item.pk)
    project = item.project
    if not Membership.objects.filter(
        project=project, user=annotator, role=Membership.Role.ANNOTATOR, is_active=True
    ).exists():
        raise NotAllowed(f"{annotator.username} is not an annotator of project {project.name!r}")
    if Assignment.objects.filter(item=item, annotator=annotator).exists():
        raise QuorumError(f"item {item.external_id!r}: {annotator.username} already worked on it", field="item")
    if not item.is_gold and item.assigned_count >= item.required_annotations:
        raise QuorumError(f"item {item.external_id!r}: all {item.required_annotations} slots are taken", field="item")
    return _lease(item=item, annotator=annotator, project=project, now=now)


def assignment_next(
    *, project: Project, annotator: User, now=None, context: _WorkContext | None = None
) -> Assignment | None:
    """The annotator's next piece of work in `project`, or None when there is nothing left for them.

    Order: resume their open lease; else, when a gold item is due (the project's gold rate, counted
    over their assignments), a gold item they have not seen; else the highest-priority regular
    item with an open slot that they have never touched. Items tagged graphic are left out once
    they reached the project's daily cap; with language matching on, only their languages.

    On PostgreSQL the pick is one indexed query with FOR UPDATE SKIP LOCKED, so concurrent
    annotators never take the same last slot; on SQLite the IMMEDIATE transaction serialises it.
    `context`: what work_start read with the project, if the caller has it.
    """
    now = now or timezone.now()
    if context is None:
        context = _work_context(project=project, annotator=annotator, now=now)
    _eligibility_check(project=project, annotator=annotator, membership=context.membership)
    # The annotator's open leases (there is rarely more than one): the live one is resumed,
    # lapsed ones are expired. Usually there is none, and the context query said so.
    mine = []
    if context.has_open_lease:
        mine = list(
            Assignment.objects.filter(project=project, annotator=annotator, status=ACTIVE)
            .select_related("item")
            .order_by("leased_at")
        )
    current = next((lease for lease in mine if lease.expires_at > now), None)
    if current is not None:
        current.in_force_read = context.in_force  # saves selectors.assignment_work_get a query
        return current
    for stale in mine:
        with transaction.atomic():
            _expire_one(assignment_id=stale.pk, now=now)
    assignment = _assignment_take(project=project, annotator=annotator, now=now, context=context)
    if assignment is None and _expire_stale(project_id=project.pk, now=now):
        # Lapsed leases of others held the last open slots: they are back in the pool now.
        assignment = _assignment_take(project=project, annotator=annotator, now=now, context=context)
    if assignment is not None:
        assignment.in_force_read = context.in_force  # saves selectors.assignment_work_get a query
    return assignment


@dataclass(frozen=True)
class _WorkContext:
    """What `next` reads in one statement before picking (see _work_context)."""

    membership: Any  # (paused_at, paused_reason) of the active annotator membership, or None
    has_open_lease: bool
    in_force: InForce
    gold_due: bool
    graphic_capped: bool


def work_start(*, project_id: int, annotator: User, now=None) -> tuple[Project | None, _WorkContext | None]:
    """The project `project_id` (the engine's columns; None when there is no such project) and
    what `next` reads before picking (see _work_context), in one statement: the start of every
    `next` through the API, which then calls assignment_next with both."""
    if not 0 < project_id < 2**63:  # beyond a bigint: no such row (as the ORM's lookup has it)
        return None, None
    row = _work_context_row(project_id=project_id, annotator=annotator, now=now or timezone.now())
    if row is None:
        return None, None
    project = work_project_from_row(row)  # (its columns come first, as from work_project_columns)
    return project, _work_context_from(project=project, annotator=annotator, row=row)


def _work_context(*, project: Project, annotator: User, now) -> _WorkContext:
    """One statement for what `next` reads before picking: the annotator's active annotator
    membership of `project`, whether they hold an active lease there, what is in force, and the
    counts behind the gold rate and the graphic cap (each only when the project has it on): the
    same counts as _gold_due and selectors.graphic_cap_reached."""
    row = _work_context_row(project_id=project.pk, annotator=annotator, now=now)
    if row is None:  # deleted since the caller loaded it
        raise QuorumError(f"project {project.pk} no longer exists", field="project")
    return _work_context_from(project=project, annotator=annotator, row=row)


def _work_context_row(*, project_id: int, annotator: User, now) -> tuple[Any, ...] | None:

    day_start = graphic_day_start(now)
    if connection.vendor != "postgresql":
        day_start = connection.ops.adapt_datetimefield_value(day_start)
    with connection.cursor() as cursor:
        cursor.execute(
            _work_context_sql(connection.vendor),
            [
                *(annotator.pk, ACTIVE),
                *[annotator.pk] * 2,
                *(annotator.pk, day_start),
                *(annotator.pk, Membership.Role.ANNOTATOR),
                project_id,
            ],
        )
        return cursor.fetchone()


def _work_context_from(*, project: Project, annotator: User, row: Sequence[Any]) -> _WorkContext:

    row = row[len(work_project_columns(connection.vendor, "wp")[1]) :]
    membership_id, paused_at, paused_reason, has_open_lease, total, gold, graphic = row[:7]
    membership = None
    if membership_id is not None:
        membership = row_instance(
            Membership, {"id": membership_id, "paused_at": paused_at, "paused_reason": paused_reason}
        )
    return _WorkContext(
        membership=membership,
        has_open_lease=bool(has_open_lease),
        in_force=in_force_from_row(project_id=project.pk, row=row[7:]),
        gold_due=project.gold_rate > 0 and gold < math.floor((total + 1) * project.gold_rate),
        graphic_capped=project.graphic_daily_cap > 0 and graphic >= project.graphic_daily_cap,
    )


@functools.cache
def _work_context_sql(vendor: str) -> str:
    """_work_context's statement, per database vendor (built once per process: the hot path runs
    it on every next): the project's engine columns, then the context. The gold and graphic
    counts are only evaluated when the project has them on (a CASE runs its subquery only when
    its branch is taken)."""

    quote = connection.ops.quote_name
    memberships, assignments, items, projects = (
        quote(m._meta.db_table) for m in (Membership, Assignment, Item, Project)
    )
    mine = f"SELECT COUNT(*) FROM {assignments} a WHERE a.project_id = wp.id AND a.annotator_id = %s"
    graphic = (
        f"SELECT COUNT(*) FROM {assignments} a JOIN {items} i ON i.id = a.item_id "
        "WHERE a.annotator_id = %s AND i.is_graphic AND a.leased_at >= %s"
    )
    return (
        f"SELECT {work_project_columns(vendor, 'wp')[0]}, m.id, m.paused_at, m.paused_reason, EXISTS (SELECT 1 "
        f"FROM {assignments} a WHERE a.annotator_id = %s AND a.project_id = wp.id AND a.status = %s), "
        f"CASE WHEN wp.gold_rate > 0 THEN ({mine}) END, CASE WHEN wp.gold_rate > 0 THEN ({mine} AND a.is_gold) END, "
        f"CASE WHEN wp.graphic_daily_cap > 0 THEN ({graphic}) END, {in_force_columns_sql('wp.id')} "
        f"FROM {projects} wp LEFT JOIN {memberships} m ON m.project_id = wp.id AND m.user_id = %s "
        "AND m.role = %s AND m.is_active WHERE wp.id = %s"
    )


def _assignment_take(
    *, project: Project, annotator: User, now, context: _WorkContext | None = None
) -> Assignment | None:
    """Gold when due, else the best open item: picked, locked and leased atomically. `context`:
    what _work_context read (gold due, graphic cap), else asked here."""
    if context.gold_due if context is not None else _gold_due(project=project, annotator=annotator):
        with transaction.atomic():
            gold = (
                Item.objects.filter(project=project, is_gold=True)
                .filter(~Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
                .order_by("id")
                .first()
            )
            if gold is not None:
                return _lease(item=gold, annotator=annotator, project=project, now=now)
    graphic_capped = context.graphic_capped if context is not None else None
    return _open_item_lease(project=project, annotator=annotator, now=now, graphic_capped=graphic_capped)


# The engine's hot path in SQL. Built with the ORM, pick, lease and slot update cost about 4 ms of
# Python per `next` on this machine (query compilation and model instances) for 0.3 ms in the
# database; as prepared SQL text they cost a fraction of that (bench/README.md, throughput).
_ITEM_CONTENT = (
    "id", "external_id", "modality", "text", "image_url", "video_url", "audio_url", "ocr_text", "metadata",
    "language", "is_graphic",
)  # fmt: skip


def _open_item_filter_sql(
    *, project: Project, annotator: User, now, graphic_capped: bool | None = None
) -> tuple[str, list[Any]]:
    """The WHERE clause of the pick (items of `project` with a free slot that `annotator` never
    touched, after the wellness cap and language rules) and its parameters. The first two terms
    are the partial index item_open_pick_idx's own condition, so the planner walks that index."""
    quote = connection.ops.quote_name
    assignments = quote(Assignment._meta.db_table)
    where = (
        "i.project_id = %s AND i.assigned_count < i.required_annotations AND NOT i.is_gold AND NOT EXISTS "
        f"(SELECT 1 FROM {assignments} a WHERE a.item_id = i.id AND a.annotator_id = %s)"
    )
    params: list[Any] = [project.pk, annotator.pk]
    if graphic_capped is None:
        graphic_capped = graphic_cap_reached(project=project, annotator=annotator, now=now)
    if graphic_capped:
        where += " AND NOT i.is_graphic"
    if project.require_language_match and annotator.languages:
        languages = list(annotator.languages)
        where += f" AND (i.language = '' OR i.language IN ({', '.join(['%s'] * len(languages))}))"
        params += languages
    return where, params


def _open_item_lease(
    *, project: Project, annotator: User, now, graphic_capped: bool | None = None
) -> Assignment | None:
    """Pick the best regular item with a free slot for `annotator`, take the slot and create the
    assignment, atomically; None when there is no such item.

    PostgreSQL: one statement (the pick with FOR UPDATE SKIP LOCKED, the slot counter update and
    the insert as data-modifying CTEs), so concurrent annotators pass each other's locked rows and
    no lock is held across round trips. Elsewhere (SQLite): pick, update and insert in one
    transaction, which IMMEDIATE mode serialises.
    """
    where, params = _open_item_filter_sql(project=project, annotator=annotator, now=now, graphic_capped=graphic_capped)
    expires_at = now + timedelta(minutes=project.lease_minutes)
    statements = _open_item_lease_sql(connection.vendor, where)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(statements[0], [*params, project.pk, annotator.pk, ACTIVE, now, expires_at])
            row = cursor.fetchone()
        else:
            pick, take, lease = statements
            with transaction.atomic():
                cursor.execute(pick, params)
                picked = cursor.fetchone()
                if picked is None:
                    return None
                cursor.execute(take, [picked[0]])
                cursor.execute(
                    lease,
                    [
                        project.pk,
                        picked[0],
                        annotator.pk,
                        ACTIVE,
                        False,
                        connection.ops.adapt_datetimefield_value(now),
                        connection.ops.adapt_datetimefield_value(expires_at),
                    ],
                )
                row = (cursor.fetchone()[0], *picked)
    if row is None:
        return None
    values = dict(zip(_ITEM_CONTENT, row[1:], strict=True))
    metadata = values["metadata"]
    values["metadata"] = orjson.loads(metadata) if isinstance(metadata, (str, bytes)) else metadata
    values["is_graphic"] = bool(values["is_graphic"])
    item = row_instance(Item, values)
    assignment = row_instance(
        Assignment,
        {
            "id": row[0],
            "project_id": project.pk,
            "item_id": item.pk,
            "annotator_id": annotator.pk,
            "status": ACTIVE,
            "is_gold": False,
            "leased_at": now,
            "expires_at": expires_at,
            "finished_at": None,
            "skip_reason": "",
        },
    )
    assignment.item = item
    return assignment


@functools.cache
def _open_item_lease_sql(vendor: str, where: str) -> tuple[str, ...]:
    """_open_item_lease's statements for the pick's WHERE clause `where`, per database vendor (built
    once per process and shape: the hot path runs them on every next). PostgreSQL: one statement;
    elsewhere: the pick, the slot's update and the insert."""
    quote = connection.ops.quote_name
    items, assignments = quote(Item._meta.db_table), quote(Assignment._meta.db_table)
    content = ", ".join(f"i.{quote(column)}" for column in _ITEM_CONTENT)
    insert_columns = (
        "project_id, item_id, annotator_id, status, is_gold, leased_at, expires_at, finished_at, skip_reason"
    )
    if vendor == "postgresql":
        return (
            f"WITH pick AS (SELECT i.id FROM {items} i WHERE {where} ORDER BY i.priority DESC, i.id LIMIT 1 "
            "FOR UPDATE OF i SKIP LOCKED), "
            f"taken AS (UPDATE {items} i SET assigned_count = i.assigned_count + 1 FROM pick "
            f"WHERE i.id = pick.id RETURNING {content}), "
            f"lease AS (INSERT INTO {assignments} ({insert_columns}) "
            "SELECT %s, taken.id, %s, %s, false, %s, %s, NULL, '' FROM taken RETURNING id, item_id) "
            "SELECT lease.id, taken.* FROM lease JOIN taken ON taken.id = lease.item_id",
        )
    return (
        f"SELECT {content} FROM {items} i WHERE {where} ORDER BY i.priority DESC, i.id LIMIT 1",
        f"UPDATE {items} SET assigned_count = assigned_count + 1 WHERE id = %s",
        f"INSERT INTO {assignments} ({insert_columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, NULL, '') RETURNING id",
    )


def _gold_due(*, project: Project, annotator: User) -> bool:
    """Gold at the project's rate, spread evenly: the k-th gold item comes at assignment k / rate."""
    if project.gold_rate <= 0:
        return False
    counts = Assignment.objects.filter(project=project, annotator=annotator).aggregate(
        total=Count("id"), gold=Count("id", filter=Q(is_gold=True))
    )
    return counts["gold"] < math.floor((counts["total"] + 1) * project.gold_rate)


def _expire_one(*, assignment_id: int, now) -> bool:
    """Mark one lapsed lease expired and give its slot back. Safe under concurrency: only the
    caller whose conditional update changed the row gives the slot back."""
    changed = Assignment.objects.filter(pk=assignment_id, status=ACTIVE, expires_at__lte=now).update(
        status=Assignment.Status.EXPIRED, finished_at=now
    )
    if changed:
        row = Assignment.objects.filter(pk=assignment_id).values("item_id", "is_gold").get()
        if not row["is_gold"]:
            Item.objects.filter(pk=row["item_id"], assigned_count__gt=0).update(assigned_count=F("assigned_count") - 1)
    return bool(changed)


def _expire_stale(*, now, project_id: int | None = None, item_id: int | None = None, limit: int = 200) -> int:
    """Expire lapsed leases, each in its own short transaction, and return how many.

    Called before taking locks, never while holding an item: expiring a lease touches its item,
    and a submit holds its lease while waiting for that item, so doing this under an item lock,
    or many leases in one transaction, can deadlock (seen under load on PostgreSQL).
    """
    stale = Assignment.objects.filter(status=ACTIVE, expires_at__lte=now)
    if project_id is not None:
        stale = stale.filter(project_id=project_id)
    if item_id is not None:
        stale = stale.filter(item_id=item_id)
    expired = 0
    for assignment_id in list(stale.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            expired += _expire_one(assignment_id=assignment_id, now=now)
    return expired


def work_queue_vacuum() -> float | None:
    """Vacuum the work queue's tables on PostgreSQL (beat runs it every few seconds; see
    annotation.queues for why) and return the seconds it took; None on SQLite, whose deletes and
    updates leave no dead index entries behind."""
    from annotation.queues import VACUUM_SQL

    if connection.vendor != "postgresql":
        return None
    if connection.in_atomic_block:
        raise QuorumError("the work queue's vacuum cannot run inside a transaction")
    connection.ensure_connection()
    started = time.perf_counter()
    connection.connection.execute(VACUUM_SQL, prepare=False)  # (a utility statement: never prepared)
    return time.perf_counter() - started


def assignment_expire_sweep(*, now=None, limit: int = 5000) -> int:
    """Expire lapsed leases everywhere and return their slots (beat runs it). Returns how many."""
    return _expire_stale(now=now or timezone.now(), limit=limit)


def _owned_assignment(assignment: Assignment, actor: User) -> Assignment:
    locked = Assignment.objects.select_for_update(of=("self",)).select_related("project").get(pk=assignment.pk)
    if locked.annotator_id != actor.pk:
        raise NotAllowed("this assignment belongs to another annotator")
    return locked


@transaction.atomic
def assignment_skip(*, assignment: Assignment, actor: User, reason: str, now=None) -> Assignment:
    """Skip an item with a reason. Its slot goes back to the pool; this annotator won't see it again.
    Skipping twice is harmless (idempotent)."""
    now = now or timezone.now()
    assignment = _owned_assignment(assignment, actor)
    if assignment.status == Assignment.Status.SKIPPED:
        return assignment
    if assignment.status != ACTIVE:
        raise QuorumError(
            f"assignment {assignment.pk}: it is {assignment.status}, so it cannot be skipped", field="assignment"
        )
    reason = (reason or "").strip()
    if not reason:
        raise QuorumError("reason: say why you skip this item", field="reason")
    assignment.status = Assignment.Status.SKIPPED
    assignment.skip_reason = reason[:500]
    assignment.finished_at = now
    assignment.save(update_fields=["status", "skip_reason", "finished_at"])
    if not assignment.is_gold:
        Item.objects.filter(pk=assignment.item_id, assigned_count__gt=0).update(assigned_count=F("assigned_count") - 1)
    return assignment


@transaction.atomic
def flag_raise(*, assignment: Assignment, actor: User, question: str) -> Flag:
    """Ask the lead a question about the assignment's item. The lease stays: the annotator can
    still label or skip it."""
    assignment = _owned_assignment(assignment, actor)
    question = (question or "").strip()
    if not question:
        raise QuorumError("question: write the question for the lead", field="question")
    flag = Flag(
        project=assignment.project,
        item_id=assignment.item_id,
        assignment=assignment,
        raised_by=actor,
        question=question,
    )
    flag.full_clean()
    flag.save()
    return flag


@transaction.atomic
def flag_answer(*, flag: Flag, actor: User, answer: str) -> Flag:
    """The lead answers an annotator's question."""
    flag = Flag.objects.select_for_update(of=("self",)).select_related("project").get(pk=flag.pk)
    _require_lead(actor, flag.project)
    answer = (answer or "").strip()
    if not answer:
        raise QuorumError("answer: write the answer", field="answer")
    flag.answer = answer
    flag.status = Flag.Status.ANSWERED
    flag.answered_by = actor
    flag.answered_at = timezone.now()
    flag.save(update_fields=["answer", "status", "answered_by", "answered_at"])
    return flag


@transaction.atomic
def annotation_submit(
    *, assignment: Assignment, labels: list[str] | str, actor: User, time_spent_ms: int = 0, comment: str = "", now=None
) -> Annotation:
    """Record `actor`'s labels for their assignment and close it.

    Labels are checked against the schema version in force; the schema and guideline versions
    are recorded with the annotation. Submitting the same assignment again returns the stored
    annotation unchanged (idempotent double submit). A lease that lapsed is still accepted while
    the item has a free slot; otherwise the refusal says so. When the item's first annotations
    disagree beyond the project's threshold, its overlap grows by one (up to the maximum).
    Only `assignment.pk` is read: the row is locked and read again (Assignment.DoesNotExist
    when there is none).

    The hot path of every annotator, so it is plain SQL: one statement locks the assignment and
    its item and reads what the checks need (with what is in force), one writes the annotation,
    the assignment and the item's counters (three on SQLite).
    """
    now = now or timezone.now()
    state = _submit_state_locked(assignment_id=assignment.pk)
    if state["annotator_id"] != actor.pk:
        raise NotAllowed("this assignment belongs to another annotator")
    if state["annotation_id"] is not None:
        return Annotation.objects.select_related("item", "annotator").get(pk=state["annotation_id"])
    if state["status"] == Assignment.Status.SKIPPED:
        raise QuorumError(f"assignment {assignment.pk}: you skipped this item", field="assignment")
    project, item = state["project"], state["item"]
    if state["status"] == Assignment.Status.EXPIRED and not item.is_gold:
        if item.assigned_count >= item.required_annotations:
            raise QuorumError(
                f"item {item.external_id!r}: your lease expired and its {item.required_annotations} slots were "
                "taken meanwhile; your answer was not recorded",
                field="assignment",
            )
        item.assigned_count += 1
    in_force = state["in_force"]
    version = in_force.schema_version
    if version is None:
        raise QuorumError(f"project {project.name!r} has no label schema", field="labels")
    allowed = [label.key for label in in_force.labels]
    chosen = labels_chosen_check(labels, allowed=allowed, multi=version.schema.selection == LabelSchema.Selection.MULTI)
    if not isinstance(time_spent_ms, int) or isinstance(time_spent_ms, bool) or time_spent_ms < 0:
        raise QuorumError("time_spent_ms: give a whole number of milliseconds, 0 or more", field="time_spent_ms")
    annotation = row_instance(  # the row about to be written (its id once it is)
        Annotation,
        {
            "assignment_id": assignment.pk,
            "project_id": project.pk,
            "item_id": item.pk,
            "annotator_id": actor.pk,
            "labels": chosen,
            "schema_version_id": version.pk,
            "guideline_id": in_force.guideline.pk if in_force.guideline else None,
            "time_spent_ms": time_spent_ms,
            "comment": comment,
            "submitted_at": now,
        },
    )
    annotation._state.fields_cache.update(item=item, annotator=actor, schema_version=version)
    if not item.is_gold:
        item.annotations_done += 1
        item.required_annotations = _overlap_after(item=item, project=project, pending=chosen)
    annotation.pk = _submit_write(annotation=annotation, item=item, now=now)
    return annotation


_SUBMIT_ITEM = (
    "id",
    "batch_id",
    "external_id",
    "is_gold",
    "required_annotations",
    "assigned_count",
    "annotations_done",
)


def _submit_state_locked(*, assignment_id: int) -> dict[str, Any]:
    """One statement: the assignment and its item, locked (in that order, as everywhere: lease
    before item), the project's settings that submit reads, an existing annotation, and what is
    in force. PostgreSQL locks the two rows; SQLite's IMMEDIATE transaction holds the database."""

    with connection.cursor() as cursor:
        cursor.execute(_submit_state_sql(connection.vendor), [assignment_id])
        row = cursor.fetchone()
    if row is None:
        raise Assignment.DoesNotExist(f"assignment {assignment_id} does not exist")
    annotator_id, status, project_id, name, threshold, max_overlap, annotation_id = row[:7]
    item_values = dict(zip(_SUBMIT_ITEM, row[7 : 7 + len(_SUBMIT_ITEM)], strict=True))
    item_values["is_gold"] = bool(item_values["is_gold"])  # SQLite answers 0/1
    item = row_instance(Item, item_values)
    project = row_instance(
        Project, {"id": project_id, "name": name, "dynamic_overlap_threshold": threshold, "max_overlap": max_overlap}
    )
    return {
        "annotator_id": annotator_id,
        "status": status,
        "annotation_id": annotation_id,
        "project": project,
        "item": item,
        "in_force": in_force_from_row(project_id=project_id, row=row[7 + len(_SUBMIT_ITEM) :]),
    }


@functools.cache
def _submit_state_sql(vendor: str) -> str:
    """_submit_state_locked's statement, per database vendor (built once per process)."""

    quote = connection.ops.quote_name
    assignments, items, annotations, projects = (
        quote(model._meta.db_table) for model in (Assignment, Item, Annotation, Project)
    )
    lock = " FOR UPDATE OF a, i" if connection.features.has_select_for_update_of else ""
    item_columns = ", ".join(f"i.{quote(column)}" for column in _SUBMIT_ITEM)
    return (
        f"SELECT a.annotator_id, a.status, a.project_id, p.name, p.dynamic_overlap_threshold, p.max_overlap, "
        f"(SELECT n.id FROM {annotations} n WHERE n.assignment_id = a.id), {item_columns}, "
        f"{in_force_columns_sql('a.project_id')} "
        f"FROM {assignments} a JOIN {items} i ON i.id = a.item_id JOIN {projects} p ON p.id = a.project_id "
        f"WHERE a.id = %s{lock}"
    )


def _submit_write(*, annotation: Annotation, item: Item, now) -> int:
    """Insert the annotation, close the assignment and store the item's counters; the new id.
    (The caller holds the assignment and item locks.)"""
    postgres = connection.vendor == "postgresql"
    stamp = now if postgres else connection.ops.adapt_datetimefield_value(now)
    values = [
        annotation.assignment_id,
        annotation.project_id,
        item.pk,
        annotation.annotator_id,
        orjson.dumps(annotation.labels).decode(),
        annotation.schema_version_id,
        annotation.guideline_id,
        annotation.time_spent_ms,
        annotation.comment,
        stamp,
    ]
    close_params = [Assignment.Status.SUBMITTED, stamp, annotation.assignment_id]
    count_params = (
        [] if item.is_gold else [item.assigned_count, item.annotations_done, item.required_annotations, item.pk]
    )
    statements = _submit_write_sql(connection.vendor, item.is_gold)
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(statements[0], [*close_params, *count_params, *values])
            return cursor.fetchone()[0]
        insert, close, *count = statements
        cursor.execute(insert, values)
        annotation_id = cursor.fetchone()[0]
        cursor.execute(close, close_params)
        if count:
            cursor.execute(count[0], count_params)
        return annotation_id


@functools.cache
def _submit_write_sql(vendor: str, is_gold: bool) -> tuple[str, ...]:
    """_submit_write's statements, per database vendor and kind of item (built once per process).
    PostgreSQL: one statement, the updates as data-modifying CTEs of the insert's statement (one
    round trip); elsewhere: the insert, the assignment's update and (regular items) the item's."""
    quote = connection.ops.quote_name
    annotations, assignments, items = (quote(model._meta.db_table) for model in (Annotation, Assignment, Item))
    columns = (
        "assignment_id, project_id, item_id, annotator_id, labels, schema_version_id, guideline_id, "
        "time_spent_ms, comment, submitted_at"
    )
    postgres = vendor == "postgresql"
    insert = f"INSERT INTO {annotations} ({columns}) VALUES (%s, %s, %s, %s, %s{'::jsonb' if postgres else ''}, %s, %s, %s, %s, %s)"
    close = f"UPDATE {assignments} SET status = %s, finished_at = %s WHERE id = %s"
    count = f"UPDATE {items} SET assigned_count = %s, annotations_done = %s, required_annotations = %s WHERE id = %s"
    if postgres:
        counted = "" if is_gold else f", counted AS ({count} RETURNING 1)"
        return (f"WITH closed AS ({close} RETURNING 1){counted}, made AS ({insert} RETURNING id) SELECT id FROM made",)
    return (insert + " RETURNING id", close) if is_gold else (insert + " RETURNING id", close, count)


def _overlap_after(*, item: Item, project: Project, pending: list[str]) -> int:
    """Dynamic overlap: once all current slots are answered, one more if the answers disagree.
    `pending` is the answer being submitted (not stored yet)."""
    threshold = project.dynamic_overlap_threshold
    if (
        threshold <= 0
        or item.annotations_done < item.required_annotations
        or item.required_annotations >= project.max_overlap
    ):
        return item.required_annotations
    stored = Annotation.objects.filter(item_id=item.pk).values_list("labels", flat=True)
    answers = [tuple(sorted(labels)) for labels in [*stored, pending]]
    top_share = Counter(answers).most_common(1)[0][1] / len(answers)
    return item.required_annotations + 1 if top_share < threshold else item.required_annotations
