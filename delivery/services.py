"""Writes of the delivery app: deliveries (asked for, built, failed), webhook endpoints and the
attempts to reach them, and model evaluations.

A build never leaves half a delivery: files are written into a temporary folder beside the final
one, and the folder is renamed into place in the transaction that marks the delivery done and
gives it its version. A build that dies leaves a temporary folder that the next run (Celery
re-delivers the message: tasks are acks_late) removes before starting again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import ipaddress
import shutil
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, Max, Min, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from annotation.models import Annotation, Item
from annotation.validation import CONTENT_FIELDS, item_content_hash
from core.errors import NotAllowed, QuorumError
from delivery import metrics, policies
from delivery.models import MANIFEST_SCHEMA_VERSION, Delivery, Evaluation, Format, WebhookAttempt, WebhookEndpoint
from delivery.writers import ANNOTATION_COLUMNS, ITEM_COLUMNS, WRITERS, Writer, file_digest
from projects.models import Project
from projects.services import activity_record
from quality import selectors as quality_selectors
from quality import services as quality_services
from quality.models import Adjudication, Consensus

if TYPE_CHECKING:
    from accounts.models import User

TRAIN, EVAL = "train", "eval"
SPLITS = (TRAIN, EVAL)
INDEX_FILE = "_index.parquet"  # item ids, splits, labels and content hashes: for leakage and evaluation
MANIFEST_FILE = "manifest.json"
BATCH_ROWS = 5_000
LEAKAGE_EXAMPLES = 20
EVALUATION_ERRORS_KEPT = 200


class GateFailed(QuorumError):
    code = "gate_failed"


# --- Storage ------------------------------------------------------------------------------------


def delivery_root() -> Path:
    return Path(settings.MEDIA_ROOT) / "deliveries"


def delivery_folder(delivery: Delivery) -> Path:
    """The folder of a done delivery's files."""
    return Path(settings.MEDIA_ROOT) / delivery.path


def _temp_folder(delivery: Delivery, attempt: str) -> Path:
    """One build attempt's own folder: two workers given the same delivery (a re-delivered task
    while the first still runs) never write into each other's files."""
    return delivery_root() / str(delivery.project_id) / f".build-{delivery.pk}-{attempt}"


def _temp_folders_remove(delivery: Delivery) -> None:
    """Remove every attempt's folder of the delivery (killed builds', a losing concurrent build's)."""
    for folder in (delivery_root() / str(delivery.project_id)).glob(f".build-{delivery.pk}-*"):
        shutil.rmtree(folder, ignore_errors=True)


# --- Asking for a delivery ------------------------------------------------------------------------


def _gate_snapshot(project_id: int) -> tuple[bool, dict[str, Any]]:
    gate = quality_selectors.quality_gate(project_id=project_id)
    return gate.passed, {
        "passed": gate.passed,
        "reasons": list(gate.reasons),
        "checks": [dataclasses.asdict(check) for check in gate.checks],
    }


def _formats_clean(formats: Any) -> list[str]:
    if not isinstance(formats, list | tuple) or not formats:
        raise QuorumError("formats: name at least one of jsonl, csv, parquet", field="formats")
    unknown = [value for value in formats if value not in Format.values]
    if unknown:
        raise QuorumError(f"formats: {unknown[0]!r} is not one of jsonl, csv, parquet", field="formats")
    return [value for value in Format.values if value in formats]  # one order, no repeats


