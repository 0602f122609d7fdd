"""``dnagpt pretrain``: the paper's three pretraining tasks on genome FASTA files.

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .registry import add_device_argument, add_progress_argument, command


def _pretrain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config file (TOML, YAML or JSON), or a bundled config name: demo")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the checkpoint in the run directory (with the settings it was started with)",
    )
    p.add_argument("--allow-change", action="append", default=[], metavar="KEY",
                   help="on --resume, accept a changed train.max_steps, train.eval_every, train.save_every, "
                        "train.patience or eval.samples")  # fmt: skip
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.lr=1e-3 --set model.n_layer=6 (repeatable)",
    )
    p.add_argument("--max-steps", type=int, help="shortcut for --set train.max_steps=N")
    add_device_argument(p, "auto")
    add_progress_argument(p)


@command(
    "pretrain",
    "pretrain a model on genome FASTA files (or a GPN-MSA model on an alignment): a DNAGPT decoder on the "
    "paper's three tasks (next k-mer, sequence order, GC content), an encoder (BERT, GPN) on masked tokens; "
    "works under torchrun",
    _pretrain_args,
    group="train",
)
def _pretrain(args: argparse.Namespace) -> int:
    from ..training.pretrain import run_pretraining
    from ..training.pretrain_config import load_pretrain_config
    from ..training.pretrain_eval import format_report

    overrides = list(args.set)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.no_progress:
        overrides.append("train.progress=false")
    cfg = load_pretrain_config(args.config, overrides)
    out = Path(args.out or Path("runs") / Path(args.config).stem.removeprefix("pretrain-"))
    evaluation = run_pretraining(cfg, out, resume=args.resume, device=args.device, allow_changes=args.allow_change)
    if evaluation:
        print(format_report(evaluation, out))
    return 0
