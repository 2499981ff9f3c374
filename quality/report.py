"""One call for the whole numerical quality report of a set of single-label annotations.

`quality_report` runs the agreement statistics, the aggregation and the adjudication queue on
encoded annotations and times each part: the in-memory benchmark and the tests' oracle. The
stored reports are made by `quality.services.reports.agreement_report_compute` (loading.py streams the
codes out of the database, figures.py calls the same core functions) and the consensus rows by
`quality.services.consensus.consensus_compute`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from quality import aggregation
from quality.agreement.alpha import AlphaResult, krippendorff_alpha, per_label_alpha
from quality.agreement.bootstrap import BootstrapCI, alpha_bootstrap
from quality.agreement.kappa import FleissResult, PairwiseKappa, cohen_kappa_pairs, fleiss_kappa
from quality.agreement.matrices import check_codes, coincidences, value_counts
from quality.agreement.observed import annotator_agreement, confused_pairs, observed_agreement

T = TypeVar("T")


@dataclass
class QualityReport:
    alpha: AlphaResult
    alpha_ci: BootstrapCI
    severity_alpha: AlphaResult | None
    observed_agreement: float | None
    fleiss: FleissResult
    per_label_alpha: pd.Series
    coincidences: npt.NDArray[np.float64]
    confused_pairs: pd.DataFrame
    annotators: pd.DataFrame
    pairwise_kappa: PairwiseKappa
    majority: aggregation.MajorityVote
    dawid_skene: aggregation.DawidSkene | None
    adjudication: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON-able part: the figures and the small tables, not the per-item arrays."""
        return {
            "alpha": self.alpha.as_dict(),
            "alpha_ci": self.alpha_ci.as_dict(),
            "severity_alpha": self.severity_alpha.as_dict() if self.severity_alpha else None,
            "observed_agreement": self.observed_agreement,
            "fleiss_kappa": self.fleiss.as_dict(),
            "per_label_alpha": {str(k): _none_if_nan(v) for k, v in self.per_label_alpha.items()},
            "coincidences": self.coincidences.tolist(),
            "confused_pairs": self.confused_pairs.to_dict("records"),
            "pairwise_kappa": {
                "min_shared": self.pairwise_kappa.min_shared,
                "n_pairs_below_min": self.pairwise_kappa.n_pairs_below_min,
                "pairs": len(self.pairwise_kappa.table),
            },
            "adjudication": {
                "items": len(self.adjudication),
                "ties": int(self.adjudication["tie"].sum()),
                "low_confidence": int(self.adjudication["low_confidence"].sum()),
            },
            "dawid_skene": None
            if self.dawid_skene is None
            else {
                "iterations": self.dawid_skene.iterations,
                "converged": self.dawid_skene.converged,
                "prior": self.dawid_skene.prior.tolist(),
            },
            "seconds": self.seconds,
        }


def _none_if_nan(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def quality_report(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_items: int,
    n_annotators: int,
    n_categories: int,
    label_keys: Sequence[str] | None = None,
    severity: Sequence[int] | None = None,
    n_resamples: int = 1000,
    bootstrap_method: Literal["auto", "items", "patterns"] = "auto",
    seed: int | None = 0,
    min_shared: int = 20,
    min_confidence: float = 0.8,
    dawid_skene: bool = True,
) -> QualityReport:
    """Agreement (alpha with bootstrap CI, ordinal alpha over `severity`, observed agreement,
    Fleiss, per-label alpha, coincidences, confused pairs, per-annotator, pairwise Cohen), majority
    vote, Dawid–Skene and the adjudication queue, each timed into `seconds`."""
    seconds: dict[str, float] = {}

    def timed(name: str, function: Callable[[], T]) -> T:
        started = time.perf_counter()
        result = function()
        seconds[name] = time.perf_counter() - started
        return result

    item_codes = check_codes(items, n_items, what="item")
    annotator_codes = check_codes(annotators, n_annotators, what="annotator")
    label_codes = check_codes(labels, n_categories, what="label")
    counts = timed(
        "value_counts",
        lambda: value_counts(item_codes, label_codes, n_items=n_items, n_categories=n_categories),
    )
    alpha = timed("alpha", lambda: krippendorff_alpha(counts))
    alpha_ci = timed(
        "alpha_bootstrap",
        lambda: alpha_bootstrap(counts, n_resamples=n_resamples, seed=seed, method=bootstrap_method),
    )
    severity_alpha = (
        timed("severity_alpha", lambda: krippendorff_alpha(counts, level="ordinal", values=severity))
        if severity is not None
        else None
    )
    observed = timed("observed_agreement", lambda: observed_agreement(counts))
    fleiss = timed("fleiss_kappa", lambda: fleiss_kappa(counts))
    names = list(label_keys) if label_keys is not None else list(range(n_categories))
    per_label = timed("per_label_alpha", lambda: pd.Series(per_label_alpha(counts), index=names))
    o = timed("coincidences", lambda: coincidences(counts))
    confused = confused_pairs(o, labels=names)
    annotator_table = timed(
        "annotator_agreement",
        lambda: annotator_agreement(item_codes, annotator_codes, label_codes, counts=counts, n_annotators=n_annotators),
    )
    pairwise = timed(
        "pairwise_kappa",
        lambda: cohen_kappa_pairs(
            item_codes,
            annotator_codes,
            label_codes,
            n_annotators=n_annotators,
            n_categories=n_categories,
            min_shared=min_shared,
        ),
    )
    majority = timed("majority_vote", lambda: aggregation.majority_vote(counts))
    estimate = (
        timed(
            "dawid_skene",
            lambda: aggregation.dawid_skene(
                item_codes,
                annotator_codes,
                label_codes,
                n_items=n_items,
                n_annotators=n_annotators,
                n_categories=n_categories,
            ),
        )
        if dawid_skene
        else None
    )
    queue = timed(
        "adjudication", lambda: aggregation.adjudication_queue(majority, estimate, min_confidence=min_confidence)
    )
    return QualityReport(
        alpha=alpha,
        alpha_ci=alpha_ci,
        severity_alpha=severity_alpha,
        observed_agreement=observed,
        fleiss=fleiss,
        per_label_alpha=per_label,
        coincidences=o,
        confused_pairs=confused,
        annotators=annotator_table,
        pairwise_kappa=pairwise,
        majority=majority,
        dawid_skene=estimate,
        adjudication=queue,
        seconds=seconds,
    )