@transaction.atomic
def delivery_create(
    *,
    project: Project,
    actor: User,
    formats: list[str] | None = None,
    include_annotations: bool = False,
    eval_share: float = 0.2,
    seed: int = 0,
    min_confidence: float | None = None,
    override_reason: str = "",
) -> Delivery:
    """Ask for a new delivery of `project` (leads of the project) and queue its build.

    The quality gate is checked now and its result kept: when it fails, the lead must give an
    override reason (it goes into the manifest); without one the delivery is refused (GateFailed,
    naming the failed bars). The build runs in the `delivery.delivery_build` task, on commit.
    """
    if not policies.can_build_delivery(actor, project):
        raise NotAllowed(f"{actor.username} may not deliver project {project.name!r} (its leads may)")
    if not Annotation.objects.filter(project_id=project.pk, item__is_gold=False).exists():
        raise QuorumError(f"project {project.name!r} has no annotated items to deliver yet", field="project")
    override_reason = (override_reason or "").strip()
    passed, gate = _gate_snapshot(project.pk)
    if not passed and not override_reason:
        raise GateFailed(
            f"the quality gate fails ({'; '.join(gate['reasons'])}); fix it, or override with a reason",
            field="override_reason",
        )
    delivery = Delivery(
        project=project,
        request_id=project.request_id,
        formats=_formats_clean(formats if formats is not None else list(Format.values)),
        include_annotations=bool(include_annotations),
        eval_share=eval_share,
        seed=seed,
        min_confidence=min_confidence,
        gate=gate,
        gate_passed=passed,
        override_reason=override_reason if not passed else "",
        created_by=actor,
        message="Queued",
    )
    delivery.full_clean()
    delivery.save()
    verb = "delivery.queued" if passed else "delivery.queued_override"
    summary = f"{actor.username} asked for a delivery of “{project.name}”"
    if not passed:
        summary += f", overriding the failed quality gate: {override_reason}"
    activity_record(actor=actor, verb=verb, summary=summary, project=project, data={"delivery_id": delivery.pk})
    from delivery.tasks import delivery_build as delivery_build_task

    transaction.on_commit(lambda: delivery_build_task.delay(delivery.pk))
    return delivery


# --- Building ---------------------------------------------------------------------------------------


def _progress(delivery_id: int, done: int, total: int, message: str) -> None:
    """Committed at once (no transaction is open during a build), so pollers see it move."""
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.RUNNING).update(
        progress_done=min(done, total), progress_total=total, message=message[:300]
    )


