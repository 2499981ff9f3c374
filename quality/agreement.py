"""Inter-annotator agreement: the numerical core, as pure vectorised functions (no Django models).

Input is a long table of annotations already encoded as integer codes (see `quality.encoding`):
`items[r]`, `annotators[r]`, `labels[r]` for annotation r, with items in 0..n_items-1, annotators in
0..n_annotators-1 and labels in 0..n_categories-1. Everything starts from the *value-counts matrix*
`counts[u, c]` = how many annotators gave label c to item u, built with one `np.bincount`.

Streaming: `value_counts` is additive over ANY split of the annotation rows (the caller fixes the
item and label numbering first), and `coincidences` is additive over splits that keep each item's
annotations together (stream `ORDER BY item_id` and cut on item boundaries), so millions of
annotations can be read from the database chunk by chunk and summed.

Krippendorff's alpha is computed from the coincidence matrix o[c, k] = Σ_u Σ_{i≠j} [v_ui=c][v_uj=k] /
(m_u − 1), which we build as one matrix product (memory O(items × categories)); the `krippendorff`
library builds an items × categories × categories array instead, so it serves as the test oracle
and as `engine="library"`, not as the default path.

Items with fewer than two annotations carry no information about agreement: they are left out of
every statistic here and counted (`n_single`, `n_unannotated`) so reports can say so. Undefined
statistics (no pairable items; every pairable annotation has the same value, so the expected
disagreement is 0 and alpha is 0/0) are returned as `None` (scalars) or NaN (arrays) with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

Counts = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

NO_PAIRABLE = "no item has two or more annotations, so there is nothing to compare"
ONE_VALUE = "every pairable annotation has the same value: the expected disagreement is 0, so alpha is 0/0 (undefined)"


# --------------------------------------------------------------------------------------------
# Building blocks: codes, value counts, pairable units, coincidences
# --------------------------------------------------------------------------------------------


def check_codes(codes: npt.ArrayLike, size: int | None, *, what: str) -> npt.NDArray[np.int64]:
    """`codes` as int64, or ValueError naming the first row whose code is outside 0..size-1
    (or negative, when `size` is None)."""
    array = np.asarray(codes)
    if array.ndim != 1:
        raise ValueError(f"{what} codes must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} codes must be integers, got {array.dtype}")
    array = array.astype(np.int64, copy=False)
    bad = (array < 0) if size is None else (array < 0) | (array >= size)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        problem = "is negative" if size is None else f"is outside 0..{size - 1}"
        raise ValueError(f"row {row}: {what} code {int(array[row])} {problem}")
    return array


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the annotation columns differ in length: {lengths}")


def value_counts(items: npt.ArrayLike, labels: npt.ArrayLike, *, n_items: int, n_categories: int) -> Counts:
    """The dense (n_items × n_categories) matrix of how many annotations gave label c to item u.

    One `np.bincount` over `item * n_categories + label`. Additive: the matrices of any split of
    the annotation rows sum to the matrix of all of them. Rows of items with 0 or 1 annotations
    are kept here (they matter for majority vote); `pairable_units` drops and counts them.
    """
    item_codes = check_codes(items, n_items, what="item")
    label_codes = check_codes(labels, n_categories, what="label")
    _same_length(items=item_codes, labels=label_codes)
    flat = np.bincount(item_codes * n_categories + label_codes, minlength=n_items * n_categories)
    return flat.reshape(n_items, n_categories)


@dataclass(frozen=True)
class Pairable:
    """The rows of a value-counts matrix with at least two annotations, and what was left out."""

    counts: Counts  # (n, V): only items with two or more annotations
    items: npt.NDArray[np.int64]  # the item code of each kept row
    n_single: int  # items with exactly one annotation: left out
    n_unannotated: int  # items with none: left out

    @property
    def n_items(self) -> int:
        return len(self.counts)

    @property
    def n_values(self) -> int:
        """Krippendorff's n: the number of pairable values (annotations on pairable items)."""
        return int(self.counts.sum())


