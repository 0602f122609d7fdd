"""Pieces shared by the benchmark scripts: their fine-tuning options, fine-tuning DNAGPT with
the learning rate picked on dev, scored once on the test split, and writing a results file."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..io import atomic_write_text
from ..models import DNAGPT
from ..tasks.finetune import FinetuneConfig, finetune_sweep
from ..tasks.spec import TaskSpec, build_examples


def add_finetuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that fine-tune DNAGPT on a dataset of ``dnagpt data build``."""
    parser.add_argument("--pretrained", default="dnagpt-small-multispecies", help="shipped model name or directory")
    parser.add_argument("--epochs", type=float, default=5, help="fine-tuning epochs (best dev epoch kept)")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-4], help="learning rates tried; dev picks")
    parser.add_argument("--batch-size", type=int, default=16, help="examples per step")
    parser.add_argument("--patience", type=int, default=3, help="epochs without a better dev score before stopping")
    parser.add_argument("--seed", type=int, default=0, help="shuffling and random initial weights")
    parser.add_argument("--data", type=Path, default=None, help="where datasets are built (default: the cache)")


def finetune_dnagpt(model: DNAGPT, spec: TaskSpec, tables: dict[str, list[dict]], out: Path, args) -> dict:
    """Fine-tune ``model`` with the paper's recipe at every learning rate of ``args.lrs``, keep the run
    with the best dev score (MCC, R2 or loss), and return its test metrics with its dev metrics,
    learning rate, each learning rate's dev score and the time taken."""
    start = time.perf_counter()
    recipe = FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, patience=args.patience, seed=args.seed,
                            precision="auto", progress=False, tensorboard=False)  # fmt: skip
    examples = {s: build_examples(spec, rows, f"{s}.csv.gz") for s, rows in tables.items()}
    best, by_setting = finetune_sweep(model, spec, examples["train"], examples["dev"], recipe, out, args.lrs,
                                      test=examples["test"], device="cpu")  # fmt: skip
    by_lr = {lr: score for (lr, _), score in by_setting.items()}
    seconds = time.perf_counter() - start
    return (best.test or {}) | {"dev": best.dev, "lr": best.lr, "seconds": seconds, "dev_by_lr": by_lr}


def write_results(result: dict, path: Path) -> None:
    """Write a benchmark's results as indented JSON (atomically) and print them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
