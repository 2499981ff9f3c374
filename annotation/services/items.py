"""Batches and their items: items added from rows (all or nothing), and imports of item files
(a job per file: registered, run in the background, failed by its task).

An import streams its file in chunks, checks every row and writes the good ones with the bulk
insert of annotation.sql (binary COPY on PostgreSQL), in one transaction."""

from __future__ import annotations

import contextlib
import csv
import gc
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from django.core.cache import cache
from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from annotation.importers import format_from_name, read_chunks
from annotation.models import Batch, ImportJob, Item, LabelSchema
from annotation.selectors import import_heartbeat_key, import_progress_key, schema_version_current
from annotation.signals import items_changed
from annotation.sql import ITEM_COPY_TYPES, existing_external_ids_sql, items_insert_sql
from annotation.validation import RowErrors, item_row_clean
from core import jobs as core_jobs
from core.csvsafe import csv_row
from core.errors import QuorumError
from core.parsers import upload_size_check
from projects import access

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from accounts.models import User
    from projects.models import Project


@transaction.atomic
def batch_create(*, project: Project, name: str, actor: User, source: str = "") -> Batch:
    access.require_lead(actor, project)
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
    for start in range(0, len(external_ids), 5000):
        part = external_ids[start : start + 5000]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(existing_external_ids_sql(connection.vendor), [project.pk, part])
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
    access.require_lead(actor, project)
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
    access.require_lead(actor, project)
    batch_name = (batch_name or "").strip()
    if not batch_name:
        raise QuorumError("batch_name: name the batch the items go into", field="batch_name")
    if mode not in ImportJob.Mode.values:
        raise QuorumError(f"mode: {mode!r} is not one of {', '.join(ImportJob.Mode.values)}", field="mode")
    if (upload is None) == (source_path is None):
        raise QuorumError("file: give exactly one file", field="file")
    if upload is not None:
        upload_size_check(upload.size)
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
        _import_queue_on_commit(job)
    return job


def _import_fail(job_id: int, message: str) -> None:
    import_job_fail(job_id=job_id, message=message)


def _import_queue_on_commit(job: ImportJob) -> None:
    """Queue the import on commit; broker unreachable: the job fails "queue unavailable" and
    QueueUnavailable (503) is raised after the commit (core.jobs)."""
    from annotation.tasks import import_run as import_run_task

    core_jobs.job_enqueue_on_commit(import_run_task, job.pk, model=ImportJob, fail=_import_fail)


@transaction.atomic
def import_job_retry(*, job: ImportJob, actor: User) -> ImportJob:
    """Import a failed job's uploaded file again (leads of the project), from a clean start: counts,
    bad rows and the error report cleared, attempts back to 0. Refused (QuorumError on `status`)
    unless it failed, and for a server-side file (run `manage.py import_items` again). Queued on
    commit; ids already imported are skipped, so nothing is imported twice."""
    access.require_lead(actor, job.project)
    current = ImportJob.objects.select_for_update().get(pk=job.pk)
    if current.status != ImportJob.Status.FAILED:
        raise QuorumError(
            f"import {current.pk} is {current.status}: only a failed import can be retried",
            field="status",
            code="not_failed",
        )
    if not current.file:
        raise QuorumError(
            f"import {current.pk} read a file on the server: run `manage.py import_items` again", field="file"
        )
    if current.error_report:
        current.error_report.delete(save=False)
    current.status = ImportJob.Status.PENDING
    current.batch = None
    current.rows_read = current.items_created = current.rows_existing = current.rows_invalid = 0
    current.errors = []
    current.message = f"Queued again by {actor.username}"
    current.attempts = 0
    current.started_at = current.finished_at = current.heartbeat_at = current.queued_at = None
    current.save()
    _import_queue_on_commit(current)
    return current


