"""Majority vote, Dawid–Skene and the adjudication queue."""

from __future__ import annotations

import numpy as np
import pytest

from quality.aggregation import adjudication_queue, dawid_skene, majority_vote
from quality.agreement.matrices import value_counts

PRIOR = np.array([0.4, 0.3, 0.2, 0.1])


def _simulate(seed: int, *, n_items: int, overlap: int = 5):
    """Five fair annotators (75–85% right), a spammer and two who read class k as k + 1 70% of the time."""
    rng = np.random.default_rng(seed)
    size = len(PRIOR)
    truth = rng.choice(size, size=n_items, p=PRIOR)
    confusion = []
    for accuracy in (0.85, 0.8, 0.8, 0.75, 0.85):
        matrix = np.full((size, size), (1 - accuracy) / (size - 1))
        np.fill_diagonal(matrix, accuracy)
        confusion.append(matrix)
    confusion.append(np.full((size, size), 1 / size))
    shifted = 0.7 * np.roll(np.eye(size), 1, axis=1) + 0.3 * np.eye(size)
    confusion += [shifted, shifted]
    confusion = np.array(confusion)
    who = np.argsort(rng.random((n_items, len(confusion))), axis=1)[:, :overlap]
    items = np.repeat(np.arange(n_items), overlap)
    annotators = who.ravel()
    cumulative = confusion.cumsum(axis=2)[annotators, truth[items]]
    labels = (rng.random(len(items))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return items, annotators, labels, truth, confusion


def test_majority_vote_marks_ties_and_unannotated_items():
    counts = np.array([[3, 1, 0], [2, 2, 0], [0, 0, 0], [0, 1, 1], [0, 0, 1]])
    vote = majority_vote(counts)
    assert vote.label.tolist() == [0, 0, -1, 1, 2]
    assert vote.tie.tolist() == [False, True, False, True, False]
    assert vote.votes.tolist() == [3, 2, 0, 1, 1]
    assert vote.second.tolist() == [1, 2, 0, 1, 0]
    np.testing.assert_allclose(vote.share, [0.75, 0.5, np.nan, 0.5, 1.0])
    np.testing.assert_allclose(vote.margin, [0.5, 0.0, np.nan, 0.0, 1.0])
    assert list(vote.to_frame().columns) == ["label", "votes", "second", "n", "share", "margin", "tie"]


@pytest.mark.parametrize("seed", range(3))
def test_dawid_skene_beats_majority_vote_with_bad_annotators(seed):
    items, annotators, labels, truth, _ = _simulate(seed, n_items=600)
    counts = value_counts(items, labels, n_items=600, n_categories=4)
    vote = majority_vote(counts)
    estimate = dawid_skene(items, annotators, labels, n_items=600, n_annotators=8, n_categories=4)
    assert estimate.converged
    majority_accuracy = (vote.label == truth).mean()
    ds_accuracy = (estimate.label == truth).mean()
    assert ds_accuracy > majority_accuracy + 0.05
    assert ds_accuracy > 0.95
    np.testing.assert_allclose(estimate.posterior.sum(axis=1), 1.0, atol=1e-12)


def test_dawid_skene_recovers_the_simulated_confusion_matrices():
    items, annotators, labels, _, confusion = _simulate(0, n_items=4_000)
    estimate = dawid_skene(items, annotators, labels, n_items=4_000, n_annotators=8, n_categories=4)
    error = np.abs(estimate.confusion - confusion)
    assert error.mean() < 0.02
    assert error.max() < 0.1
    np.testing.assert_allclose(estimate.prior, PRIOR, atol=0.02)
    np.testing.assert_allclose(estimate.confusion.sum(axis=2), 1.0, atol=1e-12)
    assert estimate.confusion[5].std() < 0.05  # the spammer: flat rows
    assert (estimate.confusion[6].argmax(axis=1) == [1, 2, 3, 0]).all()  # the systematic shift


def test_dawid_skene_is_deterministic_and_handles_varying_overlap_and_unannotated_items():
    items, annotators, labels, _, _ = _simulate(1, n_items=300)
    keep = np.random.default_rng(0).random(len(items)) < 0.7  # 0..5 annotations per item
    items, annotators, labels = items[keep], annotators[keep], labels[keep]
    first = dawid_skene(items, annotators, labels, n_items=305, n_annotators=8, n_categories=4)
    again = dawid_skene(items[::-1], annotators[::-1], labels[::-1], n_items=305, n_annotators=8, n_categories=4)
    np.testing.assert_allclose(first.posterior, again.posterior, atol=1e-12)
    assert first.iterations == again.iterations
    unannotated = first.n_annotations == 0
    assert unannotated[300:].all()
    np.testing.assert_allclose(first.posterior[unannotated], np.tile(first.prior, (unannotated.sum(), 1)))


def test_dawid_skene_stops_at_max_iter_and_says_it_did_not_converge():
    items, annotators, labels, _, _ = _simulate(2, n_items=200)
    estimate = dawid_skene(items, annotators, labels, n_items=200, n_annotators=8, n_categories=4, max_iter=2)
    assert (estimate.iterations, estimate.converged) == (2, False)


def test_dawid_skene_of_no_annotations():
    estimate = dawid_skene([], [], [], n_items=3, n_annotators=2, n_categories=2)
    np.testing.assert_allclose(estimate.posterior, 0.5)
    assert estimate.iterations == 0


def test_adjudication_queue_takes_ties_and_low_confidence_items():
    items, annotators, labels, _, _ = _simulate(0, n_items=600)
    counts = value_counts(items, labels, n_items=600, n_categories=4)
    vote = majority_vote(counts)
    estimate = dawid_skene(items, annotators, labels, n_items=600, n_annotators=8, n_categories=4)
    queue = adjudication_queue(vote, estimate, min_confidence=0.9)
    expected = np.flatnonzero(vote.tie | (estimate.confidence < 0.9))
    assert sorted(queue.index) == expected.tolist()
    assert queue["confidence"].is_monotonic_increasing
    assert queue["tie"].sum() == vote.tie.sum()

    by_vote = adjudication_queue(majority_vote(np.array([[2, 1], [1, 1], [3, 0], [0, 0]])), min_confidence=0.7)
    assert by_vote.index.tolist() == [1, 0]  # the tie (share 0.5), then 2 of 3; not the empty item
