"""The bench report's tables: headline, paired comparisons, families, transfer."""

from __future__ import annotations

import json
import math

from ..errors import CheckpointError
from ..models import FAMILIES
from ..models.checkpoint import resolve_model_path
from .config import PRIMARY, BenchConfig
from .models import MODELS
from .statistics import best_classical, cell, mean_sd, paired_test, sizes, values


def headline_table(results: list[dict], cfg: BenchConfig) -> list[str]:
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
            text = cell(values(results, task, m, size, metric))
            cells.append(f"**{text}**" if means[m] == top else text)
        lines.append(f"| {task} ({metric}) | {any_run['train_examples']} / {any_run['test_examples']} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return lines


def paired_table(results: list[dict], cfg: BenchConfig) -> list[str]:
    """Each pretrained model (a family's, or a directory filed as X-pretrained) against its scratch twin
    (X-scratch), and every fine-tuned model against the task's best classical model."""
    output = {r["task"]: r["output"] for r in results}
    size = cfg.max_train
    lines = ["| task | comparison | mean difference ± sd | p | first better in |", "|---|---|---:|---:|---:|"]
    models = fine_tuned_models(results)
    twins = {m: m.removesuffix("pretrained") + "scratch" for m in models if m.endswith("-pretrained")}
    twins = {m: twin for m, twin in twins.items() if twin in models}
    ordered = sorted(models, key=lambda m: not m.endswith("-pretrained"))  # a twin after its pretrained model
    for task in dict.fromkeys(r["task"] for r in results):
        metric = PRIMARY[output[task]]
        rival = best_classical(results, task, size, metric)
        pairs = []
        for model in ordered:
            if model in twins:
                pairs.append((model, twins[model]))
            if rival:
                pairs += [(m, rival) for m in (model, twins.get(model)) if m and (m, rival) not in pairs]
        for a, b in pairs:
            xa, xb = values(results, task, a, size, metric), values(results, task, b, size, metric)
            if not xa or not xb:
                continue
            t = paired_test(xa, xb)
            star = " *" if t["p"] < 0.05 else ""
            lines.append(f"| {task} | {a} − {b} ({metric}) | {t['mean']:+.3f} ± {t['sd']:.3f} | {t['p']:.3g}{star} "
                         f"| {t['wins']}/{t['n']} |")  # fmt: skip
    return lines


def fine_tuned_models(results: list[dict]) -> list[str]:
    """The bench's neural models in the results, in the order they ran: the families' pretrained
    and scratch models and any model directory (a name the bench does not know is one of these)."""
    names = dict.fromkeys(r["model"] for r in results)
    return [m for m in names if m not in MODELS or not MODELS[m].classical]


def families_section(results: list[dict], cfg: BenchConfig) -> list[str]:
    """Which family wins where (each family's better model, pretrained or scratch, against the best
    classical model) and the compute each family's pretrained model and bench runs used."""
    models = [m for m in MODELS if any(r["model"] == m for r in results)]
    families = list(dict.fromkeys(MODELS[m].family_name for m in models if MODELS[m].family_name))
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
                     for m in models if MODELS[m].family_name == family}  # fmt: skip
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
        source = next(MODELS[m].pretrained_source(cfg) for m in models if MODELS[m].family_name == family)
        compute = _pretraining_compute(source)
        bench_minutes = sum(r["seconds"] for r in results if MODELS[r["model"]].family_name == family) / 60
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


def transfer_section(results: list[dict], cfg: BenchConfig) -> list[str]:
    """Does each family's pretraining pay off? Against the transfer bar: the pretrained model beats its
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
    for family in FAMILIES:
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
                smallest = sizes(results, task)[0]
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
        [HEADLINE, "", *headline_table(results, cfg), "", PAIRED, "", *paired_table(results, cfg), "", STAR]
    )


HEADLINE = "MCC (classification) or R2 (regression) on the test split, mean ± sd over seeds"
PAIRED = "Paired differences (same seeds and training draws; two-sided paired t-test)"
STAR = "`*`: p < 0.05. The best classical model is the one with the best mean on that task."
