"""Readers for item files: CSV, JSON Lines and Parquet, streamed in chunks of plain dict rows.

Each reader yields Chunks: (row number, row) pairs, the row a dict keyed by column, plus the rows
the reader itself could not read, as errors naming the row (and the column when it can tell). The
row number is the one a person finds the row by: the spreadsheet row for CSV (the header is row
1), the line for JSON Lines, the 1-based row for Parquet. Values keep their types where the format
has them (JSONL, Parquet); CSV values are strings, with empty cells as "".

Memory is bounded by the chunk, whatever the file: at most CHUNK_ROWS rows and, for JSON Lines
and Parquet, about CHUNK_CHARS characters of decoded values. Parquet is where a small file can
decode to a huge one (a dictionary page repeating one long value, or a compressed run): its text
columns are read as dictionaries, which stay the size of the file, the decoded length of every
cell is computed from them, cells longer than MAX_CELL_CHARS are refused by row and column without
ever being decoded, and the rest are decoded in slices of at most CHUNK_CHARS characters. A JSON
Lines line longer than MAX_LINE_BYTES is refused without being held in memory.

Bytes that are not UTF-8 do not stop a file: CSV and JSON Lines are decoded with surrogateescape,
so such a byte arrives in its cell as a lone surrogate and validation refuses that cell by row and
column (annotation.validation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from annotation.validation import ITEM_COLUMNS, MAX_JSON_DEPTH, MAX_METADATA_CHARS, MAX_TEXT_CHARS
from core.errors import QuorumError

CHUNK_ROWS = 5000
# Decoded characters per chunk (JSON Lines: bytes of the lines). 16 M characters of ASCII text are
# about 16 MB of Python strings.
CHUNK_CHARS = 16_000_000
# No cell of an item may be longer than this (text and metadata have this limit; the others less).
MAX_CELL_CHARS = max(MAX_TEXT_CHARS, MAX_METADATA_CHARS)
# A line holds at most a few cells of MAX_CELL_CHARS, even with every character escaped.
MAX_LINE_BYTES = 4 << 20
FORMATS = ("csv", "jsonl", "parquet")


def format_from_name(name: str) -> str:
    """The format a file name says: .csv, .jsonl/.ndjson/.json, .parquet/.pq."""
    suffix = Path(name).suffix.lower()
    found = {
        ".csv": "csv",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".parquet": "parquet",
        ".pq": "parquet",
    }
    if suffix not in found:
        raise QuorumError(f"file: cannot tell the format of {name!r}; use .csv, .jsonl or .parquet", field="file")
    return found[suffix]


@dataclass
class Chunk:
    """Rows read, and the rows the reader could not read: `bad` holds, per unreadable row (or
    block of rows, such as a Parquet page), how many rows it stands for and its errors (one per
    bad column). `columns` is the file's header (CSV, Parquet), None where rows name their own
    (JSON Lines)."""

    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    bad: list[tuple[int, list[QuorumError]]] = field(default_factory=list)
    columns: tuple[str, ...] | None = None

    @property
    def read(self) -> int:
        return len(self.rows) + sum(rows for rows, _ in self.bad)

    def __len__(self) -> int:
        return self.read


def read_chunks(
    source: str | Path | BinaryIO, *, fmt: str, chunk_rows: int = CHUNK_ROWS, chunk_chars: int = CHUNK_CHARS
) -> Iterator[Chunk]:
    """Yield the file's rows in chunks. Raises QuorumError when the file itself cannot be read:
    not the format it claims, a CSV without a header, a Parquet file without its footer. A row
    that cannot be read (a broken JSON line, an unreadable Parquet page) is an error of its chunk."""
    if fmt == "csv":
        yield from _csv_chunks(source, chunk_rows)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(source, chunk_rows, chunk_chars)
    elif fmt == "parquet":
        yield from _parquet_chunks(source, chunk_rows, chunk_chars)
    else:
        raise QuorumError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}", field="format")


def _row_error(row: int, column: str | None, message: str) -> QuorumError:
    where = f"row {row}, column {column}" if column else f"row {row}"
    return QuorumError(f"{where}: {message}", row=row, field=column)


# --- CSV ----------------------------------------------------------------------------------------


def _csv_chunks(source, chunk_rows: int) -> Iterator[Chunk]:
    import pandas as pd  # imported here: web processes that never import need not load pandas

    try:
        reader = pd.read_csv(
            source,
            chunksize=chunk_rows,
            # Python strings (pandas 3's str dtype is Arrow's, which refuses the surrogates below).
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8",
            encoding_errors="surrogateescape",
        )
        row_number = 2
        for frame in reader:
            records = frame.to_dict("records")
            columns = tuple(str(name) for name in frame.columns)
            yield Chunk(
                rows=list(zip(range(row_number, row_number + len(records)), records, strict=True)), columns=columns
            )
            row_number += len(records)
    except pd.errors.EmptyDataError:
        raise QuorumError(
            "file: the CSV file is empty (it needs a header row naming the columns)", field="file"
        ) from None
    except pd.errors.ParserError as exc:
        raise QuorumError(f"file: not a readable CSV file ({_first_line(exc)})", field="file") from None


# --- JSON Lines ---------------------------------------------------------------------------------

# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float (losing it):
# such lines are parsed by the standard library, which keeps integers exact for validation to refuse.
_LONG_DIGITS = re.compile(rb"\d{19}")


def _jsonl_chunks(source, chunk_rows: int, chunk_chars: int) -> Iterator[Chunk]:
    handle = open(source, "rb") if isinstance(source, str | Path) else source  # noqa: SIM115
    try:
        chunk = Chunk()
        size = 0
        for line_number, raw in _lines(handle, MAX_LINE_BYTES):
            if raw is None:
                chunk.bad.append(
                    (1, [_row_error(line_number, None, f"the line is longer than {MAX_LINE_BYTES} bytes")])
                )
            elif not raw.strip():
                continue
            else:
                row = _jsonl_row(raw, line_number)
                if isinstance(row, QuorumError):
                    chunk.bad.append((1, [row]))
                else:
                    chunk.rows.append((line_number, row))
                size += len(raw)
            if chunk.read >= chunk_rows or size >= chunk_chars:
                yield chunk
                chunk, size = Chunk(), 0
        if chunk.read:
            yield chunk
    finally:
        if isinstance(source, str | Path):
            handle.close()


def _lines(handle, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a binary file; None for a line longer than `limit` bytes, which is
    read through in blocks and never held whole."""
    number = 0
    readline = handle.readline
    while True:
        raw = readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit:
            while raw and not raw.endswith(b"\n"):
                raw = readline(1 << 20)
            yield number, None
            continue
        yield number, raw


