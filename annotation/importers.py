"""Readers for item files: CSV, JSON Lines and Parquet, streamed in chunks of plain dict rows.

Each reader yields lists of (row number, row) pairs, the row a dict keyed by column, so memory
stays bounded by the chunk size whatever the file size. The row number is the one a person finds
the row by: the spreadsheet row for CSV (the header is row 1), the line for JSON Lines, the 1-based
row for Parquet. Values keep their types where the format has them (JSONL, Parquet); CSV values
are strings, with empty cells as "".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from core.errors import QuorumError

CHUNK_ROWS = 5000
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


Chunk = list[tuple[int, dict[str, Any]]]


def read_chunks(source: str | Path | BinaryIO, *, fmt: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[Chunk]:
    """Yield the file's rows in chunks. Raises QuorumError (naming the line where it can) when the
    file itself cannot be read: not the format it claims, broken JSON, a CSV without a header."""
    if fmt == "csv":
        yield from _csv_chunks(source, chunk_rows)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(source, chunk_rows)
    elif fmt == "parquet":
        yield from _parquet_chunks(source, chunk_rows)
    else:
        raise QuorumError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}", field="format")


def _csv_chunks(source, chunk_rows: int) -> Iterator[Chunk]:
    import pandas as pd  # imported here: web processes that never import need not load pandas

    try:
        reader = pd.read_csv(source, chunksize=chunk_rows, dtype=str, keep_default_na=False, na_filter=False)
        row_number = 2
        for frame in reader:
            records = frame.to_dict("records")
            yield list(zip(range(row_number, row_number + len(records)), records, strict=True))
            row_number += len(records)
    except pd.errors.EmptyDataError:
        raise QuorumError(
            "file: the CSV file is empty (it needs a header row naming the columns)", field="file"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise QuorumError(f"file: not a readable CSV file ({_first_line(exc)})", field="file") from None


def _jsonl_chunks(source, chunk_rows: int) -> Iterator[Chunk]:
    # Parsed line by line with the standard library: a broken line is reported by its number,
    # and nested values (metadata objects, label lists) keep their JSON types.
    handle = open(source, "rb") if isinstance(source, str | Path) else source  # noqa: SIM115
    try:
        chunk: Chunk = []
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise QuorumError(
                    f"line {line_number}: not valid JSON ({exc.msg})", row=line_number, field="file"
                ) from None
            if not isinstance(row, dict):
                raise QuorumError(f"line {line_number}: expected a JSON object per line", row=line_number, field="file")
            chunk.append((line_number, row))
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    finally:
        if isinstance(source, str | Path):
            handle.close()


def _parquet_chunks(source, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq  # imported here, like pandas above

    try:
        parquet = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise QuorumError(f"file: not a readable Parquet file ({_first_line(exc)})", field="file") from None
    row_number = 1
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        records = batch.to_pylist()
        yield list(zip(range(row_number, row_number + len(records)), records, strict=True))
        row_number += len(records)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
