"""Reads of the quality engine: reports and their trend, job progress, the reviewers' queues, gold
and audit accuracy, the quality gate and the root-cause view.

Gold accuracy, audit accuracy, the gate and root cause compute on read (they are cheap: gold items
and reviews are a small share of the annotations); agreement, which is not cheap, is read from the
stored reports that the services compute in workers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery, TextField, Window
from django.db.models.functions import Cast, RowNumber

from annotation.models import Annotation, Guideline, Item
from projects import access
from projects.models import Project
from quality import encoding, gold, loading
from quality.figures import frame_records
from quality.models import Adjudication, AgreementReport, AuditSample, Consensus, QualityJob, Review

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    from accounts.models import User

Scope = AgreementReport.Scope
T = TypeVar("T")
# Figures pages read through the cache (gold accuracy, the annotation count) are recomputed when a
# newer annotation arrives, and after this long at the most.
PAGE_CACHE_SECONDS = 600


def _project(project_id: int) -> Project:
    # Lazy import: quality sits below projects (docs/architecture.md); it only reads the row.

    return Project.objects.get(pk=project_id)


# --- Agreement reports ------------------------------------------------------------------------------


def agreement_report_list(*, user: User) -> QuerySet[AgreementReport]:
    """Reports of the projects `user` may see, newest first."""
    return AgreementReport.objects.filter(project_id__in=access.visible_project_ids(user)).select_related("project")


def agreement_report_latest(
    *, project_id: int, scope: str = Scope.PROJECT, scope_key: str = ""
) -> AgreementReport | None:
    """The newest report of a scope over all of its annotations (window reports only for the
    window scope, where the newest window is returned)."""
    reports = AgreementReport.objects.filter(project_id=project_id, scope=scope, scope_key=str(scope_key))
    if scope != Scope.WINDOW:
        reports = reports.filter(window_start__isnull=True)
    return reports.order_by("-computed_at", "-id").first()


def agreement_report_latest_list(*, project_id: int) -> list[AgreementReport]:
    """The newest report of every scope (and window) the project has, in one query."""
    ranked = AgreementReport.objects.filter(project_id=project_id).annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("scope"), F("scope_key"), F("window_start"), F("window_end")],
            order_by=[F("computed_at").desc(), F("id").desc()],
        )
    )
    return list(ranked.filter(rank=1).order_by("scope", "scope_key", "window_start"))


def agreement_trend(
    *, project_id: int, scope: str = Scope.PROJECT, scope_key: str = "", limit: int = 200
) -> list[dict[str, Any]]:
    """A scope's alpha over time (oldest first, the last `limit` reports), for a chart."""
    rows = (
        AgreementReport.objects.filter(
            project_id=project_id, scope=scope, scope_key=str(scope_key), window_start__isnull=True
        )
        .order_by("-computed_at", "-id")
        .values("id", "computed_at", "alpha", "alpha_low", "alpha_high", "n_annotations", "n_items")[:limit]
    )
    return list(reversed(rows))


def project_annotation_state(*, project_id: int) -> dict[str, Any]:
    """How many annotations the project has and when the last was submitted (gold included)."""
    return Annotation.objects.filter(project_id=project_id).aggregate(n=Count("id"), last=Max("submitted_at"))


def _latest_submission(project_id: int) -> Any:
    """When the project's newest annotation was submitted: one look-up on (project, submitted_at)."""
    return Annotation.objects.filter(project_id=project_id).aggregate(last=Max("submitted_at"))["last"]


def _page_cached(key: str, latest: Any, compute: Callable[[], T]) -> T:
    """What pages show of a figure that costs a scan: the cached value while no annotation newer
    than it arrived, or while it is younger than QUORUM_PAGE_FIGURES_SECONDS (so a busy project
    recomputes at most that often, an idle one never); PAGE_CACHE_SECONDS at most in any case."""
    entry = cache.get(key)
    now = time.time()
    if entry is not None:
        value, computed_for, computed_at = entry
        if computed_for == latest or now - computed_at < settings.QUORUM_PAGE_FIGURES_SECONDS:
            return value
    value = compute()
    cache.set(key, (value, latest, now), PAGE_CACHE_SECONDS)
    return value


