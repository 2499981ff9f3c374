"""Every write of the annotation app: schemas and their versions, guidelines, batches and items,
assignments and annotations. Each function validates, applies atomically and records who."""

from __future__ import annotations

import contextlib
import csv
import gc
import math
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
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
from annotation.selectors import assignment_in_force_get, graphic_cap_reached, schema_version_current
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
    from projects.tasks import project_progress_refresh as project_progress_refresh_task

    transaction.on_commit(lambda: project_progress_refresh_task.delay(project_id))


# --- The assignment engine ------------------------------------------------------------------

ACTIVE = Assignment.Status.ACTIVE
WORKING_PHASES = ("pilot", "production")


def _eligibility_check(*, project: Project, annotator: User) -> None:
    from projects.models import Membership

    if not Membership.objects.filter(
        project=project, user=annotator, role=Membership.Role.ANNOTATOR, is_active=True
    ).exists():
        raise NotAllowed(f"{annotator.username} is not an annotator of project {project.name!r}")
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
    from projects.models import Membership

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


def assignment_next(*, project: Project, annotator: User, now=None) -> Assignment | None:
    """The annotator's next piece of work in `project`, or None when there is nothing left for them.

    Order: resume their open lease; else, when a gold item is due (the project's gold rate, counted
    over their assignments), a gold item they have not seen; else the highest-priority regular
    item with an open slot that they have never touched. Items tagged graphic are left out once
    they reached the project's daily cap; with language matching on, only their languages.

    On PostgreSQL the pick is one indexed query with FOR UPDATE SKIP LOCKED, so concurrent
    annotators never take the same last slot; on SQLite the IMMEDIATE transaction serialises it.
    """
    now = now or timezone.now()
    _eligibility_check(project=project, annotator=annotator)
    # One query for the annotator's open leases (there is rarely more than one): the live one is
    # resumed, lapsed ones are expired.
    mine = list(
        Assignment.objects.filter(project=project, annotator=annotator, status=ACTIVE)
        .select_related("item")
        .order_by("leased_at")
    )
    current = next((lease for lease in mine if lease.expires_at > now), None)
    if current is not None:
        return current
    for stale in mine:
        with transaction.atomic():
            _expire_one(assignment_id=stale.pk, now=now)
    assignment = _assignment_take(project=project, annotator=annotator, now=now)
    if assignment is None and _expire_stale(project_id=project.pk, now=now):
        # Lapsed leases of others held the last open slots: they are back in the pool now.
        assignment = _assignment_take(project=project, annotator=annotator, now=now)
    return assignment


@transaction.atomic
def _assignment_take(*, project: Project, annotator: User, now) -> Assignment | None:
    """Gold when due, else the best open item: picked, locked and leased in one transaction."""
    if _gold_due(project=project, annotator=annotator):
        gold = (
            Item.objects.filter(project=project, is_gold=True)
            .filter(~Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
            .order_by("id")
            .first()
        )
        if gold is not None:
            return _lease(item=gold, annotator=annotator, project=project, now=now)
    item = _pick_open_item(project=project, annotator=annotator, now=now)
    if item is None:
        return None
    assignment = _lease(item=item, annotator=annotator, project=project, now=now)
    assignment.item = item
    return assignment


def _gold_due(*, project: Project, annotator: User) -> bool:
    """Gold at the project's rate, spread evenly: the k-th gold item comes at assignment k / rate."""
    if project.gold_rate <= 0:
        return False
    counts = Assignment.objects.filter(project=project, annotator=annotator).aggregate(
        total=Count("id"), gold=Count("id", filter=Q(is_gold=True))
    )
    return counts["gold"] < math.floor((counts["total"] + 1) * project.gold_rate)


def _pick_open_item(*, project: Project, annotator: User, now) -> Item | None:
    candidates = Item.objects.filter(
        project=project, is_gold=False, assigned_count__lt=F("required_annotations")
    ).filter(~Exists(Assignment.objects.filter(item=OuterRef("pk"), annotator=annotator)))
    if graphic_cap_reached(project=project, annotator=annotator, now=now):
        candidates = candidates.filter(is_graphic=False)
    if project.require_language_match and annotator.languages:
        candidates = candidates.filter(Q(language="") | Q(language__in=annotator.languages))
    candidates = candidates.order_by("-priority", "id")
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True, of=("self",))
    return candidates.first()


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
    """
    now = now or timezone.now()
    assignment = _owned_assignment(assignment, actor)
    existing = Annotation.objects.filter(assignment=assignment).first()
    if existing is not None:
        return existing
    if assignment.status == Assignment.Status.SKIPPED:
        raise QuorumError(f"assignment {assignment.pk}: you skipped this item", field="assignment")
    project = assignment.project
    item = Item.objects.select_for_update().get(pk=assignment.item_id)
    if assignment.status == Assignment.Status.EXPIRED and not item.is_gold:
        if item.assigned_count >= item.required_annotations:
            raise QuorumError(
                f"item {item.external_id!r}: your lease expired and its {item.required_annotations} slots were "
                "taken meanwhile; your answer was not recorded",
                field="assignment",
            )
        item.assigned_count += 1
    in_force = assignment_in_force_get(assignment=assignment)  # one query, not three
    version = in_force.schema_version
    if version is None:
        raise QuorumError(f"project {project.name!r} has no label schema", field="labels")
    allowed = [label.key for label in in_force.labels]
    chosen = labels_chosen_check(labels, allowed=allowed, multi=version.schema.selection == LabelSchema.Selection.MULTI)
    if not isinstance(time_spent_ms, int) or isinstance(time_spent_ms, bool) or time_spent_ms < 0:
        raise QuorumError("time_spent_ms: give a whole number of milliseconds, 0 or more", field="time_spent_ms")
    annotation = Annotation.objects.create(
        assignment=assignment,
        project=project,
        item=item,
        annotator=actor,
        labels=chosen,
        schema_version=version,
        guideline_id=in_force.guideline.pk if in_force.guideline else None,
        time_spent_ms=time_spent_ms,
        comment=comment,
        submitted_at=now,
    )
    assignment.status = Assignment.Status.SUBMITTED
    assignment.finished_at = now
    assignment.save(update_fields=["status", "finished_at"])
    if not item.is_gold:
        item.annotations_done += 1
        item.required_annotations = _overlap_after(item=item, project=project)
        item.save(update_fields=["assigned_count", "annotations_done", "required_annotations"])
    return annotation


def _overlap_after(*, item: Item, project: Project) -> int:
    """Dynamic overlap: once all current slots are answered, one more if the answers disagree."""
    threshold = project.dynamic_overlap_threshold
    if (
        threshold <= 0
        or item.annotations_done < item.required_annotations
        or item.required_annotations >= project.max_overlap
    ):
        return item.required_annotations
    answers = [
        tuple(sorted(labels)) for labels in Annotation.objects.filter(item=item).values_list("labels", flat=True)
    ]
    top_share = Counter(answers).most_common(1)[0][1] / len(answers)
    return item.required_annotations + 1 if top_share < threshold else item.required_annotations
