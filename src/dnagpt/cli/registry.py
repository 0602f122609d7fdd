"""The table of subcommands: each command module registers its commands here with :func:`command`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, AddArguments, Run]] = {}


def command(name: str, summary: str, add_arguments: AddArguments) -> Callable[[Run], Run]:
    """Register the decorated ``run(args)`` as subcommand ``name``, with ``summary`` as its help."""

    def bind(run: Run) -> Run:
        COMMANDS[name] = (summary, add_arguments, run)
        return run

    return bind


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``dnagpt CMD: error: ...`` and exit status 2, no usage dump."""

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


def add_device_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """The one ``--device`` option every command that runs a model shares."""
    parser.add_argument("--device", default=default,
                        help=f"where to run the model: cpu, cuda, cuda:N, or auto (a GPU if there is one); "
                             f"default {default}")  # fmt: skip
