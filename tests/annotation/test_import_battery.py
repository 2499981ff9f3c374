"""The battery of bad files (issue 15): every bad value is refused by row and column, never an
internal error; all or nothing fails the whole file, skip-bad-rows imports the good rows beside it.
Each bad column of a row is its own error; file-level faults (no external_id column, no rows) are
reported once."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotation import services
from annotation.models import ImportJob, Item

pytestmark = pytest.mark.django_db

GOOD_LINE = json.dumps({"external_id": "good-1", "text": "a fine post"})


def _jsonl(*lines: str | bytes) -> bytes:
    """A JSON Lines file: the good row on line 1, then the given lines."""
    parts = [GOOD_LINE.encode(), *(line.encode() if isinstance(line, str) else line for line in lines)]
    return b"\n".join(parts) + b"\n"


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _parquet(frame: pd.DataFrame, **options) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, **options)
    return sink.getvalue()


def _corrupt_parquet() -> bytes:
    """Four rows in two row groups; the text column's data page of the second group overwritten."""
    frame = pd.DataFrame({"external_id": ["p1", "p2", "p3", "p4"], "text": ["one", "two", "three", "four"] * 1})
    frame["text"] = [f"{word} " * 50 for word in frame["text"]]
    data = bytearray(_parquet(frame, row_group_size=2, use_dictionary=False, compression="snappy"))
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    chunk = meta.row_group(1).column(1)
    assert meta.row_group(1).column(1).path_in_schema == "text"
    start = chunk.data_page_offset + chunk.total_compressed_size // 2
    data[start : chunk.data_page_offset + chunk.total_compressed_size] = b"\xff" * (
        chunk.data_page_offset + chunk.total_compressed_size - start
    )
    return bytes(data)