def import_job_sweep() -> dict[str, list[int]]:
    """Fail the imports whose worker died (no heartbeat, in the row or the cache, for
    QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS; their transaction rolled back with them), never queued,
    or lost in the queue, with the reason (beat runs this)."""

    def alive(ids: list[int]) -> set[int]:
        beats = cache.get_many([import_heartbeat_key(pk) for pk in ids])
        now = timezone.now()
        return {
            pk
            for pk in ids
            if (at := beats.get(import_heartbeat_key(pk))) is not None
            and core_jobs.heartbeat_fresh(datetime.fromtimestamp(at, tz=UTC), now=now)
        }

    return core_jobs.job_sweep(
        ImportJob, waiting=ImportJob.Status.PENDING, running=ImportJob.Status.RUNNING, fail=_import_fail, alive=alive
    )


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
    claimed = core_jobs.job_claim(
        ImportJob,
        job_id,
        startable=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING],
        running=ImportJob.Status.RUNNING,
        updates={"started_at": timezone.now()},
        fail=_import_fail,
    )
    job = ImportJob.objects.select_related("project").get(pk=job_id)
    if not claimed:  # finished already, or out of attempts (now failed with the reason)
        return job
    project = job.project
    rules = _ItemRules(project)
    report = tempfile.TemporaryFile("w+", newline="", encoding="utf-8")  # noqa: SIM115 - closed below
    writer = csv.writer(report)
    writer.writerow(["row", "column", "message"])
    counts = {"rows_read": 0, "items_created": 0, "rows_existing": 0, "rows_invalid": 0}
    kept_errors: list[dict[str, Any]] = []
    atomic = job.mode == ImportJob.Mode.ALL_OR_NOTHING
    file_error: QuorumError | None = None

    def bad(errors: list[QuorumError], rows: int = 1) -> None:
        """`rows` bad rows, with every error found in them (each bad column of a row is one)."""
        counts["rows_invalid"] += rows
        for error in errors:
            writer.writerow(csv_row(["" if error.row is None else error.row, error.field or "", error.message]))
            if len(kept_errors) < IMPORT_ERRORS_KEPT:
                kept_errors.append({"row": error.row, "column": error.field, "message": error.message})

    try:
        with transaction.atomic(), _gc_paused():
            batch, _ = Batch.objects.get_or_create(
                project=project, name=job.batch_name, defaults={"created_by": job.created_by, "source": job.source_name}
            )
            # Ids repeated inside the file are caught while checking; the database only needs
            # asking when the project had items before this import began.
            had_items = Item.objects.filter(project=project).exists()
            with _open_source(job, source_path) as handle:
                for read, good, bad_rows in _checked_chunks(handle, fmt=job.format, rules=rules):
                    counts["rows_read"] += read
                    for rows, errors in bad_rows:
                        bad(errors, rows)
                    existing = _existing_external_ids(project, [v["external_id"] for v in good]) if had_items else set()
                    counts["rows_existing"] += len(existing)
                    if not (atomic and counts["rows_invalid"]):
                        new = [v for v in good if v["external_id"] not in existing]
                        items_insert(project_id=project.pk, batch_id=batch.pk, rows=new)
                        counts["items_created"] += len(new)
                    cache.set(import_progress_key(job.pk), counts["rows_read"], timeout=24 * 3600)
                    cache.set(import_heartbeat_key(job.pk), time.time(), timeout=24 * 3600)
                    core_jobs.job_checkpoint("import", job.pk)
                    if on_progress:
                        on_progress(counts["rows_read"])
            if not counts["rows_read"]:
                raise QuorumError(_EMPTY_FILE[job.format], field="file")
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
        bad([exc])
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
    cache.delete_many([import_progress_key(job.pk), import_heartbeat_key(job.pk)])
    if job.items_created:
        _progress_refresh_on_commit(project.pk)
    return job