def _jsonl_row(raw: bytes, line_number: int) -> dict[str, Any] | QuorumError:
    """One line as a row, or the error naming its row (and column, when the fault is in a value)."""
    if _LONG_DIGITS.search(raw) is None:
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError:
            row = _jsonl_row_slow(raw, line_number)
    else:
        row = _jsonl_row_slow(raw, line_number)
    if isinstance(row, QuorumError | dict):
        return row
    return _row_error(line_number, None, "expected a JSON object per line")


def _jsonl_row_slow(raw: bytes, line_number: int) -> Any:
    """The standard library's reading of a line orjson refused (or that may hold big integers):
    bytes that are not UTF-8 and lone surrogates become lone surrogates in their strings, which
    validation refuses by column; integers stay exact. What it cannot read either is an error of
    the row, in the column whose value holds the fault."""
    text = raw.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text)
    except RecursionError:
        spans = _top_level_values(text)
        deepest = max(spans, key=lambda span: span[3], default=None)
        column = deepest[0] if deepest and deepest[3] > MAX_JSON_DEPTH else None
        return _row_error(line_number, column, f"is nested deeper than {MAX_JSON_DEPTH} levels")
    except ValueError as exc:
        position = getattr(exc, "pos", None)
        message = getattr(exc, "msg", None) or _first_line(exc)
        column = None
        if position is not None:
            column = next((key for key, start, end, _ in _top_level_values(text) if start <= position <= end), None)
        return _row_error(line_number, column, f"not valid JSON ({message[:120]})")


def _top_level_values(text: str) -> list[tuple[str, int, int, int]]:
    """(key, start, end, deepest nesting) of each value of a JSON object's top level, found by a
    scan that needs no parse (so it works on lines no parser takes: too deep, broken). Stops where
    the text stops being an object; a value running to the end of the line ends there."""
    spans: list[tuple[str, int, int, int]] = []
    n = len(text)
    i = _skip_space(text, 0)
    if i >= n or text[i] != "{":
        return spans
    i += 1
    while True:
        i = _skip_space(text, i)
        if i >= n or text[i] != '"':
            return spans
        key_end = _string_end(text, i)
        try:
            key = json.loads(text[i:key_end])
        except ValueError:
            key = text[i + 1 : key_end - 1]
        i = _skip_space(text, key_end)
        if i >= n or text[i] != ":":
            return spans
        start = i = i + 1
        depth = deepest = 0
        while i < n:
            char = text[i]
            if char == '"':
                i = _string_end(text, i)
                continue
            if char in "[{":
                depth += 1
                deepest = max(deepest, depth)
            elif char in "]}":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            i += 1
        spans.append((str(key), start, i, deepest))
        if i >= n or text[i] != ",":
            return spans
        i += 1


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _string_end(text: str, i: int) -> int:
    """The index just past the JSON string that starts (with its quote) at i."""
    i += 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == '"':
            return i + 1
        i += 1
    return n


