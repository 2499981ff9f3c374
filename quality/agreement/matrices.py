"""Building blocks of the agreement measures: codes, value counts, pairable units, coincidences.

Pure numpy (see the package docstring): the value-counts matrix is additive over any split of the
annotation rows, the coincidence matrix over item-disjoint splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Counts = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

NO_PAIRABLE = "no item has two or more annotations, so there is nothing to compare"
ONE_VALUE = "every pairable annotation has the same value: the expected disagreement is 0, so alpha is 0/0 (undefined)"


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


def same_length(**arrays: np.ndarray) -> None:
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
    same_length(items=item_codes, labels=label_codes)
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
