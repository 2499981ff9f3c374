"""From streamed annotation chunks to an agreement report's figures. Pure numpy (no Django models).

`Accumulator.add` takes the chunks of `quality.loading` one at a time (each holds whole items)
and builds the value-counts matrix chunk by chunk (a chunk's items are its own rows: the matrix is
additive over item-disjoint chunks, see `quality.agreement`), keeping only compact integer columns
of the rows for the statistics that need them (pairwise kappa, per-annotator agreement,
per-guideline alpha). `agreement_figures` then runs the core functions once on what was
accumulated. (The coincidence matrix is additive too, but it follows from the value counts in one
matrix product, so it is computed once at the end: cheaper than a product per chunk.)

What is a "value" depends on the scope:
- single-choice schemas: the chosen label (one category per label, numbered like the label space);
- multi-choice schemas: the chosen *set* of labels, one category per distinct set (so nominal alpha,
  observed agreement and Fleiss measure exact agreement on the whole answer); per-label binary
  alpha covers the labels one by one, and ordinal alpha ranks a set by its most severe label;
- a label scope: that label chosen or not (binary), for either kind of schema.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from quality.agreement.alpha import krippendorff_alpha, per_label_alpha
from quality.agreement.bootstrap import alpha_bootstrap
from quality.agreement.kappa import PairwiseKappa, cohen_kappa_pairs, fleiss_kappa
from quality.agreement.matrices import coincidences, multilabel_counts, value_counts
from quality.agreement.observed import annotator_agreement, confused_pairs, observed_agreement
from quality.loading import Chunk, LabelSpace

T = TypeVar("T")
Ints = npt.NDArray[np.int64]
NO_SET = "(none)"


@dataclass(frozen=True)
class Accumulated:
    """Everything the figures need, for n items (coded 0..n-1 in item id order) and R annotations."""

    item_ids: Ints  # (n,) the database id of each item code
    counts: Ints  # (n, C) value counts over the scope's categories
    present: Ints  # (n, V) annotations choosing each label
    per_item: Ints  # (n,) annotations per item
    coincidences: npt.NDArray[np.float64]  # (C, C)
    items: Ints  # (R,) item code of each annotation
    annotator_ids: Ints  # (R,)
    guideline_ids: Ints  # (R,) 0: none
    categories: Ints  # (R,) category code of each annotation
    category_names: list[str]
    category_severity: npt.NDArray[np.float64] | None
    label_keys: tuple[str, ...]
    mode: str  # "labels", "sets" (multi-choice answers) or "binary" (one label, chosen or not)
    category_sets: npt.NDArray[np.bool_]  # (C, V): the labels each category stands for

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_categories(self) -> int:
        return len(self.category_names)


class Accumulator:
    """Adds up chunks of whole items. `label`: the label scope's label key (binary values)."""

    def __init__(self, space: LabelSpace, *, label: str | None = None) -> None:
        self.space = space
        self.label_index = space.keys.index(label) if label is not None else None
        self.mode = "binary" if label is not None else ("sets" if space.multi else "labels")
        self.sets: dict[bytes, int] = {}  # multi: a set's packed indicator → its category code
        self.set_rows: list[npt.NDArray[np.bool_]] = []
        self.n_items = 0
        self.parts: dict[str, list[np.ndarray]] = {
            name: []
            for name in ("item_ids", "counts", "present", "per_item", "items", "annotators", "guidelines", "categories")
        }

    @property
    def n_categories(self) -> int:
        if self.mode == "labels":
            return self.space.size
        if self.mode == "binary":
            return 2
        return len(self.sets)

    def add(self, chunk: Chunk) -> None:
        if not len(chunk):
            return
        ids = chunk.item_ids
        starts = np.concatenate([[True], ids[1:] != ids[:-1]])
        if (ids[1:] < ids[:-1]).any():
            raise ValueError("a chunk's annotations must be ordered by item")
        local = np.cumsum(starts) - 1
        k = int(local[-1]) + 1
        categories = self._categories(chunk.indicator)
        counts = value_counts(local, categories, n_items=k, n_categories=self.n_categories)
        if self.mode == "labels":  # one label per annotation: the value counts are the label counts
            present, per_item = counts, counts.sum(axis=1)
        else:
            present, per_item = multilabel_counts(local, chunk.indicator, n_items=k)
        self.parts["item_ids"].append(ids[starts])
        self.parts["counts"].append(counts)
        self.parts["present"].append(present)
        self.parts["per_item"].append(per_item)
        self.parts["items"].append(local + self.n_items)
        self.parts["annotators"].append(chunk.annotator_ids)
        self.parts["guidelines"].append(chunk.guideline_ids)
        self.parts["categories"].append(categories)
        self.n_items += k

    def _categories(self, indicator: npt.NDArray[np.bool_]) -> Ints:
        if self.mode == "labels":
            return indicator.argmax(axis=1).astype(np.int64)
        if self.mode == "binary":
            return indicator[:, self.label_index].astype(np.int64)
        packed = np.packbits(indicator, axis=1)
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).ravel()
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        mapping = np.empty(len(distinct), dtype=np.int64)
        for index, key in enumerate(distinct):  # a loop over distinct answers, not annotations
            code = self.sets.get(key.tobytes())
            if code is None:
                code = self.sets[key.tobytes()] = len(self.sets)
                self.set_rows.append(indicator[first[index]].copy())
            mapping[index] = code
        return mapping[inverse.ravel()]

    def result(self) -> Accumulated:
        size = self.n_categories
        counts_parts = [np.pad(c, ((0, 0), (0, size - c.shape[1]))) for c in self.parts["counts"]]

        def joined(name: str, empty: tuple[int, ...], parts: list[np.ndarray] | None = None) -> np.ndarray:
            chosen = parts if parts is not None else self.parts[name]
            return np.concatenate(chosen) if chosen else np.zeros(empty, dtype=np.int64)

        counts = joined("counts", (0, size), counts_parts)
        categories = joined("categories", (0,))
        keys = self.space.keys
        if self.mode == "labels":
            names, severity = list(keys), self.space.severity.astype(np.float64)
            sets = np.eye(self.space.size, dtype=bool)
        elif self.mode == "binary":
            key = keys[self.label_index]
            names, severity = [f"not {key}", key], None
            sets = np.zeros((2, self.space.size), dtype=bool)
            sets[1, self.label_index] = True
        else:
            # Number the sets canonically (fewest labels first, then by label order), so the result
            # does not depend on where the chunks were cut.
            rows = self.set_rows
            order = sorted(range(len(rows)), key=lambda c: (int(rows[c].sum()), tuple(np.flatnonzero(rows[c]))))
            remap = np.empty(len(order), dtype=np.int64)
            remap[order] = np.arange(len(order))
            counts = counts[:, order]
            categories = remap[categories] if len(categories) else categories
            names = ["+".join(keys[i] for i in np.flatnonzero(rows[c])) or NO_SET for c in order]
            severity = np.array(
                [float(self.space.severity[rows[c]].max()) if rows[c].any() else 0.0 for c in order], dtype=np.float64
            )
            sets = np.array([rows[c] for c in order], dtype=bool).reshape(len(order), self.space.size)
        return Accumulated(
            item_ids=joined("item_ids", (0,)),
            counts=counts,
            present=joined("present", (0, self.space.size)),
            per_item=joined("per_item", (0,)),
            coincidences=coincidences(counts),
            items=joined("items", (0,)),
            annotator_ids=joined("annotators", (0,)),
            guideline_ids=joined("guidelines", (0,)),
            categories=categories,
            category_names=names,
            category_severity=severity,
            label_keys=keys,
            mode=self.mode,
            category_sets=sets,
        )


