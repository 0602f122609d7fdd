"""The bench's outputs: a tidy results table (parquet), paired statistics, figures, a markdown report.

Every comparison between two models is paired: the same task, training subsample and seed.
Differences are tested with a two-sided paired t-test over seeds; with 5 seeds a Wilcoxon test
cannot go below p = 0.0625, so the t-test is the one that can say anything.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..io import atomic_write, atomic_write_text
from .bench import MODELS, PRIMARY, BenchConfig
from .plots import pyplot, save_figure

SECONDARY = {"token": ("accuracy", "f1", "auroc"), "number": ("spearman", "pearson")}


def tidy_rows(results: list[dict]) -> list[dict]:
    """One row per (task, model, training size, seed, metric): the long table of every figure."""
    rows = []
    for r in results:
        for metric, value in r["metrics"].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                rows.append({"task": r["task"], "output": r["output"], "model": r["model"], "n_train": r["n_train"],
                             "train_examples": r["train_examples"], "test_examples": r["test_examples"],
                             "seed": r["seed"], "metric": metric, "value": float(value),
                             "seconds": r["seconds"]})  # fmt: skip
    return rows


def write_parquet(rows: list[dict], path: Path) -> None:
    """The tidy rows as a parquet file (pyarrow), written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    from scipy import stats

    seeds = sorted(set(a) & set(b))
    diffs = np.array([a[s] - b[s] for s in seeds])
    mean, sd = mean_sd(diffs)
    p = math.nan
    if len(diffs) > 1 and np.any(diffs != diffs[0]):
        p = float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    elif len(diffs) > 1:
        p = 1.0 if diffs[0] == 0 else 0.0  # the same difference at every seed
    return {"mean": mean, "sd": sd, "p": p, "wins": int(np.sum(diffs > 0)), "n": len(diffs)}


def _cell(xs: dict[int, float]) -> str:
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


