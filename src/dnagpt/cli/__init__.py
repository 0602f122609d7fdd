"""The ``dnagpt`` command line.

One module per group of commands; each command parses its arguments, calls one
library function and prints. Errors caused by the user's input
(:class:`~dnagpt.errors.DNAGPTError`) print one line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import sys

from .. import __version__
from ..errors import DNAGPTError
from . import bench, data, finetune, genomes, inference, models, pretrain, vep  # noqa: F401  (each registers its commands)
from .registry import COMMANDS, ArgumentParser


def build_parser() -> ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = ArgumentParser(
        prog="dnagpt",
        description="DNA language models (DNAGPT, GPN and DNABERT-2 style, and their published checkpoints): "
        "pretrain, fine-tune, benchmark and use them.",
    )
    parser.add_argument("--version", action="version", version=f"dnagpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (summary, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dnagpt`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    try:
        return int(args.run(args) or 0)
    except (DNAGPTError, OSError) as e:  # the user's input, or unreadable / unwritable files
        print(f"dnagpt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dnagpt {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
