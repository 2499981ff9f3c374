"""Stream a scope's annotations out of the database into the integer arrays the numerical core uses.

The rows come in (item, annotator) order and are cut into chunks on item boundaries, so every
item's annotations sit in one chunk and the chunk-additive statistics (value counts, coincidences)
can be built chunk by chunk. Label numbering comes from the label space (the schema versions'
labels), never from the data, so every chunk shares it.

Two readers give the same chunks:
- `orm` (any database): `values_list(...).order_by("item_id", "annotator_id").iterator(...)` (the
  order of the unique (item, annotator) index, so no sort), labels decoded from JSON and encoded
  with `quality.encoding`;
- `packed` (PostgreSQL): the database encodes each annotation's labels as an integer (a label's
  position, or a bit mask of the chosen labels) and packs the rows of each range of item ids into
  one binary string (`string_agg(int8send(...))`), read through a server-side cursor and by
  numpy in place; the rows of a block are then put in (item, annotator) order. A few hundred
  rows instead of a million, and no Python object per annotation: a million annotations load in
  about a second where the ORM takes several. Its SQL text is built in `quality.sql`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import orjson
import psycopg
from django.db import connection
from django.db.models import BigIntegerField, Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce

from annotation.models import Annotation, Label, LabelSchema, LabelSchemaVersion
from quality import encoding
from quality.sql import label_code_sql, packed_rows_sql

Ints = npt.NDArray[np.int64]
Reader = Literal["auto", "orm", "packed"]
# Multi-choice answers travel from PostgreSQL as one int8 bit mask: 63 labels at most.
MAX_MASK_LABELS = 63


@dataclass(frozen=True)
class LabelSpace:
    """The label keys in code order, their severities, and whether an annotation may choose several."""

    keys: tuple[str, ...]
    severity: npt.NDArray[np.int64]
    multi: bool

    @property
    def size(self) -> int:
        return len(self.keys)


def label_space(*, project_id: int, schema_id: int | None) -> LabelSpace:
    """The labels of every schema version in play: the project's schema and any version the
    project's annotations were made under. The newest version's labels come first, in their order;
    keys only older versions have follow, so a report spanning a schema change still encodes every
    annotation. A key's severity is the one of the newest version that has it."""
    used = Annotation.objects.filter(project_id=project_id, schema_version=OuterRef("pk"))
    condition = Exists(used)
    if schema_id is not None:
        condition |= Q(schema_id=schema_id)
    versions = list(
        LabelSchemaVersion.objects.filter(condition)
        .select_related("schema")
        .order_by("-created_at", "-number")
        .values("pk", "schema__selection")
    )
    if not versions:
        return LabelSpace(keys=(), severity=np.empty(0, dtype=np.int64), multi=False)
    rank = {row["pk"]: index for index, row in enumerate(versions)}
    labels = sorted(
        Label.objects.filter(version_id__in=rank).values_list("version_id", "order", "id", "key", "severity"),
        key=lambda row: (rank[row[0]], row[1], row[2]),
    )
    keys: dict[str, int] = {}
    for _, _, _, key, severity in labels:
        keys.setdefault(key, severity)
    multi = versions[0]["schema__selection"] == LabelSchema.Selection.MULTI
    return LabelSpace(
        keys=tuple(keys), severity=np.fromiter(keys.values(), dtype=np.int64, count=len(keys)), multi=multi
    )


@dataclass(frozen=True)
class Chunk:
    """Annotations of whole items, ordered by item id. `indicator[r, l]`: annotation r chose label l."""

    item_ids: Ints
    annotator_ids: Ints
    guideline_ids: Ints  # 0 where the annotation has no guideline
    indicator: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.item_ids)