def project_annotation_state_for_page(*, project_id: int, report: AgreementReport | None) -> dict[str, Any]:
    """project_annotation_state as pages use it, without counting the annotations: one index
    look-up of the newest submission. Equal to the report's newest, the report's own count is
    taken (a deletion or a back-dated write since is not seen here: the API's and the delivery's
    gate count); newer, the count is left unknown (-1), which makes the report stale."""
    last = _latest_submission(project_id)
    same = report is not None and last == report.source_last_submitted_at
    return {"n": report.source_annotations if same else -1, "last": last}


def agreement_report_is_stale(report: AgreementReport, *, state: dict[str, Any] | None = None) -> bool:
    """Whether annotations were added since the report read them."""
    state = state if state is not None else project_annotation_state(project_id=report.project_id)
    return state["n"] != report.source_annotations or state["last"] != report.source_last_submitted_at


def agreement_stale_project_ids() -> list[int]:
    """Projects (not closed) with annotations whose project-scope report is missing or older than
    their latest annotations: what the periodic refresh recomputes. Two queries."""

    latest = AgreementReport.objects.filter(
        project=OuterRef("pk"), scope=Scope.PROJECT, window_start__isnull=True
    ).order_by("-computed_at", "-id")
    reports = {
        row["pk"]: row
        for row in Project.objects.exclude(phase=Project.Phase.CLOSED).values(
            "pk",
            n=Subquery(latest.values("source_annotations")[:1]),
            last=Subquery(latest.values("source_last_submitted_at")[:1]),
        )
    }
    states = (
        Annotation.objects.filter(project_id__in=list(reports))
        .values("project_id")
        .annotate(n=Count("id"), last=Max("submitted_at"))
        .order_by("project_id")
    )
    return [
        state["project_id"]
        for state in states
        if (reports[state["project_id"]]["n"], reports[state["project_id"]]["last"]) != (state["n"], state["last"])
    ]


# --- Jobs -------------------------------------------------------------------------------------------


def quality_job_list(*, user: User) -> QuerySet[QualityJob]:
    """Jobs of the projects `user` may see, newest first."""
    return QualityJob.objects.filter(project_id__in=access.visible_project_ids(user)).select_related(
        "project", "report"
    )


def quality_job_status(*, user: User, job_id: int) -> dict[str, Any]:
    """What a page polling a job shows. QualityJob.DoesNotExist when `user` may not see it."""
    job = quality_job_list(user=user).get(pk=job_id)
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "error": job.error,
        "report_id": job.report_id,
        "result": job.result,
        "finished": job.is_finished,
    }


# --- Queues -----------------------------------------------------------------------------------------


def audit_queue(*, reviewer: User, project_id: int | None = None) -> QuerySet[AuditSample]:
    """Pending audit samples of the projects `reviewer` reviews (active reviewer membership),
    unassigned or assigned to them, never of their own annotations; oldest first."""

    samples = AuditSample.objects.filter(
        status=AuditSample.Status.PENDING, project_id__in=access.reviewed_project_ids(reviewer)
    ).filter(Q(reviewer__isnull=True) | Q(reviewer=reviewer))
    if project_id is not None:
        samples = samples.filter(project_id=project_id)
    return (
        samples.exclude(annotation__annotator=reviewer)
        .select_related("project", "annotation", "annotation__item")
        .order_by("created_at", "id")
    )


def adjudication_queue(*, project_id: int, reviewer: User | None = None) -> QuerySet[Consensus]:
    """Items whose consensus needs a human (tied, or under the confidence bar) and that nobody
    adjudicated yet, least confident first; with `reviewer`, without the items they annotated."""
    queue = Consensus.objects.filter(project_id=project_id, needs_adjudication=True).exclude(
        Exists(Adjudication.objects.filter(item_id=OuterRef("item_id")))
    )
    if reviewer is not None:
        queue = queue.exclude(Exists(Annotation.objects.filter(item_id=OuterRef("item_id"), annotator=reviewer)))
    return queue.select_related("item").order_by("confidence", "item_id")


def adjudication_next(*, reviewer: User, skipped: Iterable[int] = ()) -> tuple[Consensus | None, int]:
    """The reviewer's next item to settle over all the projects they review or lead (least
    confident first, never one they annotated, none of `skipped`), and how many are waiting."""
    queue = (
        Consensus.objects.filter(project_id__in=access.adjudicating_project_ids(reviewer), needs_adjudication=True)
        .exclude(Exists(Adjudication.objects.filter(item_id=OuterRef("item_id"))))
        .exclude(Exists(Annotation.objects.filter(item_id=OuterRef("item_id"), annotator=reviewer)))
    )
    waiting = queue.count()
    if waiting == 0:
        return None, 0
    first = (
        queue.exclude(item_id__in=list(skipped))
        .select_related("item", "project")
        .order_by("confidence", "item_id")
        .first()
    )
    return first, waiting


