"""Krippendorff's alpha: distances per level of measurement, alpha from the coincidence matrix or
a value-counts matrix, and the per-label binary alpha (multi-label schemas, and "this label vs the
rest" for single-label)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from quality.agreement.matrices import (
    NO_PAIRABLE,
    ONE_VALUE,
    Floats,
    coincidences,
    collapse_categories,
    pairable_units,
)

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")


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
