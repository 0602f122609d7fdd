"""Pictures for reports: confusion matrix, predicted-vs-true scatter, attention maps (PNG).

matplotlib is optional (the ``plots`` extra): without it, figures that only accompany a result
(a fine-tuning run's confusion matrix, a bench report's plots) are left out, and a command whose
product is a figure says what to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write


def can_draw() -> bool:
    """Whether matplotlib is installed, so that figures can be drawn."""
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """matplotlib's pyplot, drawing to files only."""
    if not can_draw():
        raise ConfigError("drawing figures needs matplotlib: pip install 'dnagpt[plots]'")
    import matplotlib  # optional (the plots extra), and slow to import: only when a figure is drawn

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG, atomically."""
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))


def confusion_matrix_png(truth, predicted, names: list[str], path: str | Path, metrics: dict | None = None) -> None:
    """Confusion matrix of class indices: rows the true class, columns the predicted one."""
    plt = pyplot()
    n = len(names)
    m = np.zeros((n, n))
    np.add.at(m, (np.asarray(truth, dtype=int), np.asarray(predicted, dtype=int)), 1)
    size = 2.4 + 0.5 * n
    fig, ax = plt.subplots(figsize=(size + 0.4, size))
    ax.imshow(m, cmap="Blues")
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, f"{int(v)}", ha="center", va="center", color="white" if v > m.max() / 2 else "black")
    ax.set_xticks(range(n), names, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if metrics:
        ax.set_title(f"accuracy {metrics['accuracy']:.3f}, MCC {metrics['mcc']:.3f}")
    save_figure(fig, path)
    plt.close(fig)


def scatter_png(truth, predicted, path: str | Path, metrics: dict | None = None) -> None:
    """Predicted against measured values, with the diagonal."""
    plt = pyplot()
    t, p = np.asarray(truth, float), np.asarray(predicted, float)
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    ax.scatter(t, p, s=6, alpha=0.5)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
    ax.set_xlabel("measured")
    ax.set_ylabel("predicted")
    if metrics:
        ax.set_title(f"R2 {metrics['r2']:.3f}, Pearson {metrics['pearson']:.3f}")
    save_figure(fig, path)
    plt.close(fig)


def attention_png(maps: np.ndarray, path: str | Path, title: str = "") -> None:
    """One heat map per layer (``maps``: ``[layers, query, key]``, averaged over heads)."""
    plt = pyplot()
    n = maps.shape[0]
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.imshow(maps[i], cmap="viridis", aspect="auto")
            ax.set_title(f"layer {i + 1}")
            ax.set_xlabel("key position")
            if i % cols == 0:
                ax.set_ylabel("query position")
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