def adjudication_votes(*, consensus: Consensus) -> list[dict[str, Any]]:
    """The item's annotations for the adjudicator: labels, comments and time spent, with the
    annotators numbered rather than named (a name is not evidence)."""
    rows = Annotation.objects.filter(item_id=consensus.item_id).order_by("submitted_at", "id")
    return [
        {"number": number, "labels": row.labels, "comment": row.comment, "time_spent_ms": row.time_spent_ms}
        for number, row in enumerate(rows, start=1)
    ]


def consensus_final_labels(*, project_id: int) -> QuerySet[Consensus]:
    """Consensus rows with the labels in force: the latest adjudication's where there is one
    (`final_labels`), else the consensus labels."""
    latest = Adjudication.objects.filter(item_id=OuterRef("item_id")).order_by("-created_at", "-id")
    return (
        Consensus.objects.filter(project_id=project_id)
        .annotate(adjudicated_labels=Subquery(latest.values("labels")[:1]))
        .order_by("item_id")
    )


# --- Gold ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldAccuracy:
    """Accuracy on gold items, overall, per annotator and per label, with Wilson 95% intervals.

    An annotator is `flagged` when they answered at least `min_items` gold items and their
    accuracy is under the project's bar; `confidently_below` when even the interval's top is.
    """

    bar: float | None
    min_items: int
    overall: dict[str, Any]
    annotators: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    # True when reinstated annotators' rows count only the gold they answered since (pages).
    since_reinstatement: bool = False

    @property
    def flagged_ids(self) -> list[int]:
        return [row["annotator_id"] for row in self.annotators if row["flagged"]]


def accuracy_rate(n: int, correct: int) -> dict[str, Any]:
    """Answers, correct ones, accuracy and its Wilson 95% interval (None without answers)."""
    low, high = gold.wilson_interval([correct], [n])
    return {
        "n": int(n),
        "correct": int(correct),
        "accuracy": correct / n if n else None,
        "low": float(low[0]) if n else None,
        "high": float(high[0]) if n else None,
    }


def gold_annotator_row(
    *, annotator_id: int, username: str, n: int, correct: int, bar: float | None, min_items: int
) -> dict[str, Any]:
    """One annotator's gold figures in the shape of GoldAccuracy.annotators, from their counts
    (for figures counted elsewhere, such as the dashboard's rollups)."""
    rate = accuracy_rate(n, correct)
    below = bar is not None and n > 0 and rate["accuracy"] < bar
    return {
        "annotator_id": annotator_id,
        "username": username,
        **rate,
        "below_bar": below,
        "flagged": below and n >= min_items,
        "confidently_below": below and rate["high"] < bar,
    }


