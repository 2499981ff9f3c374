"""What a build reads and decides, in two streamed passes over the consensus rows.

Pass 1 (split_plan, no content kept): the final labels (the latest adjudication beats the vote),
the confidence filter, the stratified train/eval split (split_assign) and the leakage check
against this delivery and earlier ones. Pass 2 (item_batches, annotation_batches): the delivered
rows, BATCH_ROWS at a time, as column batches for the writers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from django.db.models import Count, Max, Min, Q, TextField
from django.db.models.functions import Cast

from annotation.models import Annotation, Item
from annotation.validation import CONTENT_FIELDS, item_content_hash
from delivery.models import Delivery
from delivery.services.storage import EVAL, INDEX_FILE, TRAIN, delivery_folder
from delivery.writers import ANNOTATION_COLUMNS, ITEM_COLUMNS
from quality.models import Adjudication, Consensus
from quality.services.audits import seeded_uniform

BATCH_ROWS = 5_000
LEAKAGE_EXAMPLES = 20


def split_assign(item_ids: np.ndarray, strata: np.ndarray, *, eval_share: float, seed: int) -> np.ndarray:
    """True where an item goes to the evaluation split: in each stratum (label), the
    round(share × size) items with the smallest seeded draws."""
    is_eval = np.zeros(len(item_ids), dtype=bool)
    if not len(item_ids) or eval_share <= 0:
        return is_eval
    # An item's draw does not depend on which other items are in the delivery: the same seed gives
    # the same split, and a later delivery with more items keeps the earlier items where they were.
    draws = seeded_uniform(item_ids, seed)
    order = np.lexsort((item_ids, draws, strata))  # by stratum, then draw (ties by id)
    sorted_strata = strata[order]
    starts = np.flatnonzero(np.r_[True, sorted_strata[1:] != sorted_strata[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    quota = np.repeat(np.floor(sizes * eval_share + 0.5).astype(np.int64), sizes)
    is_eval[order] = rank < quota
    return is_eval


def consensus_fresh(project_id: int) -> tuple[bool, dict[str, Any]]:
    """Are there consensus rows for every annotated regular item, computed after the last annotation?"""
    annotated = (
        Annotation.objects.filter(project_id=project_id, item__is_gold=False).values("item_id").distinct().count()
    )
    state = Consensus.objects.filter(project_id=project_id).aggregate(
        rows=Count("pk"), oldest=Min("computed_at"), method=Max("method")
    )
    rows = state["rows"]
    last = Annotation.objects.filter(project_id=project_id, item__is_gold=False).aggregate(at=Max("submitted_at"))["at"]
    fresh = rows > 0 and rows >= annotated and (last is None or state["oldest"] >= last)
    return fresh, {"method": state["method"], "computed_at": state["oldest"], "items": rows}


def adjudicated_labels(project_id: int) -> dict[int, str]:
    """The latest adjudication's labels (JSON text) per item: a reviewer's word beats the vote."""
    rows = (
        Adjudication.objects.filter(project_id=project_id)
        .order_by("item_id", "created_at", "id")
        .annotate(_labels=Cast("labels", TextField()))
        .values_list("item_id", "_labels")
    )
    return dict(rows)  # later rows of an item overwrite earlier ones


def _normal_json(text: str) -> str:
    """JSON text as orjson writes it (PostgreSQL's jsonb text has spaces; SQLite keeps what was stored)."""
    return orjson.dumps(orjson.loads(text)).decode()


@dataclasses.dataclass
class SplitPlan:
    """What pass 1 decided, by item id (sorted): in the delivery or not, and which split."""

    item_ids: np.ndarray
    is_eval: np.ndarray
    hashes: np.ndarray
    strata: list[str]
    left_out_low_confidence: int
    leakage: dict[str, Any]


def split_plan(delivery: Delivery, adjudicated: dict[int, str], *, earlier_hashes: np.ndarray) -> SplitPlan:
    """Pass 1 (no content kept): final labels, confidence filter, stratified split, leakage."""
    rows = (
        Consensus.objects.filter(project_id=delivery.project_id)
        .order_by("item_id")
        .annotate(_labels=Cast("labels", TextField()))
        .values_list("item_id", "_labels", "confidence", "item__content_hash")
        .iterator(chunk_size=BATCH_ROWS * 4)
    )
    ids, strata, hashes, missing_hash = [], [], [], []
    left_out = 0
    floor = delivery.min_confidence
    for item_id, labels, confidence, content_hash in rows:
        final = adjudicated.get(item_id)
        if final is None and floor is not None and confidence < floor:
            left_out += 1
            continue
        ids.append(item_id)
        strata.append("|".join(sorted(orjson.loads(final or labels))))
        if not content_hash:
            missing_hash.append(len(hashes))
        hashes.append(content_hash)
    if missing_hash:  # items imported without a hash: hash their content now, as the importer would
        positions = {ids[index]: index for index in missing_hash}
        content = Item.objects.filter(project_id=delivery.project_id, content_hash="").values_list(
            "pk", *CONTENT_FIELDS
        )
        for pk, *values in content.order_by().iterator(chunk_size=BATCH_ROWS * 4):
            if pk in positions:
                hashes[positions[pk]] = item_content_hash(dict(zip(CONTENT_FIELDS, values, strict=True)))
    item_ids = np.asarray(ids, dtype=np.int64)
    hash_array = np.asarray(hashes, dtype="S64")
    _, stratum_codes = np.unique(np.asarray(strata, dtype=object), return_inverse=True) if strata else (None, [])
    is_eval = split_assign(
        item_ids, np.asarray(stratum_codes, dtype=np.int64), eval_share=delivery.eval_share, seed=delivery.seed
    )
    is_eval, leakage = _leakage(item_ids, hash_array, is_eval, earlier_hashes)
    return SplitPlan(item_ids, is_eval, hash_array, strata, left_out, leakage)


def _leakage(
    item_ids: np.ndarray, hashes: np.ndarray, is_eval: np.ndarray, earlier: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """Exact duplicates (same normalised content hash). An evaluation item whose content is also in
    this delivery's train split, or in the train split of an earlier delivery to the same team (or
    of the same project), leaves the evaluation split (it is delivered in train): a model could
    have trained on it. Earlier evaluation splits do not count: evaluating on them again is fine."""
    is_eval = is_eval.copy()
    unique, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    train_has = np.zeros(len(unique), dtype=bool)
    train_has[inverse[~is_eval]] = True
    across = is_eval & train_has[inverse]
    is_eval &= ~across
    # An eval item repeated inside the eval split: keep the first copy there.
    eval_positions = np.flatnonzero(is_eval)
    _, first = np.unique(inverse[eval_positions], return_index=True)
    within_eval = np.zeros(len(hashes), dtype=bool)
    within_eval[eval_positions] = True
    within_eval[eval_positions[first]] = False
    is_eval &= ~within_eval
    before = is_eval & np.isin(hashes, earlier) if len(earlier) else np.zeros(len(hashes), dtype=bool)
    is_eval &= ~before
    moved = across | within_eval | before

    def examples(mask: np.ndarray) -> list[int]:
        return item_ids[mask][:LEAKAGE_EXAMPLES].tolist()

    return is_eval, {
        "method": "sha256 of the normalised content (case and white space folded)",
        "duplicate_groups": int((counts > 1).sum()),
        "items_in_duplicate_groups": int(counts[counts > 1].sum()),
        "moved_from_eval": {
            "duplicates_across_splits": int(across.sum()),
            "duplicates_within_eval": int(within_eval.sum()),
            "in_earlier_deliveries": int(before.sum()),
            "total": int(moved.sum()),
        },
        "earlier_delivery_hashes_checked": len(earlier),
        "example_item_ids": {
            "duplicates_across_splits": examples(across),
            "duplicates_within_eval": examples(within_eval),
            "in_earlier_deliveries": examples(before),
        },
    }


def earlier_deliveries(delivery: Delivery) -> list[Delivery]:
    """Done deliveries of the same project, or to the same team (or requester) through any request."""
    condition = Q(project_id=delivery.project_id)
    request = delivery.request
    if request is not None:
        condition |= Q(request__requester_id=request.requester_id)
        if request.team_id:
            condition |= Q(request__team_id=request.team_id)
    return list(Delivery.objects.filter(condition, status=Delivery.Status.DONE).exclude(pk=delivery.pk))


def earlier_hashes(deliveries: list[Delivery]) -> np.ndarray:
    parts = []
    for earlier in deliveries:
        path = delivery_folder(earlier) / INDEX_FILE
        if path.exists():
            table = pq.read_table(path, columns=["content_hash"], filters=[("split", "=", TRAIN)])
            parts.append(table.column(0).to_numpy(zero_copy_only=False))
    if not parts:
        return np.empty(0, dtype="S64")
    return np.unique(np.concatenate(parts).astype("S64"))


_ITEM_FIELDS = (
    "item_id", "item__external_id", "item__modality", "item__text", "item__image_url", "item__video_url",
    "item__audio_url", "item__ocr_text", "item__language", "_metadata", "_labels", "confidence", "_votes",
    "n_annotations", "method",
)  # fmt: skip

INDEX_SCHEMA = pa.schema(
    [
        ("item_pk", pa.int64()),
        ("item_id", pa.string()),
        ("split", pa.string()),
        ("label", pa.string()),
        ("labels", pa.string()),
        ("content_hash", pa.string()),
    ]
)


def item_batches(delivery: Delivery, plan: SplitPlan, adjudicated: dict[int, str]) -> Iterator[dict[str, list]]:
    """Pass 2: the delivered items in id order, BATCH_ROWS at a time, as column batches."""
    rows = (
        Consensus.objects.filter(project_id=delivery.project_id)
        .order_by("item_id")
        .annotate(
            _labels=Cast("labels", TextField()),
            _votes=Cast("votes", TextField()),
            _metadata=Cast("item__metadata", TextField()),
        )
        .values_list(*_ITEM_FIELDS)
        .iterator(chunk_size=BATCH_ROWS)
    )
    position = 0
    ids, is_eval, hashes = plan.item_ids, plan.is_eval, plan.hashes
    batch: dict[str, list] = {column.name: [] for column in ITEM_COLUMNS}
    batch["_pk"] = []
    for row in rows:
        item_id = row[0]
        if position >= len(ids) or ids[position] != item_id:
            continue  # left out (under min_confidence)
        final = adjudicated.get(item_id)
        labels = _normal_json(final or row[10])
        keys = orjson.loads(labels)
        batch["_pk"].append(item_id)
        batch["item_id"].append(row[1])
        batch["split"].append(EVAL if is_eval[position] else TRAIN)
        batch["modality"].append(row[2])
        batch["text"].append(row[3])
        batch["image_url"].append(row[4])
        batch["video_url"].append(row[5])
        batch["audio_url"].append(row[6])
        batch["ocr_text"].append(row[7])
        batch["language"].append(row[8])
        batch["metadata"].append(_normal_json(row[9]))
        batch["label"].append(plan.strata[position] if len(keys) != 1 else keys[0])
        batch["labels"].append(labels)
        batch["confidence"].append(1.0 if final is not None else float(row[11]))
        batch["votes"].append(_normal_json(row[12]))
        batch["n_annotations"].append(row[13])
        batch["method"].append("adjudicated" if final is not None else row[14])
        batch["adjudicated"].append(final is not None)
        batch["content_hash"].append(hashes[position].decode())
        position += 1
        if len(batch["_pk"]) >= BATCH_ROWS:
            yield batch
            batch = {name: [] for name in batch}
    if batch["_pk"]:
        yield batch


def annotation_batches(delivery: Delivery, plan: SplitPlan) -> Iterator[dict[str, list]]:
    """The raw annotations of the delivered items (annotators by id only), in item order."""
    rows = (
        Annotation.objects.filter(project_id=delivery.project_id, item__is_gold=False)
        .order_by("item_id", "annotator_id")
        .annotate(_labels=Cast("labels", TextField()))
        .values_list(
            "item_id",
            "item__external_id",
            "annotator_id",
            "_labels",
            "submitted_at",
            "schema_version__number",
            "guideline__version",
        )
        .iterator(chunk_size=BATCH_ROWS * 4)
    )
    ids, is_eval = plan.item_ids, plan.is_eval
    batch: dict[str, list] = {column.name: [] for column in ANNOTATION_COLUMNS}
    for item_id, external_id, annotator_id, labels, submitted_at, schema_version, guideline_version in rows:
        position = int(np.searchsorted(ids, item_id))
        if position >= len(ids) or ids[position] != item_id:
            continue
        batch["item_id"].append(external_id)
        batch["split"].append(EVAL if is_eval[position] else TRAIN)
        batch["annotator"].append(annotator_id)
        batch["labels"].append(_normal_json(labels))
        batch["submitted_at"].append(submitted_at.isoformat())
        batch["schema_version"].append(schema_version)
        batch["guideline_version"].append(guideline_version)
        if len(batch["item_id"]) >= BATCH_ROWS * 4:
            yield batch
            batch = {name: [] for name in batch}
    if batch["item_id"]:
        yield batch


def batch_select(batch: dict[str, list], mask: list[bool]) -> dict[str, list]:
    return {name: [value for value, keep in zip(values, mask, strict=True) if keep] for name, values in batch.items()}
