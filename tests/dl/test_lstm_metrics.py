"""numpy metrics against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecomlake.lstm.metrics import accuracy, macro_f1, per_class_f1, roc_auc

pytestmark = pytest.mark.dl


def test_accuracy() -> None:
    assert accuracy([0, 1, 2, 2, 4], [0, 2, 2, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(accuracy([], []))
    with pytest.raises(ValueError, match="differ in length"):
        accuracy([0, 1], [0])


def test_f1_per_class_and_macro_over_the_classes_seen() -> None:
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 3, 2]
    # class 0: tp 2, fp 0, fn 1 -> 4/5; class 1: tp 1, fp 1, fn 1 -> 2/4; class 2: 1; class 3 (predicted only): tp 0 -> 0
    assert per_class_f1(y_true, y_pred) == pytest.approx({0: 0.8, 1: 0.5, 2: 1.0, 3: 0.0})
    assert macro_f1(y_true, y_pred) == pytest.approx((0.8 + 0.5 + 1.0 + 0.0) / 4)
    assert per_class_f1(y_true, y_pred, classes=[0, 4]) == {0: pytest.approx(0.8), 4: 0.0}  # class 4 is in neither
    assert macro_f1([1, 1], [1, 1]) == 1.0


def test_roc_auc_is_the_pairwise_win_rate_with_ties_as_halves() -> None:
    # positives 0.35, 0.8 against negatives 0.1, 0.4: wins 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3 of 4
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a positive tied with a negative at 0.5: pairs (0.5 vs 0.5) 1/2, (0.5 vs 0.2) 1, (0.9 vs both) 2 -> 3.5 / 4
    assert roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.9, 0.2]) == pytest.approx(0.875)
    assert roc_auc([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)  # all tied
    assert roc_auc([1, 1, 0], [0.1, 0.2, 0.9]) == 0.0
    assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))  # one class: undefined


def test_roc_auc_matches_the_brute_force_pair_count_on_random_data() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300), 1)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    brute = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert roc_auc(y, s) == pytest.approx(brute, abs=1e-12)
    with pytest.raises(ValueError, match="0/1 labels"):
        roc_auc([0, 1, -1], [0.1, 0.2, 0.3])