def gold_accuracy(
    *,
    project_id: int,
    min_items: int | None = None,
    answered_after: Mapping[int, datetime] | None = None,
    annotators: Iterable[int] | None = None,
) -> GoldAccuracy:
    """Score every annotation on the project's gold items against the known answer.

    Single-choice: correct when the label is one of the item's gold labels. Multi-choice: per
    annotator and overall, correct when the whole set matches; per label, each label's yes/no
    (correct rejections count). Annotators are flagged only after `min_items` gold answers (the
    project's `gold_min_items` unless given): three misses out of five say little about a person.
    `answered_after` ({annotator id: time}) counts only that annotator's answers after the time:
    a reinstated annotator is judged on their work since. `annotators`: only these. Two queries.
    """
    project = _project(project_id)
    bar = project.min_gold_accuracy
    if min_items is None:
        min_items = project.gold_min_items
    gold_items = Item.objects.filter(project_id=project_id, is_gold=True)
    answers_by_item = dict(gold_items.values_list("id", "gold_labels"))  # each item's answer decoded once
    # Labels as JSON text for orjson, and submission times only when asked for: Django's per-value
    # JSON and timezone converters cost more than the query (0.3 s each for 50,000 answers).
    answers = Annotation.objects.filter(project_id=project_id, item_id__in=gold_items.values("id")).annotate(
        _labels=Cast("labels", TextField())
    )
    if annotators is not None:
        answers = answers.filter(annotator_id__in=list(annotators))
    if answered_after:
        rows = [
            (item, annotator, labels)
            for item, annotator, labels, submitted_at in answers.values_list(
                "item_id", "annotator_id", "_labels", "submitted_at"
            )
            if annotator not in answered_after or submitted_at > answered_after[annotator]
        ]
    else:
        rows = list(answers.values_list("item_id", "annotator_id", "_labels"))
    rows = [(item, annotator, orjson.loads(labels), answers_by_item.get(item)) for item, annotator, labels in rows]
    empty = GoldAccuracy(bar=bar, min_items=min_items, overall=accuracy_rate(0, 0))
    if not rows:
        return empty
    items, annotators, labels, answers = (list(column) for column in zip(*rows, strict=True))
    space = loading.label_space(project_id=project_id, schema_id=project.label_schema_id)
    if space.multi:
        item_ids, item_codes = np.unique(items, return_inverse=True)
        first = {item: index for index, item in reversed(list(enumerate(items)))}
        indicator = encoding.label_indicator(labels, space.keys)
        gold_indicator = encoding.label_indicator([answers[first[item]] or [] for item in item_ids], space.keys)
        per_label, exact = gold.gold_score_multilabel(
            item_codes.ravel(), annotators, indicator, gold_indicator, label_names=space.keys
        )
        scored, by_label = exact, per_label.rename(columns={"label": "key"})
    else:
        frame = pd.DataFrame(
            {"item": items, "annotator": annotators, "label": [(value or [None])[0] for value in labels]}
        )
        answer_frame = pd.DataFrame({"item": items, "label": answers}).drop_duplicates("item").explode("label").dropna()
        scored = gold.gold_score(frame, answer_frame)
        by_label = scored.rename(columns={"gold_label": "key"})
    per_annotator = gold.gold_accuracy(scored, by="annotator", min_accuracy=bar)
    names = dict(get_user_model().objects.filter(pk__in=set(annotators)).values_list("pk", "username"))
    annotator_rows = []
    for record in frame_records(per_annotator):
        below = bool(record.get("below_bar", False))
        annotator_rows.append(
            {
                "annotator_id": int(record["annotator"]),
                "username": names.get(int(record["annotator"]), ""),
                "n": int(record["n"]),
                "correct": int(record["correct"]),
                "accuracy": record["accuracy"],
                "low": record["low"],
                "high": record["high"],
                "below_bar": below,
                "flagged": below and int(record["n"]) >= min_items,
                "confidently_below": bool(record.get("flagged", False)),
            }
        )
    label_rows = [
        {key: record[key] for key in ("key", "n", "correct", "accuracy", "low", "high")}
        for record in frame_records(gold.gold_accuracy(by_label, by="key"))
    ]
    overall = accuracy_rate(len(scored), int(scored["correct"].sum()))
    return GoldAccuracy(bar=bar, min_items=min_items, overall=overall, annotators=annotator_rows, labels=label_rows)


def gold_accuracy_cached(*, project_id: int, answered_after: Mapping[int, datetime] | None = None) -> GoldAccuracy:
    """gold_accuracy for pages, through the page cache (see _page_cached); a change of the
    project's bar or minimum is a new entry."""
    project = _project(project_id)
    after = sorted((key, value.isoformat()) for key, value in (answered_after or {}).items())
    scope = repr((project_id, project.min_gold_accuracy, project.gold_min_items, after))
    return _page_cached(
        "quorum:gold:" + hashlib.sha256(scope.encode()).hexdigest(),
        _latest_submission(project_id),
        lambda: gold_accuracy(project_id=project_id, answered_after=answered_after),
    )


# --- Audits -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditAccuracy:
    """Reviewed audit samples: `overall` from the random stratum only (the unbiased estimate of the
    project's accuracy); `all_strata` for reference; per stratum, annotator and label (the
    annotation's labels) over every stratum; error causes of the incorrect ones."""

    overall: dict[str, Any]
    all_strata: dict[str, Any]
    strata: list[dict[str, Any]] = field(default_factory=list)
    annotators: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    error_causes: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0


