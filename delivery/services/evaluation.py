"""Model evaluations: uploaded predictions for a done delivery's evaluation split, and the report
that scores them (delivery.metrics) with every bad row named by row and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow.parquet as pq
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from core import jobs as core_jobs
from core.errors import NotAllowed, QuorumError
from core.parsers import upload_size_check
from delivery import metrics, policies
from delivery.models import Delivery, Evaluation, Format
from delivery.services.storage import EVAL, INDEX_FILE, delivery_folder

if TYPE_CHECKING:
    from accounts.models import User

EVALUATION_ERRORS_KEPT = 200
HEARTBEAT_ROWS = 20_000  # a running evaluation's heartbeat, every this many rows (core.jobs)


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
    upload_size_check(file.size)
    suffix = Path(file.name or "").suffix.lower().lstrip(".")
    fmt = {"csv": Format.CSV, "jsonl": Format.JSONL, "ndjson": Format.JSONL}.get(suffix)
    if fmt is None:
        raise QuorumError(f"file: {file.name!r} is neither .csv nor .jsonl", field="file")
    evaluation = Evaluation(
        delivery=delivery, name=(name or Path(file.name).stem)[:200], format=fmt, created_by=actor, file=file
    )
    evaluation.full_clean()
    evaluation.save()
    _evaluation_queue_on_commit(evaluation)
    return evaluation


def _evaluation_fail(evaluation_id: int, error: str) -> None:
    evaluation_fail(evaluation_id=evaluation_id, error=error)


def _evaluation_queue_on_commit(evaluation: Evaluation) -> None:
    """Queue the scoring on commit; broker unreachable: the evaluation fails "queue unavailable" and
    QueueUnavailable (503) is raised after the commit (core.jobs)."""
    from delivery.tasks import evaluation_compute as evaluation_compute_task

    core_jobs.job_enqueue_on_commit(evaluation_compute_task, evaluation.pk, model=Evaluation, fail=_evaluation_fail)


@transaction.atomic
def evaluation_retry(*, evaluation: Evaluation, actor: User) -> Evaluation:
    """Score a failed evaluation's predictions again (who uploaded them, or a lead of the project).
    Refused (QuorumError on `status`) unless it failed. Queued on commit."""
    if not policies.can_retry_evaluation(actor, evaluation):
        raise NotAllowed(f"{actor.username} may not retry evaluation {evaluation.pk} (who uploaded it, or a lead, may)")
    current = Evaluation.objects.select_for_update().get(pk=evaluation.pk)
    if current.status != Evaluation.Status.FAILED:
        raise QuorumError(
            f"evaluation {current.pk} is {current.status}: only a failed evaluation can be retried",
            field="status",
            code="not_failed",
        )
    current.status = Evaluation.Status.QUEUED
    current.error = ""
    current.rows_read = current.rows_bad = 0
    current.errors = []
    current.report = {}
    current.attempts = 0
    current.finished_at = current.heartbeat_at = current.queued_at = None
    current.full_clean()
    current.save()
    _evaluation_queue_on_commit(current)
    return current


def evaluation_job_sweep() -> dict[str, list[int]]:
    """Fail the evaluations whose worker died, never queued, or lost in the queue, with the reason
    (beat runs this through delivery.job_sweep)."""
    return core_jobs.job_sweep(
        Evaluation, waiting=Evaluation.Status.QUEUED, running=Evaluation.Status.RUNNING, fail=_evaluation_fail
    )


_ITEM_COLUMN_NAMES = ("item_id", "external_id", "id")
_LABEL_COLUMN_NAMES = ("label", "predicted_label", "prediction")


def _prediction_rows(evaluation: Evaluation) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number in the file, row) of an uploaded predictions file; CSV rows count the header as row 1."""
    import csv
    import io

    with evaluation.file.open("rb") as handle:
        if evaluation.format == Format.CSV:
            # A row the csv module refuses (a field over its size limit) is a bad row, not the end
            # of the file. (A file that is not UTF-8 still fails the evaluation, as before.)
            reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""))
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    # Raised before line_num counts the line being read: that line is the next.
                    yield reader.line_num + 1, {"__error__": f"not a readable CSV row ({exc})"}
                    continue
                yield reader.line_num, row
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
    claimed = core_jobs.job_claim(
        Evaluation,
        evaluation_id,
        startable=[Evaluation.Status.QUEUED, Evaluation.Status.RUNNING],
        running=Evaluation.Status.RUNNING,
        updates={},
        fail=_evaluation_fail,
    )
    evaluation = Evaluation.objects.select_related("delivery").get(pk=evaluation_id)
    if not claimed:  # finished already, or out of attempts (now failed with the reason)
        return evaluation
    core_jobs.job_checkpoint("evaluation", evaluation_id)
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
        if rows_read % HEARTBEAT_ROWS == 0:
            Evaluation.objects.filter(pk=evaluation_id).update(heartbeat_at=timezone.now())
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
    """Mark an unfinished evaluation failed with the reason. A finished one keeps its outcome."""
    Evaluation.objects.filter(
        pk=evaluation_id, status__in=[Evaluation.Status.QUEUED, Evaluation.Status.RUNNING]
    ).update(status=Evaluation.Status.FAILED, error=error[:5000] or "failed", finished_at=timezone.now())
