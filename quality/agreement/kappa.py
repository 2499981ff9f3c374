"""Fleiss' kappa, Cohen's kappa, the within-item annotation pairs and pairwise Cohen's kappa."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quality.agreement.matrices import NO_PAIRABLE, ONE_VALUE, check_codes, same_length


@dataclass(frozen=True)
class FleissResult:
    value: float | None
    overlap: int | None  # the number of ratings per item the kappa was computed for
    n_items: int
    n_excluded: int  # pairable items left out because they had a different number of ratings
    observed: float | None  # P̄
    expected: float | None  # P̄_e
    reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "overlap": self.overlap,
            "n_items": self.n_items,
            "n_excluded": self.n_excluded,
            "observed": self.observed,
            "expected": self.expected,
            "reason": self.reason,
        }


def fleiss_kappa(counts: npt.ArrayLike, *, overlap: int | None = None) -> FleissResult:
    """Fleiss' kappa (1971) for items rated by the same number of raters.

    Fleiss' kappa is defined for a fixed number of ratings per item. When the overlap varies (the
    assignment engine's dynamic overlap does that), we compute it on the items with the most common
    overlap (`overlap` picks another) and report how many pairable items were left out, in
    `n_excluded` and `reason`; Krippendorff's alpha is the statistic that uses them all.
    """
    matrix = np.asarray(counts)
    m = matrix.sum(axis=1)
    pairable = m >= 2
    if not pairable.any():
        return FleissResult(None, None, 0, 0, None, None, NO_PAIRABLE)
    if overlap is None:
        sizes, frequency = np.unique(m[pairable], return_counts=True)
        overlap = int(sizes[frequency == frequency.max()].max())
    if overlap < 2:
        raise ValueError(f"Fleiss' kappa needs at least two ratings per item, got overlap={overlap}")
    chosen = m == overlap
    excluded = int(pairable.sum() - chosen.sum())
    reason = (
        f"the number of ratings per item varies: computed on the {int(chosen.sum())} items with {overlap} ratings, "
        f"{excluded} pairable items with another number left out"
        if excluded
        else None
    )
    x = matrix[chosen].astype(np.float64)
    if len(x) == 0:
        return FleissResult(None, overlap, 0, excluded, None, None, f"no item has exactly {overlap} ratings")
    observed = float(((x * (x - 1.0)).sum(axis=1) / (overlap * (overlap - 1.0))).mean())
    proportions = x.sum(axis=0) / x.sum()
    expected = float((proportions**2).sum())
    if expected >= 1.0:
        return FleissResult(None, overlap, len(x), excluded, observed, expected, ONE_VALUE.replace("alpha", "kappa"))
    value = (observed - expected) / (1.0 - expected)
    return FleissResult(value, overlap, len(x), excluded, observed, expected, reason)


def cohen_kappa(first: npt.ArrayLike, second: npt.ArrayLike, *, n_categories: int) -> float | None:
    """Cohen's kappa of two aligned label arrays (the same items, two raters); None when p_e = 1."""
    a = check_codes(first, n_categories, what="label")
    b = check_codes(second, n_categories, what="label")
    same_length(first=a, second=b)
    if len(a) == 0:
        return None
    observed = float((a == b).mean())
    expected = float(
        (np.bincount(a, minlength=n_categories) * np.bincount(b, minlength=n_categories)).sum() / len(a) ** 2
    )
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class AnnotationPairs:
    """Every pair of annotations on the same item, the annotators ordered (first < second)."""

    items: npt.NDArray[np.int64]
    first: npt.NDArray[np.int64]  # annotator codes, first < second
    second: npt.NDArray[np.int64]
    first_label: npt.NDArray[np.int64]
    second_label: npt.NDArray[np.int64]