def audit_accuracy(*, project_id: int) -> AuditAccuracy:
    """Audit accuracy of a project from its reviews. Three queries."""
    rows = list(
        Review.objects.filter(sample__project_id=project_id).values_list(
            "verdict", "error_cause", "sample__stratum", "annotation__annotator_id", "annotation__labels"
        )
    )
    pending = AuditSample.objects.filter(project_id=project_id, status=AuditSample.Status.PENDING).count()
    if not rows:
        return AuditAccuracy(overall=accuracy_rate(0, 0), all_strata=accuracy_rate(0, 0), pending=pending)
    frame = pd.DataFrame(rows, columns=["verdict", "cause", "stratum", "annotator", "labels"])
    frame["correct"] = frame["verdict"] == Review.Verdict.CORRECT
    random = frame[frame["stratum"] == AuditSample.Stratum.RANDOM]
    names = dict(get_user_model().objects.filter(pk__in=set(frame["annotator"])).values_list("pk", "username"))

    def grouped(data: pd.DataFrame, by: str) -> list[dict[str, Any]]:
        out = []
        for key, group in data.groupby(by, sort=True):
            out.append(
                {
                    by: key.item() if hasattr(key, "item") else key,
                    **accuracy_rate(len(group), int(group["correct"].sum())),
                }
            )
        return out

    annotators = grouped(frame, "annotator")
    for row in annotators:
        row["annotator_id"] = row.pop("annotator")
        row["username"] = names.get(row["annotator_id"], "")
    labels = grouped(frame.explode("labels").rename(columns={"labels": "key"}).dropna(subset=["key"]), "key")
    wrong = frame[~frame["correct"]]
    causes = [
        {"cause": cause, "n": int(n), "share": n / len(wrong)}
        for cause, n in wrong["cause"].value_counts().sort_index().items()
    ]
    causes.sort(key=lambda row: -row["n"])
    return AuditAccuracy(
        overall=accuracy_rate(len(random), int(random["correct"].sum())),
        all_strata=accuracy_rate(len(frame), int(frame["correct"].sum())),
        strata=grouped(frame, "stratum"),
        annotators=annotators,
        labels=labels,
        error_causes=causes,
        pending=pending,
    )


# --- The quality gate -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateCheck:
    name: str  # alpha, gold_accuracy, audit_accuracy
    threshold: float | None  # None: the project sets no bar, so the check passes
    value: float | None
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]  # why it fails; empty when it passes
    checks: list[GateCheck]


NO_REPORT = "no agreement report yet"
NO_GOLD = "no gold answers yet"
NO_AUDIT = "no reviewed audit samples in the random stratum yet"


def quality_gate(
    *,
    project_id: int,
    gold: GoldAccuracy | None = None,
    audit: AuditAccuracy | None = None,
    report: AgreementReport | None = None,
    annotation_state: dict[str, Any] | None = None,
) -> GateResult:
    """Do the project's quality bars hold? Each bar the project sets is checked:

    - alpha (the latest project-scope report's nominal alpha, point estimate) ≥ min_alpha; no
      report, an undefined alpha, or a report older than the latest annotations fail;
    - pooled gold accuracy ≥ min_gold_accuracy; no gold answers fail;
    - audit accuracy of the random stratum ≥ min_audit_accuracy; no reviewed random samples fail.
    A bar left empty passes (nothing to hold). Overrides are the delivery's business, not this.
    `gold`, `audit`, `report` (the latest project report) and `annotation_state`
    (project_annotation_state): what the caller already has (a page showing them too), else read.
    """
    project = _project(project_id)
    checks: list[GateCheck] = []
    if project.min_alpha is None:
        checks.append(GateCheck("alpha", None, None, True))
    else:
        report = report or agreement_report_latest(project_id=project_id)
        value = report.alpha if report else None
        if report is None:
            reason = NO_REPORT
        elif value is None:
            reason = f"alpha is undefined: {(report.details.get('alpha') or {}).get('reason') or 'no pairable items'}"
        elif agreement_report_is_stale(report, state=annotation_state):
            reason = (
                f"the agreement report of {report.computed_at:%Y-%m-%d %H:%M} is older than the latest annotations; "
                "recompute it"
            )
        elif value < project.min_alpha:
            reason = f"alpha {value:.3f} is under the bar {project.min_alpha:.3f}"
        else:
            reason = ""
        checks.append(GateCheck("alpha", project.min_alpha, value, not reason, reason))
    if project.min_gold_accuracy is None:
        checks.append(GateCheck("gold_accuracy", None, None, True))
    else:
        overall = (gold or gold_accuracy(project_id=project_id)).overall
        value = overall["accuracy"]
        if value is None:
            reason = NO_GOLD
        elif value < project.min_gold_accuracy:
            reason = (
                f"gold accuracy {value:.3f} is under the bar {project.min_gold_accuracy:.3f} ({overall['n']} answers)"
            )
        else:
            reason = ""
        checks.append(GateCheck("gold_accuracy", project.min_gold_accuracy, value, not reason, reason))
    if project.min_audit_accuracy is None:
        checks.append(GateCheck("audit_accuracy", None, None, True))
    else:
        overall = (audit or audit_accuracy(project_id=project_id)).overall
        value = overall["accuracy"]
        if value is None:
            reason = NO_AUDIT
        elif value < project.min_audit_accuracy:
            reason = (
                f"audit accuracy {value:.3f} is under the bar {project.min_audit_accuracy:.3f} "
                f"({overall['n']} reviewed random samples)"
            )
        else:
            reason = ""
        checks.append(GateCheck("audit_accuracy", project.min_audit_accuracy, value, not reason, reason))
    reasons = [check.reason for check in checks if not check.passed]
    return GateResult(passed=not reasons, reasons=reasons, checks=checks)