def split_assign(item_ids: np.ndarray, strata: np.ndarray, *, eval_share: float, seed: int) -> np.ndarray:
    """True where an item goes to the evaluation split: in each stratum (label), the
    round(share × size) items with the smallest seeded draws."""
    is_eval = np.zeros(len(item_ids), dtype=bool)
    if not len(item_ids) or eval_share <= 0:
        return is_eval
    # An item's draw does not depend on which other items are in the delivery: the same seed gives
    # the same split, and a later delivery with more items keeps the earlier items where they were.
    draws = quality_services.seeded_uniform(item_ids, seed)
    order = np.lexsort((item_ids, draws, strata))  # by stratum, then draw (ties by id)
    sorted_strata = strata[order]
    starts = np.flatnonzero(np.r_[True, sorted_strata[1:] != sorted_strata[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, sizes)
    quota = np.repeat(np.floor(sizes * eval_share + 0.5).astype(np.int64), sizes)
    is_eval[order] = rank < quota
    return is_eval


def _consensus_fresh(project_id: int) -> tuple[bool, dict[str, Any]]:
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


def _adjudicated(project_id: int) -> dict[int, str]:
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
class _Plan:
    """What pass 1 decided, by item id (sorted): in the delivery or not, and which split."""

    item_ids: np.ndarray
    is_eval: np.ndarray
    hashes: np.ndarray
    strata: list[str]
    left_out_low_confidence: int
    leakage: dict[str, Any]


def _plan(delivery: Delivery, adjudicated: dict[int, str], *, earlier_hashes: np.ndarray) -> _Plan:
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
    return _Plan(item_ids, is_eval, hash_array, strata, left_out, leakage)


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


def _earlier_deliveries(delivery: Delivery) -> list[Delivery]:
    """Done deliveries of the same project, or to the same team (or requester) through any request."""
    condition = Q(project_id=delivery.project_id)
    request = delivery.request
    if request is not None:
        condition |= Q(request__requester_id=request.requester_id)
        if request.team_id:
            condition |= Q(request__team_id=request.team_id)
    return list(Delivery.objects.filter(condition, status=Delivery.Status.DONE).exclude(pk=delivery.pk))


def _earlier_hashes(deliveries: list[Delivery]) -> np.ndarray:
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

_INDEX_SCHEMA = pa.schema(
    [
        ("item_pk", pa.int64()),
        ("item_id", pa.string()),
        ("split", pa.string()),
        ("label", pa.string()),
        ("labels", pa.string()),
        ("content_hash", pa.string()),
    ]
)


def _item_batches(delivery: Delivery, plan: _Plan, adjudicated: dict[int, str]) -> Iterator[dict[str, list]]:
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


def _annotation_batches(delivery: Delivery, plan: _Plan) -> Iterator[dict[str, list]]:
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


def _select(batch: dict[str, list], mask: list[bool]) -> dict[str, list]:
    return {name: [value for value, keep in zip(values, mask, strict=True) if keep] for name, values in batch.items()}


def delivery_start(*, delivery_id: int) -> Delivery:
    """Mark a queued (or re-delivered running) build running. Committed at once, for pollers."""
    Delivery.objects.filter(pk=delivery_id, status__in=[Delivery.Status.QUEUED, Delivery.Status.RUNNING]).update(
        status=Delivery.Status.RUNNING, started_at=timezone.now(), progress_done=0, message="Started"
    )
    return Delivery.objects.select_related("project", "request", "project__label_schema").get(pk=delivery_id)


def delivery_build(*, delivery_id: int) -> Delivery:
    """Build a queued delivery's files and commit it as the project's next version.

    Idempotent: a done or failed delivery is returned as it is; a build interrupted before (a
    killed worker) starts again in a temporary folder of its own, and so does a second build of
    the same delivery running at once: the first to commit wins, under the delivery's row lock,
    and removes the other attempts' folders. Recomputes the consensus labels
    (quality.services.consensus_compute) when they are missing or older than the annotations.
    On success, the team's webhooks are queued on commit (delivery.webhook_send).
    """
    delivery = delivery_start(delivery_id=delivery_id)
    if delivery.status in (Delivery.Status.DONE, Delivery.Status.FAILED):
        return delivery
    started = time.perf_counter()
    temp = _temp_folder(delivery, uuid.uuid4().hex[:12])
    temp.mkdir(parents=True)
    try:
        return _delivery_build_in(delivery, temp, started)
    except Exception:
        shutil.rmtree(temp, ignore_errors=True)
        current = Delivery.objects.get(pk=delivery.pk)
        if current.status == Delivery.Status.DONE:  # a concurrent attempt committed and removed our folder
            return current
        raise


def _delivery_build_in(delivery: Delivery, temp: Path, started: float) -> Delivery:
    """delivery_build's work, writing into this attempt's folder `temp`."""
    project = delivery.project
    fresh, consensus = _consensus_fresh(project.pk)
    recomputed = False
    if not fresh:
        _progress(delivery.pk, 0, 1, "Aggregating the labels (consensus)")
        # The method the lead used last, if any (Dawid–Skene, quality's default, otherwise).
        quality_services.consensus_compute(
            project_id=project.pk, method=consensus["method"] or Consensus.Method.DAWID_SKENE
        )
        recomputed = True
        _, consensus = _consensus_fresh(project.pk)
    adjudicated = _adjudicated(project.pk)
    earlier = _earlier_deliveries(delivery)
    plan = _plan(delivery, adjudicated, earlier_hashes=_earlier_hashes(earlier))
    # The progress bar's total: the annotations are an estimate (items under min_confidence drop theirs).
    n_annotations = (
        Annotation.objects.filter(project_id=project.pk, item__is_gold=False).count()
        if delivery.include_annotations
        else 0
    )
    total = len(plan.item_ids) + n_annotations
    _progress(delivery.pk, 0, total, f"Writing {len(plan.item_ids):,} items")

    writers: list[tuple[str, Writer]] = []
    for split in SPLITS if delivery.eval_share > 0 else (TRAIN,):
        for fmt in delivery.formats:
            writers.append((split, WRITERS[fmt](temp / f"{split}.{fmt}", ITEM_COLUMNS)))
    index = pq.ParquetWriter(temp / INDEX_FILE, _INDEX_SCHEMA)
    distribution: dict[str, Counter] = {split: Counter() for split in SPLITS}
    done = 0
    for batch in _item_batches(delivery, plan, adjudicated):
        index.write_table(
            pa.Table.from_pydict(
                {
                    "item_pk": batch["_pk"],
                    "item_id": batch["item_id"],
                    "split": batch["split"],
                    "label": batch["label"],
                    "labels": batch["labels"],
                    "content_hash": batch["content_hash"],
                },
                schema=_INDEX_SCHEMA,
            )
        )
        out = {name: values for name, values in batch.items() if name != "_pk"}
        by_split = {split: _select(out, [value == split for value in out["split"]]) for split in SPLITS}
        for split, writer in writers:
            if by_split[split]["item_id"]:
                writer.write(by_split[split])
        for split in SPLITS:
            for labels in by_split[split]["labels"]:
                distribution[split].update(orjson.loads(labels))
        done += len(batch["_pk"])
        _progress(delivery.pk, done, total, f"Wrote {done:,} of {len(plan.item_ids):,} items")
    index.close()
    annotation_rows = 0
    if delivery.include_annotations:
        for fmt in delivery.formats:
            writers.append(("annotations", WRITERS[fmt](temp / f"annotations.{fmt}", ANNOTATION_COLUMNS)))
        annotation_writers = [writer for split, writer in writers if split == "annotations"]
        for batch in _annotation_batches(delivery, plan):
            for writer in annotation_writers:
                writer.write(batch)
            done += len(batch["item_id"])
            annotation_rows += len(batch["item_id"])
            _progress(delivery.pk, done, total, f"Wrote {done:,} rows, annotations included")
    files = []
    for split, writer in writers:
        writer.close()
        sha256, size = file_digest(writer.path)
        files.append(
            {
                "name": writer.path.name,
                "split": split,
                "format": writer.suffix,
                "rows": writer.rows,
                "bytes": size,
                "sha256": sha256,
            }
        )
    summary = {
        "items": len(plan.item_ids),
        "left_out_low_confidence": plan.left_out_low_confidence,
        "by_split": {TRAIN: int((~plan.is_eval).sum()), EVAL: int(plan.is_eval.sum())},
        "annotations": annotation_rows,
    }
    return _delivery_commit(
        delivery,
        temp=temp,
        files=files,
        counts=summary,
        distribution={split: dict(sorted(counter.items())) for split, counter in distribution.items()},
        leakage={**plan.leakage, "earlier_deliveries": [d.pk for d in earlier]},
        consensus={**consensus, "recomputed_for_delivery": recomputed},
        seconds=time.perf_counter() - started,
    )


def _quality_figures(project_id: int) -> dict[str, Any]:
    report = quality_selectors.agreement_report_latest(project_id=project_id)
    agreement = None
    if report is not None:
        agreement = {
            "report_id": report.pk,
            "computed_at": report.computed_at,
            "alpha": report.alpha,
            "alpha_low": report.alpha_low,
            "alpha_high": report.alpha_high,
            "observed_agreement": report.observed_agreement,
            "fleiss_kappa": report.fleiss_kappa,
            "n_annotations": report.n_annotations,
            "n_items": report.n_items,
            "n_annotators": report.n_annotators,
        }
    return {
        "agreement": agreement,
        "gold_accuracy": quality_selectors.gold_accuracy(project_id=project_id).overall,
        "audit_accuracy": quality_selectors.audit_accuracy(project_id=project_id).overall,
    }


def _versions(project: Project) -> dict[str, Any]:
    used = Annotation.objects.filter(project_id=project.pk)
    schema_versions = sorted(
        {n for n in used.values_list("schema_version__number", flat=True).distinct().order_by() if n is not None}
    )
    guideline_versions = sorted(
        {n for n in used.values_list("guideline__version", flat=True).distinct().order_by() if n is not None}
    )
    schema = project.label_schema
    space = quality_services.loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
    return {
        "label_schema": {
            "name": schema.name if schema else None,
            "selection": schema.selection if schema else None,
            "labels": list(space.keys),
            "versions_used": schema_versions,
        },
        "guideline_versions_used": guideline_versions,
        "guideline_current": project.guidelines.order_by("-version").values_list("version", flat=True).first(),
    }


def _delivery_commit(
    delivery: Delivery,
    *,
    temp: Path,
    files: list[dict[str, Any]],
    counts: dict[str, Any],
    distribution: dict[str, dict[str, int]],
    leakage: dict[str, Any],
    consensus: dict[str, Any],
    seconds: float,
) -> Delivery:
    """Give the delivery its version, write the manifest, move the folder into place and mark it
    done, in one transaction (the folder is moved back out if the transaction fails)."""
    project = delivery.project
    request = delivery.request
    figures = _quality_figures(project.pk)
    versions = _versions(project)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()  # serialises version numbers
        current = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if current.status != Delivery.Status.RUNNING:
            shutil.rmtree(temp, ignore_errors=True)
            return current
        version = (Delivery.objects.filter(project_id=project.pk).aggregate(v=Max("version"))["v"] or 0) + 1
        now = timezone.now()
        manifest = {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "delivery": {
                "id": delivery.pk,
                "version": version,
                "created_at": delivery.created_at,
                "built_at": now,
                "created_by": delivery.created_by.username,
                "build_seconds": round(seconds, 3),
            },
            "project": {"id": project.pk, "name": project.name},
            "request": None
            if request is None
            else {
                "id": request.pk,
                "title": request.title,
                "purpose": request.purpose,
                "team": request.team.name if request.team_id else None,
                "requester": request.requester.username,
            },
            "options": {
                "formats": delivery.formats,
                "include_annotations": delivery.include_annotations,
                "eval_share": delivery.eval_share,
                "seed": delivery.seed,
                "min_confidence": delivery.min_confidence,
                "split_method": "stratified by aggregated label; per item, SplitMix64(item id, seed)",
            },
            **versions,
            "consensus": consensus,
            "counts": counts,
            "label_distribution": distribution,
            "quality": {
                "gate": delivery.gate,
                "gate_passed": delivery.gate_passed,
                "override_reason": delivery.override_reason or None,
                **figures,
            },
            "leakage": leakage,
            "files": files,
        }
        manifest_bytes = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        (temp / MANIFEST_FILE).write_bytes(manifest_bytes)
        final = delivery_root() / str(project.pk) / str(version)
        shutil.rmtree(final, ignore_errors=True)  # a build killed between this move and its commit
        temp.rename(final)
        _temp_folders_remove(delivery)  # what killed or concurrent attempts left
        try:
            current.version = version
            current.status = Delivery.Status.DONE
            current.path = str(final.relative_to(Path(settings.MEDIA_ROOT)))
            current.manifest = orjson.loads(manifest_bytes)
            current.manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
            current.finished_at = now
            current.progress_done = current.progress_total = counts["items"] + counts["annotations"]
            current.message = f"Delivered version {version}"
            current.full_clean()
            current.save()
            activity_record(
                actor=delivery.created_by,
                verb="delivery.done",
                summary=f"Delivery v{version} of “{project.name}” is ready ({counts['items']:,} items)",
                project=project,
                data_request=request,
                data={"delivery_id": delivery.pk, "version": version},
            )
            transaction.on_commit(lambda: webhook_event_queue(delivery_id=delivery.pk))
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
    return current


def delivery_build_fail(*, delivery_id: int, error: str) -> None:
    """Mark a build failed with its reason and remove its temporary folder."""
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        return
    _temp_folders_remove(delivery)
    Delivery.objects.filter(pk=delivery_id).exclude(status=Delivery.Status.DONE).update(
        status=Delivery.Status.FAILED, error=error[:5000] or "failed", finished_at=timezone.now(), message="Failed"
    )


def delivery_file_path(*, delivery: Delivery, name: str) -> Path:
    """The path of one of a done delivery's files (a name in its manifest, or the manifest)."""
    if delivery.status != Delivery.Status.DONE:
        raise QuorumError(f"delivery {delivery.pk} is {delivery.status}, not done", field="status")
    names = {entry["name"] for entry in delivery.files} | {MANIFEST_FILE}
    if name not in names:
        raise QuorumError(f"delivery {delivery.pk} has no file {name!r}; it has {', '.join(sorted(names))}")
    return delivery_folder(delivery) / name


# --- Webhooks ---------------------------------------------------------------------------------------


def _url_clean(url: str) -> str:
    """An http(s) URL whose host is not a non-public address written out (nor "localhost")."""
    from urllib.parse import urlsplit

    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
        raise QuorumError(f"url: {url[:80]!r} is not an http(s) URL", field="url")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise QuorumError(f"url: {url[:80]!r} has an invalid port", field="url") from None
    if not settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        host = parts.hostname
        literal = _ip_literal(host)
        if host == "localhost" or host.endswith(".localhost") or (literal is not None and not _public(literal)):
            raise QuorumError(f"url: {host} is not a public address; webhooks go to hosts on the internet", field="url")
    return parts.geturl()


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address (an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _destination_refusal(url: str) -> str:
    """Why a POST to `url` may not go out now ("" when it may): every address its host resolves
    to must be public, checked just before sending, since DNS can change after registration."""
    from urllib.parse import urlsplit

    if settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        return ""
    parts = urlsplit(url)
    try:
        _url_clean(url)
        found = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except QuorumError as exc:
        return f"refused: {exc.message}"
    except OSError as exc:
        return f"refused: {parts.hostname} does not resolve ({exc})"
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not _public(address):
            return f"refused: {parts.hostname} resolves to {address}, not a public address"
    return ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the failure it is: following it could lead anywhere, internal hosts too."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@transaction.atomic
def webhook_endpoint_create(*, actor: User, url: str, secret: str) -> WebhookEndpoint:
    """Register an endpoint for the actor's team; delivery events of the team's requests go to it."""
    if not actor.team_id:
        raise NotAllowed(f"{actor.username} belongs to no team; webhooks are registered for a team")
    if len(secret or "") < 16:
        raise QuorumError("secret: use at least 16 characters", field="secret")
    endpoint = WebhookEndpoint(team_id=actor.team_id, url=_url_clean(url), secret=secret, created_by=actor)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


@transaction.atomic
def webhook_endpoint_deactivate(*, endpoint: WebhookEndpoint, actor: User) -> WebhookEndpoint:
    """Stop sending events to an endpoint (members of its team). Its attempts stay on record."""
    if actor.team_id != endpoint.team_id and not actor.is_superuser:
        raise NotAllowed(f"{actor.username} is not in the endpoint's team")
    endpoint.is_active = False
    endpoint.save(update_fields=["is_active"])
    return endpoint


def webhook_event_queue(*, delivery_id: int) -> list[int]:
    """Queue a `delivery.done` event to every active endpoint of the delivery's requesting team."""
    from delivery.tasks import webhook_send as webhook_send_task

    delivery = Delivery.objects.select_related("request").get(pk=delivery_id)
    if delivery.request is None or not delivery.request.team_id:
        return []
    endpoints = list(
        WebhookEndpoint.objects.filter(team_id=delivery.request.team_id, is_active=True).values_list("pk", flat=True)
    )
    event_id = uuid.uuid4().hex
    for endpoint_id in endpoints:
        webhook_send_task.delay(endpoint_id, delivery_id, event_id)
    return endpoints


def webhook_payload(delivery: Delivery, event_id: str) -> bytes:
    """The event's JSON body: what was delivered and where to fetch it."""
    from django.urls import reverse

    body = {
        "id": event_id,
        "event": "delivery.done",
        "created_at": timezone.now(),
        "delivery": {
            "id": delivery.pk,
            "version": delivery.version,
            "project": delivery.project_id,
            "request": delivery.request_id,
            "url": reverse("delivery-detail", args=[delivery.pk]),
            "manifest_sha256": delivery.manifest_sha256,
            "files": delivery.files,
        },
    }
    return orjson.dumps(body)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body): the timestamp is signed too,
    so a receiver that rejects old timestamps cannot be fed a replayed event."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_send(*, endpoint_id: int, delivery_id: int, event_id: str, attempt: int) -> WebhookAttempt:
    """POST the event once and record the attempt (status code or error, time taken, and
    delivered_at on a 2xx answer). The caller (the task) retries when it did not arrive."""
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    delivery = Delivery.objects.get(pk=delivery_id)
    body = webhook_payload(delivery, event_id)
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Quorum-Webhooks/1",
            "X-Quorum-Event": "delivery.done",
            "X-Quorum-Event-Id": event_id,
            "X-Quorum-Timestamp": timestamp,
            "X-Quorum-Signature": webhook_signature(endpoint.secret, timestamp, body),
        },
    )
    status_code, error = None, ""
    started = time.perf_counter()
    refusal = _destination_refusal(endpoint.url)
    try:
        if refusal:
            error = refusal
        else:
            with _OPENER.open(request, timeout=settings.QUORUM_WEBHOOK_TIMEOUT_SECONDS) as response:
                status_code = response.status
    except urllib.error.HTTPError as exc:
        status_code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    record = WebhookAttempt.objects.create(
        endpoint=endpoint,
        delivery=delivery,
        event="delivery.done",
        event_id=event_id,
        attempt=attempt,
        status_code=status_code,
        error=error[:2000],
        duration_ms=int((time.perf_counter() - started) * 1000),
        delivered_at=timezone.now() if status_code is not None and 200 <= status_code < 300 else None,
    )
    return record


