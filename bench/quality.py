"""Quality engine benchmark: the full numerical report on synthetic annotations.

    .venv/bin/python bench/quality.py                       # 200,000 items × 5 = 1,000,000 annotations
    .venv/bin/python bench/quality.py --annotators 5        # every item labelled by the same 5 people
    .venv/bin/python bench/quality.py --bootstrap items     # draw item indices, not row patterns
    .venv/bin/python bench/quality.py --items 20000 --resamples 200

The annotations are generated in numpy (true labels from a skewed prior, a pool of annotators of
varied accuracy with some systematic confusions and a few spammers, `--overlap` distinct annotators
per item); there is no database yet: loading the codes from the Annotation table will be added and
timed here once the quality models exist. Generation is not timed. Times `quality.report.
quality_report` (alpha with a `--resamples` bootstrap CI, ordinal alpha over severity, Fleiss,
observed agreement, per-label alpha, coincidences, per-annotator agreement, pairwise Cohen's kappa,
majority vote, Dawid–Skene, adjudication queue), then our alpha alone against the bare
`krippendorff.alpha(value_counts=...)` call on the same matrix. Peak memory is the process's peak
resident set size, read before the library call (which allocates items × labels² floats) and after.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(*, items: int, overlap: int, annotators: int, labels: int, seed: int):
    """(item, annotator, label) codes, the true labels and each annotator's confusion matrix."""
    rng = np.random.default_rng(seed)
    prior = 0.6 ** np.arange(labels)
    prior /= prior.sum()
    truth = rng.choice(labels, size=items, p=prior)
    accuracy = rng.uniform(0.65, 0.95, size=annotators)
    confusion = np.empty((annotators, labels, labels))
    for a in range(annotators):  # per annotator, not per annotation
        noise = rng.dirichlet(np.ones(labels), size=labels)
        neighbour = np.roll(np.eye(labels), 1, axis=1)  # a systematic confusion: label k read as k + 1
        errors = 0.5 * noise + 0.5 * neighbour
        errors[np.arange(labels), np.arange(labels)] = 0
        errors /= errors.sum(axis=1, keepdims=True)
        confusion[a] = accuracy[a] * np.eye(labels) + (1 - accuracy[a]) * errors
    spammers = rng.choice(annotators, size=max(1, annotators // 10), replace=False) if annotators > 5 else []
    confusion[spammers] = 1.0 / labels
    if overlap > annotators:
        raise SystemExit(f"--overlap {overlap} needs at least that many annotators")
    if overlap == annotators:
        who = np.tile(np.arange(annotators), (items, 1))
    else:
        who = np.argpartition(rng.random((items, annotators)), overlap, axis=1)[:, :overlap]
    item_codes = np.repeat(np.arange(items), overlap)
    annotator_codes = who.ravel()
    cumulative = confusion.cumsum(axis=2)[annotator_codes, truth[item_codes]]
    label_codes = (rng.random(len(item_codes))[:, None] > cumulative[:, :-1]).sum(axis=1)
    return item_codes, annotator_codes, label_codes.astype(np.int64), truth, confusion


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--overlap", type=int, default=5)
    parser.add_argument("--annotators", type=int, default=50, help="size of the annotator pool")
    parser.add_argument("--labels", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--bootstrap", choices=["auto", "items", "patterns"], default="auto")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import krippendorff

    from quality import agreement
    from quality.report import quality_report

    items, annotators, labels, truth, _ = synthetic(
        items=args.items, overlap=args.overlap, annotators=args.annotators, labels=args.labels, seed=args.seed
    )
    severity = np.arange(args.labels) * 5 // args.labels  # labels spread over severities 0..4
    print(
        f"{len(items):,} annotations: {args.items:,} items × {args.overlap}, pool of {args.annotators} annotators, "
        f"{args.labels} labels (synthetic, no database); generated, peak RSS so far {peak_rss_mb():.0f} MB"
    )

    started = time.perf_counter()
    report = quality_report(
        items,
        annotators,
        labels,
        n_items=args.items,
        n_annotators=args.annotators,
        n_categories=args.labels,
        severity=severity,
        n_resamples=args.resamples,
        bootstrap_method=args.bootstrap,
        seed=args.seed,
    )
    total = time.perf_counter() - started
    report_rss = peak_rss_mb()
    for name, seconds in report.seconds.items():
        print(f"  {name:<20} {seconds:7.3f} s")
    print(f"full report: {total:.2f} s, peak RSS {report_rss:.0f} MB")
    ds = report.dawid_skene
    print(
        f"  alpha {report.alpha.value:.4f} [{report.alpha_ci.low:.4f}, {report.alpha_ci.high:.4f}] "
        f"({args.resamples} resamples, {args.bootstrap}); Dawid–Skene {ds.iterations} iterations, converged={ds.converged}; "
        f"accuracy vs truth: majority {(report.majority.label == truth).mean():.4f}, "
        f"Dawid–Skene {(ds.label == truth).mean():.4f}; adjudication queue {len(report.adjudication):,} items"
    )

    counts = agreement.value_counts(items, labels, n_items=args.items, n_categories=args.labels)

    def best_of(function, repeat: int = 3) -> tuple[float, object]:
        times, result = [], None
        for _ in range(repeat):
            started = time.perf_counter()
            result = function()
            times.append(time.perf_counter() - started)
        return min(times), result

    own_seconds, own = best_of(lambda: agreement.krippendorff_alpha(counts))
    from_rows_seconds, _ = best_of(
        lambda: agreement.krippendorff_alpha(
            agreement.value_counts(items, labels, n_items=args.items, n_categories=args.labels)
        )
    )
    library_seconds, library = best_of(lambda: krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))
    print(
        f"alpha alone (best of 3): ours {own_seconds:.3f} s on the matrix, {from_rows_seconds:.3f} s from the "
        f"annotation rows; bare krippendorff.alpha {library_seconds:.3f} s; "
        f"difference {abs(own.value - library):.1e}; peak RSS after {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
