from __future__ import annotations

import csv
import hashlib
import io

import orjson
import pyarrow.parquet as pq
import pytest

from core.errors import NotAllowed, QuorumError
from delivery.models import Delivery
from delivery.services import build, plan
from delivery.services.build import GateFailed, delivery_build, delivery_create
from delivery.services.storage import delivery_folder, delivery_root, temp_folder
from delivery.writers import file_digest
from tests.delivery.conftest import labelled_project


def _build(project, actor, **options) -> Delivery:
    delivery = delivery_create(project=project, actor=actor, **options)
    return delivery_build(delivery_id=delivery.pk)


def _rows(delivery: Delivery, name: str) -> list[dict]:
    path = delivery_folder(delivery) / name
    if name.endswith(".jsonl"):
        return [orjson.loads(line) for line in path.read_bytes().splitlines()]
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(path.read_text())))
    return pq.read_table(path).to_pylist()


def test_delivery_build_writes_every_format_with_checksums(labelled, lead):
    delivery = _build(labelled.project, lead, formats=["jsonl", "csv", "parquet"], include_annotations=True)
    assert delivery.status == Delivery.Status.DONE
    assert delivery.version == 1
    names = {entry["name"] for entry in delivery.files}
    assert names == {
        f"{split}.{fmt}" for split in ("train", "eval", "annotations") for fmt in ("jsonl", "csv", "parquet")
    }
    folder = delivery_folder(delivery)
    for entry in delivery.files:
        data = (folder / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    manifest_bytes = (folder / "manifest.json").read_bytes()
    assert hashlib.sha256(manifest_bytes).hexdigest() == delivery.manifest_sha256
    manifest = orjson.loads(manifest_bytes)
    assert manifest["counts"]["items"] == 60
    assert manifest["counts"]["annotations"] == 180
    assert manifest["request"]["id"] == labelled.request.pk
    assert manifest["guideline_versions_used"] == [1]
    assert manifest["quality"]["gate_passed"] is True
    # The same rows in every format, with the aggregated label and its vote split.
    train = {row["item_id"]: row for row in _rows(delivery, "train.jsonl")}
    assert set(train) == {row["item_id"] for row in _rows(delivery, "train.csv")}
    assert set(train) == {row["item_id"] for row in _rows(delivery, "train.parquet")}
    eval_rows = _rows(delivery, "eval.parquet")
    assert len(train) + len(eval_rows) == 60
    for row in [*train.values(), *eval_rows]:
        assert row["label"] == labelled.truth[row["item_id"]]
        assert sum((row["votes"] if isinstance(row["votes"], dict) else orjson.loads(row["votes"])).values()) == 3
    assert len(_rows(delivery, "annotations.csv")) == 180
    assert len(_rows(delivery, "annotations.parquet")) == 180
    assert {row["split"] for row in _rows(delivery, "annotations.jsonl")} == {"train", "eval"}


def test_delivery_split_is_stratified_and_seeded(labelled, lead):
    first = _build(labelled.project, lead, formats=["jsonl"], eval_share=0.25, seed=7)
    second = _build(labelled.project, lead, formats=["jsonl"], eval_share=0.25, seed=7)
    other = _build(labelled.project, lead, formats=["jsonl"], eval_share=0.25, seed=8)
    assert (first.version, second.version, other.version) == (1, 2, 3)
    split = lambda d: {row["item_id"]: row["split"] for row in _rows(d, "train.jsonl") + _rows(d, "eval.jsonl")}  # noqa: E731
    assert split(first) == split(second)
    assert split(first) != split(other)
    # 12 items per label: a quarter of each (3) goes to eval.
    assert first.manifest["label_distribution"]["eval"] == {
        key: 3 for key in ("harassment", "hate", "safe", "spam", "violence")
    }


def test_delivery_leakage_moves_duplicates_out_of_eval(db, lead, requester):
    texts = ["Same  POST"] * 10 + [f"unique {n}" for n in range(50)]
    data = labelled_project(lead=lead, requester=requester, texts=texts)
    delivery = _build(data.project, lead, formats=["jsonl"], eval_share=0.5, seed=1)
    leakage = delivery.manifest["leakage"]
    assert leakage["duplicate_groups"] == 1
    assert leakage["items_in_duplicate_groups"] == 10
    eval_rows = _rows(delivery, "eval.jsonl")
    hashes = [row["content_hash"] for row in eval_rows]
    train_hashes = {row["content_hash"] for row in _rows(delivery, "train.jsonl")}
    assert len(hashes) == len(set(hashes))
    assert not set(hashes) & train_hashes
    assert leakage["moved_from_eval"]["total"] >= 1


def test_delivery_leakage_against_earlier_deliveries_to_the_team(db, lead, requester):
    texts = [f"shared {n}" for n in range(60)]
    first = labelled_project(lead=lead, requester=requester, texts=texts, name="First")
    earlier = _build(first.project, lead, formats=["jsonl"], eval_share=0.5)
    second = labelled_project(lead=lead, requester=requester, texts=texts, name="Second")
    delivery = _build(second.project, lead, formats=["jsonl"], eval_share=0.5, seed=3)
    leakage = delivery.manifest["leakage"]
    assert leakage["moved_from_eval"]["in_earlier_deliveries"] > 0
    assert leakage["earlier_deliveries"] == [earlier.pk]
    trained_on = {row["content_hash"] for row in _rows(earlier, "train.jsonl")}
    assert delivery.manifest["counts"]["by_split"]["eval"] > 0
    assert not {row["content_hash"] for row in _rows(delivery, "eval.jsonl")} & trained_on


def test_delivery_create_refuses_a_failed_gate_without_override(labelled, lead, django_capture_on_commit_callbacks):
    labelled.project.min_gold_accuracy = 0.9
    labelled.project.save()
    with pytest.raises(GateFailed, match="gold"):
        delivery_create(project=labelled.project, actor=lead, formats=["csv"])
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_create(
            project=labelled.project, actor=lead, formats=["csv"], override_reason="Requester accepted the risk"
        )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DONE
    assert delivery.manifest["quality"]["override_reason"] == "Requester accepted the risk"
    assert delivery.manifest["quality"]["gate"]["passed"] is False


def test_delivery_create_is_for_the_project_leads(labelled, requester, other_lead):
    for person in (requester, other_lead):
        with pytest.raises(NotAllowed):
            delivery_create(project=labelled.project, actor=person, formats=["csv"])


def test_delivery_min_confidence_leaves_out_unsure_items(labelled, lead):
    delivery = _build(labelled.project, lead, formats=["jsonl"], min_confidence=0.9)
    # Every fourth item has a 2-of-3 vote (0.67), except the 3 whose label is spam anyway.
    assert delivery.manifest["counts"]["left_out_low_confidence"] == 12
    assert delivery.manifest["counts"]["items"] == 48


def test_delivery_build_is_idempotent_and_cleans_a_killed_build(labelled, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["jsonl"])
    # A killed earlier run left a half-written temporary folder.
    temp = temp_folder(delivery, "killed")
    temp.mkdir(parents=True)
    (temp / "train.jsonl").write_text("half")
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.RUNNING)
    built = delivery_build(delivery_id=delivery.pk)
    assert built.status == Delivery.Status.DONE
    assert not temp.exists()
    again = delivery_build(delivery_id=delivery.pk)
    assert again.version == built.version == 1
    assert Delivery.objects.filter(project=labelled.project, status="done").count() == 1


