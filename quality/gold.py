"""Gold accuracy: how often annotators give the known answer, with a Wilson score interval.

Scoring turns annotations on gold items into one row per judgement with a boolean `correct`;
`gold_accuracy` groups those rows (per annotator, per label, or both) with pandas and attaches the
interval. Pure functions on DataFrames of codes or keys; no Django models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

Z_95 = 1.959963984540054  # the two-sided 95% normal quantile


def wilson_interval(
    successes: npt.ArrayLike, n: npt.ArrayLike, *, z: float = Z_95
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Wilson score interval for a binomial proportion, elementwise; NaN where n = 0.

    centre = (p + z²/2n) / (1 + z²/n), half-width = z / (1 + z²/n) · √(p(1 − p)/n + z²/4n²).
    Unlike the normal (Wald) interval it stays inside [0, 1] and is sensible at 0/n and n/n.
    """
    k = np.asarray(successes, dtype=np.float64)
    total = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / total
        z2 = z * z
        denominator = 1.0 + z2 / total
        centre = (p + z2 / (2.0 * total)) / denominator
        half = z / denominator * np.sqrt(p * (1.0 - p) / total + z2 / (4.0 * total * total))
        low = np.where(total > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(total > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def gold_score(annotations: pd.DataFrame, gold: pd.DataFrame) -> pd.DataFrame:
    """Score single-choice annotations on gold items.

    `annotations`: columns item, annotator, label (one row per annotation; rows on items without
    gold are dropped). `gold`: columns item, label, one row per accepted answer (an item's
    `gold_labels` exploded). An annotation is correct when its label is one of the item's accepted
    answers. `gold_label` is the item's first accepted answer (the per-label grouping key).
    """
    _require(annotations, ["item", "annotator", "label"], "annotations")
    _require(gold, ["item", "label"], "gold")
    accepted = gold[["item", "label"]].drop_duplicates()
    primary = accepted.groupby("item", sort=False)["label"].first().rename("gold_label")
    scored = annotations[["item", "annotator", "label"]].join(primary, on="item", how="inner")
    hits = accepted.assign(correct=True)
    scored = scored.merge(hits, on=["item", "label"], how="left")
    scored["correct"] = scored["correct"].fillna(False).astype(bool)
    return scored.reset_index(drop=True)


def gold_score_multilabel(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    indicator: npt.ArrayLike,
    gold_indicator: npt.ArrayLike,
    *,
    label_names: Sequence[object] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score multi-choice annotations on gold items: per label, and the whole set.

    `indicator` is the (annotations × labels) chosen-label matrix, `gold_indicator` the
    (items × labels) matrix of the known answers, indexed by the annotation's item code. Returns
    (per_label, exact): per_label has one row per annotation and label, with `gold` (the label is
    in the answer), `given`, and `correct` (given == gold, a binary per-label judgement; it counts
    correct rejections too); exact has one row per annotation, correct when the sets are equal.
    """
    item_codes = np.asarray(items, dtype=np.int64)
    chosen = np.asarray(indicator, dtype=bool)
    answer = np.asarray(gold_indicator, dtype=bool)[item_codes]
    n, size = chosen.shape
    names = np.asarray(label_names if label_names is not None else np.arange(size), dtype=object)
    annotator_codes = np.asarray(annotators)
    per_label = pd.DataFrame(
        {
            "item": np.repeat(item_codes, size),
            "annotator": np.repeat(annotator_codes, size),
            "label": np.tile(names, n),
            "gold": answer.ravel(),
            "given": chosen.ravel(),
        }
    )
    per_label["correct"] = per_label["gold"] == per_label["given"]
    exact = pd.DataFrame({"item": item_codes, "annotator": annotator_codes, "correct": (chosen == answer).all(axis=1)})
    return per_label, exact


def gold_accuracy(
    scored: pd.DataFrame,
    *,
    by: str | Sequence[str] = "annotator",
    z: float = Z_95,
    min_accuracy: float | None = None,
) -> pd.DataFrame:
    """Accuracy on gold per group with its Wilson interval: columns n, correct, accuracy, low, high.

    With `min_accuracy` (the project's bar) two more columns: `below_bar` (the point estimate is
    under it) and `flagged` (the whole interval is under it: confidently a low scorer, so a new
    annotator with three misses out of five is watched, not flagged).
    """
    keys = [by] if isinstance(by, str) else list(by)
    _require(scored, [*keys, "correct"], "scored")
    grouped = scored.groupby(keys, sort=True)["correct"]
    table = pd.DataFrame({"n": grouped.size(), "correct": grouped.sum().astype(np.int64)})
    table["accuracy"] = table["correct"] / table["n"]
    table["low"], table["high"] = wilson_interval(table["correct"].to_numpy(), table["n"].to_numpy(), z=z)
    if min_accuracy is not None:
        table["below_bar"] = table["accuracy"] < min_accuracy
        table["flagged"] = table["high"] < min_accuracy
    return table


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {', '.join(missing)}")