# --- Model evaluation -------------------------------------------------------------------------------


@transaction.atomic
def evaluation_create(*, delivery: Delivery, actor: User, file: UploadedFile, name: str = "") -> Evaluation:
    """Store uploaded predictions for a done delivery's evaluation split and queue their scoring
    (delivery.evaluation_compute, on commit). The file is CSV or JSON Lines, told by its name."""
    if not policies.can_view_delivery(actor, delivery):
        raise NotAllowed(f"{actor.username} may not evaluate on delivery {delivery.pk}")
    if delivery.status != Delivery.Status.DONE:
        raise QuorumError(f"delivery {delivery.pk} is {delivery.status}; evaluate on a done delivery", field="delivery")
    if not delivery.manifest.get("counts", {}).get("by_split", {}).get(EVAL):
        raise QuorumError(f"delivery {delivery.pk} has no evaluation split", field="delivery")
    suffix = Path(file.name or "").suffix.lower().lstrip(".")
    fmt = {"csv": Format.CSV, "jsonl": Format.JSONL, "ndjson": Format.JSONL}.get(suffix)
    if fmt is None:
        raise QuorumError(f"file: {file.name!r} is neither .csv nor .jsonl", field="file")
    evaluation = Evaluation(
        delivery=delivery, name=(name or Path(file.name).stem)[:200], format=fmt, created_by=actor, file=file
    )
    evaluation.full_clean()
    evaluation.save()
    from delivery.tasks import evaluation_compute as evaluation_compute_task

    transaction.on_commit(lambda: evaluation_compute_task.delay(evaluation.pk))
    return evaluation


