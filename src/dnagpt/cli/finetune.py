"""``dnagpt finetune`` and ``dnagpt predict``: downstream tasks from tables.

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse

from ..tasks.codec import READOUTS
from ..tasks.recipe import FinetuneConfig, Sweep
from ..tasks.warm_start import DEFAULT_SHRINK, MIN_SHRINK_STEPS
from ..training.distributed import is_main_process
from ..validation import build
from .registry import (
    add_batch_size_argument,
    add_device_argument,
    add_precision_argument,
    add_progress_argument,
    command,
)

_RECIPE = FinetuneConfig()  # the defaults shown and used below
_OPTIONS = (
    "epochs",
    "lr",
    "batch_size",
    "warmup_epochs",
    "patience",
    "seed",
    "precision",
    "checkpoint_every",
    "lora_rank",
    "lora_alpha",
    "readout",
    "frame_shift",
    "shrink",
)  # fmt: skip  (each a --option of the same name)


def _finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="pretrained model directory, shipped model name or .pth; or, with --from-scratch, "
                                 "a configuration name (or a model whose architecture to copy)")  # fmt: skip
    p.add_argument("task", help="task file (TOML/YAML/JSON): template, columns, labels")
    p.add_argument("--train", required=True, help="training table (.csv, .tsv, .parquet), or FASTA for generation")
    p.add_argument("--dev", help="dev table for model selection (default: split off the training table)")
    p.add_argument("--test", help="test table, scored once with the best model")
    p.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="without --dev, the training table is split 6 : 1.5 : 2.5 into train / dev / test with this seed "
        "(6 : 1.5 into train / dev when --test is given); the split is saved in OUT/split.json",
    )
    p.add_argument("--from-scratch", action="store_true", help="random weights of the named architecture")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=float, default=_RECIPE.epochs, help="passes over the training table (paper: 10)")
    p.add_argument("--lr", type=float, nargs="+", default=None,
                   help="peak learning rate (default: 1e-3 for models under 20M parameters, such as the "
                        "shipped ones, which the paper's 3e-5 barely moves; from 20M up, the paper's). "
                        "Several values: each is tried, in OUT/lr<lr>, and the run with the best dev score "
                        "is copied to OUT/best (dev scores in OUT/sweep.json); the test table scores only "
                        "that one")  # fmt: skip
    add_batch_size_argument(p, _RECIPE.batch_size, "examples per optimiser step (paper: 8)")
    p.add_argument("--warmup-epochs", type=float, default=_RECIPE.warmup_epochs,
                   help="linear warm-up before the cosine decay, in epochs (paper: 1)")  # fmt: skip
    p.add_argument("--patience", type=int, default=_RECIPE.patience,
                   help="stop after this many epochs without a better dev score (0 = never)")  # fmt: skip
    p.add_argument("--seed", type=int, default=_RECIPE.seed, help="shuffling, and the random weights of --from-scratch")
    add_precision_argument(p, _RECIPE.precision)
    p.add_argument("--checkpoint-every", type=int, default=_RECIPE.checkpoint_every,
                   help="steps between resumable checkpoints (0 = once per epoch)")  # fmt: skip
    p.add_argument("--lora-rank", type=int, default=_RECIPE.lora_rank,
                   help="train LoRA adapters of this rank (needs peft); 0 = off")  # fmt: skip
    p.add_argument("--lora-alpha", type=float, default=_RECIPE.lora_alpha, help="LoRA scaling numerator")
    p.add_argument("--readout", default=_RECIPE.readout, choices=READOUTS,
                   help="what the heads read: the answer position (the paper), the mean over the sequence "
                        "(one label column, or regression) or the first position ([CLS]; models with another "
                        "library's vocabulary). Default: the answer for DNAGPT; for an encoder (BERT, GPN) the "
                        "mean, or the answer on tasks with numbers as input; for a published DNABERT-2, [CLS] "
                        "as its authors fine-tune it")  # fmt: skip
    p.add_argument(
        "--frame-shift",
        action=argparse.BooleanOptionalAction,
        default=_RECIPE.frame_shift,
        help="k-mer models (DNAGPT): drop 0 to k-1 leading bases of each training sequence at random, so the "
        "model sees every reading frame of its 6-mer tokens, and answer dev, test and later predictions as "
        "the mean over the k frames (k times the scoring work). Default: on for k-mer models, which it "
        "helps (docs/findings.md, 'Reading frames'); --no-frame-shift reads each sequence once, as the paper does",
    )
    p.add_argument("--shrink", type=float, nargs="+", default=None,
                   help="warm start: multiply every weight matrix of the pretrained model by this (0 < x <= 1) "
                        "and add a little noise before fine-tuning, so that weights pretraining left large "
                        "can move again ('shrink and perturb'). 1 = the weights as loaded. Default: "
                        f"{DEFAULT_SHRINK:g} for DNAGPT models under 20M parameters, such as the shipped ones, "
                        f"in runs of at least {MIN_SHRINK_STEPS} optimiser steps (fewer are too few to regrow "
                        "the weights); otherwise 1, as for other models and with LoRA. Random weights "
                        "(--from-scratch) are never shrunk. "
                        "Several values (e.g. --shrink 1 0.2): each is tried, in OUT/lr<lr>-shrink<s>, and dev "
                        "keeps the best, as for --lr")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue the run in --out (same settings and data)")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep the resumable checkpoint.pt of a finished run (about three times the model's size), "
                        "so that --resume --allow-change recipe.epochs can train it further; by default a finished "
                        "run keeps only its model in OUT/best")  # fmt: skip
    p.add_argument("--allow-change", action="append", default=[], metavar="KEY",
                   help="on --resume, accept a changed recipe.epochs, recipe.patience or "
                        "recipe.checkpoint_every")  # fmt: skip
    p.add_argument("--alignment", metavar="MAF", help="multiple alignment a GPN-MSA model reads the other "
                   "species' bases from, at each row's region (the task file's region_column)")  # fmt: skip
    add_device_argument(p, "auto")
    add_progress_argument(p)


@command("finetune", "fine-tune a pretrained model (any family) on a classification, regression or generation task",
         _finetune_args, group="train")  # fmt: skip
def _finetune(args: argparse.Namespace) -> int:
    from ..tasks.from_files import TaskTables, finetune_from_files

    aliases = {field: "--" + field.replace("_", "-") for field in _OPTIONS}
    swept = {"lr": args.lr or [None], "shrink": args.shrink or [None]}  # several values: dev picks
    for name, values in swept.items():
        for value in values:  # each tried value is checked as the recipe's own would be
            build(FinetuneConfig, {name: value}, "dnagpt finetune", aliases)
    options = {field: getattr(args, field) for field in _OPTIONS} | {name: v[0] for name, v in swept.items()}
    recipe = build(FinetuneConfig, {**options, "progress": not args.no_progress}, "dnagpt finetune", aliases)
    tables = TaskTables(args.train, args.dev, args.test, args.split_seed)
    sweep = Sweep(args.lr or (), args.shrink or ())
    result = finetune_from_files(args.model, args.task, tables, args.out, recipe, sweep,
                                 from_scratch=args.from_scratch, device=args.device, resume=args.resume,
                                 allow_changes=args.allow_change, alignment=args.alignment,
                                 keep_checkpoint=args.keep_checkpoint)  # fmt: skip
    if not is_main_process():
        return 0
    print(f"best dev {_metrics_line(result.dev)}")
    if result.test is not None:
        print(f"test {_metrics_line(result.test)}")
    return 0


def _metrics_line(metrics: dict) -> str:
    """Scores to four decimals, counts (true positives ...) as whole numbers; other entries left out."""
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return ", ".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4f}" for k, v in shown.items())


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="fine-tuned model directory (holds task.json), e.g. RUN/best")
    p.add_argument("table", help="table with the task's sequence column (and number columns)")
    p.add_argument("--out", required=True, help="CSV to write: one row per input row")
    p.add_argument("--windows", action="store_true",
                   help="average over context-sized windows of long sequences (a model fine-tuned with frame "
                        "shift, the default for DNAGPT, also averages over the reading frames of each)")  # fmt: skip
    add_batch_size_argument(p, 32)
    p.add_argument("--alignment", metavar="MAF", help="a GPN-MSA model's alignment (default: the one it was "
                   "fine-tuned with)")  # fmt: skip
    add_device_argument(p, "auto")
    add_precision_argument(p)  # bf16: probabilities within about 0.01 of fp32's (README)


@command("predict", "predict labels (with probabilities) or values for a table with a fine-tuned model", _predict_args)
def _predict(args: argparse.Namespace) -> int:
    from ..tasks.predict import predict_table

    n = predict_table(
        args.model, args.table, args.out, args.windows, args.batch_size, args.device, args.precision, args.alignment
    )
    print(f"wrote {n} predictions to {args.out}")
    return 0
