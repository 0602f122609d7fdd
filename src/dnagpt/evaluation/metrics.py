"""Classification and regression metrics, computed by scikit-learn and SciPy.

Classification (paper Tables S2/S3): accuracy, precision, recall, F1, Matthews correlation, the
confusion counts, and the area under the ROC curve (AUROC) from scores. Regression (paper
Fig. 3f): R2, Pearson and Spearman correlation, mean squared error.

A metric that is not defined for the data it is given is NaN rather than an error, so one bad
evaluation (a test set of one class, a model that predicts the same value everywhere, a model
whose outputs became NaN) does not stop a sweep or a bench; the learning-rate sweep and the
bench reports already read NaN as "no score". The cases are:

- AUROC is NaN when the labels hold one class only, or when any score is NaN.
- Pearson and Spearman correlation are NaN when either side is constant (all values equal) or
  holds NaN (Pearson also for an infinity), or has fewer than two values.
- R2 is NaN when the measured values are constant or hold NaN or an infinity, or when a prediction
  is NaN; an infinite prediction gives minus infinity (an infinitely bad fit).

scikit-learn and SciPy are imported inside the functions: every ``dnagpt`` command imports this
module at start-up, and importing them takes about a second.
"""

from __future__ import annotations

import math
import warnings

import numpy as np


