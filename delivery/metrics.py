"""Classification figures of a model's predictions against a delivery's evaluation labels.

Pure numpy over integer label codes (0..K-1 in the label space's order). Conventions follow
scikit-learn's, so the figures can be checked against it: a label's precision (recall) is 0 when
nothing was predicted as (truly is) it; macro averages run over the labels that occur in the truth
or the predictions; micro averages pool every decision (for single-label data they all equal the
accuracy).

A figure with nothing to measure is None (JSON null), never 0: the precision, recall and F1 of a
label with no examples and no predictions (sklearn would say 0, which reads as a model that got
it all wrong), the averages when no label occurs at all, and a threshold's precision when it
keeps no prediction. Pages show None as "—".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _ratio(numerator: npt.NDArray, denominator: npt.NDArray) -> npt.NDArray[np.float64]:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def confusion_matrix(truth: npt.ArrayLike, predicted: npt.ArrayLike, n_labels: int) -> npt.NDArray[np.int64]:
    """`matrix[t, p]`: rows whose true label is t and predicted label is p."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    flat = np.bincount(truth * n_labels + predicted, minlength=n_labels * n_labels)
    return flat.reshape(n_labels, n_labels)


def _per_label(matrix: npt.NDArray[np.int64]) -> dict[str, npt.NDArray]:
    tp = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"tp": tp, "support": support, "predicted": predicted, "precision": precision, "recall": recall, "f1": f1}


def classification_figures(
    truth: npt.ArrayLike,
    predicted: npt.ArrayLike,
    keys: Sequence[str],
    *,
    scores: npt.ArrayLike | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Per-label precision, recall, F1 and support; the confusion matrix; macro, weighted and micro
    averages; accuracy; and, with `scores` (the model's confidence in its prediction), precision
    and recall when only predictions scoring at least each threshold are kept."""
    truth, predicted = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    size = len(keys)
    n = len(truth)
    matrix = confusion_matrix(truth, predicted, size)
    per = _per_label(matrix)
    present = (per["support"] > 0) | (per["predicted"] > 0)
    correct = int(per["tp"].sum())
    accuracy = correct / n if n else 0.0

    def average(weights: npt.NDArray | None) -> dict[str, float | None]:
        if not present.any():
            return {"precision": None, "recall": None, "f1": None}
        chosen = {name: per[name][present] for name in ("precision", "recall", "f1")}
        w = None if weights is None else weights[present]
        if w is not None and w.sum() == 0:
            return {"precision": None, "recall": None, "f1": None}
        return {name: float(np.average(values, weights=w)) for name, values in chosen.items()}

    def measured(name: str, code: int) -> float | None:
        return float(per[name][code]) if present[code] else None

    figures: dict[str, Any] = {
        "n": n,
        "accuracy": accuracy,
        "labels": [
            {
                "key": key,
                "precision": measured("precision", code),
                "recall": measured("recall", code),
                "f1": measured("f1", code),
                "support": int(per["support"][code]),
                "predicted": int(per["predicted"][code]),
            }
            for code, key in enumerate(keys)
        ],
        "macro": average(None),
        "weighted": average(per["support"].astype(np.float64)),
        "micro": {"precision": accuracy, "recall": accuracy, "f1": accuracy},
        "confusion": {"keys": list(keys), "matrix": matrix.tolist()},
    }
    if scores is not None:
        figures["thresholds"] = threshold_figures(
            truth, predicted, np.asarray(scores, dtype=np.float64), keys, thresholds
        )
    return figures


def threshold_figures(
    truth: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    keys: Sequence[str],
    thresholds: Sequence[float],
) -> list[dict[str, Any]]:
    """At each threshold t, keep the predictions with score ≥ t (the others abstain): overall
    precision (correct kept / kept; None when nothing is kept), recall (correct kept / all rows)
    and coverage; per label, precision (correct kept predictions of it / kept predictions of it)
    and recall (/ its support), both None for a label with no examples and no kept prediction."""
    n, size = len(truth), len(keys)
    support = np.bincount(truth, minlength=size)
    hit = truth == predicted
    rows = []
    for threshold in thresholds:
        kept = scores >= threshold
        predicted_kept = np.bincount(predicted[kept], minlength=size)
        tp_kept = np.bincount(predicted[kept & hit], minlength=size)
        n_kept, n_hit = int(kept.sum()), int((kept & hit).sum())
        rows.append(
            {
                "threshold": float(threshold),
                "kept": n_kept,
                "coverage": n_kept / n if n else 0.0,
                "precision": n_hit / n_kept if n_kept else None,
                "recall": n_hit / n if n else 0.0,
                "labels": {
                    key: (
                        {"precision": float(p), "recall": float(r)}
                        if seen
                        else {"precision": None, "recall": None}  # no examples, no prediction kept
                    )
                    for key, p, r, seen in zip(
                        keys,
                        _ratio(tp_kept, predicted_kept),
                        _ratio(tp_kept, support),
                        (support > 0) | (predicted_kept > 0),
                        strict=True,
                    )
                },
            }
        )
    return rows