def annotation_chunks(
    annotations: QuerySet[Annotation],
    *,
    space: LabelSpace,
    chunk_size: int = 50_000,
    reader: Reader = "auto",
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[Chunk]:
    """Chunks of about `chunk_size` annotations (never splitting an item) of `annotations`.

    `on_rows(n)` is called after each chunk with the rows read so far. ValueError names the
    annotation whose labels are not in the label space (or, single-choice, not exactly one key).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    packable = not space.multi or space.size <= MAX_MASK_LABELS
    if reader == "auto":
        reader = "packed" if connection.vendor == "postgresql" and packable else "orm"
    if reader == "packed" and not packable:
        raise ValueError(
            f"the packed reader encodes multi-choice answers of at most {MAX_MASK_LABELS} labels, "
            f"the schema has {space.size}"
        )
    rows = _packed_rows(annotations, space=space) if reader == "packed" else _orm_rows(annotations, space=space)
    read = 0
    for chunk in _cut_on_items(rows, chunk_size):
        read += len(chunk)
        yield chunk
        if on_rows is not None:
            on_rows(read)


def _cut_on_items(blocks: Iterator[Chunk], chunk_size: int) -> Iterator[Chunk]:
    """Re-cut a stream of row blocks (ordered by item) into chunks of at least `chunk_size` rows
    that end on an item boundary; the rest of the last item in a block is carried to the next."""
    carry: list[Chunk] = []
    carried = 0
    for block in blocks:
        if not len(block):
            continue
        carry.append(block)
        carried += len(block)
        if carried < chunk_size:
            continue
        joined = _concat(carry)
        # Everything before the last item's first row is whole items.
        last = joined.item_ids[-1]
        cut = int(np.searchsorted(joined.item_ids, last, side="left"))
        if cut == 0:  # one item fills the whole buffer: keep reading
            carry = [joined]
            continue
        yield _take(joined, slice(0, cut))
        rest = _take(joined, slice(cut, None))
        carry, carried = [rest], len(rest)
    if carried:
        yield _concat(carry)


def _concat(chunks: list[Chunk]) -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    return Chunk(
        item_ids=np.concatenate([c.item_ids for c in chunks]),
        annotator_ids=np.concatenate([c.annotator_ids for c in chunks]),
        guideline_ids=np.concatenate([c.guideline_ids for c in chunks]),
        indicator=np.concatenate([c.indicator for c in chunks]),
    )


def _take(chunk: Chunk, rows: slice) -> Chunk:
    return Chunk(chunk.item_ids[rows], chunk.annotator_ids[rows], chunk.guideline_ids[rows], chunk.indicator[rows])


# --- The ORM reader -----------------------------------------------------------------------------

ORM_FETCH = 20_000


def _orm_rows(annotations: QuerySet[Annotation], *, space: LabelSpace) -> Iterator[Chunk]:
    # The labels come as their JSON text and are decoded by orjson: Django's JSONField converter
    # (json.loads per row) took most of the time (6 of 8 s for a million annotations on SQLite).
    rows = (
        annotations.order_by("item_id", "annotator_id")
        .annotate(_labels=Cast("labels", TextField()))
        .values_list("id", "item_id", "annotator_id", "guideline_id", "_labels")
        .iterator(chunk_size=ORM_FETCH)
    )
    buffer: list[tuple] = []
    for row in rows:
        buffer.append(row)
        if len(buffer) >= ORM_FETCH:
            yield _orm_block(buffer, space)
            buffer = []
    if buffer:
        yield _orm_block(buffer, space)


def _orm_block(rows: list[tuple], space: LabelSpace) -> Chunk:
    ids, item_ids, annotator_ids, guideline_ids, texts = zip(*rows, strict=True)
    labels = [orjson.loads(text) for text in texts]
    try:
        if space.multi:
            indicator = encoding.label_indicator(labels, space.keys)
        else:
            codes = _single_codes(labels, space)
            indicator = np.zeros((len(codes), space.size), dtype=bool)
            indicator[np.arange(len(codes)), codes] = True
    except ValueError as exc:
        raise ValueError(_name_annotation(str(exc), ids)) from exc
    return Chunk(
        item_ids=np.fromiter(item_ids, dtype=np.int64, count=len(rows)),
        annotator_ids=np.fromiter(annotator_ids, dtype=np.int64, count=len(rows)),
        guideline_ids=np.fromiter((g or 0 for g in guideline_ids), dtype=np.int64, count=len(rows)),
        indicator=indicator,
    )


def _single_codes(labels: list, space: LabelSpace) -> Ints:
    """Single-choice answers as label codes: a dict look-up per answer. When any answer is not
    exactly one known key, `encoding.label_codes` finds the first and says what is wrong with it."""
    index = {key: code for code, key in enumerate(space.keys)}
    codes = np.fromiter(
        (
            index.get(value[0], -1) if type(value) is list and len(value) == 1 and type(value[0]) is str else -1
            for value in labels
        ),
        dtype=np.int64,
        count=len(labels),
    )
    if (codes < 0).any():
        encoding.label_codes(labels, space.keys)  # raises, naming the row
    return codes


def _name_annotation(message: str, ids) -> str:
    """Turn the encoder's "row 12: ..." into "annotation 4711: ..."."""
    if message.startswith("row "):
        head, _, rest = message.partition(":")
        try:
            return f"annotation {ids[int(head[4:])]}:{rest}"
        except (ValueError, IndexError):
            pass
    return message


# --- The PostgreSQL packed reader -----------------------------------------------------------------

# Item ids per packed block: a dense project's block holds about 1024 × overlap annotations.
PACK_ITEMS = 1024
PACK_FETCH = 8  # blocks per round trip
_PACKED_ROW = np.dtype(">i8")  # item, annotator, guideline (0: none), code: four big-endian int8s


def _packed_rows(annotations: QuerySet[Annotation], *, space: LabelSpace) -> Iterator[Chunk]:
    code_sql, code_params = label_code_sql(list(space.keys), multi=space.multi)
    rows = (
        annotations.order_by()
        .annotate(
            _block=Cast("item_id", BigIntegerField()) / PACK_ITEMS,
            _item=Cast("item_id", BigIntegerField()),
            _annotator=Cast("annotator_id", BigIntegerField()),
            _guideline=Cast(Coalesce("guideline_id", 0), BigIntegerField()),
            _code=RawSQL(code_sql, code_params, output_field=BigIntegerField()),
        )
        .values_list("_block", "_item", "_annotator", "_guideline", "_code")
    )
    inner, params = rows.query.sql_with_params()
    packed = packed_rows_sql(inner)
    connection.ensure_connection()
    raw = connection.connection
    with psycopg.ClientCursor(raw) as client:  # binds on the client, whatever Django's cursors do
        statement = client.mogrify(packed, params)
    # A named (server-side) cursor, fetched a few blocks per round trip: between fetches the
    # connection is free, so the caller may write progress on it (a streamed query would hold it
    # to the end). WITH HOLD outside a transaction, as Django's own iterator() does.
    bad = None
    with raw.cursor(name=f"quality_packed_{id(rows)}", withhold=raw.autocommit) as cursor:
        cursor.execute(statement, binary=True)
        while bad is None:
            fetched = cursor.fetchmany(PACK_FETCH)
            if not fetched:
                break
            for (block,) in fetched:
                values = np.frombuffer(block, dtype=_PACKED_ROW).reshape(-1, 4).astype(np.int64)
                values = values[np.lexsort((values[:, 1], values[:, 0]))]
                wrong = np.flatnonzero(values[:, 3] < 0)  # sql.BAD_SHAPE or sql.BAD_UNKNOWN_KEY
                if len(wrong):
                    bad = values[wrong[0]]
                    break
                yield _packed_block(values, space)
    if bad is not None:  # asked after the cursor is closed
        raise ValueError(_bad_row(annotations, int(bad[0]), int(bad[1]), int(bad[3]), space))


def _packed_block(values: np.ndarray, space: LabelSpace) -> Chunk:
    item_ids, annotator_ids, guideline_ids, codes = values.T
    if space.multi:
        bits = np.int64(1) << np.arange(space.size, dtype=np.int64)
        indicator = (codes[:, None] & bits[None, :]) != 0
    else:
        indicator = np.zeros((len(codes), space.size), dtype=bool)
        indicator[np.arange(len(codes)), codes] = True
    return Chunk(
        np.ascontiguousarray(item_ids),
        np.ascontiguousarray(annotator_ids),
        np.ascontiguousarray(guideline_ids),
        indicator,
    )


def _bad_row(annotations: QuerySet[Annotation], item_id: int, annotator_id: int, code: int, space: LabelSpace) -> str:
    """The ORM reader's message for the first annotation the database could not encode."""
    annotation_id, labels = (
        annotations.filter(item_id=item_id, annotator_id=annotator_id).values_list("id", "labels").get()
    )
    try:
        if space.multi:
            encoding.label_indicator([labels], space.keys)
        else:
            encoding.label_codes([labels], space.keys)
    except ValueError as exc:
        return _name_annotation(str(exc), [annotation_id])
    return f"annotation {annotation_id}: its labels {labels!r} could not be encoded (code {code})"
