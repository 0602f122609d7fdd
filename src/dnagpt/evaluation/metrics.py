"""Classification and regression metrics (NumPy, and scikit-learn for the multi-class forms).

Classification (paper Tables S2/S3): accuracy, precision, recall, F1, Matthews
correlation, and the area under the ROC curve from scores. Regression (paper
Fig. 3f): R2, Pearson and Spearman correlation, mean squared error.
"""

from __future__ import annotations

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
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


def classification_metrics(labels, predictions, scores=None) -> dict[str, float]:
    """Accuracy, MCC, precision, recall and F1 of class indices (0, 1, ...), and AUROC from ``scores``.

    Two classes: precision, recall and F1 of class 1, the confusion counts, and AUROC of ``scores``
    (one number per example, higher for class 1). More classes: MCC in its multi-class form
    (Gorodkin 2004), precision, recall and F1 averaged over classes (macro), and AUROC one class
    against the rest, averaged, from ``scores`` of shape (examples, classes).
    """
    from sklearn import metrics as skm  # slow to import (~1 s); every CLI start imports this module

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
            out["auroc"] = auroc(y, s if s.ndim == 1 else s[:, 1])
        return out
    classes = list(range(n_classes))
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, p, labels=classes, average="macro",
                                                                     zero_division=0)  # fmt: skip
    out |= {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
    if s is not None:
        present = len(np.unique(y)) == n_classes
        out["auroc"] = float(skm.roc_auc_score(y, s, multi_class="ovr", labels=classes)) if present else float("nan")
    return out


def auroc(labels, scores) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic; ties count half)."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = _ranks(s)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def regression_metrics(truth, predictions) -> dict[str, float]:
    """R2, Pearson r, Spearman rho and MSE of predictions against measured values."""
    t = np.asarray(truth, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if t.shape != p.shape or t.size < 2:
        raise ValueError("need at least two values, and as many predictions as values")
    return {
        "r2": r_squared(t, p),
        "pearson": pearson(t, p),
        "spearman": pearson(_ranks(t), _ranks(p)),
        "mse": float(np.mean((t - p) ** 2)),
    }


def r_squared(truth: np.ndarray, predictions: np.ndarray) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot; NaN when the truth is constant."""
    t, p = np.asarray(truth, dtype=float), np.asarray(predictions, dtype=float)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot if ss_tot else float("nan")


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length arrays; NaN when either is constant."""
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denom) if denom else float("nan")
