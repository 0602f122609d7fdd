"""Metrics against values worked out by hand, against the hand-written versions they replaced, and
against committed results computed from committed scores."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnagpt.evaluation.metrics import (
    auroc,
    classification_metrics,
    pearson,
    r_squared,
    regression_metrics,
    spearman,
)

VEP = Path(__file__).resolve().parents[1] / "benchmarks" / "vep"


def test_classification_metrics_by_hand():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [1, 1, 0, 0, 0, 1, 0, 1]  # tp 3, fn 1, fp 1, tn 3
    m = classification_metrics(y, p)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (3, 1, 1, 3)
    assert m["accuracy"] == 0.75 and m["precision"] == 0.75 and m["recall"] == 0.75 and m["f1"] == 0.75
    assert math.isclose(m["mcc"], (9 - 1) / 16)


def test_confusion_counts_are_ints_in_json():
    m = classification_metrics([1, 0, 1, 1], [1, 0, 0, 1], [0.9, 0.1, 0.4, 0.8])
    assert all(type(m[k]) is int for k in ("tp", "tn", "fp", "fn"))
    assert '"tp": 2, "tn": 1, "fp": 0, "fn": 1' in json.dumps(m)


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


def test_undefined_metrics_are_nan_silently():
    """One class, a constant column, NaN: NaN, with no warning from scikit-learn or SciPy."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(auroc([0, 0, 0], [0.1, 0.2, 0.3]))
        assert math.isnan(auroc([0, 1, 0], [0.1, math.nan, 0.3]))
        assert auroc([0, 1, 1], [-math.inf, math.inf, math.inf]) == 1.0  # infinities are ranked
        m = regression_metrics([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])  # constant truth
        assert math.isnan(m["r2"]) and math.isnan(m["pearson"]) and math.isnan(m["spearman"])
        m = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])  # constant prediction: the mean, R2 0
        assert m["r2"] == 0.0 and math.isnan(m["pearson"]) and math.isnan(m["spearman"])
        m = regression_metrics([1.0, 2.0, 3.0], [1.0, math.nan, 3.0])
        assert all(math.isnan(m[k]) for k in ("r2", "pearson", "spearman", "mse"))
        assert r_squared([1.0, 2.0], [1.0, math.inf]) == -math.inf
        assert spearman([1.0, 2.0, math.inf], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
        assert math.isnan(pearson([1.0, 2.0, math.inf], [1.0, 2.0, 3.0]))
        assert math.isnan(pearson([1.0], [2.0])) and math.isnan(spearman([1.0], [2.0]))
        # a constant whose mean rounds away from it: the old code's test of the spread missed it
        assert math.isnan(r_squared([0.1] * 3, [0.0, 0.5, 1.0])) and math.isnan(pearson([0.1] * 3, range(3)))
        one_class = classification_metrics([0, 0, 0], [0, 0, 0], [0.1, 0.2, 0.3])
        assert (one_class["tp"], one_class["tn"], one_class["precision"], one_class["f1"]) == (0, 3, 0.0, 0.0)
        assert math.isnan(one_class["auroc"]) and one_class["mcc"] == 0.0
        three = classification_metrics([0, 1, 1], [0, 1, 2], np.eye(3)[[0, 1, 2]])
        assert math.isnan(three["auroc"])  # class 2 absent from the labels: one-vs-rest undefined
        assert math.isnan(classification_metrics([0, 1, 2], [0, 1, 2], np.full((3, 3), math.nan))["auroc"])


# ---------------------------------------------------------------------------------------------
# The hand-written versions the package used before scikit-learn and SciPy, copied unchanged as
# the reference the new ones must reproduce.


def _old_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return ranks


def _old_classification_metrics(labels, predictions, scores=None) -> dict[str, float]:
    from sklearn import metrics as skm

    y = np.asarray(labels).astype(int)
    p = np.asarray(predictions).astype(int)
    if y.shape != p.shape or y.size == 0:
        raise ValueError("labels and predictions must be non-empty and of the same length")
    s = None if scores is None else np.asarray(scores, dtype=float)
    n_classes = max(int(y.max()), int(p.max()), 1) + 1
    if s is not None and s.ndim == 2:
        n_classes = max(n_classes, s.shape[1])
    out = {"accuracy": float(np.mean(y == p)), "mcc": float(skm.matthews_corrcoef(y, p))}
    if n_classes == 2:
        tp, tn = int(np.sum((y == 1) & (p == 1))), int(np.sum((y == 0) & (p == 0)))
        fp, fn = int(np.sum((y == 0) & (p == 1))), int(np.sum((y == 1) & (p == 0)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out |= {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "tn": tn, "fp": fp, "fn": fn}
        if s is not None:
            out["auroc"] = _old_auroc(y, s if s.ndim == 1 else s[:, 1])
        return out
    classes = list(range(n_classes))
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, p, labels=classes, average="macro",
                                                                     zero_division=0)  # fmt: skip
    out |= {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
    if s is not None:
        present = len(np.unique(y)) == n_classes
        out["auroc"] = float(skm.roc_auc_score(y, s, multi_class="ovr", labels=classes)) if present else float("nan")
    return out


def _old_auroc(labels, scores) -> float:
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = _old_ranks(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _old_regression_metrics(truth, predictions) -> dict[str, float]:
    t = np.asarray(truth, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if t.shape != p.shape or t.size < 2:
        raise ValueError("need at least two values, and as many predictions as values")
    return {
        "r2": _old_r_squared(t, p),
        "pearson": _old_pearson(t, p),
        "spearman": _old_pearson(_old_ranks(t), _old_ranks(p)),
        "mse": float(np.mean((t - p) ** 2)),
    }


def _old_r_squared(truth: np.ndarray, predictions: np.ndarray) -> float:
    t, p = np.asarray(truth, dtype=float), np.asarray(predictions, dtype=float)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot if ss_tot else float("nan")


def _old_pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denom) if denom else float("nan")


# ---------------------------------------------------------------------------------------------
# Old against new. Exact (==) where the library does the same operations in the same order: the
# confusion counts, accuracy, precision, recall, MCC, AUROC, R2 and MSE. Within 1e-12 where it
# rounds differently: F1 (scikit-learn divides 2 tp by 2 tp + fp + fn instead of combining the
# rounded precision and recall) and the correlations (SciPy normalises before the dot product).

TOLERANCE = 1e-12
EXACT_BINARY = ("accuracy", "mcc", "precision", "recall", "tp", "tn", "fp", "fn", "auroc")


def _same(old: float, new: float) -> bool:
    return (math.isnan(old) and math.isnan(new)) or old == new


def _close(old: float, new: float) -> bool:
    return (math.isnan(old) and math.isnan(new)) or abs(old - new) <= TOLERANCE


def _scores(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    """Scores as models give them, and adversarial ones: many ties, constant, float32, infinities."""
    return [
        lambda: rng.random(n),  # probabilities
        lambda: rng.integers(0, 4, n).astype(float),  # a few distinct values: ties everywhere
        lambda: np.round(rng.random(n), 2),  # rounded: some ties
        lambda: np.full(n, 0.5),  # constant
        lambda: rng.random(n).astype(np.float32).astype(float),  # half-precision model outputs, widened
        lambda: np.where(rng.random(n) < 0.2, np.inf * rng.choice([-1, 1], n), rng.normal(size=n)),  # log(0)
        lambda: 1e6 + rng.normal(size=n) * 1e-6,  # large offset, tiny spread
    ][kind]()


def _labels(rng: np.random.Generator, n: int, kind: int) -> np.ndarray:
    """Balanced, imbalanced (1 %), one class only, or a single example of one class."""
    return [
        lambda: (rng.random(n) < 0.5).astype(int),
        lambda: (rng.random(n) < 0.01).astype(int),
        lambda: np.zeros(n, dtype=int),
        lambda: np.eye(n, dtype=int)[0],
        lambda: np.ones(n, dtype=int),
    ][kind]()


def _predictions(rng: np.random.Generator, y: np.ndarray, kind: int) -> np.ndarray:
    """Predicted classes: a coin toss, all class 0, or all right."""
    if kind == 0:
        return (rng.random(len(y)) < 0.5).astype(int)
    return np.zeros(len(y), dtype=int) if kind == 1 else y.copy()


@pytest.mark.filterwarnings("ignore:A single label was found")  # the old code's MCC of one class
def test_binary_classification_equals_the_old_code():
    rng = np.random.default_rng(0)
    f1_differ = 0
    for i in range(210):  # every (labels, scores, predictions) kind at least twice
        n = int(rng.integers(1, 400))
        y = _labels(rng, n, i % 5)
        s = _scores(rng, n, i % 7)
        p = _predictions(rng, y, i % 3)
        old, new = _old_classification_metrics(y, p, s), classification_metrics(y, p, s)
        assert list(old) == list(new)  # same keys in the same order: the JSON files read the same
        for k in EXACT_BINARY:
            assert _same(old[k], new[k]), (i, k, old[k], new[k])
        assert all(type(new[k]) is int for k in ("tp", "tn", "fp", "fn"))
        assert _close(old["f1"], new["f1"]), (i, old["f1"], new["f1"])
        f1_differ += old["f1"] != new["f1"]
        if i % 2:  # scores of shape (examples, 2) give the second column's AUROC
            two = np.stack([1 - s, s], axis=1)
            assert _same(_old_classification_metrics(y, p, two)["auroc"], classification_metrics(y, p, two)["auroc"])
    assert f1_differ < 40  # the last digit at most, and seldom


def test_multiclass_classification_equals_the_old_code():
    rng = np.random.default_rng(1)
    for i in range(120):
        n, k = int(rng.integers(3, 300)), int(rng.integers(3, 6))
        y = rng.integers(0, k if i % 4 else k - 1, n)  # every 4th: a class never in the labels
        p = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
        s = rng.dirichlet(np.ones(k), n)
        if i % 3 == 0:
            s = np.round(s, 1)  # ties (scaled back to sum to 1, as scikit-learn requires)
            s /= s.sum(axis=1, keepdims=True)
        old, new = _old_classification_metrics(y, p, s), classification_metrics(y, p, s)
        assert list(old) == list(new)  # same keys in the same order: the JSON files read the same
        for key in old:
            assert _same(old[key], new[key]), (i, key, old[key], new[key])


def test_auroc_equals_the_old_code():
    rng = np.random.default_rng(2)
    for i in range(3000):
        n = int(rng.integers(1, 500))
        y, s = _labels(rng, n, i % 5), _scores(rng, n, i % 7)
        assert _same(_old_auroc(y, s), auroc(y, s)), i


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(-1e3, 1e3, allow_nan=False)), min_size=1, max_size=60))
def test_auroc_equals_the_old_code_hypothesis(pairs):
    y, s = np.array([a for a, _ in pairs], dtype=int), np.array([b for _, b in pairs])
    assert _same(_old_auroc(y, s), auroc(y, s))


def _truth_and_predictions(rng: np.random.Generator, n: int, kind: int) -> tuple[np.ndarray, np.ndarray]:
    """Measured values and predictions: noisy, tied, constant, float32, large offsets, infinite predictions."""
    t = [
        lambda: rng.normal(size=n),
        lambda: rng.integers(0, 4, n).astype(float),
        lambda: np.full(n, 2.0),
        lambda: rng.normal(size=n).astype(np.float32).astype(float),
        lambda: 1e6 + rng.normal(size=n),
        lambda: rng.lognormal(size=n),
    ][kind % 6]()
    p = [
        lambda: t + rng.normal(size=n) * rng.random(),
        lambda: np.round(t + rng.normal(size=n), 1),
        lambda: np.full(n, 1.5),
        lambda: t.copy(),
        lambda: -t,
        lambda: np.where(np.arange(n) == 0, np.inf, rng.normal(size=n)),
        lambda: rng.normal(size=n) * 1e-9,  # small values
    ][kind % 7]()
    return t, p


def test_regression_equals_the_old_code():
    rng = np.random.default_rng(3)
    for i in range(3000):
        t, p = _truth_and_predictions(rng, int(rng.integers(2, 300)), i)
        with np.errstate(all="ignore"):  # the old code's NaN and infinity arithmetic
            old = _old_regression_metrics(t, p)
        new = regression_metrics(t, p)
        assert _same(old["r2"], new["r2"]) and _same(old["mse"], new["mse"]), (i, old, new)
        assert _close(old["pearson"], new["pearson"]) and _close(old["spearman"], new["spearman"]), (i, old, new)


@settings(max_examples=300, deadline=None)
# Values below 1e-30 left out: their squares can underflow to 0, where the old code gave NaN (see below).
@given(st.lists(st.tuples(st.integers(-5, 5), st.floats(-1e3, 1e3).filter(lambda x: x == 0 or abs(x) > 1e-30)),
                min_size=2, max_size=60))  # fmt: skip
def test_regression_equals_the_old_code_hypothesis(pairs):
    t, p = np.array([a for a, _ in pairs], dtype=float), np.array([b for _, b in pairs])
    with np.errstate(all="ignore"):  # the old code's NaN and infinity arithmetic
        old = _old_regression_metrics(t, p)
    new = regression_metrics(t, p)
    assert _same(old["r2"], new["r2"]) and _same(old["mse"], new["mse"])
    if np.all(p == p[0]):  # constant: NaN now; the old code's mean could round off it and give noise
        assert math.isnan(new["pearson"]) and math.isnan(new["spearman"])
    else:
        assert _close(old["pearson"], new["pearson"]) and _close(old["spearman"], new["spearman"])


def test_where_the_new_code_differs_from_the_old():
    """NaN inputs and constants that rounding hid: NaN now, a number (of no meaning) before; values
    so small that their squares underflow: a correlation now, NaN before."""
    y, s = np.array([0, 1, 0, 1]), np.array([0.1, np.nan, 0.3, 0.2])
    assert not math.isnan(_old_auroc(y, s)) and math.isnan(auroc(y, s))  # the old code ranked NaN highest
    t, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, np.nan, 4.0])
    assert not math.isnan(_old_regression_metrics(t, p)["spearman"]) and math.isnan(spearman(t, p))
    t = np.full(3, 0.1)  # its mean is 0.10000000000000002, so the old spread was 6e-34, not 0
    assert abs(_old_r_squared(t, [0.0, 0.5, 1.0])) > 1e20 and math.isnan(r_squared(t, [0.0, 0.5, 1.0]))
    assert not math.isnan(_old_pearson(t, np.arange(3.0))) and math.isnan(pearson(t, np.arange(3.0)))
    assert math.isnan(_old_pearson(t := np.arange(5.0), p := t * 1e-300)) and pearson(t, p) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Committed results: the rare-against-common variant AUROCs of benchmarks/vep/results.json were
