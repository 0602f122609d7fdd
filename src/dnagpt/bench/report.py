"""The bench's report: ``results.parquet``, figures and ``report.md``.

Every comparison between two models is paired: the same task, training subsample and seed.
Differences are tested with a two-sided paired t-test over seeds; with 5 seeds a Wilcoxon test
cannot go below p = 0.0625, so the t-test is the one that can say anything.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from ..evaluation.plots import can_draw, pyplot, save_figure
from ..io import atomic_write_text
from ..tasks.warm_start import DEFAULT_SHRINK, MIN_SHRINK_STEPS
from .config import PRIMARY, BenchConfig
from .models import MODELS, register_models
from .runner import RESULTS_TABLE
from .statistics import cell, mean_sd, sizes, tidy_rows, values, write_parquet
from .tables import HEADLINE, PAIRED, STAR, families_section, headline_table, paired_table, transfer_section

SECONDARY = {"token": ("accuracy", "f1", "auroc"), "number": ("spearman", "pearson")}


def warm_start(cfg: BenchConfig) -> str:
    """How the bench treats the pretrained weights before fine-tuning (``--shrink``), in words."""
    if len(cfg.sweep.shrinks) > 1:
        return ("pretrained weights shrunk by a factor picked on dev from "
                + ", ".join(f"{s:g}" for s in cfg.sweep.shrinks) + " per model and seed (1 = as loaded)")  # fmt: skip
    if cfg.recipe.shrink is None:
        return (f"pretrained weights shrunk as `dnagpt finetune` does by default ({DEFAULT_SHRINK:g} for small "
                f"DNAGPT models, none in runs of fewer than {MIN_SHRINK_STEPS} steps)")  # fmt: skip
    if cfg.recipe.shrink == 1:
        return "pretrained weights as loaded"
    return f"pretrained weights shrunk by {cfg.recipe.shrink:g}"


def markdown(results: list[dict], cfg: BenchConfig, figures: dict[str, str]) -> str:
    """The report: headline table, paired comparisons, other metrics, learning curves, tasks, models."""
    tasks = list(dict.fromkeys(r["task"] for r in results))
    models = [m for m in MODELS if any(r["model"] == m for r in results)]
    output = {r["task"]: r["output"] for r in results}
    size = cfg.max_train
    hours = sum(r["seconds"] for r in results) / 3600
    seeds = max((r["seed"] for r in results), default=0) + 1
    recipe = cfg.recipe
    rate = (
        f"learning rate {recipe.lr:g}"
        if len(cfg.sweep.lrs) <= 1
        else "learning rate picked on dev from " + ", ".join(f"{lr:g}" for lr in cfg.sweep.lrs) + " per model and seed"
    )
    lines = [
        "# dnagpt bench",
        "",
        f"{len(results)} runs: {len(tasks)} tasks x {len(models)} models x {seeds} seeds"
        + (f" (plus learning curves on {', '.join(cfg.curve_tasks)})" if cfg.curve_tasks else "")
        + f"; {hours:.2f} hours of compute in all (sum of the runs' wall times: "
        + ", ".join(f"{m} {sum(r['seconds'] for r in results if r['model'] == m) / 60:.0f} min" for m in models)
        + ").",
        f"Training examples per run: {size or 'all'} (drawn by the seed, the same draw for every model); dev picks "
        "every model's settings and epoch; the test split is scored once. Splits are whole 20 kb blocks of the "
        "held-out registry, so no test window overlaps a training or pretraining window.",
        f"DNAGPT: `{cfg.pretrained}` fine-tuned, and the same shape from random weights; {recipe.epochs:g} epochs, "
        f"{rate}, batch {recipe.batch_size}, best dev epoch kept (patience {recipe.patience}); {warm_start(cfg)}.",
        *(
            [
                "Other families (`bert-*`, `gpn-*`): their shipped model, and the same shape from random weights, "
                "fine-tuned with the same recipe and read by the mean over the sequence (at the answer position on a "
                "task with numeric inputs, where a mean over the bases would drown the numbers)."
            ]
            if any(not MODELS[m].classical and not MODELS[m].default for m in models)
            else []
        ),
        "",
        f"## Headline: {HEADLINE}",
        "",
        *headline_table(results, cfg),
    ]
    if "primary" in figures:
        lines += ["", f"![headline]({figures['primary']})"]
    lines += ["", f"## {PAIRED}", "", *paired_table(results, cfg), "", STAR, ""]
    lines += families_section(results, cfg)
    lines += transfer_section(results, cfg)
    lines += ["## Other metrics, mean over seeds", "", "| task | model | " + " | ".join(
        ["accuracy", "F1", "AUROC", "Spearman / Pearson"]) + " |", "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for task in tasks:
        for m in models:
            if not values(results, task, m, size, PRIMARY[output[task]]):
                continue
            if output[task] == "token":
                cells = [cell(values(results, task, m, size, k)) for k in SECONDARY["token"]] + ["–"]
            else:
                corr = " / ".join(cell(values(results, task, m, size, k)) for k in SECONDARY["number"])
                cells = ["–", "–", "–", corr]
            lines.append(f"| {task} | {m} | " + " | ".join(cells) + " |")
    curve_tasks = [t for t in tasks if cfg.has_curve(t)]
    if curve_tasks:
        lines += ["", "## Learning curves", "", f"![learning curves]({figures.get('curves', '')})", "",
                  "| task | model | " + " | ".join(f"n={s or 'all'}" for s in sizes(results, curve_tasks[0])) + " |",
                  "|---|---|" + "---:|" * len(sizes(results, curve_tasks[0]))]  # fmt: skip
        for task in curve_tasks:
            metric = PRIMARY[output[task]]
            for m in models:
                cells = [cell(values(results, task, m, s, metric)) for s in sizes(results, task)]
                if any(c != "–" for c in cells):
                    lines.append(f"| {task} ({metric}) | {m} | " + " | ".join(cells) + " |")
    descriptions = {r["task"]: r.get("description", "") for r in results}
    lines += ["", "## Tasks", ""] + [f"- `{t}`: {descriptions[t]}" for t in tasks]
    lines += ["", "## Models", ""] + [f"- `{m}`: {MODELS[m].description}" for m in models]
    return "\n".join(lines) + "\n"


def headline_figure(results: list[dict], cfg: BenchConfig, path: Path) -> None:
    """One row per task, one marker per model: the primary metric's mean ± sd over seeds."""
    plt = pyplot()
    tasks = list(dict.fromkeys(r["task"] for r in results))
    models = [m for m in MODELS if any(r["model"] == m for r in results)]
    output = {r["task"]: r["output"] for r in results}
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(tasks) + 1.2))
    for k, m in enumerate(models):
        offset = (k - (len(models) - 1) / 2) * 0.12
        for i, task in enumerate(tasks):
            mean, sd = mean_sd(values(results, task, m, cfg.max_train, PRIMARY[output[task]]).values())
            if not math.isnan(mean):
                ax.errorbar(mean, i + offset, xerr=sd, fmt="o", color=f"C{k}", ms=4, capsize=2,
                            label=m if i == 0 else None)  # fmt: skip
    ax.set_yticks(range(len(tasks)), [f"{t} ({PRIMARY[output[t]]})" for t in tasks])
    ax.invert_yaxis()
    ax.set_xlabel("test MCC or R2 (mean ± sd over seeds)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)
    plt.close(fig)


def curves_figure(results: list[dict], tasks: list[str], path: Path) -> None:
    """The primary metric against the number of training examples, one panel per task."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False)
    output = {r["task"]: r["output"] for r in results}
    for ax, task in zip(axes[0], tasks, strict=True):
        metric = PRIMARY[output[task]]
        by_model = defaultdict(list)
        for r in results:
            if r["task"] == task:
                by_model[r["model"]].append(r)
        for m in (m for m in MODELS if m in by_model):
            sizes = sorted({r["train_examples"] for r in by_model[m]})
            stats = [mean_sd(r["metrics"].get(metric, math.nan) for r in by_model[m] if r["train_examples"] == n)
                     for n in sizes]  # fmt: skip
            ax.errorbar(sizes, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o", ms=3, capsize=2,
                        color=f"C{list(MODELS).index(m)}", label=m)  # fmt: skip
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("training examples")
        ax.set_ylabel(f"test {metric}")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def write_report(results: list[dict], cfg: BenchConfig, out: Path) -> Path:
    """Write ``results.parquet``, the figures and ``report.md`` under ``out``; return the report's path."""
    register_models(cfg.models)  # model directories benched by path or label
    write_parquet(tidy_rows(results), out / RESULTS_TABLE)
    figures = {}
    if results and can_draw():  # the figures accompany the tables, which say it all without them
        headline_figure(results, cfg, out / "figures" / "headline.png")
        figures["primary"] = "figures/headline.png"
        curve_tasks = [t for t in dict.fromkeys(r["task"] for r in results) if t in cfg.curve_tasks]
        if curve_tasks:
            curves_figure(results, curve_tasks, out / "figures" / "learning_curves.png")
            figures["curves"] = "figures/learning_curves.png"
    path = out / "report.md"
    atomic_write_text(path, markdown(results, cfg, figures) if results else "# dnagpt bench\n\nNo runs.\n")
    return path
