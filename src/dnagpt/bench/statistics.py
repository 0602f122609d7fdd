"""The bench's numbers: the tidy results table, per-seed values, means, paired tests."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.stats

from ..io import atomic_write
from .models import MODELS


def tidy_rows(results: list[dict]) -> list[dict]:
    """One row per (task, model, training size, seed, metric): the long table of every figure."""
    rows = []
    for r in results:
        for metric, value in r["metrics"].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append({"task": r["task"], "description": r.get("description", ""), "output": r["output"],
                             "model": r["model"], "n_train": r["n_train"],
                             "train_examples": r["train_examples"], "test_examples": r["test_examples"],
                             "seed": r["seed"], "metric": metric, "value": float(value),
                             "seconds": r["seconds"]})  # fmt: skip
    return rows


def write_parquet(rows: list[dict], path: Path) -> None:
    """The tidy rows as a parquet file (pyarrow), written atomically."""
    table = pa.Table.from_pylist(rows) if rows else pa.table({})
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def values(results: list[dict], task: str, model: str, size: int, metric: str) -> dict[int, float]:
    """``seed -> value`` of one metric for one model on one task at one training size."""
    return {r["seed"]: float(r["metrics"].get(metric, math.nan)) for r in results
            if r["task"] == task and r["model"] == model and r["n_train"] == size}  # fmt: skip


def mean_sd(xs) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value), NaN-free inputs assumed."""
    xs = np.asarray(list(xs), dtype=float)
    if not len(xs):
        return math.nan, math.nan
    return float(xs.mean()), float(xs.std(ddof=1)) if len(xs) > 1 else 0.0


def paired_test(a: dict[int, float], b: dict[int, float]) -> dict:
    """Mean and sd of ``a - b`` over the seeds both have, the paired t-test's p, and wins of ``a``."""
    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds])
    mean, sd = mean_sd(diffs)
    p = math.nan
    if len(diffs) > 1 and np.any(diffs != diffs[0]):
        p = float(scipy.stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    elif len(diffs) > 1:
        p = 1.0 if diffs[0] == 0 else 0.0  # the same difference at every seed
    return {"mean": mean, "sd": sd, "p": p, "wins": int(np.sum(diffs > 0)), "n": len(diffs)}


def cell(xs: dict[int, float]) -> str:
    mean, sd = mean_sd(xs.values())
    if math.isnan(mean):
        return "–"
    return f"{mean:.3f} (1 seed)" if len(xs) == 1 else f"{mean:.3f} ± {sd:.3f}"


def best_classical(results: list[dict], task: str, size: int, metric: str) -> str | None:
    """The classical model (majority left out) with the best mean ``metric`` on ``task``."""
    means = {}
    for name, model in MODELS.items():
        if model.classical and name != "majority":
            xs = values(results, task, name, size, metric)
            if xs:
                means[name] = mean_sd(xs.values())[0]
    return max(means, key=means.get) if means else None


def sizes(results: list[dict], task: str) -> list[int]:
    """The training sizes run on ``task``, smallest first (0, all examples, last)."""
    return sorted({r["n_train"] for r in results if r["task"] == task}, key=lambda s: s or math.inf)
