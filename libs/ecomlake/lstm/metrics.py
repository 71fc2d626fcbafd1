"""Classification metrics in numpy (no scikit-learn): accuracy, per-class and macro F1, rank-based ROC-AUC.

Example:
    >>> accuracy([0, 1, 2, 2], [0, 2, 2, 2])
    0.75
    >>> round(roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.75
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def _labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    return t, p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of equal labels (NaN for no rows)."""
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else math.nan


def per_class_f1(y_true: ArrayLike, y_pred: ArrayLike, classes: Sequence[int] | None = None) -> dict[int, float]:
    """F1 of each class (default: the classes present in ``y_true`` or ``y_pred``); 0 when a class is never right."""
    t, p = _labels(y_true, y_pred)
    labels = sorted(set(np.unique(t).tolist()) | set(np.unique(p).tolist())) if classes is None else list(classes)
    out: dict[int, float] = {}
    for c in labels:
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = int(np.sum((t == c) & (p != c)))
        out[int(c)] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return out


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of the per-class F1 over the classes present in ``y_true`` or ``y_pred`` (NaN for no rows)."""
    scores = per_class_f1(y_true, y_pred)
    return float(np.mean(list(scores.values()))) if scores else math.nan


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties counting 1/2.

    Computed from ranks (Mann-Whitney U, tied scores get their average rank); NaN when ``y_true`` holds one
    class only. Labels are 0/1 (filter out unknown labels, e.g. churn -1, first).
    """
    t = np.asarray(y_true).ravel().astype(np.int64)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError(f"y_true and scores differ in length: {t.shape[0]} vs {s.shape[0]}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("roc_auc needs 0/1 labels; drop unknown (-1) labels first")
    positives = int(t.sum())
    negatives = t.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    sorted_scores = s[order]
    # Runs of equal scores share their average 1-based rank: (first + last) / 2 = (start + 1 + end) / 2.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    ranks = np.empty(s.size, dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + ends) / 2.0, ends - starts)
    u = ranks[t == 1].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))