# computed from the committed score tables and the committed labels (RARE= in variants.vcf).
# The "all SNVs" rows use every SNV (each score covers them all), so they can be recomputed here.


def _vep_inputs() -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict]]:
    if not (VEP / "results.json").is_file():
        pytest.skip("not a checkout with the committed variant-effect results")
    sites = [line.rstrip("\n").split("\t") for line in (VEP / "variants.vcf").read_text().splitlines()
             if not line.startswith("#")]  # fmt: skip
    snv = np.array([len(s[3]) == len(s[4]) == 1 for s in sites])
    labels = np.array([int(s[7].removeprefix("RARE=")) for s in sites])[snv]
    scores = {}
    for path in sorted(VEP.glob("scores-*.parquet")):
        table = pq.read_table(path).to_pydict()
        name = path.stem.removeprefix("scores-").replace("_shape_random_weights", " shape, random weights")
        column = "llr" if "llr" in table else "masked_llr"
        scores[f"{name}: -{column}"] = -np.array(table[column], dtype=float)[snv]  # the direction vep_chr22 reads
        if "embedding_distance" in table:
            scores[f"{name}: embedding distance"] = np.array(table["embedding_distance"], dtype=float)[snv]
    rows = {r["score"]: r for r in json.loads((VEP / "results.json").read_text())["rows"]
            if r["variants"] == "SNV, all"}  # fmt: skip
    return labels, scores, rows


def test_committed_variant_aurocs_reproduce_to_the_last_digit():
    labels, scores, rows = _vep_inputs()
    assert len(scores) == 14 and set(scores) <= set(rows)
    for name, values in scores.items():
        assert rows[name]["positives"] == labels.sum() and rows[name]["missing"] == 0
        assert _old_auroc(labels, values) == auroc(labels, values) == rows[name]["auroc"], name


def test_committed_variant_row_reproduces_with_its_bootstrap():
    """A whole row (AUROC, its standard error over 1,000 bootstrap AUROCs, the odds ratio)."""
    from dnagpt.evaluation.variant_effects import separation

    labels, scores, rows = _vep_inputs()
    name = "gpn-small-multispecies: -masked_llr"  # one whose AUROC scikit-learn's roc_auc_score misses by 1e-16
    row = separation(labels, scores[name])
    assert {k: rows[name][k] for k in row} == row
