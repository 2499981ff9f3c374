"""Importing item files: formats, bad rows by row and column, all-or-nothing, re-import, progress."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotation import importers, services
from annotation.models import ImportJob, Item
from annotation.services import items as item_services
from core.errors import NotAllowed, QuorumError

pytestmark = pytest.mark.django_db

GOOD = [
    {"external_id": "a1", "text": "first post", "language": "en", "priority": 3},
    {"external_id": "a2", "image_url": "https://cdn.example.org/2.jpg", "is_graphic": True},
    {"external_id": "a3", "text": "caption", "image_url": "https://cdn.example.org/3.jpg", "metadata": {"src": "feed"}},
    {"external_id": "g1", "text": "known answer", "gold_label": "hate"},
]


def _write(tmp_path, rows, fmt):
    path = tmp_path / f"items.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif fmt == "csv":
        columns = sorted({key for row in rows for key in row})
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()})
    else:
        frame = pd.DataFrame(
            [{**row, "metadata": json.dumps(row["metadata"]) if "metadata" in row else None} for row in rows]
        )
        frame.to_parquet(path)
    return path


def _run(project, lead, path, mode=ImportJob.Mode.ALL_OR_NOTHING, batch="b1", progress=None):
    job = services.import_job_create(project=project, actor=lead, batch_name=batch, source_path=str(path), mode=mode)
    return services.import_job_run(job_id=job.pk, source_path=str(path), on_progress=progress)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_import_each_format(project, lead, tmp_path, fmt):
    job = _run(project, lead, _write(tmp_path, GOOD, fmt))
    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert job.items_created == 4 and job.rows_read == 4 and job.rows_invalid == 0
    items = {i.external_id: i for i in Item.objects.filter(project=project)}
    assert items["a1"].priority == 3 and items["a1"].language == "en"
    assert items["a2"].modality == "image" and items["a2"].is_graphic is True
    assert items["a3"].modality == "multimodal" and items["a3"].metadata == {"src": "feed"}
    assert items["g1"].is_gold and items["g1"].gold_labels == ["hate"]
    assert job.batch.name == "b1" and job.message == "4 items imported from 4 rows."


def test_reimport_adds_nothing_twice(project, lead, tmp_path):
    path = _write(tmp_path, GOOD, "jsonl")
    _run(project, lead, path)
    again = _run(project, lead, path)
    assert again.status == ImportJob.Status.SUCCEEDED
    assert again.items_created == 0 and again.rows_existing == 4
    assert Item.objects.filter(project=project).count() == 4
    assert "4 already imported before" in again.message


BAD_ROWS = [
    ({"external_id": "b1", "text": ""}, 2, "text", "missing: the item has no content"),
    ({"text": "no id"}, 2, "external_id", "missing: every item needs an external id"),
    (
        {"external_id": "b1", "text": "x", "gold_label": "terrorism"},
        2,
        "gold_label",
        "'terrorism' is an unknown gold label",
    ),
    ({"external_id": "b1", "image_url": "javascript:alert(1)"}, 2, "image_url", "is not an http(s) URL"),
    ({"external_id": "b1", "video_url": "file:///etc/passwd"}, 2, "video_url", "is not an http(s) URL"),
    ({"external_id": "a1", "text": "dup"}, 2, "external_id", "'a1' repeats row 1"),
    ({"external_id": "b1", "text": "x", "priority": "urgent"}, 2, "priority", "'urgent' is not a whole number"),
]


@pytest.mark.parametrize(("bad", "row", "column", "message"), BAD_ROWS)
def test_bad_row_fails_all_or_nothing_and_names_row_and_column(project, lead, tmp_path, bad, row, column, message):
    _run(project, lead, _write(tmp_path, [{"external_id": "keep", "text": "already here"}], "jsonl"), batch="old")
    before = list(Item.objects.order_by("pk").values_list("pk", "external_id"))
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"external_id": "a1", "text": "fine"}) + "\n" + json.dumps(bad) + "\n")
    job = _run(project, lead, path, batch="new")
    assert job.status == ImportJob.Status.FAILED and job.items_created == 0
    assert job.errors[0]["row"] == row and job.errors[0]["column"] == column
    assert message in job.errors[0]["message"] and f"row {row}, column {column}" in job.errors[0]["message"]
    assert list(Item.objects.order_by("pk").values_list("pk", "external_id")) == before  # nothing added, nothing lost
    assert not project.batches.filter(name="new").exists()
    assert "nothing was imported" in job.message


def test_skip_bad_rows_imports_the_rest_and_keeps_a_report(project, lead, tmp_path):
    rows = [*GOOD, {"external_id": "x1", "text": ""}, {"external_id": "x2", "audio_url": "ftp://a/b.mp3"}]
    job = _run(project, lead, _write(tmp_path, rows, "csv"), mode=ImportJob.Mode.SKIP_BAD_ROWS)
    assert job.status == ImportJob.Status.SUCCEEDED
    assert job.items_created == 4 and job.rows_invalid == 2
    report = list(csv.reader(io.StringIO(job.error_report.read().decode())))
    assert report[0] == ["row", "column", "message"]
    assert [(r[0], r[1]) for r in report[1:]] == [
        ("6", "text"),
        ("7", "audio_url"),
    ]  # CSV rows as a spreadsheet counts them
    assert "2 bad rows skipped" in job.message


def test_every_bad_row_is_reported_not_just_the_first(project, lead, tmp_path):
    rows = [{"external_id": f"e{i}", "text": "" if i % 2 else "ok"} for i in range(10)]
    job = _run(project, lead, _write(tmp_path, rows, "jsonl"))
    assert job.rows_invalid == 5 and [e["row"] for e in job.errors] == [2, 4, 6, 8, 10]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the CSV file is empty"),
        ("fake.parquet", b"this is not parquet", "not a readable Parquet file"),
    ],
)
def test_unreadable_file_fails_cleanly(project, lead, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    job = _run(project, lead, path)
    assert job.status == ImportJob.Status.FAILED and message in job.message
    assert Item.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "row", "message"),
    [
        (b'{"external_id": "a", "text": "x"}\n{"external_id": \n', 2, "row 2, column external_id: not valid JSON"),
        (b'["not", "an", "object"]\n', 1, "row 1: expected a JSON object per line"),
    ],
)
def test_an_unreadable_json_line_is_a_bad_row(project, lead, tmp_path, content, row, message):
    """JSON Lines rows are independent: a line that is not a JSON object is a bad row (skipped in
    skip-bad-rows mode), not the end of the file."""
    path = tmp_path / "lines.jsonl"
    path.write_bytes(content)
    job = _run(project, lead, path)
    assert job.status == ImportJob.Status.FAILED and Item.objects.count() == 0
    assert [(e["row"], e["message"][: len(message)]) for e in job.errors] == [(row, message)]
    skipped = _run(project, lead, path, mode=ImportJob.Mode.SKIP_BAD_ROWS, batch="b2")
    assert skipped.rows_invalid == 1 and skipped.items_created == (1 if row == 2 else 0)


def test_progress_is_reported_per_chunk(project, lead, tmp_path, monkeypatch):
    seen = []
    rows = [{"external_id": f"p{i}", "text": "t"} for i in range(7)]
    path = _write(tmp_path, rows, "jsonl")
    job = services.import_job_create(project=project, actor=lead, batch_name="p", source_path=str(path))
    monkeypatch.setattr(
        item_services, "read_chunks", lambda handle, fmt: importers.read_chunks(handle, fmt=fmt, chunk_rows=3)
    )
    services.import_job_run(job_id=job.pk, source_path=str(path), on_progress=seen.append)
    assert seen == [3, 6, 7]


def test_upload_runs_through_the_task(project, lead, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("items.jsonl", "".join(json.dumps(r) + "\n" for r in GOOD).encode())
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_create(project=project, actor=lead, batch_name="up", upload=upload)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED and job.items_created == 4
    assert job.file.name.startswith("imports/")


def test_import_job_create_checks_input(project, lead, annotator, tmp_path):
    path = _write(tmp_path, GOOD, "jsonl")
    with pytest.raises(NotAllowed):
        services.import_job_create(project=project, actor=annotator, batch_name="b", source_path=str(path))
    with pytest.raises(QuorumError, match="batch_name: name the batch"):
        services.import_job_create(project=project, actor=lead, batch_name=" ", source_path=str(path))
    with pytest.raises(QuorumError, match=r"cannot tell the format of 'items\.xlsx'"):
        services.import_job_create(project=project, actor=lead, batch_name="b", source_path="items.xlsx")
    with pytest.raises(QuorumError, match="mode: 'some' is not one of"):
        services.import_job_create(project=project, actor=lead, batch_name="b", source_path=str(path), mode="some")


def test_finished_job_is_not_run_again(project, lead, tmp_path):
    path = _write(tmp_path, GOOD, "jsonl")
    job = _run(project, lead, path)
    Item.objects.all().delete()
    again = services.import_job_run(job_id=job.pk, source_path=str(path))
    assert again.status == ImportJob.Status.SUCCEEDED and Item.objects.count() == 0
