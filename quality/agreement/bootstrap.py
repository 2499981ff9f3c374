"""The percentile bootstrap interval of Krippendorff's alpha, resampling pairable items."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from quality.agreement.alpha import Level, distances
from quality.agreement.matrices import Counts, Floats, collapse_categories, pairable_units


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
