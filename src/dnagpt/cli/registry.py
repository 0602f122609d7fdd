"""The table of subcommands: each command module registers its commands here with :func:`command`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, AddArguments, Run]] = {}


def command(name: str, summary: str, add_arguments: AddArguments) -> Callable[[Run], Run]:
    """Register the decorated ``run(args)`` as subcommand ``name``, with ``summary`` as its help."""

    def bind(run: Run) -> Run:
        COMMANDS[name] = (summary, add_arguments, run)
        return run

    return bind