def annotation_pairs(items: npt.ArrayLike, annotators: npt.ArrayLike, labels: npt.ArrayLike) -> AnnotationPairs:
    """All within-item pairs of annotations, vectorised per overlap size.

    Rows are sorted by item; the items with exactly m annotations then form an (items × m) block
    and `np.triu_indices(m, 1)` gives their pairs. The Python loop runs over the distinct overlap
    sizes (a handful), never over annotations. Assumes one annotation per (item, annotator), as
    the database's unique constraint guarantees.
    """
    item_codes = np.asarray(items, dtype=np.int64)
    annotator_codes = np.asarray(annotators, dtype=np.int64)
    label_codes = np.asarray(labels, dtype=np.int64)
    same_length(items=item_codes, annotators=annotator_codes, labels=label_codes)
    order = np.argsort(item_codes, kind="stable")
    item_sorted, annotator_sorted, label_sorted = item_codes[order], annotator_codes[order], label_codes[order]
    _, sizes = np.unique(item_sorted, return_counts=True)
    per_row = np.repeat(sizes, sizes)
    parts: list[tuple[np.ndarray, ...]] = []
    for size in np.unique(sizes[sizes >= 2]):
        rows = per_row == size
        block_items = item_sorted[rows].reshape(-1, size)[:, 0]
        block_annotators = annotator_sorted[rows].reshape(-1, size)
        block_labels = label_sorted[rows].reshape(-1, size)
        i, j = np.triu_indices(int(size), 1)
        parts.append(
            (
                np.repeat(block_items, len(i)),
                block_annotators[:, i].ravel(),
                block_annotators[:, j].ravel(),
                block_labels[:, i].ravel(),
                block_labels[:, j].ravel(),
            )
        )
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return AnnotationPairs(empty, empty, empty, empty, empty)
    pair_items, a, b, label_a, label_b = (np.concatenate(column) for column in zip(*parts, strict=True))
    swap = a > b
    a[swap], b[swap] = b[swap], a[swap]
    label_a[swap], label_b[swap] = label_b[swap], label_a[swap]
    return AnnotationPairs(pair_items, a, b, label_a, label_b)


@dataclass(frozen=True)
class PairwiseKappa:
    table: pd.DataFrame  # annotator_a, annotator_b, n_shared, observed, expected, kappa
    n_pairs_below_min: int  # annotator pairs that shared fewer than min_shared items: left out
    min_shared: int


def cohen_kappa_pairs(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_annotators: int,
    n_categories: int,
    min_shared: int = 20,
) -> PairwiseKappa:
    """Cohen's kappa for every annotator pair that labelled at least `min_shared` items in common.

    From `annotation_pairs`: per pair, the number of shared items, agreements and both raters'
    label marginals on those items come from bincounts keyed by the pair; kappa is NaN where the
    expected agreement is 1 (both raters used one and the same label throughout).
    """
    item_codes = check_codes(items, None, what="item")
    annotator_codes = check_codes(annotators, n_annotators, what="annotator")
    label_codes = check_codes(labels, n_categories, what="label")
    pairs = annotation_pairs(item_codes, annotator_codes, label_codes)
    key = pairs.first * n_annotators + pairs.second
    unique_keys, pair_index = np.unique(key, return_inverse=True)
    shared = np.bincount(pair_index, minlength=len(unique_keys))
    kept = shared >= min_shared
    remap = np.full(len(unique_keys), -1, dtype=np.int64)
    remap[kept] = np.arange(kept.sum())
    index = remap[pair_index]
    row = index >= 0
    index, label_a, label_b = index[row], pairs.first_label[row], pairs.second_label[row]
    count, n = int(kept.sum()), shared[kept].astype(np.float64)
    agree = np.bincount(index, weights=(label_a == label_b), minlength=count)
    marginal_a = np.bincount(index * n_categories + label_a, minlength=count * n_categories).reshape(
        count, n_categories
    )
    marginal_b = np.bincount(index * n_categories + label_b, minlength=count * n_categories).reshape(
        count, n_categories
    )
    observed = agree / n if count else np.empty(0)
    expected = (marginal_a * marginal_b).sum(axis=1) / n**2 if count else np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(expected < 1.0, (observed - expected) / (1.0 - expected), np.nan)
    table = pd.DataFrame(
        {
            "annotator_a": unique_keys[kept] // n_annotators,
            "annotator_b": unique_keys[kept] % n_annotators,
            "n_shared": shared[kept],
            "observed": observed,
            "expected": expected,
            "kappa": kappa,
        }
    )
    return PairwiseKappa(table=table, n_pairs_below_min=int((~kept).sum()), min_shared=min_shared)