# --- Root cause -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RootCause:
    """Where the disagreement comes from, for the lead: which labels, which label pairs, which
    annotators, which error causes, and whether guideline versions helped."""

    report: AgreementReport | None
    labels: list[dict[str, Any]]  # per-label alpha, worst first
    confused_pairs: list[dict[str, Any]]
    annotators: list[dict[str, Any]]  # agreement, gold and audit accuracy; weakest first
    error_causes: list[dict[str, Any]]
    guideline_versions: list[dict[str, Any]]  # alpha under each version and the change from the one before


def root_cause(*, project_id: int) -> RootCause:
    """Gather the root-cause view from the latest project report, gold accuracy and reviews."""
    report = agreement_report_latest(project_id=project_id)
    details = report.details if report else {}
    per_label = details.get("per_label_alpha", {})
    labels = sorted(
        ({"key": key, "alpha": value} for key, value in per_label.items()),
        key=lambda row: (row["alpha"] is None, row["alpha"] if row["alpha"] is not None else 0.0),
    )
    gold_figures = gold_accuracy(project_id=project_id)
    audit = audit_accuracy(project_id=project_id)
    people: dict[int, dict[str, Any]] = {}

    def person(annotator_id: int) -> dict[str, Any]:
        return people.setdefault(
            annotator_id,
            {
                "annotator_id": annotator_id,
                "username": "",
                "agreement": None,
                "kappa": None,
                "n_annotations": 0,
                "gold_accuracy": None,
                "gold_n": 0,
                "gold_flagged": False,
                "audit_accuracy": None,
                "audit_n": 0,
            },
        )

    for row in details.get("annotators", []):
        entry = person(row["annotator_id"])
        entry.update(agreement=row.get("agreement"), kappa=row.get("kappa"), n_annotations=row.get("n_annotations", 0))
    for row in gold_figures.annotators:
        entry = person(row["annotator_id"])
        entry.update(gold_accuracy=row["accuracy"], gold_n=row["n"], gold_flagged=row["flagged"])
    for row in audit.annotators:
        entry = person(row["annotator_id"])
        entry.update(audit_accuracy=row["accuracy"], audit_n=row["n"])
    names = dict(get_user_model().objects.filter(pk__in=list(people)).values_list("pk", "username"))
    for annotator_id, entry in people.items():
        entry["username"] = names.get(annotator_id, "")

    def weakness(entry: dict[str, Any]) -> tuple:
        figures = [entry[name] for name in ("gold_accuracy", "audit_accuracy", "agreement") if entry[name] is not None]
        return (not entry["gold_flagged"], min(figures) if figures else 1.0, entry["annotator_id"])

    by_version = details.get("by_guideline_version", {})
    versions = []
    previous: float | None = None
    for guideline in Guideline.objects.filter(project_id=project_id).order_by("version"):
        figures = by_version.get(str(guideline.version)) or {}
        alpha = figures.get("alpha")
        versions.append(
            {
                "version": guideline.version,
                "published_at": guideline.created_at,
                "note": guideline.note,
                "alpha": alpha,
                "n_annotations": figures.get("n_annotations", 0),
                "alpha_before": previous,
                "change": alpha - previous if alpha is not None and previous is not None else None,
            }
        )
        if alpha is not None:
            previous = alpha
    return RootCause(
        report=report,
        labels=labels,
        confused_pairs=details.get("confused_pairs", []),
        annotators=sorted(people.values(), key=weakness),
        error_causes=audit.error_causes,
        guideline_versions=versions,
    )
