"""Asking for a delivery and building it: the quality gate at request time, the build's two
passes into the writers (delivery.services.plan), the manifest, and the commit that gives the
delivery its version.

A build never leaves half a delivery: files are written into a temporary folder beside the final
one, and the folder is renamed into place in the transaction that marks the delivery done and
gives it its version. A build that dies leaves a temporary folder; the run that commits (Celery
re-delivers the message of a killed worker: acks_late, reject_on_worker_lost) removes it, and so
does failing the build (after its attempts, or by the job sweep when its heartbeat stopped).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import Annotation
from core import jobs as core_jobs
from core.csvsafe import FORMULA_PREFIXES, NEUTRALISED_BY
from core.csvsafe import MANIFEST_NOTE as CSV_MANIFEST_NOTE
from core.errors import NotAllowed, QuorumError
from delivery.models import MANIFEST_SCHEMA_VERSION, Delivery, Format
from delivery.services.plan import (
    INDEX_SCHEMA,
    adjudicated_labels,
    annotation_batches,
    batch_select,
    consensus_fresh,
    earlier_deliveries,
    earlier_hashes,
    item_batches,
    split_plan,
)
from delivery.services.storage import (
    EVAL,
    INDEX_FILE,
    MANIFEST_FILE,
    SPLITS,
    TRAIN,
    delivery_root,
    temp_folder,
    temp_folders_remove,
)
from delivery.services.webhooks import webhook_event_queue
from delivery.writers import ANNOTATION_COLUMNS, ITEM_COLUMNS, WRITERS, Writer, file_digest
from projects import access
from projects.models import Project
from projects.services import activity_record
from quality import loading as quality_loading
from quality.models import Consensus
from quality.selectors.accuracy import audit_accuracy, gold_accuracy
from quality.selectors.gate import quality_gate
from quality.selectors.reports import agreement_report_latest
from quality.services.consensus import consensus_compute
from workbench.services.datarequests import datarequest_delivered

if TYPE_CHECKING:
    from accounts.models import User


class GateFailed(QuorumError):
    code = "gate_failed"


# --- Asking for a delivery ------------------------------------------------------------------------


def _gate_snapshot(project_id: int) -> tuple[bool, dict[str, Any]]:
    gate = quality_gate(project_id=project_id)
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
    if not access.can_manage_project(actor, project):
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
    _build_queue_on_commit(delivery)
    return delivery


def _build_fail(delivery_id: int, error: str) -> None:
    delivery_build_fail(delivery_id=delivery_id, error=error)


def _build_queue_on_commit(delivery: Delivery) -> None:
    """Queue the build on commit; broker unreachable: the delivery fails "queue unavailable" and
    QueueUnavailable (503) is raised after the commit (core.jobs)."""
    from delivery.tasks import delivery_build as delivery_build_task

    core_jobs.job_enqueue_on_commit(delivery_build_task, delivery.pk, model=Delivery, fail=_build_fail)


@transaction.atomic
def delivery_retry(*, delivery: Delivery, actor: User) -> Delivery:
    """Build a failed delivery again (leads of the project), with the options and the gate result it
    was asked with. Refused (QuorumError on `status`) unless it failed. Queued on commit."""
    if not access.can_manage_project(actor, delivery.project):
        raise NotAllowed(
            f"{actor.username} may not retry deliveries of project {delivery.project.name!r} (its leads may)"
        )
    current = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if current.status != Delivery.Status.FAILED:
        raise QuorumError(
            f"delivery {current.pk} is {current.status}: only a failed build can be retried",
            field="status",
            code="not_failed",
        )
    temp_folders_remove(current)
    current.status = Delivery.Status.QUEUED
    current.error = ""
    current.message = f"Queued again by {actor.username}"
    current.progress_done = current.progress_total = 0
    current.attempts = 0
    current.started_at = current.finished_at = current.heartbeat_at = current.queued_at = None
    current.full_clean()
    current.save()
    activity_record(
        actor=actor,
        verb="delivery.retried",
        summary=f"{actor.username} retried the failed delivery build {current.pk} of “{current.project.name}”",
        project=current.project,
        data={"delivery_id": current.pk},
    )
    _build_queue_on_commit(current)
    return current


def delivery_job_sweep() -> dict[str, list[int]]:
    """Fail the builds whose worker died (no heartbeat for QUORUM_JOB_HEARTBEAT_TIMEOUT_SECONDS),
    never queued, or lost in the queue, with the reason, and remove their temporary folders
    (beat runs this through delivery.job_sweep)."""
    return core_jobs.job_sweep(
        Delivery, waiting=Delivery.Status.QUEUED, running=Delivery.Status.RUNNING, fail=_build_fail
    )


# --- Building ---------------------------------------------------------------------------------------


def _progress(delivery_id: int, done: int, total: int, message: str) -> None:
    """Committed at once (no transaction is open during a build), so pollers see it move."""
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.RUNNING).update(
        progress_done=min(done, total), progress_total=total, message=message[:300], heartbeat_at=timezone.now()
    )
    core_jobs.job_checkpoint("delivery", delivery_id)


def delivery_start(*, delivery_id: int) -> Delivery:
    """Mark a queued (or re-delivered running) build running: one more attempt, a fresh heartbeat.
    Committed at once, for pollers. A build started QUORUM_JOB_MAX_ATTEMPTS times already is failed
    with the reason instead (core.jobs.job_claim), and returned failed."""
    core_jobs.job_claim(
        Delivery,
        delivery_id,
        startable=[Delivery.Status.QUEUED, Delivery.Status.RUNNING],
        running=Delivery.Status.RUNNING,
        updates={"started_at": timezone.now(), "progress_done": 0, "message": "Started"},
        fail=_build_fail,
    )
    return Delivery.objects.select_related("project", "request", "project__label_schema").get(pk=delivery_id)


def delivery_build(*, delivery_id: int) -> Delivery:
    """Build a queued delivery's files and commit it as the project's next version.

    Idempotent: a done or failed delivery is returned as it is; a build interrupted before (a
    killed worker) starts again in a temporary folder of its own, and so does a second build of
    the same delivery running at once: the first to commit wins, under the delivery's row lock,
    and removes the other attempts' folders. Recomputes the consensus labels
    (quality.services.consensus.consensus_compute) when they are missing or older than the annotations.
    On success, the team's webhooks are queued on commit (delivery.webhook_send).
    """
    delivery = delivery_start(delivery_id=delivery_id)
    if delivery.status in (Delivery.Status.DONE, Delivery.Status.FAILED):
        return delivery
    started = time.perf_counter()
    temp = temp_folder(delivery, uuid.uuid4().hex[:12])
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
    fresh, consensus = consensus_fresh(project.pk)
    recomputed = False
    if not fresh:
        _progress(delivery.pk, 0, 1, "Aggregating the labels (consensus)")
        # The method the lead used last, if any (Dawid–Skene, quality's default, otherwise).
        consensus_compute(project_id=project.pk, method=consensus["method"] or Consensus.Method.DAWID_SKENE)
        recomputed = True
        _, consensus = consensus_fresh(project.pk)
    adjudicated = adjudicated_labels(project.pk)
    earlier = earlier_deliveries(delivery)
    plan = split_plan(delivery, adjudicated, earlier_hashes=earlier_hashes(earlier))
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
    index = pq.ParquetWriter(temp / INDEX_FILE, INDEX_SCHEMA)
    distribution: dict[str, Counter] = {split: Counter() for split in SPLITS}
    done = 0
    for batch in item_batches(delivery, plan, adjudicated):
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
                schema=INDEX_SCHEMA,
            )
        )
        out = {name: values for name, values in batch.items() if name != "_pk"}
        by_split = {split: batch_select(out, [value == split for value in out["split"]]) for split in SPLITS}
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
        for batch in annotation_batches(delivery, plan):
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
    report = agreement_report_latest(project_id=project_id)
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
        "gold_accuracy": gold_accuracy(project_id=project_id).overall,
        "audit_accuracy": audit_accuracy(project_id=project_id).overall,
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
    space = quality_loading.label_space(project_id=project.pk, schema_id=project.label_schema_id)
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
            # What the CSV files do to cells a spreadsheet would run (core.csvsafe).
            "csv_cells": {
                "formula_neutralisation": True,
                "prefixed_with": NEUTRALISED_BY,
                "when_starting_with": sorted(FORMULA_PREFIXES),
                "note": CSV_MANIFEST_NOTE,
            },
            "files": files,
        }
        manifest_bytes = orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        (temp / MANIFEST_FILE).write_bytes(manifest_bytes)
        final = delivery_root() / str(project.pk) / str(version)
        shutil.rmtree(final, ignore_errors=True)  # a build killed between this move and its commit
        temp.rename(final)
        temp_folders_remove(delivery)  # what killed or concurrent attempts left
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
            if request is not None:
                datarequest_delivered(request_id=request.pk, delivered_at=now)
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
    """Mark an unfinished build failed with its reason and remove its temporary folders. A
    finished delivery keeps its outcome."""
    delivery = Delivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.status in (Delivery.Status.DONE, Delivery.Status.FAILED):
        return
    temp_folders_remove(delivery)
    Delivery.objects.filter(pk=delivery_id, status__in=[Delivery.Status.QUEUED, Delivery.Status.RUNNING]).update(
        status=Delivery.Status.FAILED, error=error[:5000] or "failed", finished_at=timezone.now(), message="Failed"
    )