def pairable_units(counts: npt.ArrayLike) -> Pairable:
    """Keep the items with two or more annotations; count the single-annotated and empty ones."""
    matrix = np.asarray(counts)
    if matrix.ndim != 2:
        raise ValueError(f"a value-counts matrix is items × categories, got shape {matrix.shape}")
    m = matrix.sum(axis=1)
    keep = m >= 2
    return Pairable(
        counts=matrix[keep].astype(np.int64, copy=False),
        items=np.flatnonzero(keep),
        n_single=int((m == 1).sum()),
        n_unannotated=int((m == 0).sum()),
    )


def coincidences(counts: npt.ArrayLike) -> Floats:
    """Krippendorff's coincidence matrix o[c, k] from a value-counts matrix (rows with m < 2 add 0).

    o = Xᵀ diag(w) X − diag(Σ_u w_u x_u) with w_u = 1 / (m_u − 1): one matrix product. Additive over
    item-disjoint chunks (each item's annotations all in one chunk). o is symmetric; its row sums
    n_c are the pairable values of each category and its total n the number of pairable values.
    """
    matrix = np.asarray(counts)
    m = matrix.sum(axis=1)
    keep = m >= 2
    if keep.all():
        x = matrix.astype(np.float64)
    else:
        x, m = matrix[keep].astype(np.float64), m[keep]
    weighted = x / (m - 1.0)[:, None]
    o = weighted.T @ x
    o[np.diag_indices_from(o)] -= weighted.sum(axis=0)
    return o


def collapse_categories(counts: npt.ArrayLike, values: npt.ArrayLike) -> tuple[Counts, npt.NDArray[np.float64]]:
    """Merge the columns of labels that share a value (e.g. a severity 0..4) into one column each.

    Returns the counts over the sorted distinct values and those values. Ordinal alpha needs this:
    it ranks *columns*, so two labels of the same severity must be one column, not two neighbours.
    """
    matrix = np.asarray(counts)
    value_array = np.asarray(values, dtype=np.float64)
    if value_array.shape != (matrix.shape[1],):
        raise ValueError(f"{len(value_array)} values given for {matrix.shape[1]} categories")
    distinct, inverse = np.unique(value_array, return_inverse=True)
    if len(distinct) == matrix.shape[1] and (inverse == np.arange(len(inverse))).all():
        return matrix.astype(np.int64, copy=False), distinct
    merged = np.zeros((matrix.shape[0], len(distinct)), dtype=np.int64)
    for column, target in enumerate(inverse):  # a loop over categories, not annotations
        merged[:, target] += matrix[:, column]
    return merged, distinct


# --------------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------------


def distances(level: Level, n_c: npt.ArrayLike, values: npt.ArrayLike | None = None) -> Floats:
    """The squared distance δ²(c, k) between categories, shape (..., V, V) for n_c of shape (..., V).

    nominal: [c ≠ k]; ordinal: (Σ_{g=c..k} n_g − (n_c + n_k)/2)², which depends on the pairable
    value counts n_c (batched for the bootstrap); interval: (v_c − v_k)²; ratio: ((v_c − v_k) /
    (v_c + v_k))², 0 when both are 0. `values` (ascending) default to 0..V-1.
    """
    n = np.asarray(n_c, dtype=np.float64)
    size = n.shape[-1]
    v = np.arange(size, dtype=np.float64) if values is None else np.asarray(values, dtype=np.float64)
    if level == "nominal":
        return 1.0 - np.eye(size)
    if level == "ordinal":
        index = np.arange(size)
        low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
        cumulative = np.cumsum(n, axis=-1)
        between = cumulative[..., high] - cumulative[..., low] + n[..., low]
        return (between - (n[..., :, None] + n[..., None, :]) / 2.0) ** 2
    if level == "interval":
        return np.subtract.outer(v, v) ** 2
    if level == "ratio":
        total = np.add.outer(v, v)
        difference = np.subtract.outer(v, v)
        ratio = np.divide(difference, total, out=np.zeros_like(total), where=total != 0)
        return ratio**2
    raise ValueError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")


