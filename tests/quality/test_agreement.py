"""Agreement statistics against published figures, the krippendorff library and direct formulas."""

from __future__ import annotations

import itertools
import warnings

import krippendorff
import numpy as np
import pytest

from quality.agreement.alpha import LEVELS, alpha_from_coincidences, krippendorff_alpha, per_label_alpha
from quality.agreement.bootstrap import alpha_bootstrap, row_patterns
from quality.agreement.kappa import cohen_kappa, cohen_kappa_pairs, fleiss_kappa
from quality.agreement.matrices import (
    NO_PAIRABLE,
    ONE_VALUE,
    coincidences,
    collapse_categories,
    multilabel_counts,
    pairable_units,
    value_counts,
)
from quality.agreement.observed import annotator_agreement, confused_pairs, item_agreement, observed_agreement

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders × 12 units,
# values 1..5, with missing values; unit 12 was coded once (not pairable).
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}

# Fleiss' kappa example as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_WIKIPEDIA = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def _long(reliability: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit, coder, value) rows of a coders × units reliability matrix, skipping the missing."""
    coder, unit = np.nonzero(~np.isnan(reliability))
    return unit, coder, reliability[coder, unit].astype(np.int64)


def _random_annotations(rng: np.random.Generator, *, n_items: int, n_annotators: int, n_categories: int):
    """Random long-format annotations: each item gets 0..n_annotators distinct annotators."""
    per_item = rng.integers(0, n_annotators + 1, size=n_items)
    items = np.repeat(np.arange(n_items), per_item)
    annotators = np.concatenate([rng.permutation(n_annotators)[:k] for k in per_item]) if n_items else items
    # Skewed labels so agreement is above chance and every level has something to measure.
    truth = rng.integers(0, n_categories, size=n_items)
    labels = np.where(rng.random(len(items)) < 0.6, truth[items], rng.integers(0, n_categories, size=len(items)))
    return items, annotators.astype(np.int64), labels.astype(np.int64)


def _reliability(valued_labels, annotators, items, *, n_items, n_annotators) -> np.ndarray:
    """The coders × units reliability matrix the library takes (NaN where nobody coded)."""
    data = np.full((n_annotators, n_items), np.nan)
    data[annotators, items] = valued_labels
    return data


# -- Krippendorff's worked example -----------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_alpha_matches_the_2011_worked_example(level):
    units, _, values = _long(KRIPPENDORFF_2011)
    counts = value_counts(units, values - 1, n_items=12, n_categories=5)
    result = krippendorff_alpha(counts, level=level, values=[1, 2, 3, 4, 5])
    library = krippendorff.alpha(reliability_data=KRIPPENDORFF_2011, level_of_measurement=level)
    assert result.value == pytest.approx(PUBLISHED[level], abs=1e-3)
    assert result.value == pytest.approx(library, abs=1e-9)
    via_library = krippendorff_alpha(counts, level=level, values=[1, 2, 3, 4, 5], engine="library")
    assert via_library.value == pytest.approx(result.value, abs=1e-9)
    assert (result.n_items, result.n_values, result.n_single, result.reason) == (11, 40, 1, None)


def test_krippendorff_alpha_worked_example_coincidences_match_the_published_matrix():
    units, _, values = _long(KRIPPENDORFF_2011)
    counts = value_counts(units, values - 1, n_items=12, n_categories=5)
    o = coincidences(counts)
    # Krippendorff (2011), the coincidence matrix of the example: n_c = 9, 13, 10, 5, 3 and n = 40.
    published = np.array(
        [
            [7, 4 / 3, 1 / 3, 1 / 3, 0],
            [4 / 3, 10, 4 / 3, 1 / 3, 0],
            [1 / 3, 4 / 3, 8, 1 / 3, 0],
            [1 / 3, 1 / 3, 1 / 3, 4, 0],
            [0, 0, 0, 0, 3],
        ]
    )
    np.testing.assert_allclose(o, published, atol=1e-9)
    np.testing.assert_allclose(o.sum(axis=0), [9, 13, 10, 5, 3], atol=1e-9)


