"""Streaming writers of a delivery's files: JSON Lines (orjson), CSV (the csv module) and Parquet
(pyarrow's ParquetWriter, one row group per batch). Each takes column batches of a few thousand
rows, so memory stays bounded by the batch, whatever the size of the dataset.

A column batch is a dict {column: list}; JSON-valued columns (metadata, votes, labels) arrive as
JSON text and go out as JSON in JSON Lines (orjson.Fragment: not parsed again) and as text in CSV
and Parquet, except `labels`, which Parquet stores as a list of strings.

CSV text cells go through core.csvsafe (a cell beginning with =, +, -, @, tab or carriage return
gets a leading quote, so a spreadsheet does not run it); JSON Lines and Parquet keep exact values.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from core.csvsafe import csv_column, csv_row

HASH_BLOCK = 1 << 20


class Column:
    """A delivered column: its name, its Arrow type, and whether its values are JSON text."""

    def __init__(self, name: str, arrow: pa.DataType, *, json: bool = False, parquet_list: bool = False) -> None:
        self.name, self.arrow, self.json, self.parquet_list = name, arrow, json, parquet_list


ITEM_COLUMNS: tuple[Column, ...] = (
    Column("item_id", pa.string()),
    Column("split", pa.string()),
    Column("modality", pa.string()),
    Column("text", pa.string()),
    Column("image_url", pa.string()),
    Column("video_url", pa.string()),
    Column("audio_url", pa.string()),
    Column("ocr_text", pa.string()),
    Column("language", pa.string()),
    Column("metadata", pa.string(), json=True),
    Column("label", pa.string()),
    Column("labels", pa.list_(pa.string()), json=True, parquet_list=True),
    Column("confidence", pa.float64()),
    Column("votes", pa.string(), json=True),
    Column("n_annotations", pa.int32()),
    Column("method", pa.string()),
    Column("adjudicated", pa.bool_()),
    Column("content_hash", pa.string()),
)

ANNOTATION_COLUMNS: tuple[Column, ...] = (
    Column("item_id", pa.string()),
    Column("split", pa.string()),
    Column("annotator", pa.int64()),
    Column("labels", pa.list_(pa.string()), json=True, parquet_list=True),
    Column("submitted_at", pa.string()),
    Column("schema_version", pa.int32()),
    Column("guideline_version", pa.int32()),
)


class Writer:
    """Base: `write(batch)` any number of times, then `close()`; `rows` counts what was written."""

    suffix = ""

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        self.path, self.columns, self.rows = path, tuple(columns), 0

    def write(self, batch: dict[str, list]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class JsonlWriter(Writer):
    suffix = "jsonl"

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        super().__init__(path, columns)
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, batch: dict[str, list]) -> None:
        names = [column.name for column in self.columns]
        values = [
            [orjson.Fragment(text) for text in batch[column.name]] if column.json else batch[column.name]
            for column in self.columns
        ]
        dumps = orjson.dumps
        self._file.write(
            b"".join(dumps(dict(zip(names, row, strict=True))) + b"\n" for row in zip(*values, strict=True))
        )
        self.rows += len(values[0]) if values else 0

    def close(self) -> None:
        self._file.close()


class CsvWriter(Writer):
    suffix = "csv"

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        super().__init__(path, columns)
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file)
        self._csv.writerow(csv_row(column.name for column in self.columns))
        # Only text columns can hold a formula; numbers and booleans are written as they are.
        self._text = tuple(column.arrow == pa.string() for column in self.columns)

    def write(self, batch: dict[str, list]) -> None:
        columns = [
            csv_column(batch[column.name]) if text else batch[column.name]
            for column, text in zip(self.columns, self._text, strict=True)
        ]
        self._csv.writerows(zip(*columns, strict=True))
        self.rows += len(columns[0]) if columns else 0

    def close(self) -> None:
        self._file.close()


class ParquetWriter(Writer):
    suffix = "parquet"

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        super().__init__(path, columns)
        self.schema = pa.schema([(column.name, column.arrow) for column in self.columns])
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")

    def write(self, batch: dict[str, list]) -> None:
        arrays = []
        for column in self.columns:
            values: list[Any] = batch[column.name]
            if column.parquet_list:
                values = [orjson.loads(text) for text in values]
            arrays.append(pa.array(values, type=column.arrow))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()


WRITERS: dict[str, type[Writer]] = {"jsonl": JsonlWriter, "csv": CsvWriter, "parquet": ParquetWriter}


def file_digest(path: Path) -> tuple[str, int]:
    """(sha256 hex, bytes) of a file, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