def classification_metrics(labels, predictions, scores=None) -> dict[str, float]:
    """Accuracy, MCC, precision, recall and F1 of class indices (0, 1, ...), and AUROC from ``scores``.

    Two classes: precision, recall and F1 of class 1, the confusion counts ``tp``, ``tn``, ``fp``
    and ``fn`` (Python ints), and AUROC of ``scores`` (one number per example, higher for class 1;
    for scores of shape (examples, 2) the second column is used). Precision, recall or F1 with
    nothing to divide by (no example predicted or labelled class 1) is 0. More classes: MCC in its
    multi-class form (Gorodkin 2004), precision, recall and F1 averaged over classes (macro), and
    AUROC one class against the rest, averaged, from ``scores`` of shape (examples, classes); that
    AUROC is NaN unless every class occurs in ``labels``, and NaN when any score is NaN.
    """
    from sklearn import metrics as skm

    y = np.asarray(labels).astype(int)
    p = np.asarray(predictions).astype(int)
    if y.shape != p.shape or y.size == 0:
        raise ValueError("labels and predictions must be non-empty and of the same length")
    s = None if scores is None else np.asarray(scores, dtype=float)
    n_classes = max(int(y.max()), int(p.max()), 1) + 1
    if s is not None and s.ndim == 2:
        n_classes = max(n_classes, s.shape[1])
    with warnings.catch_warnings():
        # Labels and predictions of one class only: MCC is 0, and scikit-learn's warning about the
        # shape of its internal confusion matrix says nothing about that result.
        warnings.filterwarnings("ignore", "A single label was found", UserWarning)
        mcc = float(skm.matthews_corrcoef(y, p))
    out = {"accuracy": float(skm.accuracy_score(y, p)), "mcc": mcc}
    classes = list(range(n_classes))
    if n_classes == 2:
        # Both classes named, so a test set (or a model) with one class still gives a 2 x 2 table.
        tn, fp, fn, tp = (int(count) for count in skm.confusion_matrix(y, p, labels=classes).ravel())
        precision, recall, f1, _ = skm.precision_recall_fscore_support(y, p, labels=[1], average=None,
                                                                         zero_division=0)  # fmt: skip
        out |= {"precision": float(precision[0]), "recall": float(recall[0]), "f1": float(f1[0]),
                "tp": tp, "tn": tn, "fp": fp, "fn": fn}  # fmt: skip
        if s is not None:
            out["auroc"] = auroc(y, s if s.ndim == 1 else s[:, 1])
        return out
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, p, labels=classes, average="macro",
                                                                     zero_division=0)  # fmt: skip
    out |= {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
    if s is not None:
        every_class = len(np.unique(y)) == n_classes  # one-vs-rest needs examples of every class
        if every_class and not np.isnan(s).any():
            out["auroc"] = float(skm.roc_auc_score(y, s, multi_class="ovr", labels=classes))
        else:
            out["auroc"] = math.nan
    return out


def auroc(labels, scores) -> float:
    """Area under the ROC curve of ``scores`` (higher = more likely class 1) for 0/1 ``labels``.

    It is the chance that a randomly drawn class-1 example scores above a randomly drawn class-0
    example, ties counting half (the Mann-Whitney U statistic over the number of pairs). Scores of
    plus or minus infinity are ranked like any other. NaN when ``labels`` hold one class only, or
    when any score is NaN.
    """
    from scipy.stats import mannwhitneyu

    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    positives, negatives = s[y == 1], s[y == 0]
    if not len(positives) or not len(negatives) or np.isnan(s).any():
        return math.nan
    # SciPy's U is the rank sum of the positives less its smallest possible value: the rank formula
    # this package used before, so AUROCs match earlier runs to the last digit (tests/test_metrics.py);
    # scikit-learn's roc_auc_score (area under the drawn curve) can differ there by 1e-16.
    # "asymptotic" because only U is used: it skips SciPy's exact p-value for small samples.
    u = mannwhitneyu(positives, negatives, use_continuity=False, method="asymptotic").statistic
    return float(u / (len(positives) * len(negatives)))


def regression_metrics(truth, predictions) -> dict[str, float]:
    """R2, Pearson r, Spearman rho and mean squared error of predictions against measured values.

    See the module's notes for when R2 and the correlations are NaN.
    """
    t = np.asarray(truth, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if t.shape != p.shape or t.size < 2:
        raise ValueError("need at least two values, and as many predictions as values")
    return {
        "r2": r_squared(t, p),
        "pearson": pearson(t, p),
        "spearman": spearman(t, p),
        "mse": float(np.mean((t - p) ** 2)),
    }


def r_squared(truth, predictions) -> float:
    """Coefficient of determination, 1 - (squared error of the predictions) / (squared deviation of
    the measured values from their mean): 1 for perfect predictions, 0 for predicting the mean,
    negative for worse. NaN when the measured values are constant or hold NaN or an infinity, or a
    prediction is NaN; minus infinity when a prediction is infinite."""
    from sklearn.metrics import r2_score

    t, p = np.ravel(np.asarray(truth, dtype=float)), np.ravel(np.asarray(predictions, dtype=float))
    if not t.size or not np.isfinite(t).all() or np.isnan(p).any() or (t == t[0]).all():
        return math.nan
    if np.isinf(p).any():
        return -math.inf  # scikit-learn refuses infinite inputs; the squared error is infinite
    # force_finite=False: should the spread of the values still round to 0, keep the formula's NaN or
    # -inf rather than scikit-learn's stand-ins 1 and 0.
    return float(r2_score(t, p, force_finite=False))


def pearson(a, b) -> float:
    """Pearson correlation of two equal-length arrays; NaN when either is constant, holds NaN or an
    infinity, or has fewer than two values."""
    from scipy.stats import NearConstantInputWarning, pearsonr

    a, b = np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))
    if len(a) != len(b):
        raise ValueError(f"pearson: arrays of different lengths ({len(a)} and {len(b)})")
    if _undefined(a) or _undefined(b) or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    with warnings.catch_warnings():
        # SciPy warns when values differ only in their last digits; the value is still returned.
        warnings.simplefilter("ignore", NearConstantInputWarning)
        return float(pearsonr(a, b).statistic)


def spearman(a, b) -> float:
    """Spearman rank correlation (Pearson correlation of the ranks, ties given their average rank)
    of two equal-length arrays; NaN when either is constant, holds NaN, or has fewer than two
    values. Infinities are ranked like any other value."""
    from scipy.stats import spearmanr

    a, b = np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))
    if len(a) != len(b):
        raise ValueError(f"spearman: arrays of different lengths ({len(a)} and {len(b)})")
    if _undefined(a) or _undefined(b):
        return math.nan
    return float(spearmanr(a, b).statistic)


def _undefined(x: np.ndarray) -> bool:
    """True where a correlation with ``x`` is not defined: fewer than two values, all equal, or NaN."""
    return len(x) < 2 or bool((x == x[0]).all()) or bool(np.isnan(x).any())