def test_coincidences_equal_their_definition_on_random_data():
    rng = np.random.default_rng(11)
    items, _, labels = _random_annotations(rng, n_items=40, n_annotators=6, n_categories=4)
    counts = value_counts(items, labels, n_items=40, n_categories=4)
    expected = np.zeros((4, 4))
    for item in range(40):  # the definition: ordered pairs of values within a unit, over m_u − 1
        values = labels[items == item]
        if len(values) < 2:
            continue
        for i, j in itertools.permutations(range(len(values)), 2):
            expected[values[i], values[j]] += 1 / (len(values) - 1)
    np.testing.assert_allclose(coincidences(counts), expected, atol=1e-9)


# -- Against the library on random data ------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_alpha_equals_the_library_on_random_data(seed, level):
    rng = np.random.default_rng(seed)
    n_items, n_annotators, n_categories = int(rng.integers(5, 300)), int(rng.integers(2, 9)), int(rng.integers(2, 8))
    items, annotators, labels = _random_annotations(
        rng, n_items=n_items, n_annotators=n_annotators, n_categories=n_categories
    )
    values = np.sort(rng.choice(np.arange(1, 50), size=n_categories, replace=False)).astype(float)
    counts = value_counts(items, labels, n_items=n_items, n_categories=n_categories)
    result = krippendorff_alpha(counts, level=level, values=values)
    reliability = _reliability(values[labels], annotators, items, n_items=n_items, n_annotators=n_annotators)
    library = krippendorff.alpha(reliability_data=reliability, value_domain=values, level_of_measurement=level)
    assert result.value == pytest.approx(library, abs=1e-9)
    library_on_counts = krippendorff.alpha(value_counts=counts, value_domain=values, level_of_measurement=level)
    assert result.value == pytest.approx(library_on_counts, abs=1e-9)


def test_ordinal_alpha_over_severity_merges_labels_of_equal_severity():
    rng = np.random.default_rng(5)
    severity = np.array([0, 0, 1, 2, 2, 4])  # six labels, two pairs share a severity
    items, annotators, labels = _random_annotations(rng, n_items=200, n_annotators=5, n_categories=6)
    counts = value_counts(items, labels, n_items=200, n_categories=6)
    reliability = _reliability(severity[labels], annotators, items, n_items=200, n_annotators=5)
    for level in ("ordinal", "interval"):
        ours = krippendorff_alpha(counts, level=level, values=severity)
        library = krippendorff.alpha(
            reliability_data=reliability, value_domain=[0, 1, 2, 4], level_of_measurement=level
        )
        assert ours.value == pytest.approx(library, abs=1e-9)
    merged, distinct = collapse_categories(counts, severity)
    assert distinct.tolist() == [0, 1, 2, 4]
    np.testing.assert_array_equal(merged.sum(axis=1), counts.sum(axis=1))


# -- Edge cases ------------------------------------------------------------------------------


def test_krippendorff_alpha_is_one_on_perfect_agreement():
    counts = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 4], [2, 0, 0]])
    for level in LEVELS:
        assert krippendorff_alpha(counts, level=level, values=[1, 2, 3]).value == pytest.approx(1.0, abs=1e-12)


