"""Which pretraining recipe transfers? Pretrain variants under a stated budget, then fine-tune each
on held-out real tasks, and record everything in one table.

    python benchmarks/pretrain_sweep.py                      # every variant of VARIANTS
    python benchmarks/pretrain_sweep.py --variants paper k3  # some of them
    python benchmarks/pretrain_sweep.py --report-only        # table and figures of what is saved

Each variant is a base pretraining config (``--base``, by default the multi-species corpus of
``dnagpt data build corpus-multispecies``, whose dev/test blocks are cut out) with some settings
changed, plus how it is fine-tuned. Pretraining runs sharing settings share one run. A variant is
scored by ``dnagpt bench`` (the ``dnagpt-pretrained`` model only; the from-scratch and classical rows
come from the main bench) on a few tasks: the recipe is chosen on the dev MCC, never on test.

Everything resumes: a pretraining run continues from its checkpoint, a bench from its saved runs.
Writes ``OUT/sweep.parquet`` (one row per variant), ``OUT/sweep.md`` and two figures: held-out
next-token bits per base against pretraining compute, and downstream dev MCC against compute.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_MODELS = ["dnagpt-pretrained", "dnagpt-scratch", "gpn-pretrained", "gpn-scratch", "kmer-logreg", "cnn"]
# the bench of the shipped shape pretrained on a GPU (10x the tokens): (its bench folder, its model there, row name)
GPU_REFERENCE = ("bench_gpu", "dnagpt-pretrained", "dnagpt-pretrained-gpu")
SHIPPED = {"dnagpt-pretrained": "dnagpt-small-multispecies", "dnagpt-pretrained-gpu": "dnagpt-small-multispecies-gpu"}
TASKS = ["promoter-core-human", "ctcf-human", "splice-human", "tis-arabidopsis"]  # 4 kinds of signal, 2 species


@dataclass(frozen=True)
class Variant:
    """A pretraining recipe (``section.key=value`` changes to the base config) and a fine-tuning one."""

    pretrain: tuple[str, ...] = ()
    finetune: dict = field(default_factory=dict)  # BenchConfig fields: lr, epochs, readout, batch_size
    why: str = ""


# Steps are set so that every variant costs about the same CPU time (measured rows in the table).
VARIANTS: dict[str, Variant] = {
    "paper": Variant((), {}, "the paper's recipe at small scale: 6-mers, next token + GC + order, answer readout"),
    "paper-mean": Variant((), {"readout": "mean"}, "the same model, read by the mean over the sequence"),
    "no-aux": Variant(("objective.mse_weight=0.0", "data.reverse_prob=0.0"), {}, "next token only: no GC, no order"),
    "k3": Variant(
        ("model.kmer=3", "model.context_length=512", "data.max_tokens=500", "data.min_tokens=350"),
        {},
        "3-mers: the same bases in twice the tokens",
    ),
    "k1": Variant(  # a context of 1024 so that 600 bp task windows fit
        ("model.kmer=1", "model.context_length=1024", "data.max_tokens=500", "data.min_tokens=350"),
        {},
        "single nucleotides (GPN's language), 500 bp windows",
    ),
    "alibi": Variant(("model.positions='alibi'",), {}, "ALiBi positions instead of learned ones"),
    "lr-low": Variant(("train.lr=1e-3",), {}, "a third of the pretraining learning rate"),
    "no-aux-lr-low": Variant(
        ("objective.mse_weight=0.0", "data.reverse_prob=0.0", "train.lr=1e-3"), {}, "next token only, lr 1e-3"
    ),
    "ft-lr-low": Variant((), {"lr": 3e-4}, "the paper model fine-tuned at a third of the bench's learning rate"),
}


def pretrain_key(variant: Variant, base: str, steps: int) -> str:
    """The folder name of a pretraining run: variants with the same settings share it."""
    text = json.dumps([base, sorted(variant.pretrain), steps])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_variant(name: str, variant: Variant, base: str, steps: int, out: Path, seeds: int, max_train: int) -> dict:
    """Pretrain (or resume), then fine-tune on TASKS with ``seeds`` seeds; one row of the table."""
    from dnagpt.bench.config import BenchConfig
    from dnagpt.bench.runner import run_bench
    from dnagpt.data.datasets import build_dataset, is_built
    from dnagpt.data.sources import cache_root
    from dnagpt.training.pretrain import run_pretraining
    from dnagpt.training.pretrain_config import load_pretrain_config

    corpus = cache_root() / "datasets" / "corpus-multispecies"  # dev/test blocks of every dataset cut out
    if not is_built("corpus-multispecies", corpus):
        build_dataset("corpus-multispecies")
    overrides = [f"data.manifest='{corpus / 'manifest.toml'}'", *variant.pretrain, f"train.max_steps={steps}"]
    cfg = load_pretrain_config(base, overrides)
    run_dir = out / "pretrain" / pretrain_key(variant, base, steps)
    if not (run_dir / "evaluation.json").is_file():
        run_pretraining(cfg, run_dir, resume=(run_dir / "checkpoint.pt").is_file())
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    species = evaluation.get("species", {})  # per species: the model's and the best Markov model's bits per base
    beaten = sum(s["model_bits_per_base"] < s["markov_bits_per_base"] for s in species.values())
    bench_cfg = BenchConfig.from_record(dict(tasks=TASKS, models=["dnagpt-pretrained"], seeds=seeds,
                                             pretrained=str(run_dir / "model"), max_train=max_train, curve_tasks=[],
                                             **variant.finetune))  # fmt: skip
    results = run_bench(bench_cfg, out / "bench" / f"{name}-{run_dir.name}")  # a new pretraining run: new runs
    if not results:
        raise SystemExit(f"{name}: the bench saved no run")
    dev = [r["metrics"]["dev"].get("mcc", float("nan")) for r in results]
    test = [r["metrics"].get("mcc", float("nan")) for r in results]
    return {"variant": name, "why": variant.why, "pretrain_run": run_dir.name, **compute_of(run_dir),
            "heldout_bits_per_base": _mean(s["model_bits_per_base"] for s in species.values()),
            "markov_bits_per_base": _mean(s["markov_bits_per_base"] for s in species.values()),
            "species_beating_markov": f"{beaten}/{len(species)}",
            **representation_of(run_dir),
            "order_accuracy": evaluation.get("order_accuracy"),
            "order_rule_accuracy": evaluation.get("order_rule_accuracy"),
            "dev_mcc": sum(dev) / len(dev), "test_mcc": sum(test) / len(test),
            **{f"dev_mcc:{t}": _mean(r["metrics"]["dev"].get("mcc") for r in results if r["task"] == t)
               for t in TASKS}}  # fmt: skip


def compute_of(run_dir: Path) -> dict:
    """Steps, tokens, parameters, model FLOPs and CPU seconds of a pretraining run (dnagpt.training.compute)."""
    from dnagpt.models import load_model
    from dnagpt.training.compute import pretraining_compute

    c = pretraining_compute(run_dir, load_model(run_dir / "model"))
    return {"steps": c["steps"], "tokens": c["tokens"], "parameters": c["parameters"],
            "cpu_seconds": c["seconds"] or float("nan"), "flops": c["flops"]}  # fmt: skip


def representation_of(run_dir: Path) -> dict:
    """Effective rank of the pretrained model's hidden states on held-out windows, and its weights' RMS
    (``benchmarks/representation_rank.py``): a collapsed model fine-tunes badly."""
    from dnagpt.models import load_model
    from representation_rank import describe, held_out_sequences

    described = describe(load_model(run_dir / "model"), held_out_sequences())
    return {"rank_tokens": described["rank_tokens"], "weight_rms": described["weight_rms"]}


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def reference_rows(seeds: int) -> list[dict]:
    """The main bench's runs on TASKS with the same seeds: the shipped model (3,000 steps), the same
    shape from random weights, the GPN-style ConvNet pretrained and the two classical baselines."""
    from dnagpt.bench.runner import result_path

    sources = [(ROOT / "benchmarks" / "bench", m, m) for m in REFERENCE_MODELS]
    folder, model, name = GPU_REFERENCE
    sources.append((ROOT / "benchmarks" / folder, model, name))
    out = []
    for bench, model, name in sources:
        paths = [result_path(bench, t, model, 1000, s) for t in TASKS for s in range(seeds)]
        mine = [json.loads(p.read_text()) for p in paths if p.is_file()]
        if len(mine) < len(TASKS) * seeds:
            continue  # not run on every task and seed yet
        dev = [r["metrics"].get("dev", {}).get("mcc") for r in mine]
        out.append({"model": name, "test_mcc": _mean(r["metrics"].get("mcc") for r in mine),
                    "dev_mcc": _mean(dev) if any(d is not None for d in dev) else float("nan"),
                    **{f"test_mcc:{t}": _mean(r["metrics"].get("mcc") for r in mine if r["task"] == t)
                       for t in TASKS}})  # fmt: skip
    return out


def write_report(rows: list[dict], out: Path, seeds: int) -> None:
    """``sweep.parquet``, ``sweep.md`` (with the main bench's reference rows) and the two compute figures."""
    from dnagpt.bench.statistics import write_parquet
    from dnagpt.evaluation.plots import pyplot, save_figure
    from dnagpt.io import atomic_write_text

    write_parquet(rows, out / "sweep.parquet")

    def cell(value) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    shown = ["variant", "steps", "cpu_seconds", "heldout_bits_per_base", "markov_bits_per_base",
             "species_beating_markov", "rank_tokens", "weight_rms", "dev_mcc", "test_mcc",
             *(f"dev_mcc:{t}" for t in TASKS)]  # fmt: skip
    lines = ["# Pretraining sweep", "", f"Tasks: {', '.join(TASKS)}; {seeds} fine-tuning seeds each; "
             "dev MCC picks the recipe. Compute is the same for every variant of one step count (same shape, "
             "same tokens per step; see `flops` in sweep.parquet); cpu_seconds (tokens over the median logged "
             "rate) reads high for runs that shared the CPU with other work.", "",
             "| " + " | ".join(shown) + " | why |",
             "|" + " --- |" * (len(shown) + 1)]  # fmt: skip
    lines += ["| " + " | ".join(cell(r.get(c)) for c in shown) + f" | {r['why']} |" for r in rows]
    reference = reference_rows(seeds)
    if reference:
        columns = ["model", "dev_mcc", "test_mcc", *(f"test_mcc:{t}" for t in TASKS)]
        lines += ["", "Reference, from the main bench (`benchmarks/bench`; the -gpu row from `benchmarks/bench_gpu`), "
                  f"seeds 0-{seeds - 1}, the same tasks and training sizes):", "",
                  "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]  # fmt: skip
        lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in reference]
    atomic_write_text(out / "sweep.md", "\n".join(lines) + "\n")
    plt = pyplot()
    shipped = [r | {"variant": r["model"], "flops": _shipped_flops(SHIPPED[r["model"]])}
               for r in reference if r["model"] in SHIPPED]  # fmt: skip
    for y, name in (("heldout_bits_per_base", "loss_vs_compute.png"), ("dev_mcc", "mcc_vs_compute.png")):
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.scatter([r["flops"] for r in rows], [r[y] for r in rows], label="sweep variants")
        marked = [r for r in shipped if y in r]
        if marked:  # the shipped models, scored on the same tasks and seeds in the main benches
            ax.scatter([r["flops"] for r in marked], [r[y] for r in marked], marker="s", label="shipped models")
        for r in [*rows, *marked]:
            ax.annotate(r["variant"], (r["flops"], r[y]), fontsize=7)
        ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("pretraining model FLOPs (dnagpt.training.compute)")
        ax.set_ylabel(y.replace("_", " "))
        save_figure(fig, out / name)


def _shipped_flops(name: str) -> float:
    """Pretraining model FLOPs of a shipped model, from its ``pretraining.json``."""
    from dnagpt.models.checkpoint import resolve_model_path

    return json.loads((resolve_model_path(name) / "pretraining.json").read_text())["compute"]["flops"]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the bench's progress lines
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--base", default="demo", help="base pretraining config (its corpus is replaced by the full one)")
    p.add_argument("--steps", type=int, default=3000, help="pretraining steps of every variant")
    p.add_argument("--seeds", type=int, default=2, help="fine-tuning seeds per task")
    p.add_argument("--max-train", type=int, default=1000, help="training examples per fine-tuning run")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "pretrain_sweep")
    p.add_argument("--report-only", action="store_true", help="table and figures of the rows saved so far")
    args = p.parse_args(argv)
    from dnagpt.io import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    rows_file = args.out / "rows.json"
    rows = json.loads(rows_file.read_text()) if rows_file.is_file() else {}
    if not args.report_only:
        for name in args.variants:
            print(f"== {name}: {VARIANTS[name].why}", flush=True)
            rows[name] = run_variant(name, VARIANTS[name], args.base, args.steps, args.out, args.seeds, args.max_train)
            atomic_write_text(rows_file, json.dumps(rows, indent=1) + "\n")  # saved after every variant
    if rows:
        write_report(list(rows.values()), args.out, args.seeds)
    print(f"{len(rows)} variants in {args.out / 'sweep.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
