"""MkDocs hook: the command-line reference, rendered from the argparse parsers at build time.

``reference/cli.md`` is not a file in the repository: this hook builds it from
``dnagpt.cli.build_parser()`` (every command of ``dnagpt.cli.COMMANDS``), so the page always
shows the options of the code it is built from.
"""

from __future__ import annotations

import argparse
import os

from mkdocs.structure.files import File

PAGE = "reference/cli.md"
# columns of the help text: fixed, so that the page does not depend on the terminal, and narrow
# enough for the page's code blocks
WIDTH = "80"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def render() -> str:
    """The Markdown of the reference page: the top-level help, then one section per command."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        from dnagpt.cli import COMMANDS, build_parser

        parser = build_parser()
        commands = _subparsers(parser)
        lines = [
            "# Command-line reference",
            "",
            "Every option of every `dnagpt` command, as `dnagpt COMMAND --help` prints it. This page is",
            "generated from the argument parsers when the documentation is built, so it matches the code.",
            "Errors in your input (a bad sequence, file or setting) print one line naming the file, row or",
            "option and exit with status 2 before any work starts.",
            "",
            "| command | what it does |",
            "| --- | --- |",
        ]
        lines += [f"| [`{name}`](#{name}) | {summary} |" for name, (summary, _, _) in COMMANDS.items()]
        lines += ["", "## dnagpt", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name in COMMANDS:
            lines += [f"## {name}", "", "```text", commands[name].format_help().rstrip(), "```", ""]
            for step, step_parser in _subparsers(commands[name]).items():  # e.g. genomes prepare, fit ...
                lines += [f"### {name} {step}", "", "```text", step_parser.format_help().rstrip(), "```", ""]
        return "\n".join(lines)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=render()))
    return files
