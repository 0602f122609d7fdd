"""``dnagpt bench``: tasks x models x seeds, resumable, with a results table and a report.

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..bench.config import CURVE_TASKS, BenchConfig, quick_config
from ..bench.models import MODELS
from ..tasks.codec import READOUTS
from .registry import add_workers_argument, command, non_negative_int, positive_float, positive_int


def _bench_args(p: argparse.ArgumentParser) -> None:
    b = BenchConfig()
    d = b.recipe  # the fine-tuning recipe every neural model shares
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench"),
        help="folder for results; a bench rerun there continues where it stopped (default runs/bench)",
    )
    p.add_argument(
        "--tasks",
        nargs="+",
        default=[],
        metavar="TASK",
        help="datasets of `dnagpt data list`, or folders with task.toml and train/dev/test tables "
        "(your own data); default: every labelled dataset",
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=[],
        metavar="MODEL",
        help=f"from {', '.join(MODELS)}, or a model directory (any model dnagpt reads, a downloaded GPN or "
        "DNABERT-2 checkpoint among them), filed under its path or, as LABEL=DIR, under LABEL; LABEL=random:DIR "
        "is its architecture from random weights, the twin that shows what its pretraining adds (a pair named "
        "X-pretrained and X-scratch is compared in the report); default: all but "
        "the other families' ("
        + ", ".join(m for m in MODELS if not MODELS[m].default)
        + ") (each runs on the tasks it handles)",
    )
    p.add_argument("--seeds", type=positive_int, default=b.seeds, help="replicates 0 .. N-1, paired across models")
    p.add_argument("--pretrained", default=b.pretrained, help="model to fine-tune: shipped name or directory")
    p.add_argument(
        "--max-train",
        type=non_negative_int,
        default=b.max_train,
        help="training examples per run, drawn by the seed (0 = all)",
    )
    p.add_argument("--max-dev", type=non_negative_int, default=b.max_dev,
                   help="dev examples kept for picking the best epoch (0 = all)")  # fmt: skip
    p.add_argument(
        "--max-eval",
        type=non_negative_int,
        default=b.max_eval,
        help="dev and test examples kept (0 = all; smaller only for a quick look)",
    )
    p.add_argument(
        "--curve-tasks", nargs="*", default=CURVE_TASKS, metavar="TASK", help="tasks that also get learning curves"
    )
    p.add_argument(
        "--curve-sizes",
        nargs="+",
        type=non_negative_int,
        default=b.curve_sizes,
        metavar="N",
        help="training sizes of the learning curves (0 = all)",
    )
    p.add_argument("--epochs", type=positive_float, default=d.epochs, help="fine-tuning epochs of the neural models")
    p.add_argument("--lr", type=positive_float, nargs="+", default=[d.lr], metavar="LR",
                   help="fine-tuning peak learning rate of the neural models; several: each is tried and the best "
                   "dev score kept, per model and seed (one fine-tuning run per rate)")  # fmt: skip
    p.add_argument(
        "--batch-size", type=positive_int, default=d.batch_size, help="fine-tuning batch size of the neural models"
    )
    p.add_argument("--readout", default=d.readout, choices=READOUTS,
                   help="what a causal model's heads read: the answer position (the paper) or the sequence mean; "
                        "masked models read as dnagpt finetune does by default")  # fmt: skip
    p.add_argument(
        "--frame-shift",
        action=argparse.BooleanOptionalAction,
        default=d.frame_shift,
        help="k-mer models: fine-tune on training sequences shifted by 0 to k-1 bases at random and answer as "
        "the mean over the k reading frames (default: on, as dnagpt finetune; --no-frame-shift: the paper's way)",
    )
    p.add_argument("--shrink", type=positive_float, nargs="+", default=d.shrink, metavar="SHRINK",
                   help="multiply the pretrained weights' matrices by this (<= 1, plus a little noise) "
                        "before fine-tuning; 1 = as loaded (default: as dnagpt finetune, 0.2 for small "
                        "DNAGPT models); several (e.g. 1 0.2): each is tried and the best dev score kept, "
                        "per model and seed (one fine-tuning run each)")  # fmt: skip
    p.add_argument("--data", default="", help="where datasets are built (default: the cache)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: write the table and report of the runs saved so far in --out, with the "
                        "settings it was run with (its bench.json; other options are then ignored)")  # fmt: skip
    add_workers_argument(p, "the runs not saved yet", "the table and report (in --out)",
                         " N x --threads at most the cores.")  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=1, metavar="N",
                   help="torch threads of each run, the same whatever --workers, so that how the runs were shared "
                        "out never changes a figure (a neural model's may change with the threads: in the last "
                        "digits, or the epoch dev picks); more threads speed up each run where cores are "
                        "spare")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help="a few minutes on the dataset that ships with dnagpt (2 seeds, 64 examples): checks an "
                        "installation, proves nothing")  # fmt: skip


@command("bench", "benchmark models on many real tasks and seeds; writes results.parquet and report.md",
         _bench_args, group="evaluate")  # fmt: skip
def _bench(args: argparse.Namespace) -> int:
    from ..bench.runner import runs_to_do, saved_config
    from ..workers import launch_workers, workers_to_launch

    saved = saved_config(args.out) if args.report_only else None
    if saved is not None:
        cfg = saved
    elif args.quick:
        cfg = quick_config(args.tasks or None)
    else:
        cfg = BenchConfig.from_record({"tasks": args.tasks, "models": args.models, "seeds": args.seeds,
                                  "pretrained": args.pretrained, "max_train": args.max_train,
                                  "max_dev": args.max_dev, "max_eval": args.max_eval,
                                  "curve_tasks": args.curve_tasks,
                                  "curve_sizes": args.curve_sizes, "epochs": args.epochs,
                                  "lr": args.lr,
                                  "batch_size": args.batch_size, "readout": args.readout,
                                  "frame_shift": args.frame_shift,
                                  "shrink": args.shrink,
                                  "data": args.data}, "dnagpt bench")  # fmt: skip
    verbosity = getattr(args, "verbosity", 0)
    launch = workers_to_launch(args.workers)  # a --workers that contradicts torchrun is refused, even for a report
    workers = 1 if args.report_only else launch
    if workers > 1:  # the settings are checked and the datasets built once, here, before any worker starts
        workers = min(workers, len(runs_to_do(cfg, args.out)))
    if workers > 1:
        printed = launch_workers(workers, bench_worker, cfg, args.out, not args.report_only, args.threads, verbosity,
                                 threads=args.threads, traceback=verbosity > 0)  # fmt: skip
    else:
        printed = bench_worker(cfg, args.out, not args.report_only, args.threads, verbosity, configure=False)
    if printed:
        print(printed)
    return 0


def bench_worker(cfg: BenchConfig, out: Path, execute: bool, threads: int, verbosity: int, configure: bool = True
                 ) -> str | None:  # fmt: skip
    """One worker's bench: its runs (every run, for a bench of one worker), then, on the first
    worker (rank 0), the results table and report; returns what the command prints (the first
    worker) or None (the others). ``configure``: set up this process's progress lines, as a worker
    that :func:`~dnagpt.workers.launch_workers` started must."""
    from ..bench.report import write_report
    from ..bench.runner import run_bench
    from ..bench.tables import summary
    from ..workers import Workers
    from . import configure_logging

    if configure:
        configure_logging(verbosity)
    workers = Workers.from_environment()
    if not execute and workers.rank != 0:  # a report under torchrun: the first worker writes it
        return None
    results = run_bench(cfg, out, execute=execute, threads=threads)
    if workers.rank != 0:
        return None
    report = write_report(results, cfg, out)
    return f"\n{summary(results, cfg)}\n\nresults: {out / 'results.parquet'}; report: {report}"
