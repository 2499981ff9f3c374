"""Label aggregation: majority vote and Dawid–Skene, and the items that need adjudication.

Pure numpy on encoded annotations (see `quality.agreement` for the codes). Single-label schemas;
a multi-label schema is aggregated label by label as binary present/absent (call these with two
categories per label).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from quality.agreement.matrices import check_codes, value_counts

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class MajorityVote:
    """Per item: the most voted label, its votes, the runner-up's votes, and whether it is a tie.

    A tie (two or more labels share the top count) keeps the lowest tied label code in `label`,
    deterministically, and is marked in `tie`; such items go to adjudication. Items without
    annotations get label -1.
    """

    label: Ints
    votes: Ints
    second: Ints  # the runner-up's votes (equal to `votes` on a tie)
    n: Ints  # annotations on the item
    tie: npt.NDArray[np.bool_]

    @property
    def share(self) -> Floats:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.n > 0, self.votes / self.n, np.nan)

    @property
    def margin(self) -> Floats:
        """(top − runner-up) / n: 0 on a tie, 1 when unanimous."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.n > 0, (self.votes - self.second) / self.n, np.nan)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "label": self.label,
                "votes": self.votes,
                "second": self.second,
                "n": self.n,
                "share": self.share,
                "margin": self.margin,
                "tie": self.tie,
            },
            index=pd.RangeIndex(len(self.label), name="item"),
        )


def majority_vote(counts: npt.ArrayLike) -> MajorityVote:
    """Majority vote from a value-counts matrix (items × categories, single-annotated items included)."""
    matrix = np.asarray(counts, dtype=np.int64)
    n = matrix.sum(axis=1)
    if matrix.shape[1] >= 2:
        top_two = -np.partition(-matrix, 1, axis=1)[:, :2]
        votes, second = top_two[:, 0], top_two[:, 1]
    else:
        votes, second = matrix[:, 0], np.zeros(len(matrix), dtype=np.int64)
    label = np.where(n > 0, matrix.argmax(axis=1), -1)
    return MajorityVote(label=label, votes=votes, second=second, n=n, tie=(n > 0) & (votes == second))


@dataclass(frozen=True)
class DawidSkene:
    """Dawid–Skene estimates. `confusion[a, k, l]` = P(annotator a says l | the true label is k)."""

    posterior: Floats  # (items, V): P(true label = k | annotations); the prior for unannotated items
    prior: Floats  # (V,) class prevalence
    confusion: Floats  # (annotators, V, V), rows sum to 1
    iterations: int
    converged: bool
    log_likelihood: float
    n_annotations: Ints  # per item

    @property
    def label(self) -> Ints:
        return self.posterior.argmax(axis=1)

    @property
    def confidence(self) -> Floats:
        return self.posterior.max(axis=1)


def _logsumexp_rows(values: Floats) -> Floats:
    peak = values.max(axis=1)
    return peak + np.log(np.exp(values - peak[:, None]).sum(axis=1))


