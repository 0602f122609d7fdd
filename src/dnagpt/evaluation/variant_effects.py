"""How well a variant score separates two classes (for example rare from common variants).

Every score is read in one declared direction: higher means "more likely in the positive class".
AUROC comes with a bootstrap standard error; the odds ratio is read at a fixed false-positive
rate (the score threshold that a fraction ``fpr`` of the negatives exceed), as GPN reports it.
A score with few distinct values (a CpG flag, a count of primates) may have no threshold near
that rate: the rate actually reached is reported beside the ratio, and the ratio is NaN when it
misses the asked rate by more than ``tolerance``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import auroc
from .plots import pyplot, save_figure


def separation(labels, scores, fpr: float = 0.1, bootstrap: int = 1000, seed: int = 0,
               tolerance: float = 0.02) -> dict[str, float]:  # fmt: skip
    """AUROC with bootstrap standard error, and the odds ratio at false-positive rate ``fpr``
    (``odds_ratio_fpr``: the rate reached; ``odds_ratio`` NaN if that is off by more than ``tolerance``).

    ``labels``: 1 for the positive class; ``scores``: higher = more positive. Variants without a
    score (NaN) are left out and counted in ``missing``.
    """
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    keep = np.isfinite(scores)
    labels, scores = labels[keep], scores[keep]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(bootstrap):
        pick = rng.integers(0, len(labels), len(labels))
        if 0 < labels[pick].sum() < len(pick):
            draws.append(auroc(labels[pick], scores[pick]))
    ratio, reached = odds_ratio_at(labels, scores, fpr)
    return dict(auroc=auroc(labels, scores), auroc_se=float(np.std(draws, ddof=1)),
                odds_ratio=ratio if abs(reached - fpr) <= tolerance else float("nan"), odds_ratio_fpr=reached,
                positives=int(labels.sum()), negatives=int((1 - labels).sum()), missing=int((~keep).sum()))  # fmt: skip


def odds_ratio_at(labels: np.ndarray, scores: np.ndarray, fpr: float) -> tuple[float, float]:
    """Odds of being positive above the threshold that ``fpr`` of the negatives exceed, over the
    odds below it (0.5 added to every cell, so an empty cell gives a finite ratio); and the
    fraction of negatives actually above that threshold (ties can keep it far from ``fpr``)."""
    threshold = np.quantile(scores[labels == 0], 1 - fpr)
    above = scores > threshold
    a = (above & (labels == 1)).sum() + 0.5
    b = (above & (labels == 0)).sum() + 0.5
    c = (~above & (labels == 1)).sum() + 0.5
    d = (~above & (labels == 0)).sum() + 0.5
    return float((a / b) / (c / d)), float((above & (labels == 0)).sum() / max((labels == 0).sum(), 1))


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every threshold (NaN scores left out)."""
    labels, scores = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    keep = np.isfinite(scores)
    labels, scores = labels[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    tpr = np.concatenate([[0], np.cumsum(hits) / max(hits.sum(), 1)])
    fpr = np.concatenate([[0], np.cumsum(1 - hits) / max((1 - hits).sum(), 1)])
    return fpr, tpr


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str) -> None:
    """One ROC curve per score, with the chance diagonal; the legend, beside the plot, lists the
    scores from the highest AUROC down; a score named "... random weights ..." is dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.2))
    areas = {name: auroc(labels[np.isfinite(scores)], scores[np.isfinite(scores)])
             for name, (labels, scores) in curves.items()}  # fmt: skip
    colours = plt.get_cmap("tab20").colors
    for i, name in enumerate(sorted(curves, key=lambda n: -areas[n])):
        fpr, tpr = roc_points(*curves[name])
        ax.plot(fpr, tpr, label=f"{name} ({areas[name]:.3f})", color=colours[i % len(colours)], linewidth=1.2,
                linestyle="--" if "random weights" in name else "-")  # fmt: skip
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    save_figure(fig, path)
