"""From label keys and database ids to the codes the quality engine uses."""

from __future__ import annotations

import numpy as np
import pytest

from quality.encoding import codes_for, label_codes, label_indicator

KEYS = ["ok", "spam", "hate"]


def test_label_codes_one_per_annotation():
    assert label_codes([["spam"], ["ok"], ["hate"]], KEYS).tolist() == [1, 0, 2]


@pytest.mark.parametrize(
    ("lists", "message"),
    [
        ([["ok"], ["porn"]], "row 1: unknown label key 'porn'"),
        ([["ok"], ["ok", "spam"]], "row 1: a single-choice annotation needs exactly one label"),
        ([["ok"], []], "row 1: a single-choice annotation needs exactly one label"),
        ([["ok"], "spam"], "row 1: labels must be a list"),
    ],
)
def test_label_codes_say_what_and_where(lists, message):
    with pytest.raises(ValueError, match=message):
        label_codes(lists, KEYS)


def test_label_indicator_allows_empty_sets():
    indicator = label_indicator([["spam", "hate"], [], ["ok"]], KEYS)
    assert indicator.tolist() == [[False, True, True], [False, False, False], [True, False, False]]


def test_codes_for_maps_ids_into_a_fixed_universe():
    universe = np.array([40, 10, 30])
    assert codes_for([30, 40, 40, 10], universe, what="item").tolist() == [2, 0, 0, 1]
    with pytest.raises(ValueError, match="row 1: item 99 is not one of the known items"):
        codes_for([30, 99], universe, what="item")