def dawid_skene(
    items: npt.ArrayLike,
    annotators: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    n_items: int,
    n_annotators: int,
    n_categories: int,
    tol: float = 1e-7,
    max_iter: int = 200,
    smoothing: float = 0.01,
) -> DawidSkene:
    """Dawid & Skene (1979) by expectation–maximisation, vectorised with numpy.

    Starts from the majority vote's vote shares as the item posteriors (so ties start split, not
    broken at random), then alternates the M step (class prior and each annotator's confusion
    matrix from the posteriors, plus `smoothing` pseudo-counts per cell so that a cell never seen
    does not become log 0) and the E step (posteriors from the prior and the confusion rows of the
    labels given). The M step is one weighted `np.bincount` per class over (annotator, label) keys;
    the E step sums gathered log-confusion rows over items grouped by their number of annotations
    (each group reshapes to items × m). The Python loops run over classes and overlap sizes, never
    over annotations. Stops when the log-likelihood changes by less than `tol` relative, or after
    `max_iter` rounds (`converged` says which).
    EM from a fixed start has no random step, so the result is deterministic: nothing to seed.
    """
    item_codes = check_codes(items, n_items, what="item")
    annotator_codes = check_codes(annotators, n_annotators, what="annotator")
    label_codes = check_codes(labels, n_categories, what="label")
    size = n_categories
    counts = value_counts(item_codes, label_codes, n_items=n_items, n_categories=size)
    n_per_item = counts.sum(axis=1)
    # The annotated items, ordered by their number of annotations (then id): the items with m
    # annotations form one contiguous block whose rows reshape to (items × m).
    annotated = np.flatnonzero(n_per_item > 0)
    annotated = annotated[np.argsort(n_per_item[annotated], kind="stable")]
    if len(annotated) == 0:
        uniform = np.full(size, 1.0 / size)
        confusion = np.full((n_annotators, size, size), 1.0 / size)
        return DawidSkene(np.tile(uniform, (n_items, 1)), uniform, confusion, 0, True, 0.0, n_per_item)
    compact = np.full(n_items, -1, dtype=np.int64)
    compact[annotated] = np.arange(len(annotated))
    row_item = compact[item_codes]
    group = annotator_codes * size + label_codes  # (annotator, label given)
    block_sizes, block_items = np.unique(n_per_item[annotated], return_counts=True)
    block_groups = np.split(group[np.argsort(row_item, kind="stable")], np.cumsum(block_sizes * block_items)[:-1])
    blocks = [
        (int(start), groups.reshape(-1, int(m)))
        for start, m, groups in zip(np.cumsum(block_items) - block_items, block_sizes, block_groups, strict=True)
    ]

    n_annotated = counts[annotated]
    posterior = n_annotated / n_annotated.sum(axis=1, keepdims=True)  # majority-vote shares
    log_likelihood = -np.inf
    converged = False
    iteration = 0
    confusion = np.empty((n_annotators, size, size))
    prior = np.empty(size)
    log_joint = np.empty_like(posterior)
    for iteration in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        # M step: prior, and per (annotator, label given) the posterior mass of each true class.
        prior = posterior.sum(axis=0) + smoothing
        prior /= prior.sum()
        by_class = np.ascontiguousarray(posterior.T)
        sums = np.empty((size, n_annotators * size))  # [k, (a, l)]
        for k in range(size):  # a loop over classes: each is one bincount over all annotations
            sums[k] = np.bincount(group, weights=by_class[k][row_item], minlength=n_annotators * size)
        confusion = sums.reshape(size, n_annotators, size).transpose(1, 0, 2) + smoothing  # (a, k, l)
        confusion /= confusion.sum(axis=2, keepdims=True)
        # E step: log prior + the log confusion rows of the labels given, summed per item.
        log_rows = np.log(confusion).transpose(0, 2, 1).reshape(n_annotators * size, size)  # row (a, l)
        for start, groups in blocks:  # a loop over overlap sizes and positions, not annotations
            target = log_joint[start : start + len(groups)]
            np.take(log_rows, groups[:, 0], axis=0, out=target)
            for position in range(1, groups.shape[1]):
                target += log_rows[groups[:, position]]
        log_joint += np.log(prior)
        normaliser = _logsumexp_rows(log_joint)
        posterior = np.exp(log_joint - normaliser[:, None])
        previous, log_likelihood = log_likelihood, float(normaliser.sum())
        if np.isfinite(previous) and abs(log_likelihood - previous) <= tol * abs(previous):
            converged = True
            break
    full = np.tile(prior, (n_items, 1))
    full[annotated] = posterior
    return DawidSkene(full, prior, confusion, iteration, converged, log_likelihood, n_per_item)


def adjudication_queue(
    majority: MajorityVote, estimate: DawidSkene | None = None, *, min_confidence: float = 0.8
) -> pd.DataFrame:
    """The annotated items to adjudicate: a tied vote, or a Dawid–Skene confidence under the bar.

    Without a Dawid–Skene estimate, the majority vote's share stands in for the confidence.
    Columns: label (the estimate), confidence, tie, low_confidence; least confident first.
    """
    if estimate is not None:
        label, confidence = estimate.label, estimate.confidence
    else:
        label, confidence = majority.label, majority.share
    annotated = majority.n > 0
    low = annotated & (confidence < min_confidence)
    flagged = (majority.tie & annotated) | low
    frame = pd.DataFrame(
        {
            "label": label[flagged],
            "confidence": confidence[flagged],
            "tie": majority.tie[flagged],
            "low_confidence": low[flagged],
        },
        index=pd.Index(np.flatnonzero(flagged), name="item"),
    )
    return frame.sort_values("confidence", kind="stable")
