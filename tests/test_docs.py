"""The documentation's examples run, so a page that drifts from the code fails here.

Every page under ``docs/`` is read for fenced code blocks:

* a ``bash`` block is run command by command through ``dnagpt.cli.main`` (every command in it must
  start with ``dnagpt``) and each must exit with status 0;
* a ``python`` block is run with ``exec``;
* a block right after the line ``<!-- not run -->`` is only checked: each ``dnagpt`` command in it
  (also after ``torchrun ... -m dnagpt.cli``) must parse with the real argument parser, and Python
  must compile. For what CI cannot do: GPUs, hours of compute, downloads, files you do not have;
* a block right after ``<!-- file: NAME -->`` is written to the file NAME before the next block
  runs (a task file, a configuration, a VCF shown on the page).

Blocks of one page run in order, in one temporary folder, sharing one Python namespace; each page
has its own folder. ``README.md`` is checked, not run: its commands must parse, its relative links
must point at files, and it stays short.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 250
NOT_RUN = "<!-- not run -->"
FILE_MARK = re.compile(r"<!--\s*file:\s*(\S+)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    run: bool  # False: <!-- not run -->
    file: str | None  # <!-- file: NAME -->: written, not run

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def read_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, with the marker on the line before each."""
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"].lower()
        before = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        body, j = [], i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence[0] * len(fence)) and not lines[j].strip().strip(fence[0])
        ):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        marked = FILE_MARK.fullmatch(before)
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n", before != NOT_RUN, marked and marked[1]))
        i = j + 1
    return blocks


def commands(code: str) -> list[list[str]]:
    """The shell commands of a bash block, split into words (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", code)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def dnagpt_arguments(words: list[str]) -> list[str] | None:
    """The arguments a shell command passes to the dnagpt command line, or None if it runs something else."""
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):  # VAR=value before the command
        words = words[1:]
    if words and words[0] == "dnagpt":
        return words[1:]
    if "dnagpt.cli" in words and words.index("dnagpt.cli") > 0 and words[words.index("dnagpt.cli") - 1] == "-m":
        return words[words.index("dnagpt.cli") + 1 :]  # torchrun ... -m dnagpt.cli, python -m dnagpt.cli
    return None


def check_parses(arguments: list[str], where: str) -> None:
    from dnagpt.cli import build_parser

    try:
        build_parser().parse_args(arguments)
    except SystemExit as e:
        pytest.fail(f"{where}: `dnagpt {shlex.join(arguments)}` does not parse (exit {e.code})")


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


def runnable_pages() -> list[Path]:
    return [p for p in pages() if any(b.run and not b.file and b.lang in ("bash", "python") for b in read_blocks(p))]


def checked_blocks() -> list[Block]:
    return [b for p in [*pages(), README] for b in read_blocks(p) if b.lang in ("bash", "python") and not b.file]


@pytest.mark.parametrize("block", checked_blocks(), ids=lambda b: b.where)
def test_every_command_parses(block):
    """Every command shown, run or not, exists with the options it is shown with."""
    if block.lang == "python":
        compile(block.code, block.where, "exec")
        return
    for words in commands(block.code):
        arguments = dnagpt_arguments(words)
        if arguments is not None:
            check_parses(arguments, block.where)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.mark.slow
@pytest.mark.parametrize("page", runnable_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_runs(page, tmp_path, monkeypatch, cache):
    """A page's blocks run in order on the bundled data and models, as a reader would run them."""
    from dnagpt.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DNAGPT_CACHE", str(cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__main__"}
    for block in read_blocks(page):
        if block.file:
            Path(block.file).parent.mkdir(parents=True, exist_ok=True)
            Path(block.file).write_text(block.code)
        elif not block.run or block.lang not in ("bash", "python"):
            continue
        elif block.lang == "python":
            exec(compile(block.code, block.where, "exec"), namespace)
        else:
            for words in commands(block.code):
                arguments = dnagpt_arguments(words)
                assert arguments is not None, (
                    f"{block.where}: `{shlex.join(words)}` is not a dnagpt command; mark the block {NOT_RUN}"
                )
                assert main(arguments) == 0, f"{block.where}: `dnagpt {shlex.join(arguments)}` failed"


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; the details belong in docs/"


def test_readme_links_exist():
    """Relative links of the README point at files of the repository."""
    targets = re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_site_builds_strict(tmp_path):
    """The site builds with no warning: links, anchors, the CLI reference hook and every docstring."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()
