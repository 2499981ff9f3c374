"""Turn annotation rows (label keys, database ids) into the integer codes the quality engine uses.

`Annotation.labels` is a JSON list of label keys. The label numbering comes from the schema
version (its labels in order), never from the data, so every chunk of a stream and every report
of a project uses the same codes. Vectorised with pandas (explode + categorical codes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd


def _exploded(label_lists: Iterable[Sequence[str]], label_keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(annotation row, label code) for every chosen key; ValueError on an unknown key or a non-list."""
    series = pd.Series(list(label_lists), dtype=object)
    not_list = ~series.map(lambda value: isinstance(value, list | tuple))
    if not_list.any():
        row = int(np.flatnonzero(not_list.to_numpy())[0])
        raise ValueError(f"row {row}: labels must be a list of label keys, got {series.iloc[row]!r}")
    exploded = series.explode()
    chosen = exploded.notna().to_numpy()
    rows = exploded.index.to_numpy()[chosen]
    keys = exploded.to_numpy()[chosen]
    codes = pd.Index(list(label_keys)).get_indexer(keys).astype(np.int64)
    if (codes < 0).any():
        bad = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(f"row {int(rows[bad])}: unknown label key {keys[bad]!r}")
    return rows.astype(np.int64), codes


def label_codes(label_lists: Iterable[Sequence[str]], label_keys: Sequence[str]) -> npt.NDArray[np.int64]:
    """One code per annotation of a single-choice schema; ValueError unless each chose exactly one key."""
    lists = list(label_lists)
    rows, codes = _exploded(lists, label_keys)
    per_row = np.bincount(rows, minlength=len(lists))
    if (per_row != 1).any():
        bad = int(np.flatnonzero(per_row != 1)[0])
        raise ValueError(f"row {bad}: a single-choice annotation needs exactly one label, got {lists[bad]!r}")
    out = np.empty(len(lists), dtype=np.int64)
    out[rows] = codes
    return out


def label_indicator(label_lists: Iterable[Sequence[str]], label_keys: Sequence[str]) -> npt.NDArray[np.bool_]:
    """The (annotations × labels) boolean matrix of a multi-choice schema's chosen labels."""
    lists = list(label_lists)
    rows, codes = _exploded(lists, label_keys)
    out = np.zeros((len(lists), len(label_keys)), dtype=bool)
    out[rows, codes] = True
    return out


def codes_for(ids: npt.ArrayLike, universe: npt.ArrayLike, *, what: str) -> npt.NDArray[np.int64]:
    """Map database ids to their position in `universe` (e.g. the project's item ids, sorted once).

    Streaming chunks must share one numbering; fetching the project's item ids first and mapping
    every chunk against them with `np.searchsorted` gives that. ValueError on an id not in it.
    """
    values = np.asarray(ids)
    known = np.asarray(universe)
    order = np.argsort(known, kind="stable")
    position = np.searchsorted(known, values, sorter=order)
    position = np.minimum(position, max(len(known) - 1, 0))
    found = order[position] if len(known) else np.empty(0, dtype=np.int64)
    if len(values) and (len(known) == 0 or (known[found] != values).any()):
        bad = 0 if len(known) == 0 else int(np.flatnonzero(known[found] != values)[0])
        raise ValueError(f"row {bad}: {what} {values[bad].item()!r} is not one of the known {what}s")
    return found.astype(np.int64)