def alpha_from_coincidences(
    o: npt.ArrayLike, *, level: Level = "nominal", values: npt.ArrayLike | None = None
) -> float:
    """alpha = 1 − (n − 1) Σ o·δ² / Σ n_c n_k δ²; NaN when undefined (n < 2 or zero expected disagreement)."""
    matrix = np.asarray(o, dtype=np.float64)
    n_c = matrix.sum(axis=0)
    n = n_c.sum()
    if n < 2:
        return float("nan")
    d = distances(level, n_c, values)
    expected = n_c @ d @ n_c
    if expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1.0) * (matrix * d).sum() / expected)


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's alpha and what it was computed on. `value` is None when undefined (see `reason`)."""

    value: float | None
    level: str
    n_items: int  # pairable items used
    n_values: int  # pairable values (annotations on pairable items)
    n_single: int  # single-annotated items left out
    n_unannotated: int
    reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "level": self.level,
            "n_items": self.n_items,
            "n_values": self.n_values,
            "n_single": self.n_single,
            "n_unannotated": self.n_unannotated,
            "reason": self.reason,
        }


def krippendorff_alpha(
    counts: npt.ArrayLike,
    *,
    level: Level = "nominal",
    values: npt.ArrayLike | None = None,
    engine: Literal["own", "library"] = "own",
) -> AlphaResult:
    """Krippendorff's alpha from a value-counts matrix (items × categories).

    `values` gives each category's value (e.g. each label's severity); categories sharing a value
    are merged first (`collapse_categories`), which is what ordinal alpha over severity needs.
    Without `values`, categories are valued 0..V-1 in column order (fine for nominal).
    `engine="library"` calls `krippendorff.alpha(value_counts=..., value_domain=...)` on the same
    matrix instead of our coincidence computation; both agree to 1e-9 (see the tests), ours needs
    O(items × V) memory instead of O(items × V²).
    """
    matrix = np.asarray(counts)
    domain = None
    if values is not None:
        matrix, domain = collapse_categories(matrix, values)
    units = pairable_units(matrix)

    def result(value: float | None, reason: str | None) -> AlphaResult:
        return AlphaResult(
            value=value,
            level=level,
            n_items=units.n_items,
            n_values=units.n_values,
            n_single=units.n_single,
            n_unannotated=units.n_unannotated,
            reason=reason,
        )

    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}; use one of {', '.join(LEVELS)}")
    if units.n_items == 0:
        return result(None, NO_PAIRABLE)
    if (units.counts.sum(axis=0) > 0).sum() < 2:
        return result(None, ONE_VALUE)
    if engine == "library":
        import krippendorff

        value = float(krippendorff.alpha(value_counts=units.counts, value_domain=domain, level_of_measurement=level))
    elif engine == "own":
        value = alpha_from_coincidences(coincidences(units.counts), level=level, values=domain)
    else:
        raise ValueError(f"unknown engine {engine!r}; use 'own' or 'library'")
    if np.isnan(value):
        return result(None, ONE_VALUE)
    return result(value, None)


@dataclass(frozen=True)
class BootstrapCI:
    """Percentile bootstrap interval of alpha over items resampled with replacement."""

    low: float | None
    high: float | None
    confidence: float
    n_resamples: int
    n_undefined: int  # resamples where alpha was undefined (e.g. only one value drawn); left out
    seed: int | None
    samples: Floats = field(repr=False, default_factory=lambda: np.empty(0))

    def as_dict(self) -> dict:
        return {
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "n_resamples": self.n_resamples,
            "n_undefined": self.n_undefined,
            "seed": self.seed,
        }


