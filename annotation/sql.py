"""The annotation app's hand-written SQL: the work loop's statements (next and submit), what is in
force in a project, and the import's bulk insert of items.

The work loop runs these on every request. Built with the ORM, its queries cost several times more
Python than the database spent on them (bench/README.md, throughput), so they are plain SQL that
SQLite and PostgreSQL both run, or one text per vendor. Each statement is built once per process
and database vendor (and shape) with functools.cache: rebuilding them cost about 40 quote_name
calls a request. The code that runs a statement (annotation.services, annotation.selectors)
passes its parameters in the order each docstring gives and reads its columns by the column
tuples here.

Only SQL lives here: which statement to run, with what, and what to make of its rows is the
caller's. (The work queue's VACUUM is in annotation.queues, which must import without Django.)
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection

from annotation.models import Annotation, Assignment, Guideline, GuidelineAcknowledgement, Item, LabelSchemaVersion
from projects.models import Membership, Project

# --- What is in force ---------------------------------------------------------------------------


def in_force_columns_sql(project_id_sql: str) -> str:
    """Four scalar subqueries, for a SELECT list: the newest version of the project's schema (id,
    created_at) and its newest guideline (id, version), for the project whose id is the SQL
    expression `project_id_sql` ("%s", or a column of the enclosing query). Plain SQL that SQLite
    and PostgreSQL both run; selectors.in_force_from_row reads the four values."""
    return _in_force_columns_sql(connection.vendor, project_id_sql)


@functools.cache
def _in_force_columns_sql(vendor: str, project_id_sql: str) -> str:
    # Per database vendor and expression: the hot path asks for it on every next and submit.

    quote = connection.ops.quote_name
    version, guideline, project = (quote(m._meta.db_table) for m in (LabelSchemaVersion, Guideline, Project))
    newest_version = (
        f"SELECT v.{{}} FROM {version} v JOIN {project} p ON p.{quote('label_schema_id')} = v.{quote('schema_id')} "
        f"WHERE p.{quote('id')} = {project_id_sql} ORDER BY v.{quote('number')} DESC LIMIT 1"
    )
    newest_guideline = (
        f"SELECT g.{{}} FROM {guideline} g WHERE g.{quote('project_id')} = {project_id_sql} "
        f"ORDER BY g.{quote('version')} DESC LIMIT 1"
    )
    columns = [
        newest_version.format(quote("id")),
        newest_version.format(quote("created_at")),
        newest_guideline.format(quote("id")),
        newest_guideline.format(quote("version")),
    ]
    return ", ".join(f"({column})" for column in columns)


@functools.cache
def in_force_sql() -> str:
    """What is in force in one project: in_force_columns_sql's four values, the project's id the
    parameter of each (four parameters)."""
    return "SELECT " + in_force_columns_sql("%s")


# --- next: the project and the context ------------------------------------------------------------

# The project columns the engine and the work endpoints read; any other is loaded on first use.
WORK_PROJECT_FIELDS = {
    "id", "name", "phase", "modality", "languages", "require_language_match", "lead_id", "request_id",
    "label_schema_id", "lease_minutes", "gold_rate", "graphic_daily_cap", "max_overlap",
    "dynamic_overlap_threshold", "pause_below_gold_bar",
}  # fmt: skip


@functools.cache
def work_project_columns(vendor: str, alias: str) -> tuple[str, list[str], list[tuple[int, Any, Any]]]:
    """The engine's project columns for a SELECT list (of the project table aliased `alias`), their
    attribute names, and the columns that have converters on this database (applied as the ORM
    applies them: selectors.work_project_from_row), per database vendor (built once per process)."""

    fields = [f for f in Project._meta.concrete_fields if f.attname in WORK_PROJECT_FIELDS]
    quote = connection.ops.quote_name
    columns = ", ".join(f"{alias}.{quote(f.column)}" for f in fields)
    converted = []
    for index, field in enumerate(fields):
        column = field.get_col(Project._meta.db_table)
        if connection.ops.get_db_converters(column) + field.get_db_converters(connection):
            converted.append((index, field, column))
    return columns, [f.attname for f in fields], converted


@functools.cache
def work_context_sql(vendor: str) -> str:
    """What `next` reads before picking, in one statement, per database vendor (built once per
    process: the hot path runs it on every next): the project's engine columns
    (work_project_columns), then the annotator's active annotator membership (id, paused_at,
    paused_reason), whether they hold an active lease there, their assignments in the project and
    the gold ones among them, their graphic items since the day's start, and what is in force
    (in_force_columns_sql), and whether a guideline acknowledgement of theirs is pending there
    (one probe of the partial index guideline_ack_pending_idx). The gold and graphic counts are
    only evaluated when the project (or, for graphic items, the annotator's own cap) has them on
    (a CASE runs its subquery only when its branch is taken).

    Parameters: annotator id, the active status; annotator id twice; whether the annotator has a
    personal graphic cap, annotator id, the day's start; annotator id (the acknowledgement);
    annotator id, the annotator role; the project id."""

    quote = connection.ops.quote_name
    memberships, assignments, items, projects, acknowledgements = (
        quote(m._meta.db_table) for m in (Membership, Assignment, Item, Project, GuidelineAcknowledgement)
    )
    pending = (
        f"EXISTS (SELECT 1 FROM {acknowledgements} k WHERE k.annotator_id = %s AND k.project_id = wp.id "
        "AND k.acknowledged_at IS NULL)"
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
        f"CASE WHEN wp.graphic_daily_cap > 0 OR %s THEN ({graphic}) END, {in_force_columns_sql('wp.id')}, {pending} "
        f"FROM {projects} wp LEFT JOIN {memberships} m ON m.project_id = wp.id AND m.user_id = %s "
        "AND m.role = %s AND m.is_active WHERE wp.id = %s"
    )


# --- next: the pick, the slot and the lease ---------------------------------------------------------

# The leased item's columns that open_item_lease_sql's statements answer, after the lease's id.
LEASE_ITEM_COLUMNS = (
    "id", "external_id", "modality", "text", "image_url", "video_url", "audio_url", "ocr_text", "metadata",
    "language", "is_graphic",
)  # fmt: skip


def _open_item_filter_sql(graphic_capped: bool, languages: int) -> str:
    """The WHERE clause of the pick: items of the project with a free slot that the annotator never
    touched, no graphic ones once they reached the cap, and with `languages` languages to match
    (0: any language). The first two terms are the partial index item_open_pick_idx's own
    condition, so the planner walks that index.

    Parameters: the project id, the annotator id, then the `languages` language codes."""
    quote = connection.ops.quote_name
    assignments = quote(Assignment._meta.db_table)
    where = (
        "i.project_id = %s AND i.assigned_count < i.required_annotations AND NOT i.is_gold AND NOT EXISTS "
        f"(SELECT 1 FROM {assignments} a WHERE a.item_id = i.id AND a.annotator_id = %s)"
    )
    if graphic_capped:
        where += " AND NOT i.is_graphic"
    if languages:
        where += f" AND (i.language = '' OR i.language IN ({', '.join(['%s'] * languages)}))"
    return where


@functools.cache
def open_item_lease_sql(vendor: str, graphic_capped: bool, languages: int) -> tuple[str, ...]:
    """The statements that pick the best regular item with a free slot for an annotator, take the
    slot and insert the lease, for the pick's filter (_open_item_filter_sql: the graphic cap
    reached or not, how many languages to match), per database vendor (built once per process and
    shape: the hot path runs them on every next).

    PostgreSQL: one statement (the pick with FOR UPDATE SKIP LOCKED, the slot counter update and
    the insert as data-modifying CTEs); parameters: the filter's, then the project id, the
    annotator id, the active status, leased_at, expires_at; its row: the lease's id, then
    LEASE_ITEM_COLUMNS (none when no item is open). Elsewhere: the pick (the filter's parameters;
    LEASE_ITEM_COLUMNS), the slot's update (the item id) and the insert (project id, item id,
    annotator id, status, is_gold, leased_at, expires_at; the lease's id)."""
    where = _open_item_filter_sql(graphic_capped, languages)
    quote = connection.ops.quote_name
    items, assignments = quote(Item._meta.db_table), quote(Assignment._meta.db_table)
    content = ", ".join(f"i.{quote(column)}" for column in LEASE_ITEM_COLUMNS)
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