def test_delivery_build_failure_leaves_nothing(labelled, lead, monkeypatch, django_capture_on_commit_callbacks):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build, "_delivery_commit", boom)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["jsonl"])
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert "disk full" in delivery.error
    assert delivery.version is None
    assert not list((delivery_root() / str(labelled.project.pk)).glob(".build-*"))
    assert not list((delivery_root() / str(labelled.project.pk)).glob("[0-9]*"))


def test_a_second_build_of_the_same_delivery_at_once_does_not_touch_the_first(
    labelled, lead, monkeypatch, django_capture_on_commit_callbacks
):
    """A re-delivered task builds while the first is still writing: each writes its own folder,
    the first to commit wins, and the delivered files are exactly the ones its manifest lists."""
    with django_capture_on_commit_callbacks(execute=False):
        delivery = delivery_create(project=labelled.project, actor=lead, formats=["jsonl", "csv"])
    progress = build._progress
    started, raced = [], []

    def progress_with_a_rival(delivery_id, done, total, message):
        progress(delivery_id, done, total, message)
        if message.startswith("Wrote") and not started:  # the outer build is half-way through its files
            started.append(True)
            raced.append(delivery_build(delivery_id=delivery_id))

    monkeypatch.setattr(build, "_progress", progress_with_a_rival)
    outer = delivery_build(delivery_id=delivery.pk)
    (rival,) = raced
    assert rival.status == outer.status == Delivery.Status.DONE
    assert rival.version == outer.version == 1 and rival.manifest_sha256 == outer.manifest_sha256
    folder = delivery_folder(outer)
    for entry in outer.manifest["files"]:
        assert file_digest(folder / entry["name"])[0] == entry["sha256"], entry["name"]
    root = delivery_root() / str(labelled.project.pk)
    assert not list(root.glob(".build-*"))
    assert Delivery.objects.filter(project=labelled.project, status="done").count() == 1


def test_delivery_create_refuses_a_project_without_annotations(project, lead):
    with pytest.raises(QuorumError, match="no annotated items"):
        delivery_create(project=project, actor=lead, formats=["csv"])


def test_delivery_build_reports_progress_as_it_writes(labelled, lead, monkeypatch):
    seen = []
    real = build._progress

    def spy(delivery_id, done, total, message):
        real(delivery_id, done, total, message)
        seen.append(Delivery.objects.values_list("status", "progress_done", "progress_total").get(pk=delivery_id))

    monkeypatch.setattr(plan, "BATCH_ROWS", 20)
    monkeypatch.setattr(build, "_progress", spy)
    delivery = _build(labelled.project, lead, formats=["csv"])
    assert [row[1] for row in seen if row[2] == 60] == [0, 20, 40, 60]
    assert all(status == "running" for status, _, _ in seen)
    assert (delivery.progress_done, delivery.progress_total) == (60, 60)
