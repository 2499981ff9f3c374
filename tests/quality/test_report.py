"""The whole report on a small synthetic project."""

from __future__ import annotations

import json

import numpy as np

from quality.report import quality_report


def test_quality_report_runs_end_to_end_and_its_summary_is_json():
    rng = np.random.default_rng(0)
    n_items, overlap, n_annotators, size = 500, 3, 6, 4
    truth = rng.integers(0, size, size=n_items)
    who = np.argsort(rng.random((n_items, n_annotators)), axis=1)[:, :overlap]
    items = np.repeat(np.arange(n_items), overlap)
    labels = np.where(rng.random(len(items)) < 0.8, truth[items], rng.integers(0, size, size=len(items)))
    report = quality_report(
        items,
        who.ravel(),
        labels,
        n_items=n_items + 2,  # two items nobody labelled yet
        n_annotators=n_annotators,
        n_categories=size,
        label_keys=["ok", "spam", "scam", "hate"],
        severity=[0, 1, 1, 3],
        n_resamples=100,
    )
    summary = json.loads(json.dumps(report.summary()))
    assert summary["alpha"]["n_unannotated"] == 2
    assert summary["alpha_ci"]["low"] < summary["alpha"]["value"] < summary["alpha_ci"]["high"]
    assert summary["fleiss_kappa"]["overlap"] == 3
    assert set(summary["per_label_alpha"]) == {"ok", "spam", "scam", "hate"}
    assert summary["pairwise_kappa"]["pairs"] == 15
    assert len(report.annotators) == n_annotators
    assert (report.dawid_skene.label[:n_items] == truth).mean() > 0.9
    assert set(report.seconds) >= {"alpha", "alpha_bootstrap", "dawid_skene", "pairwise_kappa"}


def test_quality_report_of_degenerate_data_reports_why_and_warns_nothing(recwarn):
    single = quality_report([0, 1, 2], [0, 1, 0], [1, 0, 1], n_items=4, n_annotators=2, n_categories=3, n_resamples=10)
    summary = json.loads(json.dumps(single.summary(), allow_nan=False))
    assert summary["alpha"]["value"] is None
    assert (summary["alpha"]["n_single"], summary["alpha"]["n_unannotated"]) == (3, 1)
    assert summary["alpha_ci"]["low"] is None

    one_value = quality_report(
        [0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1], n_items=2, n_annotators=2, n_categories=3, severity=[0, 1, 2]
    )
    summary = json.loads(json.dumps(one_value.summary(), allow_nan=False))
    assert "0/0" in summary["alpha"]["reason"]
    assert summary["severity_alpha"]["value"] is None
    assert summary["observed_agreement"] == 1.0
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