@dataclass
class Figures:
    """The headline figures (report columns) and the JSON details of one report."""

    n_annotations: int
    n_items: int
    n_items_left_out: int
    n_annotators: int
    alpha: float | None
    alpha_low: float | None
    alpha_high: float | None
    alpha_ordinal: float | None
    observed_agreement: float | None
    fleiss_kappa: float | None
    details: dict[str, Any] = field(default_factory=dict)


def agreement_figures(
    data: Accumulated,
    *,
    bootstrap: int = 1000,
    seed: int | None = 0,
    min_shared: int = 20,
    guideline_versions: dict[int, int] | None = None,
    focus_annotator: int | None = None,
    seconds: dict[str, float] | None = None,
) -> Figures:
    """Every agreement figure of a report from the accumulated data.

    `guideline_versions` maps guideline ids to version numbers (per-version alpha is keyed by the
    number); `focus_annotator` (annotator scope) puts that annotator's leave-one-out row in
    details["annotator"]. Timings go to `seconds` and details["seconds"].
    """
    seconds = seconds if seconds is not None else {}

    def timed(name: str, function: Callable[[], T]) -> T:
        started = time.perf_counter()
        result = function()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return result

    counts, names = data.counts, data.category_names
    alpha = timed("alpha", lambda: krippendorff_alpha(counts))
    ci = (
        timed("alpha_bootstrap", lambda: alpha_bootstrap(counts, n_resamples=bootstrap, seed=seed))
        if bootstrap
        else None
    )
    ordinal = None
    if data.category_severity is not None and data.n_categories:
        ordinal = timed(
            "alpha_ordinal",
            lambda: krippendorff_alpha(counts, level="ordinal", values=data.category_severity),
        )
    observed = timed("observed_agreement", lambda: observed_agreement(counts))
    fleiss = timed("fleiss_kappa", lambda: fleiss_kappa(counts))
    per_label = timed("per_label_alpha", lambda: per_label_alpha(data.present, data.per_item))
    confused = timed("confused_pairs", lambda: confused_pairs(data.coincidences, labels=names))
    annotator_ids, annotator_codes = np.unique(data.annotator_ids, return_inverse=True)
    annotator_codes = annotator_codes.ravel()
    annotators = timed(
        "annotator_agreement",
        lambda: annotator_agreement(
            data.items, annotator_codes, data.categories, counts=counts, n_annotators=len(annotator_ids)
        ),
    )
    pairwise = timed(
        "pairwise_kappa",
        lambda: cohen_kappa_pairs(
            data.items,
            annotator_codes,
            data.categories,
            n_annotators=len(annotator_ids),
            n_categories=max(data.n_categories, 1),
            min_shared=min_shared,
        ),
    )
    by_guideline = timed("by_guideline_version", lambda: _by_guideline(data, guideline_versions or {}))

    annotator_rows = [
        {"annotator_id": int(annotator_ids[code]), **_record(row)}
        for code, row in enumerate(annotators.to_dict("records"))
    ]
    details: dict[str, Any] = {
        "values": data.mode,
        "label_keys": list(data.label_keys),
        "categories": names,
        "alpha": alpha.as_dict(),
        "alpha_ci": ci.as_dict() if ci else None,
        "alpha_ordinal": ordinal.as_dict() if ordinal else None,
        "fleiss_kappa": fleiss.as_dict(),
        "per_label_alpha": {key: _number(value) for key, value in zip(data.label_keys, per_label, strict=True)},
        "coincidences": data.coincidences.tolist(),
        "confused_pairs": [_record(row) for row in confused.to_dict("records")],
        "pairwise_kappa": _pairwise_summary(pairwise, annotator_ids),
        "annotators": annotator_rows,
        "by_guideline_version": by_guideline,
    }
    if focus_annotator is not None:
        details["annotator"] = next((row for row in annotator_rows if row["annotator_id"] == focus_annotator), None)
    details["seconds"] = {name: round(value, 4) for name, value in seconds.items()}
    return Figures(
        n_annotations=len(data.items),
        n_items=data.n_items,
        n_items_left_out=int((data.per_item == 1).sum()),
        n_annotators=len(annotator_ids),
        alpha=alpha.value,
        alpha_low=ci.low if ci else None,
        alpha_high=ci.high if ci else None,
        alpha_ordinal=ordinal.value if ordinal else None,
        observed_agreement=observed,
        fleiss_kappa=fleiss.value,
        details=details,
    )