# --- submit -----------------------------------------------------------------------------------------

# The item's columns in submit_state_sql's row, after the assignment's and the project's seven.
SUBMIT_ITEM_COLUMNS = (
    "id",
    "batch_id",
    "external_id",
    "is_gold",
    "required_annotations",
    "assigned_count",
    "annotations_done",
)


@functools.cache
def submit_state_sql(vendor: str) -> str:
    """What submit checks, in one statement that locks the assignment and its item (in that order,
    as everywhere: lease before item; PostgreSQL locks the two rows, SQLite's IMMEDIATE
    transaction holds the database), per database vendor (built once per process).

    Parameter: the assignment id. Its row: the annotator id, the status, the project id, name,
    dynamic_overlap_threshold and max_overlap, the id of an existing annotation, then
    SUBMIT_ITEM_COLUMNS, then what is in force (in_force_columns_sql)."""

    quote = connection.ops.quote_name
    assignments, items, annotations, projects = (
        quote(model._meta.db_table) for model in (Assignment, Item, Annotation, Project)
    )
    lock = " FOR UPDATE OF a, i" if connection.features.has_select_for_update_of else ""
    item_columns = ", ".join(f"i.{quote(column)}" for column in SUBMIT_ITEM_COLUMNS)
    return (
        f"SELECT a.annotator_id, a.status, a.project_id, p.name, p.dynamic_overlap_threshold, p.max_overlap, "
        f"(SELECT n.id FROM {annotations} n WHERE n.assignment_id = a.id), {item_columns}, "
        f"{in_force_columns_sql('a.project_id')} "
        f"FROM {assignments} a JOIN {items} i ON i.id = a.item_id JOIN {projects} p ON p.id = a.project_id "
        f"WHERE a.id = %s{lock}"
    )


