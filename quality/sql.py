"""The quality engine's hand-written SQL: the statements themselves and the functions that build their
text (quoted table and column names, per vendor where it differs). The code that runs them stays
with its work: services.counts (the kept value counts), services.consensus (the consensus rows) and
loading (the packed reader of annotations).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

from annotation.models import Annotation
from quality.models import Consensus, LabelCounts

# --- Kept value counts (services.counts) ------------------------------------------------------------


def annotation_counts_sql() -> str:
    """A project's annotation count and its count past a watermark, in one statement (both see the
    same moment). Parameters: project id, watermark, project id."""
    table = connection.ops.quote_name(Annotation._meta.db_table)
    return (
        f"SELECT (SELECT COUNT(*) FROM {table} WHERE project_id = %s), "
        f"(SELECT COUNT(*) FROM {table} WHERE id > %s AND project_id = %s)"
    )


def label_counts_update_sql(names: Iterable[str]) -> str:
    """Move a kept row on from the watermark it was read at (PostgreSQL). Parameters: the values of
    `names` in order, the row's id, the watermark it was read at."""
    table = connection.ops.quote_name(LabelCounts._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in names)
    return f"UPDATE {table} SET {assignments} WHERE id = %s AND through_annotation_id = %s"


def label_counts_matrix_sql() -> str:
    """A kept row's packed item ids and cells (PostgreSQL, read in binary). Parameter: the row's id."""
    table = connection.ops.quote_name(LabelCounts._meta.db_table)
    return f"SELECT item_ids, cells FROM {table} WHERE id = %s"


# --- Consensus rows (services.consensus) ------------------------------------------------------------

CONSENSUS_COLUMNS = (
    "item_id", "project_id", "method", "labels", "confidence", "votes", "n_annotations", "tie",
    "needs_adjudication", "computed_at",
)  # fmt: skip
CONSENSUS_COPY_TYPES = ["int8", "int8", "varchar", "jsonb", "float8", "jsonb", "int2", "bool", "bool", "timestamptz"]


def _consensus_table_columns() -> tuple[str, str]:
    table = connection.ops.quote_name(Consensus._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in CONSENSUS_COLUMNS)
    return table, columns


def consensus_copy_sql() -> str:
    """Binary COPY of consensus rows in CONSENSUS_COLUMNS order (PostgreSQL)."""
    table, columns = _consensus_table_columns()
    return f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"


def consensus_insert_sql() -> str:
    """INSERT of one consensus row in CONSENSUS_COLUMNS order (other databases, for executemany)."""
    table, columns = _consensus_table_columns()
    placeholders = ", ".join(["%s"] * len(CONSENSUS_COLUMNS))
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"


# --- The packed reader of annotations (loading, PostgreSQL) ------------------------------------------

# Codes the database gives an annotation it cannot encode.
BAD_UNKNOWN_KEY = -1
BAD_SHAPE = -2


def label_code_sql(keys: list[str], *, multi: bool) -> tuple[str, list]:
    """SQL turning an annotation's `labels` into one int8, and its parameters: single choice, the
    key's position in `keys` (0-based); multi, the bit mask of the chosen keys' positions.
    BAD_SHAPE when the value is not a list (single: not exactly one key), BAD_UNKNOWN_KEY for a key
    outside `keys`. (Nested CASEs, because PostgreSQL does not promise to evaluate OR operands in
    order.)"""
    labels = f"{connection.ops.quote_name(Annotation._meta.db_table)}.{connection.ops.quote_name('labels')}"
    if multi:
        sql = (
            f"CASE WHEN jsonb_typeof({labels}) <> 'array' THEN {BAD_SHAPE} "
            f"ELSE (SELECT CASE WHEN bool_or(array_position(%s::text[], key) IS NULL) THEN {BAD_UNKNOWN_KEY} "
            f"ELSE coalesce(bit_or(1::int8 << (array_position(%s::text[], key) - 1)), 0) END "
            f"FROM jsonb_array_elements_text({labels}) AS key) END"
        )
        return sql, [keys, keys]
    sql = (
        f"CASE WHEN jsonb_typeof({labels}) <> 'array' THEN {BAD_SHAPE} "
        f"WHEN jsonb_array_length({labels}) <> 1 THEN {BAD_SHAPE} "
        f"ELSE coalesce(array_position(%s::text[], {labels} ->> 0)::int8 - 1, {BAD_UNKNOWN_KEY}) END"
    )
    return sql, [keys]


def packed_rows_sql(inner: str) -> str:
    """Pack the rows of `inner` (a query of _block, _item, _annotator, _guideline, _code) into one
    binary string of four big-endian int8s a row per block of item ids, blocks in order."""
    return (
        "SELECT string_agg(int8send(r._item) || int8send(r._annotator) || int8send(r._guideline) "
        f"|| int8send(r._code), ''::bytea) FROM ({inner}) AS r GROUP BY r._block ORDER BY r._block"
    )