# --- Parquet ------------------------------------------------------------------------------------


def _parquet_chunks(source, chunk_rows: int, chunk_chars: int) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq  # imported here, like pandas above

    try:
        schema = pq.ParquetFile(source).schema_arrow
        names = tuple(schema.names)
        # Only the item's columns are read (another column cannot cost memory), and their text
        # columns as dictionaries: a dictionary page repeating one long value stays one value.
        wanted = [name for name in names if name in ITEM_COLUMNS]
        text = [name for name in wanted if _is_text(schema.field(name).type)]
        if hasattr(source, "seek"):
            source.seek(0)
        parquet = pq.ParquetFile(source, read_dictionary=text)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise QuorumError(f"file: not a readable Parquet file ({_first_line(exc)})", field="file") from None
    row_number = 1
    if not wanted:  # no item column at all: the rows still count (so the missing column is reported)
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            yield Chunk(rows=[(row_number + k, {}) for k in range(rows)], columns=names)
            row_number += rows
        return
    for group in range(parquet.num_row_groups):
        group_end = row_number + parquet.metadata.row_group(group).num_rows
        try:
            for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=wanted):
                yield from _parquet_batch_chunks(batch, row_number, chunk_chars, names)
                row_number += batch.num_rows
        except (pa.ArrowException, OSError) as exc:
            # A page that cannot be read (corrupt, truncated): the rest of its row group is lost.
            column = _unreadable_column(parquet, group, wanted)
            rows = f"rows {row_number}–{group_end - 1}" if group_end - 1 > row_number else f"row {row_number}"
            where = f"{rows}, column {column}" if column else rows
            error = QuorumError(
                f"{where}: the Parquet data cannot be read ({_first_line(exc)})", row=row_number, field=column
            )
            yield Chunk(bad=[(group_end - row_number, [error])], columns=names)
            row_number = group_end


def _is_text(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _parquet_batch_chunks(batch, first_row: int, chunk_chars: int, names: tuple[str, ...]) -> Iterator[Chunk]:
    """A record batch (text columns still dictionaries) as chunks of at most `chunk_chars`
    decoded characters; cells longer than MAX_CELL_CHARS are errors and are never decoded."""
    import numpy as np
    import pyarrow as pa

    count = batch.num_rows
    sizes = np.zeros(count, dtype=np.int64)
    too_long = np.zeros(count, dtype=bool)
    errors: dict[int, list[QuorumError]] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        lengths = _cell_chars(column)
        if lengths is None:  # numbers, booleans, nested values: their Arrow size, spread over the rows
            sizes += column.nbytes // max(count, 1) + 1
            continue
        over = lengths > MAX_CELL_CHARS
        if over.any():
            for index in np.flatnonzero(over):
                errors.setdefault(int(index), []).append(
                    _row_error(first_row + int(index), name, f"longer than {MAX_CELL_CHARS} characters")
                )
            too_long |= over
        sizes += np.where(over, 0, lengths)
    good = ~too_long
    start = 0
    while start < count:
        # The longest run from `start` whose decoded size stays within chunk_chars (one row at least).
        within = np.cumsum(sizes[start:]) <= chunk_chars
        stop = start + max(1, int(within.sum()) if within.all() else int(np.argmin(within)))
        keep = good[start:stop]
        part = batch.slice(start, stop - start)
        if not keep.all():
            part = part.filter(pa.array(keep))
        rows = part.to_pylist()
        numbers = [first_row + start + int(k) for k in np.flatnonzero(keep)]
        chunk = Chunk(rows=list(zip(numbers, rows, strict=True)), columns=names)
        chunk.bad = [(1, errors[index]) for index in range(start, stop) if index in errors]
        yield chunk
        start = stop


def _cell_chars(column) -> Any:
    """Each cell's decoded length in characters (numpy), from the dictionary when the column is
    one, without decoding any cell; None for a column that is not text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        if not _is_text(kind.value_type):
            return None
        entry = pc.utf8_length(column.dictionary).to_numpy(zero_copy_only=False)
        indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
        lengths = entry[indices] if len(entry) else np.zeros(len(column), dtype=np.int64)
        if column.null_count:
            lengths = np.where(column.is_null().to_numpy(zero_copy_only=False), 0, lengths)
        return lengths.astype(np.int64)
    if _is_text(kind):
        return pc.utf8_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return None


def _unreadable_column(parquet, group: int, columns: list[str]) -> str | None:
    """Which column of a row group cannot be read: each is read alone until one fails."""
    import pyarrow as pa

    for name in columns:
        try:
            parquet.read_row_group(group, columns=[name])
        except (pa.ArrowException, OSError):
            return name
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