@functools.cache
def submit_write_sql(vendor: str, is_gold: bool) -> tuple[str, ...]:
    """The statements that insert the annotation, close the assignment and (regular items) store
    the item's counters, per database vendor and kind of item (built once per process).

    Parameters of each part: close (the submitted status, finished_at, the assignment id); count
    (assigned_count, annotations_done, required_annotations, the item id); insert (assignment id,
    project id, item id, annotator id, the labels as JSON text, schema version id, guideline id,
    time_spent_ms, comment, submitted_at), which answers the annotation's id.
    PostgreSQL: one statement, the updates as data-modifying CTEs of the insert's statement (one
    round trip), its parameters close's, count's, insert's; elsewhere: the insert, the
    assignment's update and (regular items) the item's."""
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


# --- Items: the import's look-ups and bulk insert ---------------------------------------------------


@functools.cache
def existing_external_ids_sql(vendor: str) -> str:
    """PostgreSQL: which of a list of external ids a project has. Parameters: the project id, the
    ids as one array (= ANY(array) is one parameter; an IN list of 5,000 costs PostgreSQL more to
    plan than to run)."""
    table = connection.ops.quote_name(Item._meta.db_table)
    return f"SELECT external_id FROM {table} WHERE project_id = %s AND external_id = ANY(%s)"


# The fields of a cleaned item row (annotation.validation.item_row_clean) the insert writes, in
# its column order: items_insert_sql's columns are the project id, the batch id, these, and
# assigned_count, annotations_done and created_at.
ITEM_INSERT_FIELDS = (
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

# The column types of the binary COPY, in items_insert_sql's column order.
ITEM_COPY_TYPES = [
    "int8", "int8", "varchar", "varchar", "text", "varchar", "varchar", "varchar", "text", "jsonb", "varchar",
    "bool", "bool", "jsonb", "int4", "int2", "varchar", "int2", "int2", "timestamptz",
]  # fmt: skip


@functools.cache
def items_insert_sql(vendor: str) -> str:
    """The bulk insert of items, per database vendor: on PostgreSQL a binary COPY from STDIN (its
    types ITEM_COPY_TYPES), elsewhere an INSERT of one row (for executemany). Columns: the
    project id, the batch id, ITEM_INSERT_FIELDS' columns, assigned_count, annotations_done and
    created_at."""
    columns = [
        "project_id", "batch_id", *(Item._meta.get_field(f).column for f in ITEM_INSERT_FIELDS),
        "assigned_count", "annotations_done", "created_at",
    ]  # fmt: skip
    table = connection.ops.quote_name(Item._meta.db_table)
    column_sql = ", ".join(connection.ops.quote_name(c) for c in columns)
    if vendor == "postgresql":
        return f"COPY {table} ({column_sql}) FROM STDIN (FORMAT BINARY)"
    return f"INSERT INTO {table} ({column_sql}) VALUES ({', '.join(['%s'] * len(columns))})"