# (name, file bytes, expected errors as (row, column, part of the message), items a skip import keeps)
BATTERY = [
    (
        "nul-in-metadata.jsonl",
        _jsonl('{"external_id": "n1", "text": "x", "metadata": {"source": {"k": "a\\u0000b"}}}'),
        [(2, "metadata", "contains a NUL character (at metadata.source.k)")],
        {"good-1"},
    ),
    (
        "nul-in-metadata-key.jsonl",
        _jsonl('{"external_id": "n1", "text": "x", "metadata": {"a\\u0000": 1}}'),
        [(2, "metadata", "contains a NUL character in a key")],
        {"good-1"},
    ),
    (
        "integer-beyond-64-bits-in-metadata.jsonl",
        _jsonl('{"external_id": "i1", "text": "x", "metadata": {"n": [1, 123456789012345678901234567890]}}'),
        [(2, "metadata", "holds an integer beyond 64 bits (at metadata.n[1])")],
        {"good-1"},
    ),
    (
        "integer-beyond-64-bits-as-priority.jsonl",
        _jsonl('{"external_id": "i1", "text": "x", "priority": 123456789012345678901234567890}'),
        [(2, "priority", "123456789012345678901234567890 is outside -1000000..1000000")],
        {"good-1"},
    ),
    (
        "100k-deep-nesting.jsonl",
        _jsonl('{"external_id": "d1", "text": "x", "metadata": ' + _deep(100_000) + "}"),
        [(2, "metadata", "is nested deeper than 64 levels")],
        {"good-1"},
    ),
    (
        "deep-but-parseable-nesting.jsonl",
        _jsonl('{"external_id": "d1", "text": "x", "metadata": {"a": ' + _deep(300) + "}}"),
        [(2, "metadata", "is nested deeper than 64 levels")],
        {"good-1"},
    ),
    (
        "lone-surrogate.jsonl",
        _jsonl('{"external_id": "s1", "text": "broken \\ud800 pair"}'),
        [(2, "text", "is not valid UTF-8 text")],
        {"good-1"},
    ),
    (
        "lone-surrogate-in-metadata.jsonl",
        _jsonl('{"external_id": "s1", "text": "x", "metadata": {"k": "\\udfff"}}'),
        [(2, "metadata", "not valid UTF-8 (a lone surrogate) (at metadata.k)")],
        {"good-1"},
    ),
    (
        "not-utf8.jsonl",
        _jsonl(b'{"external_id": "u1", "text": "caf\xe9"}'),
        [(2, "text", "is not valid UTF-8 text")],
        {"good-1"},
    ),
    (
        "object-as-external-id.jsonl",
        _jsonl('{"external_id": {"id": 1}, "text": "x"}'),
        [(2, "external_id", "is an object, not text")],
        {"good-1"},
    ),
    (
        "list-as-external-id.jsonl",
        _jsonl('{"external_id": ["a", "b"], "text": "x"}'),
        [(2, "external_id", "is a list, not text")],
        {"good-1"},
    ),
    (
        "object-as-text.jsonl",
        _jsonl('{"external_id": "o1", "text": {"body": "x"}}'),
        [(2, "text", "is an object, not text")],
        {"good-1"},
    ),
    (
        "list-as-text.jsonl",
        _jsonl('{"external_id": "o1", "text": ["x"]}'),
        [(2, "text", "is a list, not text")],
        {"good-1"},
    ),
    (
        "true-as-priority.jsonl",
        _jsonl('{"external_id": "t1", "text": "x", "priority": true}'),
        [(2, "priority", "true is not a whole number")],
        {"good-1"},
    ),
    (
        "every-bad-column.jsonl",
        _jsonl(
            '{"external_id": "m1", "text": ["x"], "language": "English", "priority": true, '
            '"required_annotations": 0, "metadata": "nope"}'
        ),
        [
            (2, "text", "is a list, not text"),
            (2, "metadata", "is not valid JSON"),
            (2, "language", "'English' is not a language code"),
            (2, "priority", "true is not a whole number"),
            (2, "required_annotations", "0 is outside 1..50"),
        ],
        {"good-1"},
    ),
    (
        "broken-line.jsonl",
        _jsonl('{"external_id": "b1", "text": "x", "metadata": {"a": [1, 2}}', GOOD_LINE.replace("good-1", "good-3")),
        [(2, "metadata", "not valid JSON")],
        {"good-1", "good-3"},
    ),
    (
        "nul-in-metadata.csv",
        b'external_id,text,metadata\ngood-1,fine,\nn1,x,"{""k"": ""\\u0000""}"\n',
        [(3, "metadata", "contains a NUL character (at metadata.k)")],
        {"good-1"},
    ),
    (
        "integer-beyond-64-bits.csv",
        b'external_id,text,metadata,priority\ngood-1,fine,,1\ni1,x,"{""n"": 99999999999999999999}",'
        b"99999999999999999999\n",
        [(3, "metadata", "integer beyond 64 bits"), (3, "priority", "is outside -1000000..1000000")],
        {"good-1"},
    ),
    (
        "deep-nesting.csv",
        b"external_id,text,metadata\ngood-1,fine,\nd1,x," + _deep(40_000).encode() + b"\n",
        [(3, "metadata", "is nested deeper than 64 levels")],
        {"good-1"},
    ),
    (
        "not-utf8.csv",
        b"external_id,text\ngood-1,fine\ngood-2,also fine\nu1,caf\xe9 \xff\n",
        [(4, "text", "is not valid UTF-8 text")],
        {"good-1", "good-2"},
    ),
    (
        "inf-priority.parquet",
        _parquet(pd.DataFrame({"external_id": ["good-1", "f1"], "text": ["ok", "x"], "priority": [1.0, float("inf")]})),
        [(2, "priority", "inf is not a whole number")],
        {"good-1"},
    ),
    (
        "corrupt-data-page.parquet",
        _corrupt_parquet(),
        [(3, "text", "rows 3–4, column text: the Parquet data cannot be read")],
        {"p1", "p2"},
    ),
    (
        "over-long-value.parquet",
        _parquet(pd.DataFrame({"external_id": ["good-1", "long-1", "good-2"], "text": ["ok", "x" * 100_001, "ok"]})),
        [(2, "text", "longer than 100000 characters")],
        {"good-1", "good-2"},
    ),
]