_ITEM_COLUMN_NAMES = ("item_id", "external_id", "id")
_LABEL_COLUMN_NAMES = ("label", "predicted_label", "prediction")


def _prediction_rows(evaluation: Evaluation) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number in the file, row) of an uploaded predictions file; CSV rows count the header as row 1."""
    import csv
    import io

    with evaluation.file.open("rb") as handle:
        if evaluation.format == Format.CSV:
            reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
            for row in reader:
                yield reader.line_num, row
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, {"__error__": f"not JSON ({exc})"}
                continue
            yield number, value if isinstance(value, dict) else {"__error__": "not a JSON object"}


def _first_present(row: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    for name in names:
        if name in row:
            return name, row[name]
    return names[0], None


def evaluation_compute(*, evaluation_id: int) -> Evaluation:
    """Score an evaluation's predictions against its delivery's evaluation split.

    Rows naming an unknown item, an item outside the evaluation split, an unknown label, a second
    prediction for an item, or a score that is not a number are reported (row and column) and left
    out; the figures (delivery.metrics) cover the good rows. Idempotent: a finished evaluation is
    returned as it is.
    """
    evaluation = Evaluation.objects.select_related("delivery").get(pk=evaluation_id)
    if evaluation.status in (Evaluation.Status.DONE, Evaluation.Status.FAILED):
        return evaluation
    Evaluation.objects.filter(pk=evaluation_id).update(status=Evaluation.Status.RUNNING)
    delivery = evaluation.delivery
    keys = list(delivery.manifest.get("label_schema", {}).get("labels", []))
    if delivery.manifest.get("label_schema", {}).get("selection") == "multi":
        raise QuorumError("multi-choice deliveries cannot be evaluated yet (single-label predictions only)")
    index = pq.read_table(delivery_folder(delivery) / INDEX_FILE, columns=["item_id", "split", "label"]).to_pydict()
    truth_by_item = {
        item: label for item, split, label in zip(index["item_id"], index["split"], index["label"], strict=True)
        if split == EVAL
    }  # fmt: skip
    train_items = {item for item, split in zip(index["item_id"], index["split"], strict=True) if split != EVAL}
    code = {key: position for position, key in enumerate(keys)}
    truth, predicted, scores, seen = [], [], [], set()
    errors: list[dict[str, Any]] = []
    rows_read = bad = 0
    with_scores = True

    def fail(row: int, column: str, message: str) -> None:
        nonlocal bad
        bad += 1
        if len(errors) < EVALUATION_ERRORS_KEPT:
            errors.append({"row": row, "column": column, "message": message})

    for number, row in _prediction_rows(evaluation):
        rows_read += 1
        if "__error__" in row:
            fail(number, "", row["__error__"])
            continue
        item_column, item = _first_present(row, _ITEM_COLUMN_NAMES)
        label_column, label = _first_present(row, _LABEL_COLUMN_NAMES)
        item = "" if item is None else str(item).strip()
        label = "" if label is None else str(label).strip()
        if not item:
            fail(number, item_column, "no item id")
        elif item not in truth_by_item:
            fail(
                number,
                item_column,
                f"item {item[:80]!r} is in the train split, not the evaluation split"
                if item in train_items
                else f"unknown item {item[:80]!r}: not in delivery v{delivery.version}",
            )
        elif item in seen:
            fail(number, item_column, f"a second prediction for item {item[:80]!r}")
        elif label not in code:
            fail(number, label_column, f"unknown label {label[:80]!r}; the labels are {', '.join(keys)}")
        else:
            score = row.get("score")
            if score in (None, ""):
                with_scores = False
                value = np.nan
            else:
                try:
                    value = float(score)
                except (TypeError, ValueError):
                    fail(number, "score", f"score {str(score)[:40]!r} is not a number")
                    continue
                if not np.isfinite(value):
                    fail(number, "score", f"score {score!r} is not a finite number")
                    continue
            seen.add(item)
            truth.append(code[truth_by_item[item]])
            predicted.append(code[label])
            scores.append(value)
    figures = metrics.classification_figures(
        np.asarray(truth, dtype=np.int64),
        np.asarray(predicted, dtype=np.int64),
        keys,
        scores=np.asarray(scores) if with_scores and scores else None,
    )
    figures["eval_items"] = len(truth_by_item)
    figures["missing"] = len(truth_by_item) - len(truth)
    figures["coverage"] = len(truth) / len(truth_by_item) if truth_by_item else 0.0
    with transaction.atomic():
        evaluation.status = Evaluation.Status.DONE
        evaluation.rows_read = rows_read
        evaluation.rows_bad = bad
        evaluation.errors = errors
        evaluation.report = figures
        evaluation.finished_at = timezone.now()
        evaluation.save()
    return evaluation


def evaluation_fail(*, evaluation_id: int, error: str) -> None:
    Evaluation.objects.filter(pk=evaluation_id).exclude(status=Evaluation.Status.DONE).update(
        status=Evaluation.Status.FAILED, error=error[:5000] or "failed", finished_at=timezone.now()
    )
