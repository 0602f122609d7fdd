"""The ``dnagpt`` command line.

One module per group of commands; each command parses its arguments, calls one
library function and prints. Errors caused by the user's input
(:class:`~dnagpt.errors.DNAGPTError`) print one line and exit with status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import re
import sys
import textwrap
from pathlib import Path

from .. import __version__
from ..errors import DNAGPTError
from ..io import requiring_digests
from . import bench, data, finetune, genomes, inference, models, pretrain, vep  # noqa: F401  (each registers its commands)
from .registry import (
    COMMAND_GROUPS,
    COMMANDS,
    GROUPS,
    ArgumentParser,
    add_integrity_argument,
    add_verbosity_arguments,
)


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
        add_integrity_argument(p)
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
    strict = requiring_digests() if getattr(args, "verify", False) else contextlib.nullcontext()
    try:
        with strict:
            return int(args.run(args) or 0)
    except (DNAGPTError, OSError) as e:  # the user's input, or unreadable / unwritable files
        text = describe_os_error(e) if isinstance(e, OSError) and not isinstance(e, DNAGPTError) else str(e)
        # a message built with the command's name as its source ("dnagpt generate: --top-p = 0 ...")
        # would repeat it after the prefix below
        text = re.sub(rf"^dnagpt {re.escape(args.command)}( [\w-]+)?: ", "", text)
        print(f"dnagpt {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dnagpt {args.command}: interrupted", file=sys.stderr)
        return 130


def describe_os_error(error: OSError) -> str:
    """A sentence naming the file an operating-system error is about and what is wrong with it, in
    place of Python's ``[Errno 17] File exists: 'x'``: what the user must change."""
    if error.filename is None:
        return error.strerror or str(error)
    name = str(error.filename)
    if error.filename2 is not None:  # a rename or link: both ends
        name = f"{name} -> {error.filename2}"
    path = Path(str(error.filename))
    if isinstance(error, FileNotFoundError):
        missing = next((p for p in [path, *path.parents] if p.parent.exists() and not p.exists()), path)
        where = "" if missing == path else f" (its folder {missing} does not exist)"
        return f"{name}: no such file or directory{where}"
    if isinstance(error, FileExistsError):
        if path.is_dir():
            return f"{name}: already exists; give a path that does not exist yet, or remove it"
        return (f"{name}: already exists and is a file, where a directory was expected (an output folder, or "
                "the folder of an output file?); give a folder's path, or move the file away")  # fmt: skip
    if isinstance(error, IsADirectoryError):
        return f"{name}: a directory, where a file was expected; give the file's path"
    if isinstance(error, NotADirectoryError):
        blocking = next((p for p in path.parents if p.is_file()), None)
        if blocking is not None:
            return f"{name}: {blocking} is a file, not a folder, so nothing can be read or written under it"
        return f"{name}: not a directory, where a directory was expected"
    if isinstance(error, PermissionError):
        return f"{name}: permission denied (this user may not read or write it; check its owner and mode)"
    if error.errno == errno.ENOSPC:
        return f"{name}: no space left on the device; free some space, or write elsewhere"
    if error.errno == errno.EROFS:
        return f"{name}: on a read-only file system; write elsewhere"
    return f"{name}: {(error.strerror or str(error)).lower()}"


__all__ = ["COMMANDS", "add_integrity_argument", "build_parser", "describe_os_error", "main"]