def _by_guideline(data: Accumulated, versions: dict[int, int]) -> dict[str, dict[str, Any]]:
    """Alpha of the annotations made under each guideline version (an item pairs only the
    annotations made under the same version)."""
    out: dict[str, dict[str, Any]] = {}
    for guideline_id in np.unique(data.guideline_ids):
        rows = data.guideline_ids == guideline_id
        counts = value_counts(
            data.items[rows], data.categories[rows], n_items=data.n_items, n_categories=max(data.n_categories, 1)
        )
        result = krippendorff_alpha(counts)
        key = str(versions.get(int(guideline_id), "none" if guideline_id == 0 else f"id {int(guideline_id)}"))
        out[key] = {
            "alpha": result.value,
            "n_annotations": int(rows.sum()),
            "n_items": result.n_items,
            "reason": result.reason,
        }
    return out


def _pairwise_summary(pairwise: PairwiseKappa, annotator_ids: Ints, lowest: int = 10) -> dict[str, Any]:
    table = pairwise.table
    kappa = table["kappa"].dropna()
    rows = table.assign(
        annotator_a=annotator_ids[table["annotator_a"].to_numpy()] if len(table) else [],
        annotator_b=annotator_ids[table["annotator_b"].to_numpy()] if len(table) else [],
    )
    worst = rows.sort_values("kappa", kind="stable").head(lowest)
    return {
        "min_shared": pairwise.min_shared,
        "n_pairs": len(table),
        "n_pairs_below_min": pairwise.n_pairs_below_min,
        "mean": _number(kappa.mean()) if len(kappa) else None,
        "median": _number(kappa.median()) if len(kappa) else None,
        "min": _number(kappa.min()) if len(kappa) else None,
        "max": _number(kappa.max()) if len(kappa) else None,
        "lowest": [_record(row) for row in worst.to_dict("records")],
    }


def _number(value: Any) -> Any:
    """JSON-safe scalars: numpy → Python, NaN → None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {str(key): _number(value) for key, value in row.items()}


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [_record(row) for row in frame.reset_index().to_dict("records")]
