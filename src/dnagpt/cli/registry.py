"""The table of subcommands: each command module registers its commands here with :func:`command`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from ..device import PRECISIONS
from ..io import VERIFY_ENV

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, AddArguments, Run]] = {}

# the jobs ``dnagpt --help`` groups its commands by, in the order it lists them
GROUPS: dict[str, str] = {
    "train": "Train a model",
    "use": "Use a model",
    "evaluate": "Benchmarks and artificial genomes",
    "resources": "Models, token vocabularies and data",
}
COMMAND_GROUPS: dict[str, str] = {}


def command(name: str, summary: str, add_arguments: AddArguments, group: str = "use") -> Callable[[Run], Run]:
    """Register the decorated ``run(args)`` as subcommand ``name``, with ``summary`` as its help,
    listed under ``group`` (a key of :data:`GROUPS`) in ``dnagpt --help``."""
    if group not in GROUPS:
        raise ValueError(f"command group {group!r} is not one of {', '.join(GROUPS)}")

    def bind(run: Run) -> Run:
        COMMANDS[name] = (summary, add_arguments, run)
        COMMAND_GROUPS[name] = group
        return run

    return bind


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless the text already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = action.default not in (None, False, argparse.SUPPRESS, []) and not isinstance(
            action, (argparse._StoreConstAction, argparse._HelpAction, argparse._VersionAction)
        )
        if shown and "default" not in text and action.option_strings:
            text += " (default: %(default)s)"
        return text


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors (``dnagpt CMD: error: ...``, exit status 2, no usage dump) and
    every default shown in ``--help``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _bounded(kind: type, low: float, inclusive: bool, what: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if value != value or value in (float("inf"), float("-inf")) or (value < low if inclusive else value <= low):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    return parse


positive_int = _bounded(int, 1, True, "a whole number of at least 1")
non_negative_int = _bounded(int, 0, True, "a whole number of at least 0")
positive_float = _bounded(float, 0.0, False, "a number above 0")
non_negative_float = _bounded(float, 0.0, True, "a number of at least 0")


# The options every command that runs a model shares: the same name means the same thing everywhere.


def add_device_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """``--device``: where the model runs."""
    parser.add_argument("--device", default=default,
                        help=f"where to run the model: cpu, cuda, cuda:N, or auto (a GPU if there is one, else CPU); "
                             f"default {default}")  # fmt: skip


def add_precision_argument(parser: argparse.ArgumentParser, default: str = "fp32") -> None:
    """``--precision``: the number format of the model's arithmetic."""
    parser.add_argument("--precision", default=default, choices=PRECISIONS,
                        help="number format: fp32 (exact reference), bf16 (faster where the processor supports "
                             f"it), fp16 (GPUs), or auto (bf16 where supported); default {default}")  # fmt: skip


def add_batch_size_argument(parser: argparse.ArgumentParser, default: int, what: str = "sequences per forward pass"):
    """``--batch-size``: how many items go through the model at once (memory against speed)."""
    parser.add_argument("--batch-size", type=positive_int, default=default,
                        help=f"{what}; lower it if memory runs out (default {default})")  # fmt: skip


def add_workers_argument(parser: argparse.ArgumentParser, work: str, output: str, more: str = "") -> None:
    """``--workers``: how many processes on this machine share the command's ``work``; the same
    command under torchrun runs across machines, each of its processes a worker."""
    parser.add_argument("--workers", type=positive_int, default=1, metavar="N",
                        help=f"share {work} among N processes on this machine, started by torch's launcher as "
                             f"`torchrun --standalone --nproc-per-node N` starts them; the first writes {output}, "
                             f"the same as one process's.{more} Across machines, start the same command under "
                             "torchrun on each instead (`torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d "
                             "--rdzv-endpoint HOST:29500 -m dnagpt.cli ...`, leaving --workers out): its processes "
                             f"are the workers, and {output} must be on a filesystem they all write to")  # fmt: skip


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``: no progress bar (for logs and batch jobs)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")


def add_verbosity_arguments(parser: argparse.ArgumentParser) -> None:
    """``-q`` / ``-v``: how much the command reports on standard error (warnings only, or debug detail)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=0,
                       help="report warnings and errors only")  # fmt: skip
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       help="report debugging detail too")  # fmt: skip


def add_integrity_argument(parser: argparse.ArgumentParser) -> None:
    """``--verify``: refuse weight files that have no recorded SHA-256 to check them against (every
    command has it, as any command may load a model; without it such a file is read with a warning)."""
    parser.add_argument("--verify", action="store_true",
                        help="refuse weight files without a recorded SHA-256 (FILE.sha256) instead of reading "
                             f"them with a warning (also: {VERIFY_ENV}=1)")  # fmt: skip