def test_krippendorff_alpha_is_undefined_when_one_value_is_used_everywhere():
    counts = np.array([[3, 0], [2, 0], [5, 0], [1, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division warnings either
        for engine in ("own", "library"):
            result = krippendorff_alpha(counts, engine=engine)
            assert result.value is None
            assert result.reason == ONE_VALUE
            assert (result.n_items, result.n_single) == (3, 1)
        ci = alpha_bootstrap(counts, n_resamples=50)
        assert (ci.low, ci.high, ci.n_undefined) == (None, None, 50)
        assert np.isnan(per_label_alpha(counts)).all()
        assert fleiss_kappa(counts).value is None
        assert np.isnan(alpha_from_coincidences(coincidences(counts)))


def test_krippendorff_alpha_counts_and_reports_when_every_item_is_single_annotated():
    counts = value_counts([0, 1, 2, 3], [0, 1, 0, 2], n_items=5, n_categories=3)
    result = krippendorff_alpha(counts)
    assert result.value is None
    assert result.reason == NO_PAIRABLE
    assert (result.n_items, result.n_values, result.n_single, result.n_unannotated) == (0, 0, 4, 1)
    assert observed_agreement(counts) is None
    assert fleiss_kappa(counts).reason == NO_PAIRABLE
    assert alpha_bootstrap(counts).low is None
    assert cohen_kappa_pairs([0, 1], [0, 1], [0, 1], n_annotators=2, n_categories=3).table.empty


def test_krippendorff_alpha_of_one_item():
    counts = np.array([[2, 1, 0]])
    result = krippendorff_alpha(counts)
    assert result.value == pytest.approx(
        krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"), abs=1e-9
    )
    assert result.value == pytest.approx(0.0, abs=1e-12)  # 1 − (n − 1)·D_o / D_e = 1 − 2·2/4
    assert result.n_items == 1


def test_krippendorff_alpha_of_no_annotations_at_all():
    counts = value_counts([], [], n_items=0, n_categories=3)
    assert counts.shape == (0, 3)
    assert krippendorff_alpha(counts).reason == NO_PAIRABLE


def test_value_counts_names_the_first_bad_row():
    with pytest.raises(ValueError, match=r"row 2: label code 7 is outside 0\.\.2"):
        value_counts([0, 1, 1], [0, 2, 7], n_items=2, n_categories=3)
    with pytest.raises(ValueError, match="differ in length"):
        value_counts([0, 1], [0], n_items=2, n_categories=3)


# -- Chunks ----------------------------------------------------------------------------------


def test_value_counts_and_coincidences_are_chunk_additive():
    rng = np.random.default_rng(3)
    items, _, labels = _random_annotations(rng, n_items=2_000, n_annotators=7, n_categories=6)
    whole = value_counts(items, labels, n_items=2_000, n_categories=6)

    # Value counts: any split of the annotation rows (here shuffled, so items straddle chunks).
    order = rng.permutation(len(items))
    cuts = np.sort(rng.choice(len(items), size=9, replace=False))
    summed = sum(
        value_counts(items[part], labels[part], n_items=2_000, n_categories=6) for part in np.split(order, cuts)
    )
    np.testing.assert_array_equal(summed, whole)

    # Coincidences: a stream ordered by item, cut on item boundaries (each item in one chunk).
    by_item = np.argsort(items, kind="stable")
    boundaries = np.searchsorted(items[by_item], [300, 301, 900, 1_500])
    o = sum(
        coincidences(value_counts(items[part], labels[part], n_items=2_000, n_categories=6))
        for part in np.split(by_item, boundaries)
    )
    np.testing.assert_allclose(o, coincidences(whole), atol=1e-9)
    assert alpha_from_coincidences(o) == pytest.approx(krippendorff_alpha(whole).value, abs=1e-9)


def test_multilabel_counts_are_chunk_additive_and_count_empty_annotations():
    rng = np.random.default_rng(4)
    items = rng.integers(0, 50, size=400)
    indicator = rng.random((400, 5)) < 0.3  # some annotations choose no label at all
    present, m = multilabel_counts(items, indicator, n_items=50)
    np.testing.assert_array_equal(m, np.bincount(items, minlength=50))
    halves = [multilabel_counts(items[s], indicator[s], n_items=50) for s in (slice(0, 170), slice(170, None))]
    np.testing.assert_array_equal(halves[0][0] + halves[1][0], present)
    np.testing.assert_array_equal(halves[0][1] + halves[1][1], m)


# -- Per-label binary alpha ------------------------------------------------------------------


def test_per_label_alpha_equals_binary_alpha_of_the_library_for_each_label():
    rng = np.random.default_rng(8)
    items = np.repeat(np.arange(300), rng.integers(1, 6, size=300))
    indicator = rng.random((len(items), 6)) < np.array([0.05, 0.2, 0.5, 0.7, 0.0, 0.3])
    indicator[:, 1] |= (items % 3 == 0)[: len(items)]  # some real agreement on label 1
    present, m = multilabel_counts(items, indicator, n_items=300)
    ours = per_label_alpha(present, m)
    for label in range(6):
        binary = np.column_stack([m - present[:, label], present[:, label]])
        if present[m >= 2, label].sum() == 0:
            assert np.isnan(ours[label])  # never chosen: undefined
            continue
        library = krippendorff.alpha(value_counts=binary, level_of_measurement="nominal")
        assert ours[label] == pytest.approx(library, abs=1e-9)


def test_per_label_alpha_of_a_single_label_matrix_is_one_label_against_the_rest():
    rng = np.random.default_rng(9)
    items, _, labels = _random_annotations(rng, n_items=150, n_annotators=4, n_categories=3)
    counts = value_counts(items, labels, n_items=150, n_categories=3)
    ours = per_label_alpha(counts)
    for label in range(3):
        binary = np.column_stack([counts.sum(axis=1) - counts[:, label], counts[:, label]])
        assert ours[label] == pytest.approx(krippendorff.alpha(value_counts=binary, level_of_measurement="nominal"))


# -- Bootstrap -------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_bootstrap_by_items_equals_a_naive_resampling_loop(level):
    rng = np.random.default_rng(12)
    items, _, labels = _random_annotations(rng, n_items=80, n_annotators=5, n_categories=4)
    counts = value_counts(items, labels, n_items=80, n_categories=4)
    values = [1.0, 2.0, 4.0, 8.0]
    ci = alpha_bootstrap(counts, level=level, values=values, n_resamples=23, seed=5, method="items", block=7)
    rows = pairable_units(counts).counts
    draws = np.random.default_rng(5)
    naive = []
    for start in range(0, 23, 7):  # the same draws, one resample at a time, through the library
        for index in draws.integers(0, len(rows), size=(min(7, 23 - start), len(rows))):
            naive.append(krippendorff.alpha(value_counts=rows[index], value_domain=values, level_of_measurement=level))
    np.testing.assert_allclose(ci.samples, naive, atol=1e-9)
    assert ci.low == pytest.approx(np.quantile(naive, 0.025), abs=1e-9)
    assert ci.high == pytest.approx(np.quantile(naive, 0.975), abs=1e-9)


@pytest.mark.parametrize("level", LEVELS)
def test_alpha_bootstrap_by_patterns_equals_a_naive_resampling_loop(level):
    rng = np.random.default_rng(14)
    items, _, labels = _random_annotations(rng, n_items=400, n_annotators=3, n_categories=3)
    counts = value_counts(items, labels, n_items=400, n_categories=3)
    values = [1.0, 3.0, 4.0]
    ci = alpha_bootstrap(counts, level=level, values=values, n_resamples=20, seed=6, method="patterns")
    rows = pairable_units(counts).counts
    patterns, frequency = row_patterns(rows)
    assert len(patterns) < len(rows) and frequency.sum() == len(rows)
    naive = [  # draw how many times each distinct row comes up, rebuild the resampled matrix, ask the library
        krippendorff.alpha(
            value_counts=np.repeat(patterns, drawn, axis=0), value_domain=values, level_of_measurement=level
        )
        for drawn in np.random.default_rng(6).multinomial(len(rows), frequency / len(rows), size=20)
    ]
    np.testing.assert_allclose(ci.samples, naive, atol=1e-9)


def test_alpha_bootstrap_methods_agree_and_auto_picks_patterns_when_rows_repeat():
    rng = np.random.default_rng(15)
    items, _, labels = _random_annotations(rng, n_items=4_000, n_annotators=3, n_categories=4)
    counts = value_counts(items, labels, n_items=4_000, n_categories=4)
    by_items = alpha_bootstrap(counts, n_resamples=600, seed=1, method="items")
    by_patterns = alpha_bootstrap(counts, n_resamples=600, seed=1, method="patterns")
    auto = alpha_bootstrap(counts, n_resamples=600, seed=1)
    np.testing.assert_array_equal(auto.samples, by_patterns.samples)
    assert by_items.low == pytest.approx(by_patterns.low, abs=0.01)
    assert by_items.high == pytest.approx(by_patterns.high, abs=0.01)
    assert by_items.samples.std() == pytest.approx(by_patterns.samples.std(), rel=0.15)


def test_row_patterns_fall_back_to_whole_row_comparison_for_wide_matrices():
    counts = np.zeros((5, 40), dtype=np.int64)
    counts[[0, 2], 3] = 9
    counts[[1, 3, 4], 39] = 2
    patterns, frequency = row_patterns(counts)
    assert frequency.tolist() == [3, 2]  # sorted rows: (0, …, 2) before (0, 0, 0, 9, …)
    assert len(patterns) == 2


def test_alpha_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(13)
    items, _, labels = _random_annotations(rng, n_items=3_000, n_annotators=5, n_categories=5)
    counts = value_counts(items, labels, n_items=3_000, n_categories=5)
    first = alpha_bootstrap(counts, n_resamples=300, seed=1)
    again = alpha_bootstrap(counts, n_resamples=300, seed=1)
    other = alpha_bootstrap(counts, n_resamples=300, seed=2)
    assert (first.low, first.high) == (again.low, again.high)
    assert (first.low, first.high) != (other.low, other.high)
    estimate = krippendorff_alpha(counts).value
    assert first.low < estimate < first.high
    assert first.high - first.low < 0.1
    assert first.n_undefined == 0


# -- Fleiss, Cohen, observed agreement -------------------------------------------------------


def test_fleiss_kappa_matches_the_wikipedia_example():
    result = fleiss_kappa(FLEISS_WIKIPEDIA)
    assert result.value == pytest.approx(0.20993, abs=1e-5)
    assert result.observed == pytest.approx(0.378, abs=1e-3)
    assert result.expected == pytest.approx(0.213, abs=1e-3)
    assert (result.overlap, result.n_items, result.n_excluded, result.reason) == (14, 10, 0, None)
    p_i = ((FLEISS_WIKIPEDIA**2).sum(axis=1) - 14) / (14 * 13)
    p_j = FLEISS_WIKIPEDIA.sum(axis=0) / 140
    direct = (p_i.mean() - (p_j**2).sum()) / (1 - (p_j**2).sum())
    assert result.value == pytest.approx(direct, abs=1e-12)


def test_fleiss_kappa_with_varying_overlap_uses_the_most_common_and_says_so():
    # Ten items with 3 ratings, two with 2, one with 4, one single (not pairable, not "excluded").
    counts = np.array([[2, 1, 0]] * 10 + [[1, 1, 0], [0, 2, 0], [3, 1, 0], [1, 0, 0]])
    result = fleiss_kappa(counts)
    assert (result.overlap, result.n_items, result.n_excluded) == (3, 10, 3)
    assert "varies" in result.reason and "3 pairable items" in result.reason
    assert result.value == pytest.approx((1 / 3 - 5 / 9) / (1 - 5 / 9), abs=1e-12)
    assert fleiss_kappa(counts, overlap=2).n_items == 2


def test_cohen_kappa_matches_the_textbook_two_by_two():
    # Yes/Yes 20, Yes/No 5, No/Yes 10, No/No 15 (Wikipedia): p_o = 0.7, p_e = 0.5, kappa = 0.4.
    first = np.array([0] * 20 + [0] * 5 + [1] * 10 + [1] * 15)
    second = np.array([0] * 20 + [1] * 5 + [0] * 10 + [1] * 15)
    assert cohen_kappa(first, second, n_categories=2) == pytest.approx(0.4, abs=1e-12)
    table = cohen_kappa_pairs(
        np.tile(np.arange(50), 2),
        np.repeat([3, 1], 50),
        np.concatenate([first, second]),
        n_annotators=4,
        n_categories=2,
    ).table
    assert table.to_dict("records") == [
        {
            "annotator_a": 1,
            "annotator_b": 3,
            "n_shared": 50,
            "observed": 0.7,
            "expected": 0.5,
            "kappa": pytest.approx(0.4),
        }
    ]


def test_cohen_kappa_pairs_equal_the_direct_formula_on_random_data():
    rng = np.random.default_rng(21)
    n_items, n_annotators, n_categories = 400, 9, 4
    items, annotators, labels = _random_annotations(
        rng, n_items=n_items, n_annotators=n_annotators, n_categories=n_categories
    )
    result = cohen_kappa_pairs(
        items, annotators, labels, n_annotators=n_annotators, n_categories=n_categories, min_shared=30
    )
    given = {(int(i), int(a)): int(label) for i, a, label in zip(items, annotators, labels, strict=True)}
    expected, below = {}, 0
    for a, b in itertools.combinations(range(n_annotators), 2):
        shared = [i for i in range(n_items) if (i, a) in given and (i, b) in given]
        if len(shared) < 30:
            below += len(shared) > 0
            continue
        first = np.array([given[i, a] for i in shared])
        second = np.array([given[i, b] for i in shared])
        p_o = (first == second).mean()
        p_e = sum((first == k).mean() * (second == k).mean() for k in range(n_categories))
        expected[a, b] = (len(shared), (p_o - p_e) / (1 - p_e))
    got = {(r.annotator_a, r.annotator_b): (r.n_shared, r.kappa) for r in result.table.itertuples()}
    assert got.keys() == expected.keys()
    for pair, (n, kappa) in expected.items():
        assert got[pair][0] == n
        assert got[pair][1] == pytest.approx(kappa, abs=1e-9)
    assert result.n_pairs_below_min == below


def test_observed_agreement_averages_pairwise_agreement_per_item():
    counts = np.array([[3, 0], [2, 1], [1, 1], [1, 0]])  # 1, 1/3, 0; the single item is left out
    assert observed_agreement(counts) == pytest.approx((1 + 1 / 3 + 0) / 3, abs=1e-12)
    per_item = item_agreement(counts)
    assert np.isnan(per_item[3])


def test_confused_pairs_puts_the_most_confused_pair_first():
    # Labels 1 and 2 are confused on many items, 0 and 1 on one.
    counts = np.array([[0, 1, 1]] * 8 + [[1, 1, 0]] + [[2, 0, 0]] * 5 + [[0, 0, 2]] * 3)
    table = confused_pairs(coincidences(counts), labels=["ok", "spam", "scam"])
    first = table.iloc[0]
    assert (first.label_a, first.label_b, first.coincidences) == ("spam", "scam", pytest.approx(8.0))
    assert first.share == pytest.approx(8 / 9)
    assert len(table) == 2  # pairs never confused are not listed


# -- Per-annotator ---------------------------------------------------------------------------


def test_annotator_agreement_equals_a_direct_computation():
    rng = np.random.default_rng(31)
    n_items, n_annotators, n_categories = 300, 6, 3
    items, annotators, labels = _random_annotations(
        rng, n_items=n_items, n_annotators=n_annotators, n_categories=n_categories
    )
    labels = np.where(annotators == 5, 2, labels)  # annotator 5 always says "2"
    counts = value_counts(items, labels, n_items=n_items, n_categories=n_categories)
    table = annotator_agreement(items, annotators, labels, counts=counts, n_annotators=n_annotators)
    for annotator in range(n_annotators):
        shares, own, others, hits, decided = [], [], [], 0, 0
        for item, label in zip(items[annotators == annotator], labels[annotators == annotator], strict=True):
            rest = labels[(items == item) & (annotators != annotator)]
            if len(rest) == 0:
                continue
            shares.append((rest == label).mean())
            own.append(np.eye(n_categories)[label])
            others.append(np.bincount(rest, minlength=n_categories) / len(rest))
            tally = np.bincount(rest, minlength=n_categories)
            if (tally == tally.max()).sum() == 1:
                decided += 1
                hits += tally.argmax() == label
        row = table.loc[annotator]
        p_o = np.mean(shares)
        p_e = (np.mean(own, axis=0) * np.mean(others, axis=0)).sum()
        assert row.n_pairable == len(shares)
        assert row.agreement == pytest.approx(p_o, abs=1e-9)
        assert row.expected == pytest.approx(p_e, abs=1e-9)
        assert row.kappa == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-9)
        assert row.n_majority == decided
        assert row.majority_agreement == pytest.approx(hits / decided, abs=1e-9)
    assert table.loc[5, "kappa"] == pytest.approx(0.0, abs=1e-9)  # a constant rater agrees only by chance