def _headline_table(results: list[dict], cfg: BenchConfig) -> list[str]:
    """One row per task, one column per model: the primary metric's mean ± sd, the best in bold."""
    models = [m for m in MODELS if any(r["model"] == m for r in results)]
    output = {r["task"]: r["output"] for r in results}
    size = cfg.max_train
    lines = ["| task | train / test | " + " | ".join(models) + " |", "|---|---|" + "---:|" * len(models)]
    for task in dict.fromkeys(r["task"] for r in results):
        metric = PRIMARY[output[task]]
        any_run = next(r for r in results if r["task"] == task and r["n_train"] == size)
        cells = []
        means = {m: mean_sd(values(results, task, m, size, metric).values())[0] for m in models}
        top = max((v for v in means.values() if not math.isnan(v)), default=math.nan)
        for m in models:
            text = _cell(values(results, task, m, size, metric))
            cells.append(f"**{text}**" if means[m] == top else text)
        lines.append(f"| {task} ({metric}) | {any_run['train_examples']} / {any_run['test_examples']} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return lines


def _paired_table(results: list[dict], cfg: BenchConfig) -> list[str]:
    """Each family's pretrained model against its scratch twin and the task's best classical model."""
    output = {r["task"]: r["output"] for r in results}
    size = cfg.max_train
    lines = ["| task | comparison | mean difference ± sd | p | first better in |", "|---|---|---:|---:|---:|"]
    for task in dict.fromkeys(r["task"] for r in results):
        metric = PRIMARY[output[task]]
        rival = best_classical(results, task, size, metric)
        pairs = []
        for family in ("dnagpt", "bert", "gpn"):
            pairs.append((f"{family}-pretrained", f"{family}-scratch"))
            if rival:
                pairs += [(f"{family}-pretrained", rival), (f"{family}-scratch", rival)]
        for a, b in pairs:
            xa, xb = values(results, task, a, size, metric), values(results, task, b, size, metric)
            if not xa or not xb:
                continue
            t = paired_test(xa, xb)
            star = " *" if t["p"] < 0.05 else ""
            lines.append(f"| {task} | {a} − {b} ({metric}) | {t['mean']:+.3f} ± {t['sd']:.3f} | {t['p']:.3g}{star} "
                         f"| {t['wins']}/{t['n']} |")  # fmt: skip
    return lines


def _families_section(results: list[dict], cfg: BenchConfig) -> list[str]:
    """Which family wins where (each family's better model, pretrained or scratch, against the best
    classical model) and the compute each family's pretrained model and bench runs used."""
    models = [m for m in MODELS if any(r["model"] == m for r in results)]
    families = list(dict.fromkeys(MODELS[m].family for m in models if MODELS[m].family))
    if len(families) < 2:
        return []
    output = {r["task"]: r["output"] for r in results}
    size, wins = cfg.max_train, dict.fromkeys([*families, "classical"], 0)
    lines = ["## Which family wins where", "",
             "Each family's better model on the task (p: pretrained, s: from scratch), mean over seeds; the winner "
             "has the best mean.", "", "| task | " + " | ".join(families) + " | best classical | winner |",
             "|---|" + "---:|" * (len(families) + 1) + "---|"]  # fmt: skip
    for task in dict.fromkeys(r["task"] for r in results):
        metric = PRIMARY[output[task]]
        best: dict[str, tuple[float, str]] = {}
        for family in families:
            means = {m: mean_sd(values(results, task, m, size, metric).values())[0]
                     for m in models if MODELS[m].family == family}  # fmt: skip
            means = {m: v for m, v in means.items() if not math.isnan(v)}
            if means:
                top = max(means, key=means.get)
                best[family] = (means[top], "p" if top.endswith("-pretrained") else "s")
        rival = best_classical(results, task, size, metric)
        if rival:
            best["classical"] = (mean_sd(values(results, task, rival, size, metric).values())[0], rival)
        if not best:
            continue
        winner = max(best, key=lambda k: best[k][0])
        wins[winner] += 1
        cells = [f"{best[f][0]:.3f} ({best[f][1]})" if f in best else "–" for f in families]
        classical = f"{best['classical'][0]:.3f} ({rival})" if "classical" in best else "–"
        lines.append(f"| {task} ({metric}) | " + " | ".join(cells) + f" | {classical} | {winner} |")
    lines += ["", "Tasks won: " + ", ".join(f"{k} {v}" for k, v in wins.items()) + ".", "",
              "Compute: the pretrained model of each family (from its `pretraining.json`; model FLOPs as in "
              "`dnagpt.training.compute`, tokens at the windows' mean length) and the wall time of the family's "
              "runs in this bench (pretrained and scratch together).", "",
              "| family | pretrained model | parameters | pretraining tokens | bases | model FLOPs | pretraining time "
              "| bench time |", "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for family in families:
        source = next(MODELS[m].pretrained_source(cfg) for m in models if MODELS[m].family == family)
        compute = _pretraining_compute(source)
        bench_minutes = sum(r["seconds"] for r in results if MODELS[r["model"]].family == family) / 60
        cells = ["–"] * 5
        if compute:
            cells = [f"{compute['parameters'] / 1e6:.1f}M", f"{compute['tokens'] / 1e6:.1f}M",
                     f"{compute['bases'] / 1e6:.1f}M" if compute.get("bases") else "–", f"{compute['flops']:.2g}",
                     f"{compute['seconds'] / 60:.0f} min" if compute.get("seconds") else "–"]  # fmt: skip
        lines.append(f"| {family} | `{source}` | " + " | ".join(cells) + f" | {bench_minutes:.0f} min |")
    return [*lines, ""]


def _not_worse(t: dict) -> bool:
    """A paired comparison the first model matches or wins: a mean at least as good, or no significant loss."""
    return t["mean"] >= 0 or not t["p"] < 0.05


def _transfer_section(results: list[dict], cfg: BenchConfig) -> list[str]:
    """Does each family's pretraining pay off? Against issue 13's bar: the pretrained model beats its
    scratch twin significantly on two thirds of the tasks, and matches or beats the best classical
    model on half of them and at the low-data end of every learning curve."""
    output = {r["task"]: r["output"] for r in results}
    tasks = list(dict.fromkeys(r["task"] for r in results))
    curve_tasks = [t for t in tasks if cfg.has_curve(t)]
    lines = ["## Does pretraining transfer?", "",
             "Per family: tasks where the pretrained model beats its scratch twin (paired t-test, p < 0.05), "
             "tasks where it matches or beats the best classical model (a better mean, or a loss that is not "
             "significant), and the same at the smallest training size of each learning curve. The bar asks "
             "for two thirds, half, and every curve.", "",
             "| family | beats its twin | matches or beats classical | low-data end | bar met |",
             "|---|---:|---:|---:|---|"]  # fmt: skip
    rows = []
    for family in ("dnagpt", "bert", "gpn"):
        pre, twin = f"{family}-pretrained", f"{family}-scratch"
        over_twin, over_classical, low_data = [], [], []
        for task in tasks:
            metric, size = PRIMARY[output[task]], cfg.max_train
            mine = values(results, task, pre, size, metric)
            if not mine:
                continue
            if theirs := values(results, task, twin, size, metric):
                t = paired_test(mine, theirs)
                over_twin.append(t["mean"] > 0 and t["p"] < 0.05)
            if rival := best_classical(results, task, size, metric):
                over_classical.append(_not_worse(paired_test(mine, values(results, task, rival, size, metric))))
            if task in curve_tasks:
                smallest = _sizes(results, task)[0]
                rival = best_classical(results, task, smallest, metric)
                mine = values(results, task, pre, smallest, metric)
                if rival and mine:
                    low_data.append(_not_worse(paired_test(mine, values(results, task, rival, smallest, metric))))
        if not over_twin and not over_classical:
            continue
        met = (sum(over_twin) * 3 >= len(over_twin) * 2 and sum(over_classical) * 2 >= len(over_classical)
               and bool(low_data) and all(low_data))  # fmt: skip
        curves = f"{sum(low_data)} of {len(low_data)}" if low_data else "not run"
        rows.append(
            f"| {family} | {sum(over_twin)} of {len(over_twin)} | {sum(over_classical)} of "
            f"{len(over_classical)} | {curves} | {'yes' if met else 'no'} |"
        )
    return [*lines, *rows, ""] if rows else []


def _pretraining_compute(source: str) -> dict | None:
    """The ``compute`` block of a pretrained model's ``pretraining.json``, if it has one."""
    from ..checkpoint import resolve_model_path
    from ..errors import CheckpointError

    try:
        card = resolve_model_path(source) / "pretraining.json"
    except CheckpointError:
        return None
    return json.loads(card.read_text()).get("compute") if card.is_file() else None


def summary(results: list[dict], cfg: BenchConfig) -> str:
    """The headline and paired tables alone, for the terminal at the end of a bench."""
    if not results:
        return "No runs."
    return "\n".join(
        [HEADLINE, "", *_headline_table(results, cfg), "", PAIRED, "", *_paired_table(results, cfg), "", STAR]
    )


HEADLINE = "MCC (classification) or R2 (regression) on the test split, mean ± sd over seeds"
PAIRED = "Paired differences (same seeds and training draws; two-sided paired t-test)"
STAR = "`*`: p < 0.05. The best classical model is the one with the best mean on that task."


def warm_start(cfg: BenchConfig) -> str:
    """How the bench treats the pretrained weights before fine-tuning (``--shrink``), in words."""
    if isinstance(cfg.shrink, list):
        return ("pretrained weights shrunk by a factor picked on dev from " + ", ".join(f"{s:g}" for s in cfg.shrink)
                + " per model and seed (1 = as loaded)")  # fmt: skip
    if cfg.shrink is None:
        from ..tasks.finetune import DEFAULT_SHRINK, MIN_SHRINK_STEPS

        return (f"pretrained weights shrunk as `dnagpt finetune` does by default ({DEFAULT_SHRINK:g} for small "
                f"DNAGPT models, none in runs of fewer than {MIN_SHRINK_STEPS} steps)")  # fmt: skip
    if cfg.shrink == 1:
        return "pretrained weights as loaded"
    return f"pretrained weights shrunk by {cfg.shrink:g}"


def markdown(results: list[dict], cfg: BenchConfig, figures: dict[str, str]) -> str:
    """The report: headline table, paired comparisons, other metrics, learning curves, tasks, models."""
    tasks = list(dict.fromkeys(r["task"] for r in results))
    models = [m for m in MODELS if any(r["model"] == m for r in results)]
    output = {r["task"]: r["output"] for r in results}
    size = cfg.max_train
    hours = sum(r["seconds"] for r in results) / 3600
    seeds = max((r["seed"] for r in results), default=0) + 1
    rate = (
        f"learning rate {cfg.lr:g}"
        if not isinstance(cfg.lr, list)
        else "learning rate picked on dev from " + ", ".join(f"{lr:g}" for lr in cfg.lr) + " per model and seed"
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
        f"DNAGPT: `{cfg.pretrained}` fine-tuned, and the same shape from random weights; {cfg.epochs:g} epochs, "
        f"{rate}, batch {cfg.batch_size}, best dev epoch kept (patience {cfg.patience}); {warm_start(cfg)}.",
        *(
            [
                "Other families (`bert-*`, `gpn-*`): their shipped model, and the same shape from random weights, "
                "fine-tuned with the same recipe and read by the mean over the sequence (at the answer position on a "
                "task with numeric inputs, where a mean over the bases would drown the numbers)."
            ]
            if any(not m.startswith("dnagpt") and not MODELS[m].classical for m in models)
            else []
        ),
        "",
        f"## Headline: {HEADLINE}",
        "",
        *_headline_table(results, cfg),
    ]
    if "primary" in figures:
        lines += ["", f"![headline]({figures['primary']})"]
    lines += ["", f"## {PAIRED}", "", *_paired_table(results, cfg), "", STAR, ""]
    lines += _families_section(results, cfg)
    lines += _transfer_section(results, cfg)
    lines += ["## Other metrics, mean over seeds", "", "| task | model | " + " | ".join(
        ["accuracy", "F1", "AUROC", "Spearman / Pearson"]) + " |", "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    for task in tasks:
        for m in models:
            if not values(results, task, m, size, PRIMARY[output[task]]):
                continue
            if output[task] == "token":
                cells = [_cell(values(results, task, m, size, k)) for k in SECONDARY["token"]] + ["–"]
            else:
                corr = " / ".join(_cell(values(results, task, m, size, k)) for k in SECONDARY["number"])
                cells = ["–", "–", "–", corr]
            lines.append(f"| {task} | {m} | " + " | ".join(cells) + " |")
    curve_tasks = [t for t in tasks if cfg.has_curve(t)]
    if curve_tasks:
        lines += ["", "## Learning curves", "", f"![learning curves]({figures.get('curves', '')})", "",
                  "| task | model | " + " | ".join(f"n={s or 'all'}" for s in _sizes(results, curve_tasks[0])) + " |",
                  "|---|---|" + "---:|" * len(_sizes(results, curve_tasks[0]))]  # fmt: skip
        for task in curve_tasks:
            metric = PRIMARY[output[task]]
            for m in models:
                cells = [_cell(values(results, task, m, s, metric)) for s in _sizes(results, task)]
                if any(c != "–" for c in cells):
                    lines.append(f"| {task} ({metric}) | {m} | " + " | ".join(cells) + " |")
    descriptions = {r["task"]: r.get("description", "") for r in results}
    lines += ["", "## Tasks", ""] + [f"- `{t}`: {descriptions[t]}" for t in tasks]
    lines += ["", "## Models", ""] + [f"- `{m}`: {MODELS[m].description}" for m in models]
    return "\n".join(lines) + "\n"


def _sizes(results: list[dict], task: str) -> list[int]:
    sizes = sorted({r["n_train"] for r in results if r["task"] == task}, key=lambda s: s or math.inf)
    return sizes


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
    write_parquet(tidy_rows(results), out / "results.parquet")
    figures = {}
    if results:
        headline_figure(results, cfg, out / "figures" / "headline.png")
        figures["primary"] = "figures/headline.png"
        curve_tasks = [t for t in dict.fromkeys(r["task"] for r in results) if t in cfg.curve_tasks]
        if curve_tasks:
            curves_figure(results, curve_tasks, out / "figures" / "learning_curves.png")
            figures["curves"] = "figures/learning_curves.png"
    path = out / "report.md"
    atomic_write_text(path, markdown(results, cfg, figures) if results else "# dnagpt bench\n\nNo runs.\n")
    return path