def _import(project, lead, tmp_path, name, content, mode):
    path = tmp_path / name
    path.write_bytes(content)
    job = services.import_job_create(
        project=project, actor=lead, batch_name="battery", source_path=str(path), mode=mode
    )
    return services.import_job_run(job_id=job.pk, source_path=str(path))


@pytest.mark.parametrize(("name", "content", "expected", "kept"), BATTERY, ids=[case[0] for case in BATTERY])
def test_battery_all_or_nothing_names_every_bad_value(project, lead, tmp_path, name, content, expected, kept):
    job = _import(project, lead, tmp_path, name, content, ImportJob.Mode.ALL_OR_NOTHING)
    assert job.status == ImportJob.Status.FAILED, job.message
    assert job.items_created == 0 and Item.objects.count() == 0
    assert [(e["row"], e["column"]) for e in job.errors] == [(row, column) for row, column, _ in expected]
    for error, (row, column, part) in zip(job.errors, expected, strict=True):
        assert part in error["message"], error["message"]
        assert error["message"].startswith(f"row {row}, column {column}: ") or error["message"].startswith("rows ")
    assert "internal error" not in job.message.lower()


@pytest.mark.parametrize(("name", "content", "expected", "kept"), BATTERY, ids=[case[0] for case in BATTERY])
def test_battery_skip_bad_rows_imports_the_rest(project, lead, tmp_path, name, content, expected, kept):
    job = _import(project, lead, tmp_path, name, content, ImportJob.Mode.SKIP_BAD_ROWS)
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert set(Item.objects.filter(project=project).values_list("external_id", flat=True)) == kept
    assert job.items_created == len(kept)
    bad_rows = {row for row, _, _ in expected}
    if "corrupt" in name:
        bad_rows = {3, 4}
    assert job.rows_invalid == len(bad_rows)
    assert job.rows_read == len(kept) + len(bad_rows)
    report = list(csv.reader(io.StringIO(job.error_report.read().decode())))
    assert [(int(r[0]), r[1]) for r in report[1:]] == [(row, column) for row, column, _ in expected]


def test_a_missing_external_id_column_is_reported_once_for_the_file(project, lead, tmp_path):
    content = b"id,text\n" + b"".join(f"r{i},post {i}\n".encode() for i in range(50))
    for mode in ImportJob.Mode.values:
        job = _import(project, lead, tmp_path, "no-id.csv", content, mode)
        assert job.status == ImportJob.Status.FAILED
        assert len(job.errors) == 1 and job.errors[0]["column"] == "external_id" and job.errors[0]["row"] is None
        assert "there is no external_id column" in job.message and "the columns are id, text" in job.message


def test_a_parquet_file_without_external_id_is_reported_once(project, lead, tmp_path):
    content = _parquet(pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"]}))
    job = _import(project, lead, tmp_path, "no-id.parquet", content, ImportJob.Mode.SKIP_BAD_ROWS)
    assert job.status == ImportJob.Status.FAILED and len(job.errors) == 1
    assert job.errors[0]["column"] == "external_id"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("header-only.csv", b"external_id,text\n"),
        ("blank.jsonl", b"\n\n"),
        ("no-rows.parquet", _parquet(pd.DataFrame({"external_id": pd.Series([], dtype=str)}))),
    ],
)
def test_a_file_without_rows_is_refused_as_empty(project, lead, tmp_path, name, content):
    for mode in ImportJob.Mode.values:
        job = _import(project, lead, tmp_path, name, content, mode)
        assert job.status == ImportJob.Status.FAILED and "the file is empty" in job.message
        assert not project.batches.filter(name="battery").exists()


def test_items_add_reports_the_first_bad_column_and_keeps_all(project, lead):
    """The API's items_add refuses with the first error, as before; the rest ride along."""
    from annotation.validation import RowErrors, item_row_clean

    with pytest.raises(RowErrors) as caught:
        item_row_clean(
            {"external_id": {"a": 1}, "text": "x", "priority": True},
            row_number=None,
            label_keys=None,
            multi=False,
            default_overlap=1,
        )
    assert caught.value.field == "external_id" and [e.field for e in caught.value.errors] == ["external_id", "priority"]
    assert caught.value.message == "external_id: is an object, not text"
