"""Pieces shared by the benchmark scripts: their fine-tuning options (a :class:`FinetuneConfig` and
the learning rates tried), fine-tuning with the learning rate picked on dev and scored once on the
test split, and writing a results file."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from ..io import atomic_write_text
from ..models import PretrainedModel
from ..tasks.recipe import FinetuneConfig, Sweep
from ..tasks.spec import TaskData, TaskSpec, build_examples
from ..tasks.sweep import finetune_sweep
from .config import BENCH_RECIPE

# The scripts' recipe: the bench's, one epoch longer and one more of patience, learning rate picked on dev.
SCRIPT_RECIPE = replace(BENCH_RECIPE, epochs=5, patience=3, lr=None, readout=None)
SCRIPT_LRS = (1e-3, 3e-4)


def add_finetuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that fine-tune a model on a dataset of ``dnagpt data build``."""
    parser.add_argument("--pretrained", default="dnagpt-small-multispecies", help="shipped model name or directory")
    parser.add_argument(
        "--epochs", type=float, default=SCRIPT_RECIPE.epochs, help="fine-tuning epochs (best dev epoch kept)"
    )
    parser.add_argument(
        "--lrs", type=float, nargs="+", default=list(SCRIPT_LRS), help="learning rates tried; dev picks"
    )
    parser.add_argument("--batch-size", type=int, default=SCRIPT_RECIPE.batch_size, help="examples per step")
    parser.add_argument("--patience", type=int, default=SCRIPT_RECIPE.patience,
                        help="epochs without a better dev score before stopping")  # fmt: skip
    parser.add_argument("--seed", type=int, default=SCRIPT_RECIPE.seed, help="shuffling and random initial weights")
    parser.add_argument("--data", type=Path, default=None, help="where datasets are built (default: the cache)")


def recipe_from_arguments(args: argparse.Namespace) -> FinetuneConfig:
    """:data:`SCRIPT_RECIPE` with the options of :func:`add_finetuning_arguments`."""
    return replace(
        SCRIPT_RECIPE, epochs=args.epochs, batch_size=args.batch_size, patience=args.patience, seed=args.seed
    )


def finetune_on_tables(model: PretrainedModel, spec: TaskSpec, tables: dict[str, list[dict]], out: Path,
                       args: argparse.Namespace) -> dict:  # fmt: skip
    """Fine-tune ``model`` with :func:`recipe_from_arguments` at every learning rate of ``args.lrs``, keep
    the run with the best dev score (MCC, R2 or loss), and return its test metrics with its dev metrics,
    learning rate, each learning rate's dev score and the time taken."""
    start = time.perf_counter()
    examples = {s: build_examples(spec, rows, f"{s}.csv.gz") for s, rows in tables.items()}
    data = TaskData(spec, examples["train"], examples["dev"], examples["test"])
    best, by_setting = finetune_sweep(model, data, recipe_from_arguments(args), out, Sweep(lrs=tuple(args.lrs)),
                                      device="cpu")  # fmt: skip
    by_lr = {lr: score for (lr, _), score in by_setting.items()}
    seconds = time.perf_counter() - start
    return (best.test or {}) | {"dev": best.dev, "lr": best.lr, "seconds": seconds, "dev_by_lr": by_lr}


def write_results(result: dict, path: Path) -> None:
    """Write a benchmark's results as indented JSON (atomically) and print them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
