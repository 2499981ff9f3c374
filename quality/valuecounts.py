"""Per-item value counts as a value: built from loaded chunks, merged, trimmed and packed into bytes.

A project's nominal alpha needs only the value-counts matrix (`counts[u, c]`: annotations giving
item u the value c), and that matrix is additive over any split of the annotations. So it can be
kept between reads (the LabelCounts row, see `quality.services.counts.label_counts_refresh`) and brought
up to date with only the annotations added since, instead of re-deriving it from every annotation.

A category is a *set* of label keys (a sorted tuple): one key for a single-choice answer, the
chosen keys for a multi-choice one, as `quality.figures` numbers them in its "labels" and "sets"
modes. Categories are identified by their keys, never by position, so matrices built under
different label spaces (a schema version that added a label) still merge. Pure numpy, no models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quality.loading import Chunk, LabelSpace

Ints = npt.NDArray[np.int64]
Category = tuple[str, ...]
# Stored cell type: no item is labelled by anywhere near 65,535 annotators.
CELL = np.dtype("<u2")
ITEM = np.dtype("<i8")


@dataclass(frozen=True)
class ValueCounts:
    """`counts[u, c]`: annotations giving item `item_ids[u]` the value `categories[c]`; item ids ascending."""

    item_ids: Ints
    counts: Ints
    categories: tuple[Category, ...]

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_annotations(self) -> int:
        return int(self.counts.sum())


def empty(categories: tuple[Category, ...] = ()) -> ValueCounts:
    return ValueCounts(np.empty(0, dtype=np.int64), np.zeros((0, len(categories)), dtype=np.int64), categories)


def for_space(space: LabelSpace) -> tuple[Category, ...]:
    """A single-choice space's categories, in label order (so a matrix has a column per label, used or not)."""
    return () if space.multi else tuple((key,) for key in space.keys)


def from_chunk(chunk: Chunk, space: LabelSpace, categories: tuple[Category, ...] = ()) -> ValueCounts:
    """The value counts of one chunk's annotations; `categories` come first, new ones follow."""
    if not len(chunk):
        return empty(categories)
    if space.size <= 63:  # each answer as one int64 bit mask: a 1-D unique, far cheaper than rows
        masks = chunk.indicator.astype(np.int64) @ (np.int64(1) << np.arange(space.size, dtype=np.int64))
        patterns, row_pattern = np.unique(masks, return_inverse=True)
        chosen = (patterns[:, None] >> np.arange(space.size, dtype=np.int64)[None, :]) & 1 == 1
    else:
        patterns, row_pattern = np.unique(chunk.indicator, axis=0, return_inverse=True)
        chosen = patterns.astype(bool)
    known = {category: index for index, category in enumerate(categories)}
    extended = list(categories)
    pattern_category = np.empty(len(patterns), dtype=np.int64)
    for index, row in enumerate(chosen):  # one pass per distinct answer, not per annotation
        category = tuple(sorted(space.keys[position] for position in np.flatnonzero(row)))
        if category not in known:
            known[category] = len(extended)
            extended.append(category)
        pattern_category[index] = known[category]
    item_ids = np.sort(chunk.item_ids)  # loading gives them sorted; a sorted array sorts in linear time
    starts = np.concatenate([[True], item_ids[1:] != item_ids[:-1]])
    order = np.argsort(chunk.item_ids, kind="stable")
    item_index = np.empty(len(order), dtype=np.int64)
    item_index[order] = np.cumsum(starts) - 1
    item_ids = item_ids[starts]
    width = len(extended)
    cells = item_index.reshape(-1) * width + pattern_category[row_pattern.reshape(-1)]
    counts = np.bincount(cells, minlength=len(item_ids) * width).reshape(len(item_ids), width)
    return ValueCounts(item_ids.astype(np.int64), counts.astype(np.int64), tuple(extended))


def merge(first: ValueCounts, second: ValueCounts) -> ValueCounts:
    """The sum of two matrices (an item in both has its counts added); `first`'s categories keep their columns."""
    if not second.n_items:
        return _widen(first, _union(first.categories, second.categories))
    categories = _union(first.categories, second.categories)
    first, second = _widen(first, categories), _widen(second, categories)
    if not first.n_items:
        return second
    if first.item_ids[-1] < second.item_ids[0]:  # item-disjoint and in order: the usual case of chunks
        return ValueCounts(
            np.concatenate([first.item_ids, second.item_ids]),
            np.concatenate([first.counts, second.counts]),
            categories,
        )
    item_ids = _sorted_union(first.item_ids, second.item_ids)
    counts = np.zeros((len(item_ids), len(categories)), dtype=np.int64)
    counts[np.searchsorted(item_ids, first.item_ids)] += first.counts
    counts[np.searchsorted(item_ids, second.item_ids)] += second.counts
    return ValueCounts(item_ids, counts, categories)


def without_items(counts: ValueCounts, item_ids: npt.ArrayLike) -> ValueCounts:
    """The matrix with the rows of `item_ids` taken out (ids it does not have are ignored)."""
    drop = np.isin(counts.item_ids, np.asarray(item_ids, dtype=np.int64))
    if not drop.any():
        return counts
    keep = ~drop
    return ValueCounts(counts.item_ids[keep], counts.counts[keep], counts.categories)


def pack(counts: ValueCounts) -> tuple[bytes, bytes]:
    """(item ids, cells) as little-endian bytes: int64 ids, uint16 cells row by row."""
    if counts.counts.size and int(counts.counts.max()) > np.iinfo(CELL).max:
        raise ValueError(f"an item has more than {np.iinfo(CELL).max} annotations of one value; cannot store it")
    return counts.item_ids.astype(ITEM).tobytes(), counts.counts.astype(CELL).tobytes()


def unpack(item_bytes: bytes, cell_bytes: bytes, categories: tuple[Category, ...]) -> ValueCounts:
    """What `pack` wrote; ValueError when the sizes do not fit together (a damaged row)."""
    item_ids = np.frombuffer(item_bytes, dtype=ITEM).astype(np.int64)
    cells = np.frombuffer(cell_bytes, dtype=CELL)
    if cells.size != item_ids.size * len(categories):
        raise ValueError(
            f"stored value counts do not fit: {cells.size} cells for {item_ids.size} items × "
            f"{len(categories)} categories"
        )
    return ValueCounts(item_ids, cells.reshape(item_ids.size, len(categories)).astype(np.int64), categories)


def _sorted_union(first: Ints, second: Ints) -> Ints:
    """The ascending distinct ids of both (a sort: numpy's hash-based union1d was ten times slower here)."""
    ids = np.concatenate([first, second])
    ids.sort()
    return ids[np.concatenate([[True], ids[1:] != ids[:-1]])] if len(ids) else ids


def _union(first: tuple[Category, ...], second: tuple[Category, ...]) -> tuple[Category, ...]:
    seen = set(first)
    return first + tuple(category for category in second if category not in seen)


def _widen(counts: ValueCounts, categories: tuple[Category, ...]) -> ValueCounts:
    """The same matrix with its columns laid out as `categories` (a superset of its own)."""
    if counts.categories == categories:
        return counts
    column = {category: index for index, category in enumerate(categories)}
    wide = np.zeros((counts.n_items, len(categories)), dtype=np.int64)
    if counts.categories:
        wide[:, [column[category] for category in counts.categories]] = counts.counts
    return ValueCounts(counts.item_ids, wide, categories)
