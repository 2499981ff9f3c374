"""Gold accuracy (against the known answers of gold items) and audit accuracy (from reviewers'
verdicts on audit samples), with Wilson 95% intervals; gold accuracy for pages through a cache."""

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
from django.db.models import TextField
from django.db.models.functions import Cast

from annotation.models import Annotation, Item
from projects.models import Project
from quality import encoding, gold, loading
from quality.figures import frame_records
from quality.models import AuditSample, Review
from quality.selectors.reports import latest_submission

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime


T = TypeVar("T")
# Figures pages read through the cache (gold accuracy, the annotation count) are recomputed when a
# newer annotation arrives, and after this long at the most.
PAGE_CACHE_SECONDS = 600


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
    project = Project.objects.get(pk=project_id)
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
    project = Project.objects.get(pk=project_id)
    after = sorted((key, value.isoformat()) for key, value in (answered_after or {}).items())
    scope = repr((project_id, project.min_gold_accuracy, project.gold_min_items, after))
    return _page_cached(
        "quorum:gold:" + hashlib.sha256(scope.encode()).hexdigest(),
        latest_submission(project_id),
        lambda: gold_accuracy(project_id=project_id, answered_after=answered_after),
    )


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
