"""Gold accuracy and the Wilson score interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quality.gold import gold_accuracy, gold_score, gold_score_multilabel, wilson_interval


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_interval_matches_published_and_direct_values():
    low, high = wilson_interval([8], [10])
    assert (low[0], high[0]) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    rng = np.random.default_rng(0)
    n = rng.integers(1, 500, size=200)
    k = rng.integers(0, n + 1)
    low, high = wilson_interval(k, n)
    for i in range(200):
        expected = _wilson(int(k[i]), int(n[i]))
        assert (low[i], high[i]) == (pytest.approx(expected[0], abs=1e-12), pytest.approx(expected[1], abs=1e-12))


def test_wilson_interval_edges():
    low, high = wilson_interval([0, 5, 0], [5, 5, 0])
    assert low[0] == 0.0 and 0 < high[0] < 0.5
    assert high[1] == pytest.approx(1.0) and 0.5 < low[1] < 1
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_gold_score_accepts_any_of_the_gold_labels():
    annotations = pd.DataFrame(
        {"item": [1, 1, 2, 2, 3], "annotator": [10, 11, 10, 11, 10], "label": ["spam", "ok", "scam", "spam", "ok"]}
    )
    gold = pd.DataFrame({"item": [1, 2, 2], "label": ["spam", "scam", "spam"]})  # item 3 is not gold
    scored = gold_score(annotations, gold)
    assert scored[["item", "annotator", "gold_label", "correct"]].values.tolist() == [
        [1, 10, "spam", True],
        [1, 11, "spam", False],
        [2, 10, "scam", True],
        [2, 11, "scam", True],
    ]


def test_gold_accuracy_per_annotator_and_label_with_flags():
    scored = pd.DataFrame(
        {
            "annotator": [1] * 40 + [2] * 5,
            "gold_label": (["a", "b"] * 20) + ["a"] * 5,
            "correct": [True] * 36 + [False] * 4 + [True, True, True, False, False],
        }
    )
    table = gold_accuracy(scored, min_accuracy=0.8)
    assert table.loc[1, ["n", "correct"]].tolist() == [40, 36]
    assert table.loc[1, "accuracy"] == pytest.approx(0.9)
    assert (table.loc[1, "low"], table.loc[1, "high"]) == pytest.approx(_wilson(36, 40))
    # Three of five is under the bar, but five judgements are too few to be sure: watched, not flagged.
    assert bool(table.loc[2, "below_bar"]) and not bool(table.loc[2, "flagged"])
    assert not bool(table.loc[1, "flagged"])
    both = gold_accuracy(scored, by=["annotator", "gold_label"])
    assert both.loc[(1, "b"), "n"] == 20
    assert "flagged" not in both.columns

    many = pd.DataFrame({"annotator": [3] * 100, "correct": [True] * 50 + [False] * 50})
    assert bool(gold_accuracy(many, min_accuracy=0.8).loc[3, "flagged"])


def test_gold_accuracy_names_missing_columns():
    with pytest.raises(ValueError, match="lacks the column"):
        gold_accuracy(pd.DataFrame({"annotator": [1]}))


def test_gold_score_multilabel_per_label_and_exact():
    gold = np.array([[True, False, True], [False, False, False]])  # item 1: no label applies
    chosen = np.array([[True, False, True], [True, False, False], [False, False, False]])
    per_label, exact = gold_score_multilabel([0, 0, 1], [7, 8, 7], chosen, gold, label_names=["hate", "spam", "nsfw"])
    assert exact["correct"].tolist() == [True, False, True]
    assert len(per_label) == 9
    table = gold_accuracy(per_label, by=["annotator", "label"])
    assert table.loc[(8, "nsfw"), "correct"] == 0  # missed nsfw
    assert table.loc[(7, "hate"), "accuracy"] == 1.0
