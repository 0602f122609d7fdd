"""The ``dnagpt`` command line.

One module per group of commands; each command parses its arguments, calls one
library function and prints. Errors caused by the user's input
(:class:`~dnagpt.errors.DNAGPTError`) print one line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap

from .. import __version__
from ..errors import DNAGPTError
from . import bench, data, finetune, genomes, inference, models, pretrain, vep  # noqa: F401  (each registers its commands)
from .registry import COMMAND_GROUPS, COMMANDS, GROUPS, ArgumentParser, add_verbosity_arguments


def _command_list() -> str:
    """The commands, grouped by job, for ``dnagpt --help``."""
    width = max(len(name) for name in COMMANDS) + 2
    lines = []
    for group, title in GROUPS.items():
        names = [name for name in COMMANDS if COMMAND_GROUPS[name] == group]
        if names:
            lines.append(f"{title}:")
            for name in names:
                summary = textwrap.wrap(COMMANDS[name][0], 100 - width - 2)
                lines.append(f"  {name:<{width}}{summary[0]}")
                lines += [" " * (width + 2) + more for more in summary[1:]]
            lines.append("")
    lines.append("Run `dnagpt COMMAND --help` for a command's options.")
    return "\n".join(lines)


def build_parser() -> ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = ArgumentParser(
        prog="dnagpt",
        description="DNA language models (DNAGPT, GPN and DNABERT-2 style, and their published checkpoints): "
        "pretrain, fine-tune, benchmark and use them.",
        epilog=_command_list(),
        usage="dnagpt [-h] [--version] COMMAND ...",
    )
    parser.add_argument("--version", action="version", version=f"dnagpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help=argparse.SUPPRESS)
    for name, (summary, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, prog=f"dnagpt {name}", description=summary[0].upper() + summary[1:] + ".")
        add_arguments(p)
        add_verbosity_arguments(p)
        p.set_defaults(run=run)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test may have swapped it since)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(verbosity: int) -> None:
    """Send the library's reports (logger ``dnagpt``) to standard error: warnings only with ``-q``,
    progress lines by default, debugging detail with ``-v``."""
    logger = logging.getLogger("dnagpt")
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}[verbosity])
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dnagpt`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    configure_logging(getattr(args, "verbosity", 0))
    try:
        return int(args.run(args) or 0)
    except (DNAGPTError, OSError) as e:  # the user's input, or unreadable / unwritable files
        print(f"dnagpt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dnagpt {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["COMMANDS", "build_parser", "main"]
