"""Metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from dnagpt.evaluation.metrics import auroc, classification_metrics, regression_metrics


def test_classification_metrics_by_hand():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [1, 1, 0, 0, 0, 1, 0, 1]  # tp 3, fn 1, fp 1, tn 3
    m = classification_metrics(y, p)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (3, 1, 1, 3)
    assert m["accuracy"] == 0.75 and m["precision"] == 0.75 and m["recall"] == 0.75 and m["f1"] == 0.75
    assert math.isclose(m["mcc"], (9 - 1) / 16)


def test_auroc_by_hand_with_ties():
    # positives score 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5), (0.9>0.1), (0.5=0.5 -> 1/2), (0.5>0.1)
    assert auroc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(3.5 / 4)
    assert auroc([1, 0], [0.2, 0.8]) == 0.0
    assert math.isnan(auroc([1, 1], [0.2, 0.8]))


def test_regression_metrics():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    m = regression_metrics(t, t * 2 + 1)  # perfectly correlated, badly scaled
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["r2"] < 0 and m["mse"] == pytest.approx(np.mean((t + 1) ** 2))
    m = regression_metrics([1, 2, 3], [3, 2, 1])
    assert m["spearman"] == pytest.approx(-1.0) and m["r2"] == pytest.approx(1 - 8 / 2)
    assert regression_metrics([1, 2, 2, 3], [1, 2, 2, 3])["r2"] == 1.0


def test_multiclass_metrics_by_hand():
    # 3 classes; confusion matrix rows = truth, columns = prediction: [[2,1,0],[0,2,0],[1,0,2]]
    y = [0, 0, 0, 1, 1, 2, 2, 2]
    p = [0, 0, 1, 1, 1, 2, 2, 0]
    m = classification_metrics(y, p)
    # Gorodkin's R_K: (c*s - sum p_k t_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2)); c = 6 correct, s = 8
    t_k, p_k = [3, 2, 3], [3, 3, 2]
    expected = (6 * 8 - sum(a * b for a, b in zip(p_k, t_k, strict=True))) / math.sqrt(
        (64 - sum(a * a for a in p_k)) * (64 - sum(b * b for b in t_k))
    )
    assert m["accuracy"] == 0.75 and m["mcc"] == pytest.approx(expected)
    recalls, precisions = [2 / 3, 1, 2 / 3], [2 / 3, 2 / 3, 1]
    assert m["recall"] == pytest.approx(np.mean(recalls)) and m["precision"] == pytest.approx(np.mean(precisions))
    perfect = np.eye(3)[y]
    assert classification_metrics(y, y, perfect)["auroc"] == 1.0