def row_patterns(counts: npt.ArrayLike) -> tuple[Counts, npt.NDArray[np.int64]]:
    """The distinct rows of a value-counts matrix (sorted) and how many items have each.

    With a small overlap the rows repeat a lot (five annotations over ten labels allow at most
    2,002 patterns, whatever the number of items). Rows are keyed as one mixed-radix integer when
    that fits in 62 bits, else compared whole with `np.unique(axis=0)`.
    """
    matrix = np.asarray(counts, dtype=np.int64)
    if len(matrix) == 0:
        return matrix.reshape(0, matrix.shape[1]), np.empty(0, dtype=np.int64)
    base = int(matrix.max()) + 1
    if matrix.shape[1] * np.log2(max(base, 2)) < 62:
        keys = matrix @ (base ** np.arange(matrix.shape[1], dtype=np.int64))
        _, first, frequency = np.unique(keys, return_index=True, return_counts=True)
        return matrix[first], frequency
    patterns, frequency = np.unique(matrix, axis=0, return_counts=True)
    return patterns, frequency


def _draw_items(rng: np.random.Generator, n: int, size: int) -> Floats:
    """`size` bootstrap resamples of n items, as how many times each item was drawn (size × n)."""
    drawn = rng.integers(0, n, size=(size, n))
    drawn += (np.arange(size, dtype=np.int64) * n)[:, None]
    return np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def alpha_bootstrap(
    counts: npt.ArrayLike,
    *,
    level: Level = "nominal",
    values: npt.ArrayLike | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    method: Literal["auto", "items", "patterns"] = "auto",
    block: int | None = None,
) -> BootstrapCI:
    """Percentile CI of alpha: resample the pairable items (value-counts rows) with replacement.

    Alpha depends on the data only through sums over items, so a resample is fully described by
    how many times each item was drawn, and its sufficient statistics are one product C @ F: F
    holds per item its value counts and its observed disagreement (nominal, interval, ratio), or
    its whole coincidence contribution (ordinal, whose distances depend on the resample's n_c).
    Two exact ways to draw C from a seeded numpy Generator:
    - "items": draw n item indices per resample and bincount them (cost ∝ resamples × items);
    - "patterns": items with identical rows are interchangeable, so the number of draws of each
      distinct row is multinomial(n, frequency / n): the same distribution as drawing items,
      at a cost ∝ resamples × distinct rows.
    "auto" takes "patterns" when there are at most a tenth as many distinct rows as items.
    `block` bounds memory (default: about 8 million counts per block).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    matrix = np.asarray(counts)
    domain = None
    if values is not None:
        matrix, domain = collapse_categories(matrix, values)
    units = pairable_units(matrix)
    n, size = units.n_items, matrix.shape[1]
    if n == 0:
        return BootstrapCI(None, None, confidence, n_resamples, n_resamples, seed)
    rows, frequency = units.counts, None
    if method in ("auto", "patterns"):
        patterns, pattern_frequency = row_patterns(rows)
        if method == "patterns" or len(patterns) * 10 <= n:
            rows, frequency = patterns, pattern_frequency
    elif method != "items":
        raise ValueError(f"unknown bootstrap method {method!r}; use 'auto', 'items' or 'patterns'")
    x = rows.astype(np.float64)
    w = 1.0 / (x.sum(axis=1) - 1.0)
    if level == "ordinal":
        per_row = x[:, :, None] * x[:, None, :]
        per_row[:, np.arange(size), np.arange(size)] -= x
        features = (per_row * w[:, None, None]).reshape(len(x), size * size)
    else:
        d = distances(level, np.ones(size), domain)
        observed = np.einsum("uc,ck,uk->u", x, d, x) * w  # δ²(c, c) = 0, so the diagonal term vanishes
        features = np.column_stack([x, observed])
    block = block or max(1, min(n_resamples, 8_000_000 // len(x)))
    rng = np.random.default_rng(seed)
    samples = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        if frequency is None:
            drawn = _draw_items(rng, n, stop - start)
        else:
            drawn = rng.multinomial(n, frequency / n, size=stop - start).astype(np.float64)
        stats = drawn @ features
        if level == "ordinal":
            o = stats.reshape(-1, size, size)
            n_c = o.sum(axis=2)
            d = distances("ordinal", n_c)
            observed_sum = (o * d).sum(axis=(1, 2))
        else:
            n_c, observed_sum = stats[:, :size], stats[:, size]
        total = n_c.sum(axis=1)
        expected = np.einsum("bc,bck,bk->b", n_c, np.broadcast_to(d, (len(n_c), size, size)), n_c)
        with np.errstate(divide="ignore", invalid="ignore"):
            samples[start:stop] = np.where(expected > 0, 1.0 - (total - 1.0) * observed_sum / expected, np.nan)
    defined = samples[~np.isnan(samples)]
    if len(defined) == 0:
        return BootstrapCI(None, None, confidence, n_resamples, n_resamples, seed, samples)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return BootstrapCI(float(low), float(high), confidence, n_resamples, int(n_resamples - len(defined)), seed, samples)


# --------------------------------------------------------------------------------------------
# Per-label binary alpha (multi-label schemas, and "this label vs the rest" for single-label)
# --------------------------------------------------------------------------------------------


def multilabel_counts(
    items: npt.ArrayLike, indicator: npt.ArrayLike, *, n_items: int
) -> tuple[Counts, npt.NDArray[np.int64]]:
    """For multi-label annotations: per item and label how many annotations chose it, and m_u.

    `indicator` is the (annotations × labels) boolean matrix of the chosen labels (an annotation may
    choose none, and still counts in m_u). Both results are additive over any split of the rows.
    """
    item_codes = check_codes(items, n_items, what="item")
    chosen = np.asarray(indicator, dtype=bool)
    if chosen.ndim != 2 or len(chosen) != len(item_codes):
        raise ValueError(f"the indicator must be annotations × labels with {len(item_codes)} rows, got {chosen.shape}")
    size = chosen.shape[1]
    rows, columns = np.nonzero(chosen)
    present = np.bincount(item_codes[rows] * size + columns, minlength=n_items * size).reshape(n_items, size)
    return present, np.bincount(item_codes, minlength=n_items)


def per_label_alpha(present: npt.ArrayLike, annotations_per_item: npt.ArrayLike | None = None) -> Floats:
    """Binary nominal alpha for each label (chosen / not chosen by each annotation), shape (V,).

    `present[u, l]` annotations on item u chose label l, out of `annotations_per_item[u]` (for a
    single-label matrix, leave it None: the row sums). All labels at once, from the closed form of
    two-category alpha: 1 − (n − 1)(o₀₁ + o₁₀) / (2 n₀ n₁). NaN for a label chosen by every or by no
    pairable annotation (alpha undefined).
    """
    chosen = np.asarray(present, dtype=np.float64)
    m = chosen.sum(axis=1) if annotations_per_item is None else np.asarray(annotations_per_item, dtype=np.float64)
    keep = m >= 2
    p, m = chosen[keep], m[keep]
    if len(m) == 0:
        return np.full(chosen.shape[1], np.nan)
    w = (1.0 / (m - 1.0))[:, None]
    q = m[:, None] - p
    n = m.sum()
    n1 = p.sum(axis=0)
    n0 = n - n1
    o11 = (w * p * (p - 1.0)).sum(axis=0)
    o00 = (w * q * (q - 1.0)).sum(axis=0)
    disagreement = n - o00 - o11
    expected = 2.0 * n0 * n1
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1.0 - (n - 1.0) * disagreement / expected, np.nan)


# --------------------------------------------------------------------------------------------
# Observed agreement, Fleiss' kappa, Cohen's kappa
# --------------------------------------------------------------------------------------------


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
    _same_length(first=a, second=b)
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
    _same_length(items=item_codes, annotators=annotator_codes, labels=label_codes)
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


# --------------------------------------------------------------------------------------------
# Which labels are confused, and how each annotator agrees with the others
# --------------------------------------------------------------------------------------------


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
    _same_length(items=item_codes, annotators=annotator_codes, labels=label_codes)
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