def items_insert(*, project_id: int, batch_id: int, rows: list[dict[str, Any]]) -> None:
    """Insert cleaned item rows fast: binary COPY on PostgreSQL, one prepared executemany on SQLite.

    The rows must come from item_row_clean (import_job_run's do; so do the benchmarks' loaders):
    this trusts them and skips the ORM's per-object work (the import's hot path: a million rows
    spend most of their time here otherwise). No lead check and no progress refresh: the caller's.
    Each record below is in sql.items_insert_sql's column order.
    """
    if not rows:
        return
    statement = items_insert_sql(connection.vendor)
    if connection.vendor == "postgresql":
        _items_copy(statement, project_id, batch_id, rows)
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
    with connection.cursor() as cursor:
        cursor.executemany(statement, records)


def _items_copy(statement: str, project_id: int, batch_id: int, rows: list[dict[str, Any]]) -> None:
    """Binary COPY: values are encoded by psycopg's C dumpers (JSON by orjson), about twice as fast
    as text COPY for our rows. Runs on the Django connection, so it is part of the transaction."""
    from psycopg.types.json import set_json_dumps

    connection.ensure_connection()
    now = timezone.now()
    with connection.connection.cursor() as raw:
        set_json_dumps(orjson.dumps, context=raw)
        with raw.copy(statement) as copy:
            copy.set_types(ITEM_COPY_TYPES)
            for r in rows:
                copy.write_row(
                    (
                        project_id, batch_id, r["external_id"], r["modality"], r["text"], r["image_url"],
                        r["video_url"], r["audio_url"], r["ocr_text"], r["metadata"], r["language"], r["is_graphic"],
                        r["is_gold"], r["gold_labels"], r["priority"], r["required_annotations"], r["content_hash"],
                        0, 0, now,
                    )
                )  # fmt: skip


_EMPTY_FILE = {
    "csv": "file: the file is empty: it has a header row but no item rows",
    "jsonl": "file: the file is empty: it has no lines with an item",
    "parquet": "file: the file is empty: it has no rows",
}


def _checked_chunks(
    handle, *, fmt: str, rules: _ItemRules
) -> Iterator[tuple[int, list[dict[str, Any]], list[tuple[int, list[QuorumError]]]]]:
    """Read and check the file chunk by chunk: (rows read, good rows, bad rows) per chunk, each bad
    row as (rows it stands for, its errors: one per bad column). A file whose header has no
    external_id column is refused once, as a file (QuorumError), rather than row by row.

    (Running this in a thread beside the inserts was measured: no faster, as both sides hold the
    GIL for most of their work.)
    """
    seen: dict[str, int] = {}
    header_checked = False
    for chunk in read_chunks(handle, fmt=fmt):
        if not header_checked and chunk.columns is not None:
            header_checked = True
            if "external_id" not in chunk.columns:
                named = ", ".join(chunk.columns[:20]) or "none"
                raise QuorumError(
                    f"file: there is no external_id column (every item needs an external id); the columns are {named}",
                    field="external_id",
                )
        good: list[dict[str, Any]] = []
        bad_rows = list(chunk.bad)
        for row_number, row in chunk.rows:
            try:
                values = rules.clean(row, row_number)
            except RowErrors as exc:
                bad_rows.append((1, exc.errors))
                continue
            except QuorumError as exc:
                bad_rows.append((1, [exc]))
                continue
            first = seen.setdefault(values["external_id"], row_number)
            if first != row_number:
                message = f"row {row_number}, column external_id: {values['external_id']!r} repeats row {first}"
                bad_rows.append((1, [QuorumError(message, field="external_id", row=row_number)]))
                continue
            good.append(values)
        bad_rows.sort(key=lambda entry: entry[1][0].row or 0)
        yield chunk.read, good, bad_rows


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
    """Mark an unfinished job failed after its task gave up, its worker was lost or the broker
    refused it (the import's own transaction already rolled back). A finished job keeps its outcome."""
    ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING]).update(
        status=ImportJob.Status.FAILED, message=message[:2000], finished_at=timezone.now(), items_created=0
    )


def _progress_refresh_on_commit(project_id: int) -> None:
    """Tell the floors above, once committed, that the project's items changed (they refresh its
    progress figures: annotation/signals.py)."""
    transaction.on_commit(lambda: items_changed.send(sender=Item, project_id=project_id))
