"""Observed agreement (per item and overall), which labels are confused, and how each annotator
agrees with the others."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from quality.agreement.matrices import Floats, check_codes, same_length


def item_agreement(counts: npt.ArrayLike) -> Floats:
    """Per item, the share of annotator pairs that agree: Σ_c x(x − 1) / (m(m − 1)); NaN when m < 2."""
    matrix = np.asarray(counts, dtype=np.float64)
    m = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m >= 2, (matrix * (matrix - 1.0)).sum(axis=1) / (m * (m - 1.0)), np.nan)


def observed_agreement(counts: npt.ArrayLike) -> float | None:
    """Pairwise agreement per item averaged over the pairable items (each item weighs the same)."""
    per_item = item_agreement(counts)
    per_item = per_item[~np.isnan(per_item)]
    return float(per_item.mean()) if len(per_item) else None


def confused_pairs(o: npt.ArrayLike, *, labels: Sequence[str] | None = None, top: int = 10) -> pd.DataFrame:
    """The label pairs with the most disagreement, from the coincidence matrix.

    `coincidences` is o[c, k] (= o[k, c]); `share` is its part of all disagreement (2·o[c, k] /
    Σ_{c≠k} o); `expected` is the coincidence expected by chance from the label frequencies, and
    `ratio` = coincidences / expected (over 1: confused more often than chance would have it).
    """
    matrix = np.asarray(o, dtype=np.float64)
    size = len(matrix)
    n_c = matrix.sum(axis=0)
    n = n_c.sum()
    first, second = np.triu_indices(size, 1)
    observed = matrix[first, second]
    total = 2.0 * observed.sum()
    expected = n_c[first] * n_c[second] / (n - 1.0) if n > 1 else np.zeros_like(observed)
    names = np.asarray(labels if labels is not None else np.arange(size), dtype=object)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame(
            {
                "label_a": names[first],
                "label_b": names[second],
                "coincidences": observed,
                "share": 2.0 * observed / total if total else np.zeros_like(observed),
                "expected": expected,
                "ratio": np.where(expected > 0, observed / expected, np.nan),
            }
        )
    frame = frame[frame["coincidences"] > 0]
    return frame.sort_values("coincidences", ascending=False, kind="stable").head(top).reset_index(drop=True)


def annotator_agreement(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    counts: npt.ArrayLike,
    n_annotators: int,
    chunk_rows: int = 262_144,
) -> pd.DataFrame:
    """Each annotator against the others on the items they share (leave-one-out, single-label).

    Per annotator, over their annotations on items with two or more annotations:
    - `agreement`: the mean share of the *other* annotators of the item who gave the same label,
      (x_uc − 1) / (m_u − 1): the annotator's part of the observed pairwise agreement;
    - `expected` and `kappa`: that agreement corrected for chance, p_e = Σ_c π_a(c) q_a(c) with π_a
      the annotator's label distribution and q_a that of the others on the same items;
    - `majority_agreement`: how often their label is the others' unique plurality, over the
      `n_majority` annotations where the others have one (ties among the others are left out).
    `counts` is the full value-counts matrix of the same annotations (from `value_counts`).
    We chose this over "alpha on the items they labelled" because that alpha mixes in the other
    annotators' disagreements among themselves, which says nothing about this annotator.
    """
    matrix = np.asarray(counts)
    n_items, size = matrix.shape
    item_codes = check_codes(items, n_items, what="item")
    annotator_codes = check_codes(annotators, n_annotators, what="annotator")
    label_codes = check_codes(labels, size, what="label")
    same_length(items=item_codes, annotators=annotator_codes, labels=label_codes)
    m = matrix.sum(axis=1)
    total = np.bincount(annotator_codes, minlength=n_annotators)
    keep = m[item_codes] >= 2
    u, a, c = item_codes[keep], annotator_codes[keep], label_codes[keep]
    w = 1.0 / (m[u] - 1.0)
    n = np.bincount(a, minlength=n_annotators).astype(np.float64)
    share = (matrix[u, c] - 1.0) * w
    agreement_sum = np.bincount(a, weights=share, minlength=n_annotators)
    own = np.bincount(a * size + c, minlength=n_annotators * size).reshape(n_annotators, size)
    others = np.empty((n_annotators, size))
    for column in range(size):  # a loop over labels, not annotations
        others[:, column] = np.bincount(a, weights=w * matrix[u, column], minlength=n_annotators)
    others -= np.bincount(a * size + c, weights=w, minlength=n_annotators * size).reshape(n_annotators, size)
    majority_n = np.zeros(n_annotators)
    majority_hits = np.zeros(n_annotators)
    for start in range(0, len(u), chunk_rows):  # bounded memory: chunk_rows × V at a time
        stop = start + chunk_rows
        rest = matrix[u[start:stop]].astype(np.int64)
        rest[np.arange(len(rest)), c[start:stop]] -= 1
        top = rest.max(axis=1)
        unique_top = (rest == top[:, None]).sum(axis=1) == 1
        hit = unique_top & (rest[np.arange(len(rest)), c[start:stop]] == top)
        majority_n += np.bincount(a[start:stop], weights=unique_top, minlength=n_annotators)
        majority_hits += np.bincount(a[start:stop], weights=hit, minlength=n_annotators)
    with np.errstate(divide="ignore", invalid="ignore"):
        agreement = agreement_sum / n
        expected = (own * others).sum(axis=1) / n**2
        kappa = np.where(expected < 1.0, (agreement - expected) / (1.0 - expected), np.nan)
        majority = majority_hits / majority_n
    return pd.DataFrame(
        {
            "n_annotations": total,
            "n_pairable": n.astype(np.int64),
            "agreement": agreement,
            "expected": expected,
            "kappa": kappa,
            "n_majority": majority_n.astype(np.int64),
            "majority_agreement": majority,
        },
        index=pd.RangeIndex(n_annotators, name="annotator"),
    )
