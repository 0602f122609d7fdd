"""Property-based fuzzing of every dnagpt reader, with Hypothesis.

Each reader of user files (FASTA, VCF, tables, task and pretraining configuration files, model
``config.json``, ``tokenizer.json``, safetensors weights, model directories, MAF alignments,
regions) is a :class:`Target`: a Hypothesis strategy of :class:`Case` inputs and the call that reads
one. A case is either *valid* (made by the project's own writers or to the format's rules), which
the reader must accept and read back exactly (round trip), or *mutated* (bytes flipped, cut or
inserted, JSON/TOML values of the wrong type, huge numbers, unicode, empty files), which the reader
must either accept or refuse with one of the project's errors (:class:`dnagpt.errors.DNAGPTError`)
whose message names the file. Anything else is a finding: another exception, a hang, a crash of the
process, or an allocation far beyond the input's size.

Run every reader, 100,000 examples each, and write ``benchmarks/fuzz/results.md`` and ``.json``::

    nice -n 10 .venv/bin/python scripts/fuzz_readers.py
    .venv/bin/python scripts/fuzz_readers.py --examples 2000 --readers fasta,vcf --budget 120

Each reader runs in its own worker process (``--worker``), with a per-example time limit (an alarm
in the worker, and a watchdog in this process for code that never returns to Python), a cap on its
address space (``--memory-headroom``), and a restart after a crash or a hang. ``tests/test_fuzz.py``
runs the same targets with a few hundred examples in total, derandomized, in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import dataclasses
import gzip
import io
import json
import math
import os
import pickle
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "fuzz"
VALID, MUTATED = "valid", "mutated"

# ---------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One input to a reader: files written into a fresh folder, and the reader's other arguments.

    ``kind`` is :data:`VALID` (the reader must accept it and read back ``expect``) or :data:`MUTATED`
    (accepted, or refused with a project error naming the file)."""

    kind: str
    files: dict[str, bytes] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)
    expect: Any = None
    how: str = ""  # how the case was made (its generator and mutations), for the report

    def size(self) -> int:
        """Bytes of input: the files and the arguments' text (to pick the smallest example of a finding)."""
        return sum(len(v) for v in self.files.values()) + len(repr(self.args))

    def describe(self, limit: int = 1500) -> str:
        """The case as text: each file's bytes (``repr``) and the arguments, cut at ``limit`` characters each."""
        parts = [f"{self.kind} case ({self.how})" if self.how else f"{self.kind} case"]
        for name, data in self.files.items():
            shown = repr(data) if len(repr(data)) <= limit else repr(data)[:limit] + f"... ({len(data)} bytes)"
            parts.append(f"file {name}: {shown}")
        if self.args:
            shown = repr(self.args)
            parts.append("args: " + (shown if len(shown) <= limit else shown[:limit] + "..."))
        return "\n".join(parts)


ACCEPTED = "accepted"  # read without error (a valid case: and read back exactly)
REFUSED = "refused"  # a DNAGPTError whose message names the input
UNNAMED = "refused_unnamed"  # a DNAGPTError whose message does not name the file
VALID_REFUSED = "valid_refused"  # a valid input refused
WRONG = "roundtrip_mismatch"  # a valid input read back differently
UNEXPECTED = "unexpected_exception"  # any exception but the project's own
HANG = "hang"  # past the per-example time limit
MEMORY = "memory"  # MemoryError, or an allocation far beyond the input's size
CRASH = "crash"  # the worker process died (a signal, an abort in C code)
FINDINGS = (UNNAMED, VALID_REFUSED, WRONG, UNEXPECTED, HANG, MEMORY, CRASH)


@dataclass
class Outcome:
    """What one case did to its reader."""

    status: str
    error: str = ""  # exception type
    message: str = ""
    where: str = ""  # the innermost frame in dnagpt (file:line in function) where the exception was raised

    @property
    def ok(self) -> bool:
        return self.status in (ACCEPTED, REFUSED)

    def signature(self) -> str:
        """What makes two findings the same: status, exception type and the place it was raised."""
        return f"{self.status}|{self.error}|{self.where}"


class HangTimeout(BaseException):
    """Raised in a reader by the per-example alarm."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`HangTimeout` in the main thread after ``seconds`` (Python code only; a watchdog
    process catches code that never returns to Python)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise HangTimeout(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _raised_at(error: BaseException) -> str:
    """The innermost traceback frame inside the dnagpt package (else the innermost of all)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f"{os.sep}dnagpt{os.sep}" in f.filename and "fuzz_readers" not in f.filename]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "?"
    name = frame.filename
    for marker in (f"{os.sep}src{os.sep}dnagpt{os.sep}", f"{os.sep}site-packages{os.sep}"):
        if marker in name:
            name = ("src/dnagpt/" if "src" in marker else "") + name.split(marker, 1)[1]
            break
    return f"{name}:{frame.lineno} in {frame.name}"


def scratch_dir(prefix: str) -> Path:
    """A fresh folder for the files of the cases: in memory (``/dev/shm``) where there is one, as thousands of
    small files are written and removed per reader."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def write_case(case: Case, folder: Path) -> None:
    """Empty ``folder`` and write the case's files into it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def run_case(target: Target, case: Case, folder: Path, timeout: float = 10.0) -> Outcome:
    """Write ``case`` under ``folder``, run the target's reader on it and classify what happened."""
    from dnagpt.errors import DNAGPTError

    write_case(case, folder)
    try:
        with alarm(timeout):
            result = target.call(case, folder)
            if case.kind == VALID and target.check is not None:
                target.check(case, result, folder)
    except HangTimeout as e:
        return Outcome(HANG, "HangTimeout", str(e), _raised_at(e))
    except AssertionError as e:
        return Outcome(WRONG, "AssertionError", str(e)[:2000], _raised_at(e))
    except DNAGPTError as e:
        message = str(e)
        if case.kind == VALID:
            return Outcome(VALID_REFUSED, type(e).__name__, message[:2000], _raised_at(e))
        needles = target.names(case, folder)
        if needles and not any(n in message for n in needles):
            return Outcome(UNNAMED, type(e).__name__, message[:2000], _raised_at(e))
        return Outcome(REFUSED, type(e).__name__, message[:300])
    except MemoryError as e:
        return Outcome(MEMORY, "MemoryError", str(e)[:2000], _raised_at(e))
    except Exception as e:
        text = str(e)
        status = MEMORY if "alloc" in text.lower() and "memory" in text.lower() else UNEXPECTED
        return Outcome(status, type(e).__name__, text[:2000], _raised_at(e))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # e.g. a panic of Rust code (pyo3's PanicException is no Exception)
        return Outcome(UNEXPECTED, type(e).__name__, str(e)[:2000], _raised_at(e))
    return Outcome(ACCEPTED)


@dataclass
class Target:
    """One reader under fuzzing."""

    name: str
    reader: str  # the public function(s) called
    source: str  # the file that holds the reader
    cases: Callable[[], st.SearchStrategy[Case]]  # built on first use (the strategies import dnagpt)
    call: Callable[[Case, Path], Any]  # reads the case written under the folder; returns what was read
    check: Callable[[Case, Any, Path], None] | None = None  # valid cases: assert the result is right
    needles: Callable[[Case, Path], list[str]] | None = None  # a refusal's message names one of these
    test_examples: int = 40  # examples in tests/test_fuzz.py
    note: str = ""
    requires: tuple[str, ...] = ()  # optional packages the reader needs (tests skip it without them)

    def names(self, case: Case, folder: Path) -> list[str]:
        """What a refusal's message must contain: by default the folder the files were written to
        (every message that names one of the files, or the folder itself, contains it)."""
        return self.needles(case, folder) if self.needles else [str(folder)]


# ------------------------------------------------------------------------------------ mutation tools

INTERESTING_NUMBERS = [b"0", b"-1", b"1", b"-0", b"2147483648", b"4294967296", b"9223372036854775808",
                       b"18446744073709551616", b"-9223372036854775809", b"1e308", b"1e999", b"-1e999", b"nan",
                       b"inf", b"0.5", b"1" * 40, b"9" * 4400]  # fmt: skip
COMMON_TOKENS = [b"\n", b"\r\n", b"\r", b"\t", b" ", b"\x00", b"\xff", b"\xff\xfe", b"\xef\xbb\xbf", "é".encode(),
                 "🧬".encode(), "\u2028".encode(), b"\x1f\x8b", b"#", b",", b";", b'"', b"'", b"\\", b"{", b"}",
                 b"[", b"]", b"<", b">", b"="]  # fmt: skip
MUTATIONS = ("flip", "byte", "delete", "insert", "truncate", "duplicate", "number", "swap")


@st.composite
def mutate_bytes(draw: st.DrawFn, data: bytes, tokens: list[bytes] = ()) -> tuple[bytes, str]:
    """``data`` after 1 to 4 random edits: a bit flipped, a byte replaced, a stretch deleted,
    duplicated or swapped, junk or a format token inserted, a number replaced by an extreme one,
    the rest cut off. Returns the bytes and a short account of the edits."""
    out = bytearray(data)
    done = []
    pool = list(tokens) + COMMON_TOKENS
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(MUTATIONS))
        at = draw(st.integers(0, len(out)))
        if op == "flip" and out:
            i = min(at, len(out) - 1)
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and out:
            out[min(at, len(out) - 1)] = draw(st.integers(0, 255))
        elif op == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        elif op == "insert":
            out[at:at] = draw(st.sampled_from(pool) | st.binary(min_size=1, max_size=8))
        elif op == "truncate":
            del out[at:]
        elif op == "duplicate":
            n = draw(st.integers(1, 200))
            out[at:at] = out[at : at + n]
        elif op == "swap" and len(out) > 2:
            j = draw(st.integers(0, len(out) - 1))
            n = draw(st.integers(1, 16))
            a, b = sorted((at, j))
            if b - a >= n:
                out[a : a + n], out[b : b + n] = out[b : b + n], out[a : a + n]
        elif op == "number":
            digits = [i for i in range(at, min(len(out), at + 400)) if 48 <= out[i] <= 57]
            if digits:
                i = j = digits[0]
                while j < len(out) and 48 <= out[j] <= 57:
                    j += 1
                out[i:j] = draw(st.sampled_from(INTERESTING_NUMBERS))
        done.append(f"{op}@{at}")
    return bytes(out), " ".join(done)


WEIRD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "\x00", "é", "🧬", "../x", "/", ".", "-1", "1e999", "nan", "null", "A" * 300]),
    st.lists(st.integers(-3, 70), max_size=4),
    st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(-2, 2) | st.text(max_size=3), max_size=3),
)


def _walk(tree: Any, draw: st.DrawFn) -> tuple[Any, Any]:
    """A random (container, key) inside ``tree``: walk down from the top, stopping at random."""
    node, key = tree, None
    while isinstance(node, (dict, list)) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        k = keys[draw(st.integers(0, len(keys) - 1))]
        child = node[k]
        if not isinstance(child, (dict, list)) or not child or draw(st.integers(0, 2)) == 0:
            return node, k
        node = child
    return node, key


@st.composite
def mutate_tree(draw: st.DrawFn, tree: Any, keys: list[str] = (), values: list[Any] = ()) -> tuple[Any, str]:
    """A deep copy of a JSON-like ``tree`` after 1 to 3 edits: a value replaced (by a value of another
    type, an extreme number, odd text, or one of ``values``), a key deleted, renamed or added (one of
    ``keys`` or random text). Returns the tree and an account of the edits."""
    tree = copy.deepcopy(tree)
    done = []
    # a copy of a listed value: the edits below change lists and dicts in place, and the next example must
    # draw the list as written (else Hypothesis finds its data generation flaky)
    value = WEIRD_VALUES | st.sampled_from(list(values)).map(copy.deepcopy) if values else WEIRD_VALUES
    for _ in range(draw(st.integers(1, 3))):
        node, key = _walk(tree, draw)
        op = draw(st.sampled_from(("set", "set", "delete", "add", "rename")))
        if not isinstance(node, (dict, list)):
            tree, op = draw(value), "replace-all"
        elif op == "set" and key is not None:
            node[key] = draw(value)
        elif op == "delete" and key is not None:
            del node[key]
        elif op == "rename" and isinstance(node, dict) and key is not None:
            node[draw(st.sampled_from(list(keys)) if keys else st.text(max_size=6))] = node.pop(key)
        elif isinstance(node, dict):
            node[draw(st.sampled_from(list(keys)) | st.text(max_size=8) if keys else st.text(max_size=8))] = draw(value)
        else:
            node.append(draw(value))
        done.append(f"{op} {key!r}"[:60])
    return tree, "; ".join(done)


def to_json(tree: Any) -> bytes:
    return json.dumps(tree, indent=1, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict):
        return (
            "{" + ", ".join(f"{_toml_string(str(k))} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
        )
    return _toml_string(str(v))


def to_toml(tree: dict) -> bytes:
    """TOML text of a dict (every key quoted, nested tables inline; TOML has no null: None is left out)."""
    return "".join(f"{_toml_string(str(k))} = {_toml_value(v)}\n" for k, v in tree.items() if v is not None).encode(
        "utf-8", "surrogatepass"
    )


def to_yaml(tree: Any) -> bytes:
    import yaml

    return yaml.safe_dump(tree, allow_unicode=True).encode("utf-8", "surrogatepass")


WRITERS = {".toml": to_toml, ".json": to_json, ".yaml": to_yaml}


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def bgzip_bytes(data: bytes) -> bytes:
    """Blocked gzip (htslib's bgzip), with its end-of-file block."""
    from Bio import bgzf

    sink = io.BytesIO()
    writer = bgzf.BgzfWriter(fileobj=sink)
    writer.write(data)
    writer.flush()
    sink.write(bgzf._bgzf_eof)
    return sink.getvalue()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"": lambda b: b, ".gz": gzip_bytes, ".bgz": bgzip_bytes}


@st.composite
def mutated_file(draw: st.DrawFn, text: bytes, tokens: list[bytes], compressions: tuple[str, ...]) -> tuple[bytes, str]:
    """A valid file's bytes mutated either before compression (the format's text) or after it
    (the compressed stream), in one of ``compressions``."""
    how = draw(st.sampled_from(compressions))
    if how and draw(st.booleans()):
        data, edits = draw(mutate_bytes(COMPRESSORS[how](text), tokens))
        return data, f"{how or 'plain'}, compressed bytes: {edits}"
    data, edits = draw(mutate_bytes(text, tokens))
    return COMPRESSORS[how](data), f"{how or 'plain'}, text: {edits}"


# ---------------------------------------------------------------------------------------------- FASTA

_IUPAC = "RYSWKMBDHV"
_BASE_LETTERS = "ACGTNacgtn" + _IUPAC + _IUPAC.lower()
_NORMALISED = str.maketrans("acgtn" + _IUPAC + _IUPAC.lower(), "ACGTN" + "N" * 20)
NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters=">")
FASTA_TOKENS = [b">", b">\n", b"> \n", b">chr1\nACGT\n", b"\n\n", b"-", b"*", b".", b"U", b"N" * 50, b"acgt", b"@"]


@st.composite
def fasta_text(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, str]]]:
    """FASTA text written by :func:`dnagpt.data.fasta.format_fasta` (line width, CRLF, blank lines,
    descriptions varied), and the records it holds."""
    from dnagpt.data.fasta import format_fasta

    n = draw(st.integers(1, 4))
    names = draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=10), min_size=n, max_size=n, unique=True))
    records, expect = [], []
    for name in names:
        seq = draw(st.text(_BASE_LETTERS, min_size=1, max_size=300))
        desc = draw(
            st.just("") | st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10).map(" ".__add__)
        )
        records.append((name + desc, seq))
        expect.append((name, seq.translate(_NORMALISED)))
    text = format_fasta(records, width=draw(st.integers(1, 100)))
    if draw(st.booleans()):
        text = text.replace("\n>", "\n\n>")
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text.encode(), expect


@st.composite
def fasta_cases(draw: st.DrawFn) -> Case:
    text, expect = draw(fasta_text())
    name = draw(st.sampled_from(["seqs.fa", "seqs.fa.gz", "seqs.fasta"]))
    if draw(st.integers(0, 3)) == 0:
        how = draw(st.sampled_from(tuple(COMPRESSORS)))
        return Case(VALID, {name: COMPRESSORS[how](text)}, {"file": name}, expect, f"format_fasta {how or 'plain'}")
    data, how = draw(mutated_file(text, FASTA_TOKENS, tuple(COMPRESSORS)))
    return Case(MUTATED, {name: data}, {"file": name}, how=how)


def fasta_call(case: Case, folder: Path) -> Any:
    from dnagpt.data.fasta import read_fasta_records

    return read_fasta_records(folder / case.args["file"])


def equal_check(case: Case, result: Any, folder: Path) -> None:
    assert result == case.expect, f"read back {result!r}, expected {case.expect!r}"


# ------------------------------------------------------------------------------- genome (in place)


@st.composite
def genome_cases(draw: st.DrawFn) -> Case:
    """FASTA files that htslib can index (lines of one width per record), plain or bgzip; the reader
    indexes them and fetches every record whole and a random stretch."""
    text, expect = draw(fasta_text())
    raw = [(name, seq) for name, seq in expect]
    name = "genome.fa"
    stretch = (draw(st.integers(0, 400)), draw(st.integers(0, 400)))
    if draw(st.integers(0, 3)) == 0:
        how = draw(st.sampled_from(("", ".bgz")))
        return Case(VALID, {name: COMPRESSORS[how](text)}, {"file": name, "stretch": stretch}, raw, f"{how or 'plain'}")
    data, how = draw(mutated_file(text, FASTA_TOKENS, ("", ".bgz", ".gz")))
    return Case(MUTATED, {name: data}, {"file": name, "stretch": stretch}, how=how)


def genome_call(case: Case, folder: Path) -> Any:
    from dnagpt.data.fasta import open_fasta

    with open_fasta(folder / case.args["file"], folder / "cache") as genome:
        out = []
        letters = bytes.maketrans(bytes(range(5)), b"NAGCT")
        for record in genome.records:
            codes = genome.fetch(record, 0, record.length)
            genome.soft_masked(record, 0, record.length)
            a, b = sorted(min(x, record.length) for x in case.args["stretch"])
            genome.fetch(record, a, b)
            out.append((record.name, codes.tobytes().translate(letters).decode()))
        return out


def genome_check(case: Case, result: Any, folder: Path) -> None:
    assert result == case.expect, f"read back {result!r}, expected {case.expect!r}"


# ------------------------------------------------------------------------------------------------ VCF

VCF_CHROMS = {"chr1": 300, "chr2": 120}
VCF_TOKENS = [b"\t", b"#", b"##INFO=<ID=X,Number=1,Type=Integer,Description=\"x\">\n", b"<DEL>", b"*", b",",
              b"N", b".", b"chr3", b"1", b"-5", b"99999999999", b"A,C,G", b"]chr1:5]A", b"\n\n",
              b"##contig=<ID=chr9>\n", b"GT\t0|1", b";", b"=", b"END=5", b"SVTYPE=DEL"]  # fmt: skip


def _vcf_genome() -> dict[str, str]:
    import random

    rng = random.Random(7)
    return {c: "".join(rng.choice("ACGT") for _ in range(n)) for c, n in VCF_CHROMS.items()}


class MemoryGenome:
    """A small genome held in memory (the :class:`dnagpt.data.fasta.Genome` protocol)."""

    def __init__(self, sequences: dict[str, str]) -> None:
        import numpy as np

        from dnagpt.data.fasta import Record

        self.records, self._codes, offset = [], {}, 0
        table = bytes.maketrans(b"NAGCT", bytes(range(5)))
        for name, seq in sequences.items():
            self.records.append(Record(name, offset, len(seq)))
            self._codes[name] = np.frombuffer(seq.encode().translate(table), dtype=np.uint8)
            offset += len(seq)

    def fetch(self, record: Any, start: int, end: int) -> Any:
        return self._codes[record.name][start:end]

    def soft_masked(self, record: Any, start: int, end: int) -> Any:
        import numpy as np

        return np.zeros(end - start, dtype=bool)


VCF_HEADER = ("##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={c},length={n}>\n" for c, n in VCF_CHROMS.items())
              + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")  # fmt: skip


@st.composite
def vcf_text(draw: st.DrawFn) -> tuple[bytes, int]:
    """A VCF of records on the fuzzing genome whose REF matches it; returns it and its ALT alleles."""
    genome = _vcf_genome()
    lines, alleles = [], 0
    for _ in range(draw(st.integers(0, 6))):
        chrom = draw(st.sampled_from(sorted(genome)))
        pos = draw(st.integers(1, len(genome[chrom])))
        ref = genome[chrom][pos - 1 : pos - 1 + draw(st.integers(1, 3))]
        alts = draw(st.lists(st.text("ACGT", min_size=1, max_size=3).filter(lambda a, r=ref: a != r),
                             min_size=1, max_size=3, unique=True))  # fmt: skip
        ident = draw(st.sampled_from([".", "rs1", "x;y"]))
        lines.append(f"{chrom}\t{pos}\t{ident}\t{ref}\t{','.join(alts)}\t.\t.\t.\n")
        alleles += len(alts)
    return (VCF_HEADER + "".join(lines)).encode(), alleles


_BCF_CACHE: dict[str, bytes] = {}


def _bcf_of(text: bytes) -> bytes:
    """The uncompressed BCF of a VCF text, written by cyvcf2 (once per text)."""
    key = text.decode()
    if key not in _BCF_CACHE:
        from cyvcf2 import VCF, Writer

        with tempfile.TemporaryDirectory() as tmp:
            src, out = Path(tmp, "in.vcf"), Path(tmp, "out.bcf")
            src.write_bytes(text)
            vcf = VCF(str(src))
            writer = Writer(str(out), vcf, mode="wbu")
            for record in vcf:
                writer.write_record(record)
            writer.close()
            vcf.close()
            _BCF_CACHE[key] = out.read_bytes()
    return _BCF_CACHE[key]


@st.composite
def vcf_cases(draw: st.DrawFn) -> Case:
    text, alleles = draw(vcf_text())
    args = {"file": "calls.vcf", "skip": draw(st.booleans()), "region": None}
    if draw(st.integers(0, 4)) == 0:
        args["region"] = draw(st.sampled_from(["chr1:1-300", "1:50-100", "chr2:1-1", "chr1:10-5", "chr9:1-10"]))
    if draw(st.integers(0, 3)) == 0 and args["region"] is None:
        how = draw(st.sampled_from(tuple(COMPRESSORS)))
        name = "calls.vcf.gz" if how else "calls.vcf"
        return Case(VALID, {name: COMPRESSORS[how](text)}, {**args, "file": name}, alleles, f"VCF {how or 'plain'}")
    if draw(st.integers(0, 5)) == 0:  # BCF, binary: its uncompressed bytes mutated, then bgzipped
        data, edits = draw(mutate_bytes(_bcf_of(text), VCF_TOKENS))
        name = "calls.bcf"
        return Case(MUTATED, {name: bgzip_bytes(data)}, {**args, "file": name}, how=f"BCF: {edits}")
    data, how = draw(mutated_file(text, VCF_TOKENS, tuple(COMPRESSORS)))
    name = "calls.vcf.gz" if data[:2] == b"\x1f\x8b" else "calls.vcf"
    return Case(MUTATED, {name: data}, {**args, "file": name}, how=how)


def vcf_call(case: Case, folder: Path) -> Any:
    from dnagpt.vep.variants import Reference, read_variants

    reference = Reference(MemoryGenome(_vcf_genome()))
    return reference, read_variants(folder / case.args["file"], reference, case.args["skip"], case.args["region"])


def vcf_needles(case: Case, folder: Path) -> list[str]:
    return [str(folder)] + ([f"region {case.args['region']!r}"] if case.args["region"] else [])


def vcf_check(case: Case, result: Any, folder: Path) -> None:
    reference, (variants, skipped) = result
    assert len(variants) + skipped == case.expect and skipped == 0, f"{len(variants)} variants, {skipped} skipped"
    for v in variants:
        record = reference.record(v.chrom)
        genome = reference.bases(record, v.pos - 1, v.pos - 1 + len(v.ref)).decode()
        assert v.ref == genome and v.alt != v.ref and v.ref and v.alt, f"{v} does not match the genome ({genome})"


# --------------------------------------------------------------------------------------------- tables

CELL_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TABLE_TOKENS = [b",", b"\t", b'"', b'""', b"\n", b"\r\n", b"\r", b",,", b"\x00", b"\xef\xbb\xbf", b"sequence", b"PAR1"]
TABLE_FILES = ("rows.csv", "rows.tsv", "rows.txt", "rows.csv.gz", "rows.tsv.gz", "rows.parquet")


@st.composite
def table_rows(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str]]]:
    """A header of distinct, non-blank column names and up to 5 rows of text."""
    header = draw(st.lists(st.text(CELL_CHARS, min_size=1, max_size=8).filter(
        lambda s: s.strip() and not s.startswith("\ufeff")), min_size=1, max_size=4, unique=True))  # fmt: skip
    rows = draw(st.lists(st.tuples(*[st.text(CELL_CHARS, max_size=10) for _ in header]), max_size=5))
    return header, [dict(zip(header, r, strict=True)) for r in rows]


def table_bytes(name: str, header: list[str], rows: list[dict]) -> bytes:
    """The file ``name`` (its suffix picks the format) holding ``rows``."""
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(pa.table({h: pa.array([r[h] for r in rows], pa.string()) for h in header}), sink)
        return sink.getvalue()
    text = io.StringIO()
    delimiter = "," if ".csv" in name else "\t"
    writer = csv.DictWriter(text, fieldnames=header, delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    data = text.getvalue().encode()
    return gzip_bytes(data) if name.endswith(".gz") else data


@st.composite
def table_cases(draw: st.DrawFn) -> Case:
    header, rows = draw(table_rows())
    if "sequence" in header:  # read_rows refuses a blank sequence cell (an error naming it): a valid table has none
        rows = [{**row, "sequence": row["sequence"] if row["sequence"].strip() else "ACGT"} for row in rows]
    name = draw(st.sampled_from(TABLE_FILES))
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, {name: table_bytes(name, header, rows)}, {"file": name}, rows, "csv/parquet writer")
    if name.endswith(".parquet") or (name.endswith(".gz") and draw(st.booleans())):
        data, how = draw(mutate_bytes(table_bytes(name, header, rows), TABLE_TOKENS))
        return Case(MUTATED, {name: data}, {"file": name}, how=f"file bytes: {how}")
    plain = table_bytes(name.removesuffix(".gz"), header, rows)
    data, how = draw(mutate_bytes(plain, TABLE_TOKENS))
    return Case(MUTATED, {name: gzip_bytes(data) if name.endswith(".gz") else data}, {"file": name}, how=f"text: {how}")


def table_call(case: Case, folder: Path) -> Any:
    from dnagpt.data.tables import read_rows

    return read_rows(folder / case.args["file"])


# ------------------------------------------------------------------------------------- task examples

TASK_SPECS: list[dict] = [
    {"template": "classification", "labels": {"1": "A", "0": "N"}},
    {"template": "classification", "species": "human", "labels": {"yes": "A", "no": "N", "maybe": "C"}},
    {"template": "classification"},  # labels read from the table (with_labels_from)
    {"template": "multilabel", "label_columns": ["a", "b"], "labels": {"1": "A", "0": "N"}},
    {"template": "regression", "label_column": "y"},
    {"template": "mixed_regression", "number_columns": ["x1", "x2"]},
    {"template": "generation", "species": "mouse"},
    {
        "template": "classification",
        "labels": {"1": "A", "0": "N"},
        "region_column": "region",
        "strand_column": "strand",
    },
]
WEIRD_CELLS = st.one_of(
    st.none(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "  ", "ACGU", "AC GT", "<R>", "1,2", "é", "NaN", "1e999", "-inf", "chr1:0-5", "chr1:5-1",
                     "chr1:1-4", "x:1-2:3", "chr1:1,000-2,000", "+", "-", "*", "ACGT" * 100, "1" * 5000]),
    st.binary(max_size=4), st.lists(st.integers(), max_size=2), st.booleans(),
)  # fmt: skip


@st.composite
def task_rows(draw: st.DrawFn, spec: dict) -> tuple[list[dict], list[dict]]:
    """Rows that satisfy ``spec`` and what each must become: sequence, labels or value, region."""
    rows, expect = [], []
    labels = list(spec.get("labels", {})) or ["a", "b", "c"]
    n = draw(st.integers(2, 5))  # the first two rows hold two distinct labels: a classification needs them
    for i in range(n):
        seq = draw(st.text("ACGTNacgtRY", min_size=1, max_size=40))
        row: dict[str, Any] = {"sequence": draw(st.sampled_from(["", " ", "  "])) + seq, "other": "x"}
        want: dict[str, Any] = {"sequence": seq}
        template = spec["template"]
        if template in ("classification", "multilabel"):
            picks = []
            for column in spec.get("label_columns", ["label"]):
                value = labels[i % len(labels)] if i < 2 else draw(st.sampled_from(labels))  # two distinct at least
                row[column] = value
                picks.append(value)
            want["labels"] = picks
        elif template in ("regression", "mixed_regression"):
            y = draw(st.floats(-1e6, 1e6))
            row[spec.get("label_column", "label")] = repr(y)
            want["value"] = y
        for column in spec.get("number_columns", []):
            row[column] = repr(draw(st.floats(-1e3, 1e3)))
        if spec.get("region_column"):
            start = draw(st.integers(1, 10**9))
            row["region"] = f"chr{draw(st.integers(1, 22))}:{start:,}-{start + len(seq) - 1:,}"
            row["strand"] = draw(st.sampled_from("+-"))
        rows.append(row)
        expect.append(want)
    return rows, expect


@st.composite
def task_example_cases(draw: st.DrawFn) -> Case:
    index = draw(st.integers(0, len(TASK_SPECS) - 1))
    rows, expect = draw(task_rows(TASK_SPECS[index]))
    need = draw(st.booleans()) if draw(st.integers(0, 3)) == 0 else True
    args = {"spec": index, "rows": rows, "need_labels": need}
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, {}, args, expect, "rows fitting the task")
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        if not rows:
            break
        row = rows[draw(st.integers(0, len(rows) - 1))]
        key = draw(st.sampled_from(sorted(row) or ["sequence"]))
        op = draw(st.sampled_from(("set", "set", "set", "delete", "drop-row", "empty")))
        if op == "set":
            row[key] = draw(WEIRD_CELLS)
        elif op == "delete":
            row.pop(key, None)
        elif op == "drop-row":
            rows.remove(row)
        else:
            rows.clear()
        edits.append(f"{op} {key}")
    return Case(MUTATED, {}, args, how="; ".join(edits))


def task_example_call(case: Case, folder: Path) -> Any:
    from dnagpt.tasks.spec import TaskSpec, build_examples, with_labels_from

    spec = TaskSpec.from_dict(TASK_SPECS[case.args["spec"]], "task.toml")
    rows = case.args["rows"]
    spec = with_labels_from(spec, rows, "train.csv")
    return build_examples(spec, rows, "train.csv", need_labels=case.args["need_labels"])


def task_example_check(case: Case, result: Any, folder: Path) -> None:
    assert len(result) == len(case.expect), f"{len(result)} examples of {len(case.expect)} rows"
    for i, (example, want) in enumerate(zip(result, case.expect, strict=True), start=1):
        assert example.row == i and example.sequence == want["sequence"], (example, want)
        if case.args["need_labels"] and "labels" in want:
            assert example.labels == want["labels"], (example.labels, want)
        if case.args["need_labels"] and "value" in want:
            assert example.value == want["value"], (example.value, want)


# ------------------------------------------------------------------------------------------ task file

TASK_KEYS = ["name", "template", "prompt", "output", "species", "sequence_column", "label_column", "label_columns",
             "number_columns", "labels", "stop", "region_column", "strand_column"]  # fmt: skip
TASK_VALUES = ["classification", "regression", "generation", "multilabel", "mixed_regression", "token", "number",
               "sequence", "{species}{sequence}<=>{queries}", "{sequence}{numbers}", "{foo}", "{0}",
               "{sequence!r}", "{sequence:>999999999}", "{species.upper}", "{species[0]}", "{", "}", "human", "<R>",
               "Z", "<Z>"]  # fmt: skip
# text that YAML writes and reads back unchanged (PyYAML folds NEL and the Unicode line separators)
SETTING_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x85\u2028\u2029")
COLUMN = st.text(SETTING_CHARS, min_size=1, max_size=8)


@st.composite
def task_dicts(draw: st.DrawFn) -> dict:
    """A valid task file's settings."""
    from dnagpt.tasks.spec import INFERRED_ANSWER_TOKENS, TEMPLATES

    template = draw(st.sampled_from(sorted(TEMPLATES)))
    d: dict[str, Any] = {"template": template}
    if draw(st.booleans()):
        d["name"] = draw(st.text(SETTING_CHARS, min_size=1, max_size=10))
    if draw(st.booleans()):
        d["species"] = draw(st.sampled_from(["human", "mouse", "Homo sapiens", "<R>", "R", "yeast", "E. coli", "fly"]))
    if draw(st.booleans()):
        d["sequence_column"] = draw(COLUMN)
    if template in ("classification", "multilabel"):
        if draw(st.booleans()) or template == "multilabel":
            keys = draw(st.lists(st.text(SETTING_CHARS, min_size=1, max_size=5), min_size=2, max_size=4, unique=True))
            d["labels"] = dict(zip(keys, INFERRED_ANSWER_TOKENS, strict=False))
        if template == "multilabel":
            d["label_columns"] = draw(st.lists(COLUMN, min_size=2, max_size=3, unique=True))
    elif draw(st.booleans()):
        d["label_column"] = draw(COLUMN)
    if template == "mixed_regression":
        d["number_columns"] = draw(st.lists(COLUMN, min_size=1, max_size=3, unique=True))
    if draw(st.integers(0, 3)) == 0:
        d["region_column"], d["strand_column"] = "region", draw(st.sampled_from(["", "strand"]))
    return d


@st.composite
def task_file_cases(draw: st.DrawFn) -> Case:
    d = draw(task_dicts())
    suffix = draw(st.sampled_from(tuple(WRITERS)))
    name = f"task{suffix}"
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, {name: WRITERS[suffix](d)}, {"file": name}, d, f"task settings as {suffix}")
    if draw(st.booleans()):
        tree, how = draw(mutate_tree(d, TASK_KEYS, TASK_VALUES))
        try:
            data = WRITERS[suffix](tree)
        except Exception:  # e.g. YAML of a value it cannot write: JSON instead
            name, data = "task.json", to_json(tree)
        return Case(MUTATED, {name: data}, {"file": name}, how=f"settings: {how}")
    data, how = draw(mutate_bytes(WRITERS[suffix](d), [b"=", b"[labels]", b'"', b"{", b"}", b"template"]))
    return Case(MUTATED, {name: data}, {"file": name}, how=f"text: {how}")


def task_file_call(case: Case, folder: Path) -> Any:
    from dnagpt.tasks.spec import TaskSpec

    return TaskSpec.load(folder / case.args["file"])


def task_file_check(case: Case, result: Any, folder: Path) -> None:
    from dnagpt.tasks.spec import TaskSpec

    path = folder / case.args["file"]
    expected = TaskSpec.from_dict(case.expect, str(path))
    assert result == expected, f"read {result}, from the dict {expected}"
    again = path.with_name("again.toml")  # the spec written back as a task file reads the same
    again.write_bytes(to_toml(dataclasses.asdict(result)))
    reread = TaskSpec.load(again)
    assert reread == dataclasses.replace(result, name=reread.name) and reread.name == result.name, reread


# ------------------------------------------------------------------------------ pretraining config

PRETRAIN_KEYS = ["model", "data", "objective", "train", "eval", "config", "init", "n_layer", "d_model", "kmer",
                 "manifest", "valid_fraction", "max_tokens", "min_tokens", "exclude", "alignment", "lr", "betas",
                 "precision", "max_steps", "samples", "markov_order", "prefetch", "mse_weight"]  # fmt: skip
PRETRAIN_VALUES = ["dnagpt-tiny", "gpn-tiny", "bert-tiny", "nope", "bundled", "auto", "bf16", "chr1:1-10",
                   [0.9, 0.98], [0.9], [2, 3], 0.5, 1.0, 12, 13, 0, -1, {"config": "dnagpt-tiny"}]  # fmt: skip


@st.composite
def pretrain_dicts(draw: st.DrawFn) -> dict:
    """Valid pretraining settings: some of every section."""
    model = {"config": draw(st.sampled_from(["dnagpt-tiny", "dnagpt-small", "bert-tiny", "gpn-tiny"]))}
    if draw(st.booleans()):
        model["n_layer"] = draw(st.integers(1, 4))
    max_tokens = draw(st.integers(0, 600))
    data = {"valid_fraction": draw(st.floats(0.01, 0.99)), "max_tokens": max_tokens,
            "min_tokens": draw(st.integers(0, max_tokens)) if max_tokens else 0,
            "reverse_prob": draw(st.floats(0, 1)), "exclude": draw(st.lists(st.sampled_from(
                ["chr22:1-100", "chr1:5,000-6,000"]), max_size=2))}  # fmt: skip
    train = {"max_steps": draw(st.integers(1, 10**6)), "lr": draw(st.floats(1e-6, 1.0)),
             "betas": [draw(st.floats(0, 0.999)), draw(st.floats(0, 0.999))],
             "precision": draw(st.sampled_from(["fp32", "bf16", "fp16", "auto"])),
             "prefetch": draw(st.sampled_from([True, False, "auto"]))}  # fmt: skip
    out = {"model": model, "data": data, "train": train}
    if draw(st.booleans()):
        out["objective"] = {"mse_weight": draw(st.floats(0, 10)), "mask_fraction": draw(st.floats(0.01, 0.99))}
    if draw(st.booleans()):
        out["eval"] = {"samples": draw(st.integers(1, 4096)), "markov_order": draw(st.integers(0, 11))}
    return out


OVERRIDES = st.lists(st.one_of(
    st.sampled_from(["train.lr=3e-4", "train.betas=[0.9, 0.95]", "eval.samples=8", "model.n_layer=2",
                     "data.manifest=bundled", "train.precision=fp32"]),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["train.lr", "data.exclude", "model.config", "eval",
                                                        "x.y", ".", "train.", "model.init"]),
              st.text(max_size=12) | st.sampled_from(["[1,", "nan", "{a=1}", "9" * 4400, '"\\x"'])),
    st.text(max_size=20),
), max_size=3)  # fmt: skip


@st.composite
def pretrain_cases(draw: st.DrawFn) -> Case:
    d = draw(pretrain_dicts())
    suffix = draw(st.sampled_from(tuple(WRITERS)))
    name = f"pretrain{suffix}"
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, {name: WRITERS[suffix](d)}, {"file": name, "overrides": []}, d, f"settings as {suffix}")
    overrides = draw(OVERRIDES) if draw(st.booleans()) else []
    if draw(st.booleans()):
        tree, how = draw(mutate_tree(d, PRETRAIN_KEYS, PRETRAIN_VALUES))
        try:
            data = WRITERS[suffix](tree)
        except Exception:
            name, data = "pretrain.json", to_json(tree)
        return Case(MUTATED, {name: data}, {"file": name, "overrides": overrides}, how=f"settings: {how}")
    data, how = draw(mutate_bytes(WRITERS[suffix](d), [b"=", b"[", b"]", b"{", b"}", b"model", b'"']))
    return Case(MUTATED, {name: data}, {"file": name, "overrides": overrides}, how=f"text: {how}")


def pretrain_call(case: Case, folder: Path) -> Any:
    from dnagpt.training.pretrain_config import load_pretrain_config

    return load_pretrain_config(str(folder / case.args["file"]), case.args["overrides"])


def pretrain_check(case: Case, result: Any, folder: Path) -> None:
    from dnagpt.training.pretrain_config import PretrainConfig, load_pretrain_config

    expected = PretrainConfig.from_dict(case.expect, "dict")
    assert result == expected, f"read {result}, from the dict {expected}"
    again = folder / "again.toml"
    again.write_bytes(to_toml(result.to_dict()))
    assert load_pretrain_config(str(again)) == result, "the settings written back read differently"


def pretrain_needles(case: Case, folder: Path) -> list[str]:
    return [str(folder), "override"]  # an override's error names the override instead of the file


# ------------------------------------------------------------------------------ model config.json

MODEL_NAMES = ["dnagpt-tiny", "dnagpt-small", "DNAGPT-H", "dna_gpt0.1b_h", "bert-tiny", "bert-small-bpe", "gpn-tiny",
               "gpn-msa-primates-small"]  # fmt: skip
MODEL_KEYS = ["family", "model_type", "gpn_model_type", "vocab_size", "context_length", "n_layer", "d_model", "n_head",
              "dropout", "layer_norm_eps", "kmer", "kmer_sizes", "name", "tokenizer_file", "task_outputs", "positions",
              "max_dilation", "kernel_size", "encoder", "n_aux_features", "intermediate_size"]  # fmt: skip
MODEL_VALUES = ["dnagpt", "bert", "gpn", "gpn-original", "dnabert2", "ConvNet", "GPN", "GPNRoFormer", "rope", "alibi",
                "learned", "tokenizer.json", "/", "", "missing/tokenizer.json", 1, 2, 6, 8, 9, 12, 13, 19564, 15659,
                [6], [1, 6], [0], [6, 6], [7], 1e-5, 0.999]  # fmt: skip


@st.composite
def model_config_cases(draw: st.DrawFn) -> Case:
    from dnagpt.models import get_config

    name = draw(st.sampled_from(MODEL_NAMES))
    overrides = {}
    if draw(st.booleans()):
        overrides["n_layer"] = draw(st.integers(1, 48))
    if draw(st.booleans()):
        overrides["context_length"] = draw(st.integers(1, 10**6))
    if draw(st.booleans()):
        overrides["task_outputs"] = draw(st.integers(0, 10))
    config = get_config(name, **overrides)
    tree = config.to_dict()
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, {"config.json": to_json(tree)}, {}, config, f"{name} {overrides}")
    if draw(st.booleans()):
        tree, how = draw(mutate_tree(tree, MODEL_KEYS, MODEL_VALUES))
        return Case(MUTATED, {"config.json": to_json(tree)}, {}, how=f"{name}: {how}")
    data, how = draw(mutate_bytes(to_json(tree), [b'"', b":", b"{", b"}", b"null", b"true"]))
    return Case(MUTATED, {"config.json": data}, {}, how=f"{name} text: {how}")


def model_config_call(case: Case, folder: Path) -> Any:
    from dnagpt.models import load_config

    return load_config(folder / "config.json")


def model_config_check(case: Case, result: Any, folder: Path) -> None:
    assert result == case.expect, f"read {result}, wrote {case.expect}"


# ----------------------------------------------------------------- foreign config.json (GPN, DNABERT-2)

# config.json as the gpn package's save_pretrained writes them (gpn 0.9.0a1, transformers 5.25), and the
# DNABERT-2 authors' (zhihan1996/DNABERT-2-117M, 2 layers)
FOREIGN_CONFIGS: dict[str, dict] = {
    "ConvNet": {"aux_features_vocab_size": 5, "dilation_base": 2, "dilation_cycle": 6, "dilation_double_every": 1,
                "dilation_max": 32, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
                "initializer_range": 0.02, "kernel_size": 9, "model_type": "ConvNet", "n_aux_features": 0,
                "n_layers": 1, "regression_softplus": False, "transformers_version": "5.25.0", "vocab_size": 7},
    "GPN": {"add_cross_attention": False, "attention_probs_dropout_prob": 0.1, "aux_features_vocab_size": 5,
            "bias": False, "bos_token_id": None, "classification_head": "standard", "depthwise": False,
            "dilation_base": 2, "dilation_cycle": 8, "dilation_double_every": 1, "dilation_max": 9999,
            "embedding": "one_hot", "embedding_size": 768, "encoder": "convnet", "eos_token_id": None,
            "first_kernel_size": 9, "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 32,
            "initializer_range": 0.02, "intermediate_size": 64, "is_decoder": False, "layer_norm_eps": 1e-12,
            "max_position_embeddings": 1536, "mlm_head_transform": True, "model_type": "GPN", "n_aux_features": 0,
            "num_attention_heads": 12, "num_hidden_layers": 1, "pad_token_id": 0, "pos_weight": None,
            "regression_softplus": False, "rest_kernel_size": 5, "rotary_value": False, "slim": False,
            "tie_word_embeddings": False, "transformers_version": "5.25.0", "type_vocab_size": 2, "use_cache": True,
            "vocab_size": 7},
    "GPNRoFormer": {"add_cross_attention": False, "attention_probs_dropout_prob": 0.1, "aux_features_vocab_size": 5,
                    "bos_token_id": None, "embedding_size": 32, "eos_token_id": None, "group_tokens": 1,
                    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02,
                    "intermediate_size": 64, "is_decoder": False, "layer_norm_eps": 1e-12,
                    "max_position_embeddings": 1536, "model_type": "GPNRoFormer", "n_aux_features": 15,
                    "num_attention_heads": 2, "num_hidden_layers": 1, "pad_token_id": 0, "rotary_value": False,
                    "tie_word_embeddings": True, "transformers_version": "5.25.0", "type_vocab_size": 2,
                    "use_cache": True, "vocab_size": 6},
    "DNABERT-2": {"alibi_starting_size": 512, "attention_probs_dropout_prob": 0.0, "classifier_dropout": None,
                  "auto_map": {"AutoConfig": "configuration_bert.BertConfig", "AutoModel": "bert_layers.BertModel",
                               "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM"},
                  "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                  "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-12,
                  "max_position_embeddings": 512, "num_attention_heads": 2, "num_hidden_layers": 1,
                  "position_embedding_type": "absolute", "torch_dtype": "float32", "transformers_version": "4.28.0",
                  "type_vocab_size": 2, "use_cache": True, "vocab_size": 64},
}  # fmt: skip
FOREIGN_KEYS = sorted({k for d in FOREIGN_CONFIGS.values() for k in d} | {"n_layers", "kernel_size", "hidden_act",
                                                                          "family", "new_option"})  # fmt: skip
FOREIGN_VALUES = ["ConvNet", "GPN", "GPNRoFormer", "BertModel", "relu", "gelu", "convnet", "bytenet", "roformer",
                  "embedding", "one_hot", "rotary", "alibi", 0, 1, 2, 3, 7, 16, 33, 64, 2**40, -3, 1e-12, 0.0,
                  {"AutoModel": "bert_layers.BertModel"}, True]  # fmt: skip


@st.composite
def foreign_config_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(sorted(FOREIGN_CONFIGS)))
    tree = copy.deepcopy(FOREIGN_CONFIGS[kind])
    layers_key = "n_layers" if kind == "ConvNet" else "num_hidden_layers"
    tree[layers_key] = draw(st.integers(1, 6))
    heads = draw(st.sampled_from([1, 2, 4]))
    if kind in ("GPNRoFormer", "DNABERT-2"):
        tree["num_attention_heads"] = heads
    if draw(st.integers(0, 3)) == 0:
        expect = {"d_model": tree["hidden_size"], "n_layer": tree[layers_key], "vocab_size": tree["vocab_size"]}
        return Case(VALID, {"config.json": to_json(tree)}, {}, expect, kind)
    if draw(st.booleans()):
        tree, how = draw(mutate_tree(tree, FOREIGN_KEYS, FOREIGN_VALUES))
        return Case(MUTATED, {"config.json": to_json(tree)}, {}, how=f"{kind}: {how}")
    data, how = draw(mutate_bytes(to_json(tree), [b'"', b":", b"{", b"}", b"null", b"true"]))
    return Case(MUTATED, {"config.json": data}, {}, how=f"{kind} text: {how}")


def foreign_config_check(case: Case, result: Any, folder: Path) -> None:
    from dnagpt.models import config_from_dict

    got = {k: getattr(result, k) for k in case.expect}
    assert got == case.expect, f"read {got}, the file says {case.expect}"
    assert config_from_dict(result.to_dict(), "again") == result, "dnagpt's own config.json of it reads differently"


# ------------------------------------------------------------------------------------------ tokenizer

TOKENIZER_KINDS = [("kmer", 1, None), ("kmer", 2, None), ("kmer", 3, (3,)), ("kmer", 4, (2, 4)), ("kmer", 6, None),
                   ("kmer", 6, (6,)), ("bpe", 0, None)]  # fmt: skip
PROBE = "<R>ACGTACGTNNACGTTGCAryk<+>0.5,-2e3<=><B>GATTACA"
_TOKENIZER_CACHE: dict[tuple, dict[str, dict[str, bytes]]] = {}


def _small_bpe() -> Any:
    import random

    from dnagpt.tokenizers import train_bpe

    rng = random.Random(3)
    return train_bpe(["".join(rng.choice("ACGT") for _ in range(3000)) for _ in range(4)], vocab_size=80)


def tokenizer_files(kind: tuple) -> dict[str, dict[str, bytes]]:
    """The files of one tokenizer, made once: ``json`` (``save``) and ``hf`` (``save_pretrained``)."""
    if kind not in _TOKENIZER_CACHE:
        from dnagpt.tokenizers import KmerTokenizer

        tok = _small_bpe() if kind[0] == "bpe" else KmerTokenizer(kind[1], kind[2])
        with tempfile.TemporaryDirectory() as tmp:
            tok.save(Path(tmp, "tokenizer.json"))
            plain = {"tok.json": Path(tmp, "tokenizer.json").read_bytes()}
            tok.save_pretrained(Path(tmp, "hf"))
            hf = {f"tok/{p.name}": p.read_bytes() for p in Path(tmp, "hf").iterdir()}
        _TOKENIZER_CACHE[kind] = {"json": plain, "hf": hf, "ids": tok.encode(PROBE).ids, "dict": tok.to_dict()}
    return _TOKENIZER_CACHE[kind]


TOKENIZER_KEYS = ["type", "k", "kmer_sizes", "bases", "reserved_tokens", "vocab_size", "hf_tokenizer",
                  "bases_per_token", "model", "vocab", "merges", "dnagpt", "added_tokens", "normalizer"]  # fmt: skip
TOKENIZER_VALUES = ["kmer", "bpe", "foreign", "BPE", "WordLevel", "NAGCT", "ACGT", 0, 1, 6, 8, 9, 13, -1, 2**40,
                    [1, 6], [6], [0], ["<0>"], {"A": 0}, [["A", "C"]], "A C", 1e308]  # fmt: skip


@st.composite
def tokenizer_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(TOKENIZER_KINDS))
    form = draw(st.sampled_from(["json", "hf"]))
    made = tokenizer_files(kind)
    files = dict(made[form])
    path = "tok.json" if form == "json" else draw(st.sampled_from(["tok", "tok/tokenizer.json"]))
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, files, {"path": path}, {"ids": made["ids"], "dict": made["dict"]}, f"{kind} {form}")
    name = draw(st.sampled_from(sorted(files)))
    if draw(st.booleans()):
        tree, how = draw(mutate_tree(json.loads(files[name]), TOKENIZER_KEYS, TOKENIZER_VALUES))
        files[name] = to_json(tree)
    else:
        files[name], how = draw(mutate_bytes(files[name], [b'"', b":", b"{", b"}", b"null", b"<R>", b"kmer"]))
    return Case(MUTATED, files, {"path": path}, how=f"{kind} {form}, {name}: {how}")


def tokenizer_call(case: Case, folder: Path) -> Any:
    from dnagpt.tokenizers import load_tokenizer

    return load_tokenizer(folder / case.args["path"])


def tokenizer_check(case: Case, result: Any, folder: Path) -> None:
    from dnagpt.tokenizers import load_tokenizer

    assert result.encode(PROBE).ids == case.expect["ids"], "other ids than the tokenizer that was saved"
    assert result.to_dict() == case.expect["dict"], "another description than the tokenizer that was saved"
    result.save_pretrained(folder / "again")  # and once more, through Hugging Face's files
    again = load_tokenizer(folder / "again")
    assert again.to_dict() == result.to_dict(), "saved and read again, the tokenizer describes itself otherwise"
    assert again.encode(PROBE).ids == case.expect["ids"], "saved and read again, the tokenizer gives other ids"


# ---------------------------------------------------------------------------------------- safetensors

ST_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
             "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}  # fmt: skip
ST_KEYS = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight", "lm_head.weight", "a.b"]
ST_VALUES = ["F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "C64", "X", "f32", [2**40, 2**40],
             [2**62, 4], [-1], [0], [], [1, 2, 3, 4, 5, 6, 7, 8, 9], [0, 2**64], [0, 2**63], [8, 0], [0, 1],
             {"format": "pt"}, {"a": 1}]  # fmt: skip


def safetensors_bytes(header: Any, payload: bytes, length: int | None = None) -> bytes:
    """A safetensors file: the 8-byte little-endian header length (or ``length``), the JSON header, the data."""
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length % 2**64) + text + payload


@st.composite
def tensors(draw: st.DrawFn) -> dict[str, Any]:
    """A few small tensors of assorted dtypes and shapes (bytes drawn, so any bit pattern)."""
    import torch

    out = {}
    for key in draw(st.lists(st.sampled_from(ST_KEYS), min_size=1, max_size=4, unique=True)):
        dtype = getattr(torch, draw(st.sampled_from(sorted(ST_DTYPES.values()))))
        shape = draw(st.lists(st.integers(0, 4), max_size=3))
        n = math.prod(shape)
        size = torch.empty((), dtype=dtype).element_size()
        if dtype == torch.bool:
            data = bytes(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
        else:
            data = draw(st.binary(min_size=n * size, max_size=n * size))
        out[key] = (
            torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape) if n else torch.empty(shape, dtype=dtype)
        )
    return out


def _bytes_of(t: Any) -> bytes:
    import torch

    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


@st.composite
def safetensors_mutation(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """A safetensors file with its header edited (JSON values, the length field) or its bytes mutated."""
    (length,) = struct.unpack("<Q", data[:8])
    header, payload = json.loads(data[8 : 8 + length]), data[8 + length :]
    how = draw(st.sampled_from(("header", "header", "length", "bytes", "payload")))
    if how == "header":
        tree, edits = draw(mutate_tree(header, [*ST_KEYS, "dtype", "shape", "data_offsets", "__metadata__"], ST_VALUES))
        return safetensors_bytes(tree, payload), f"header: {edits}"
    if how == "length":
        extremes = [0, 1, 7, length - 1, length + 1, length + 8, 2**31, 2**63, 2**64 - 1, 100_000_000]
        value = draw(st.sampled_from(extremes) | st.integers(0, 2**64 - 1))
        return safetensors_bytes(header, payload, value), f"header length {value}"
    if how == "payload":
        return data[: 8 + length] + draw(st.binary(max_size=64)), "other payload"
    out, edits = draw(mutate_bytes(data, [b'"dtype"', b'"shape"', b'"data_offsets"', b"[", b"]", b"F32", b"99999"]))
    return out, f"bytes: {edits}"


@st.composite
def safetensors_cases(draw: st.DrawFn) -> Case:
    from safetensors.torch import save

    state = draw(tensors())
    data = save(state, metadata={"format": "pt"})
    name = draw(st.sampled_from([None, "dnagpt-tiny"]))
    if draw(st.integers(0, 3)) == 0:
        expect = {k: (str(v.dtype), list(v.shape), _bytes_of(v)) for k, v in state.items()}
        return Case(VALID, {"w.safetensors": data}, {"name": "dnagpt-tiny"}, expect, "safetensors.torch.save")
    if name is None and draw(st.integers(0, 4)) == 0:  # a valid file read without a name: the shapes pick one
        data, how = data, "unchanged, configuration inferred from the shapes"
    else:
        data, how = draw(safetensors_mutation(data))
    files = {"w.safetensors": data}
    if draw(st.integers(0, 5)) == 0:
        import hashlib

        digest = hashlib.sha256(data).hexdigest() if draw(st.booleans()) else "0" * 64
        files["w.safetensors.sha256"] = f"{digest}  w.safetensors\n".encode()
    return Case(MUTATED, files, {"name": name}, how=how)


def safetensors_call(case: Case, folder: Path) -> Any:
    from dnagpt.models.checkpoint import read_checkpoint

    return read_checkpoint(folder / "w.safetensors", case.args["name"])


def safetensors_check(case: Case, result: Any, folder: Path) -> None:
    _, state = result
    got = {k: (str(v.dtype), list(v.shape), _bytes_of(v)) for k, v in state.items()}
    assert got == case.expect, "tensors read back differ from those written"


# ------------------------------------------------------------------------------------ model directories

MODEL_DIRS = ["dnagpt-tiny", "bert-tiny", "gpn-tiny", "ConvNet", "GPN", "GPNRoFormer", "DNABERT-2"]
_MODEL_DIR_CACHE: dict[str, dict[str, bytes]] = {}


def model_dir_files(kind: str) -> dict[str, bytes]:
    """The files of a small model directory, made once: dnagpt's own (``save_pretrained``) or another
    library's (its config.json and the weights under its own key names)."""
    if kind not in _MODEL_DIR_CACHE:
        import torch
        from safetensors.torch import save

        from dnagpt.models import build_model, get_config
        from dnagpt.models.family import config_from_dict

        torch.manual_seed(0)
        if kind in FOREIGN_CONFIGS:
            config = config_from_dict(FOREIGN_CONFIGS[kind], kind)
            state = {k: v.contiguous() for k, v in build_model(config).state_dict().items()}
            unique, seen = {}, set()
            for k, v in state.items():  # a tied matrix once, as the authors' files hold it
                if v.data_ptr() not in seen or not v.numel():
                    unique[k] = v
                seen.add(v.data_ptr())
            files = {"config.json": to_json(FOREIGN_CONFIGS[kind]), "model.safetensors": save(unique)}
        else:
            overrides = {"n_layer": 1} if kind != "gpn-tiny" else {"n_layer": 1, "d_model": 16}
            model = build_model(get_config(kind, **overrides))
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp)
                files = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
        _MODEL_DIR_CACHE[kind] = files
    return _MODEL_DIR_CACHE[kind]


@st.composite
def model_dir_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.sampled_from(MODEL_DIRS))
    files = dict(model_dir_files(kind))
    files = {f"model/{k}": v for k, v in files.items()}
    if draw(st.integers(0, 3)) == 0:
        return Case(VALID, files, {}, kind, kind)
    how = draw(st.sampled_from(("config", "config", "weights", "weights", "delete", "tokenizer", "bytes")))
    if how == "config":
        tree, edits = draw(mutate_tree(json.loads(files["model/config.json"]), MODEL_KEYS + FOREIGN_KEYS,
                                       MODEL_VALUES + FOREIGN_VALUES))  # fmt: skip
        files["model/config.json"] = to_json(tree)
    elif how == "weights":
        files["model/model.safetensors"], edits = draw(safetensors_mutation(files["model/model.safetensors"]))
        files.pop("model/model.safetensors.sha256", None)  # else the digest refuses every change first
    elif how == "delete":
        gone = draw(st.sampled_from(sorted(files)))
        del files[gone]
        edits = f"without {gone}"
    elif how == "tokenizer" and "model/tokenizer.json" in files:
        tree, edits = draw(mutate_tree(json.loads(files["model/tokenizer.json"]), TOKENIZER_KEYS, TOKENIZER_VALUES))
        files["model/tokenizer.json"] = to_json(tree)
    else:
        name = draw(st.sampled_from(sorted(files)))
        files[name], edits = draw(mutate_bytes(files[name]))
        edits = f"{name}: {edits}"
    return Case(MUTATED, files, {}, how=f"{kind} {how}: {edits}")


def model_dir_call(case: Case, folder: Path) -> Any:
    from dnagpt.models import load_model

    return load_model(folder / "model")


def model_dir_check(case: Case, result: Any, folder: Path) -> None:
    from safetensors.torch import load

    saved = load(case.files["model/model.safetensors"])
    state = result.state_dict()
    for key, tensor in saved.items():
        assert key in state and _bytes_of(state[key]) == _bytes_of(tensor), f"{key} differs from the file"


# ------------------------------------------------------------------------------------------------ MAF

MAF_TOKENS = [b"s ", b"a\n", b"a score=1\n", b"i hg.chr1 N 0 C 0\n", b"e hg.chr1 0 5 + 100 I\n", b"q hg.chr1 99\n",
              b"-", b"+", b"99999999999999", b"\n\n", b" ", b"\t", b".", b"##maf version=1\n", b"ACGT"]  # fmt: skip
SPECIES = ["hg", "panTro", "gorGor", "ponAbe"]


@st.composite
def maf_text(draw: st.DrawFn) -> tuple[bytes, dict]:
    """A MAF alignment of up to 4 blocks, and what reading it on its first species must give."""
    import numpy as np

    n_species = draw(st.integers(1, 4))
    lines = ["##maf version=1", ""]
    blocks: dict[str, list] = {}
    order: list[str] = []
    codes_of = {c: i for i, c in enumerate("-ACGT")}
    for _ in range(draw(st.integers(1, 4))):
        width = draw(st.integers(1, 30))
        ref = draw(st.text("ACGTacgtN-", min_size=width, max_size=width).filter(lambda s: s.strip("-")))
        present = [s for s in SPECIES[1:n_species] if draw(st.booleans())]
        rows = {"hg": ref} | {s: draw(st.text("ACGTacgtN-", min_size=width, max_size=width)) for s in present}
        chrom = draw(st.sampled_from(["chr1", "chr2", "3"]))
        strand = draw(st.sampled_from("+-"))
        size = len(ref.replace("-", ""))
        start = draw(st.integers(0, 10**6))
        src = start + size + draw(st.integers(0, 1000))
        lines.append("a score=0")
        for species, text in rows.items():
            n = len(text.replace("-", ""))
            if species == "hg":
                lines.append(f"s {species}.{chrom} {start} {n} {strand} {src} {text}")
            else:
                lines.append(f"s {species}.{chrom} 0 {n} + {n + 5} {text}")
            if species not in order:
                order.append(species)
        lines.append("")
        keep = [i for i, c in enumerate(ref) if c != "-"]
        bases = "".join(ref[i] for i in keep)
        plus_start = start if strand == "+" else src - start - size
        blocks.setdefault(chrom.removeprefix("chr"), []).append((plus_start, rows, keep, bases, strand))
    others = [s for s in order if s != "hg"]
    expect: dict[str, list] = {}
    for chrom, chrom_blocks in blocks.items():
        out = []
        for start, rows, keep, bases, strand in chrom_blocks:
            codes = np.zeros((len(keep), len(others)), dtype=np.uint8)
            for j, species in enumerate(others):
                if species in rows:
                    codes[:, j] = [codes_of.get(rows[species][i].upper(), 0) for i in keep]
            if strand == "-":
                codes = np.array([0, 4, 3, 2, 1], dtype=np.uint8)[codes[::-1]]
                bases = bases[::-1].translate(str.maketrans("ACGTNacgtn", "TGCANtgcan"))
            out.append((start, bases, codes.tolist()))
        expect[chrom] = sorted(out, key=lambda b: b[0])
    return ("\n".join(lines) + "\n").encode(), {"species": others, "blocks": expect}


@st.composite
def maf_cases(draw: st.DrawFn) -> Case:
    text, expect = draw(maf_text())
    if draw(st.integers(0, 3)) == 0:
        how = draw(st.sampled_from(("", ".gz")))
        name = f"aln.maf{how}"
        return Case(VALID, {name: COMPRESSORS[how](text)}, {"file": name}, expect, f"MAF {how or 'plain'}")
    data, how = draw(mutated_file(text, MAF_TOKENS, ("", ".gz")))
    name = "aln.maf.gz" if data[:2] == b"\x1f\x8b" else "aln.maf"
    return Case(MUTATED, {name: data}, {"file": name}, how=how)


def maf_call(case: Case, folder: Path) -> Any:
    from dnagpt.data.alignment import read_maf

    alignment = read_maf(folder / case.args["file"])
    for chrom, blocks in alignment.blocks.items():  # every block is read as a whole, as training does
        for block in blocks:
            alignment.window(chrom, block.start, block.end, "-")
    return alignment


def maf_check(case: Case, result: Any, folder: Path) -> None:
    assert list(result.species) == case.expect["species"], (result.species, case.expect["species"])
    got = {c: [(b.start, b.bases.decode(), b.codes.tolist()) for b in blocks] for c, blocks in result.blocks.items()}
    assert got == case.expect["blocks"], f"blocks read {got}, written {case.expect['blocks']}"


# ---------------------------------------------------------------------------------------------- regions

CHROM_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters=":")


@st.composite
def region_cases(draw: st.DrawFn) -> Case:
    chrom = draw(st.text(CHROM_CHARS, min_size=1, max_size=8).filter(lambda s: not any(c.isspace() for c in s)))
    start = draw(st.integers(1, 10**12))
    end = start + draw(st.integers(0, 10**9))
    commas = draw(st.booleans())
    text = f"{chrom}:{start:,}-{end:,}" if commas else f"{chrom}:{start}-{end}"
    text = draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", "\n"]))
    if draw(st.integers(0, 2)) == 0:
        return Case(VALID, {}, {"region": text}, (chrom, start, end), "written region")
    data, how = draw(mutate_bytes(text.encode(), [b":", b"-", b",", b",,", b" ", b"0", b"9" * 4400, b"\n"]))
    return Case(MUTATED, {}, {"region": data.decode("utf-8", "replace")}, how=how)


def region_call(case: Case, folder: Path) -> Any:
    from dnagpt.data.regions import overlapping, parse_region

    parsed = parse_region(case.args["region"])
    overlapping([case.args["region"]], [case.args["region"], "chr1:1-10"])
    return parsed


def region_needles(case: Case, folder: Path) -> list[str]:
    return [repr(case.args["region"])[:40]]  # the region as written (a long one is shown cut)


# ------------------------------------------------------------------------------------------- registry

TARGETS: list[Target] = [
    Target(
        "fasta",
        "read_fasta_records",
        "src/dnagpt/data/fasta.py",
        fasta_cases,
        fasta_call,
        equal_check,
        test_examples=200,
        note="plain, gzip and bgzip; LF/CRLF, blank lines, IUPAC, lower case",
    ),
    Target(
        "genome",
        "open_fasta (fetch, soft_masked)",
        "src/dnagpt/data/fasta.py",
        genome_cases,
        genome_call,
        genome_check,
        test_examples=100,
        note="in place through a .fai/.gzi index built by htslib",
        requires=("pysam",),
    ),
    Target(
        "vcf",
        "read_variants",
        "src/dnagpt/vep/variants.py",
        vcf_cases,
        vcf_call,
        vcf_check,
        vcf_needles,
        test_examples=200,
        note="cyvcf2: VCF plain, gzip, bgzip; BCF; with and without --region",
        requires=("cyvcf2",),
    ),
    Target(
        "table",
        "read_rows / read_table",
        "src/dnagpt/data/tables.py",
        table_cases,
        table_call,
        equal_check,
        test_examples=200,
        note="CSV, TSV, .txt, gzipped, parquet",
    ),
    Target(
        "task_examples",
        "build_examples (with_labels_from)",
        "src/dnagpt/tasks/spec.py",
        task_example_cases,
        task_example_call,
        task_example_check,
        lambda case, folder: ["train.csv"],
        test_examples=300,
        note="rows of every template, cells of every type",
    ),
    Target(
        "task_file",
        "TaskSpec.load",
        "src/dnagpt/tasks/spec.py",
        task_file_cases,
        task_file_call,
        task_file_check,
        test_examples=300,
        note="TOML, YAML, JSON",
    ),
    Target(
        "pretrain_config",
        "load_pretrain_config",
        "src/dnagpt/training/pretrain_config.py",
        pretrain_cases,
        pretrain_call,
        pretrain_check,
        pretrain_needles,
        test_examples=150,
        note="TOML, YAML, JSON; --set overrides",
    ),
    Target(
        "model_config",
        "load_config",
        "src/dnagpt/models/family.py",
        model_config_cases,
        model_config_call,
        model_config_check,
        test_examples=200,
        note="dnagpt's own config.json of every family",
    ),
    Target(
        "foreign_config",
        "load_config (GPN, DNABERT-2)",
        "src/dnagpt/models/gpn_original.py, dnabert2.py",
        foreign_config_cases,
        model_config_call,
        foreign_config_check,
        test_examples=300,
        note="config.json of the gpn package (ConvNet, GPN, GPNRoFormer) and of DNABERT-2",
    ),
    Target(
        "tokenizer",
        "load_tokenizer",
        "src/dnagpt/tokenizers/__init__.py",
        tokenizer_cases,
        tokenizer_call,
        tokenizer_check,
        test_examples=150,
        note="k-mer and BPE; dnagpt's JSON and Hugging Face's folder",
    ),
    Target(
        "safetensors",
        "read_checkpoint (.safetensors)",
        "src/dnagpt/models/checkpoint.py",
        safetensors_cases,
        safetensors_call,
        safetensors_check,
        test_examples=200,
        note="crafted headers: lengths, dtypes, shapes",
    ),
    Target(
        "model_dir",
        "load_model (directories)",
        "src/dnagpt/models/checkpoint.py, base.py",
        model_dir_cases,
        model_dir_call,
        model_dir_check,
        test_examples=60,
        note="dnagpt's own (dnagpt, bert, gpn) and foreign (GPN ConvNet/GPN/GPNRoFormer, DNABERT-2) directories",
    ),
    Target(
        "maf",
        "read_maf (window)",
        "src/dnagpt/data/alignment.py",
        maf_cases,
        maf_call,
        maf_check,
        test_examples=200,
        note="plain and gzip",
    ),
    Target(
        "region",
        "parse_region, overlapping",
        "src/dnagpt/data/regions.py",
        region_cases,
        region_call,
        equal_check,
        region_needles,
        test_examples=300,
    ),
]
TARGET = {t.name: t for t in TARGETS}

# ----------------------------------------------------------------------------------------------- worker


@dataclass
class Tally:
    """What a worker saw of one reader."""

    examples: int = 0
    valid: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # status -> examples
    valid_accepted: int = 0
    findings: dict[str, dict] = field(default_factory=dict)  # signature -> {count, error, message, where, input}
    refusals: dict[str, int] = field(default_factory=dict)  # error type -> count
    seconds: float = 0.0
    baseline_rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    largest_growth_mb: float = 0.0
    largest_growth_input: str = ""

    def add(self, case: Case, outcome: Outcome) -> None:
        self.examples += 1
        self.valid += case.kind == VALID
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if case.kind == VALID and outcome.status == ACCEPTED:
            self.valid_accepted += 1
        if outcome.status == REFUSED:
            self.refusals[outcome.error] = self.refusals.get(outcome.error, 0) + 1
        if not outcome.ok:
            self.finding(outcome, case)

    def finding(self, outcome: Outcome, case: Case) -> None:
        key = outcome.signature()
        entry = self.findings.setdefault(key, {"status": outcome.status, "error": outcome.error, "where": outcome.where,
                                               "count": 0, "size": None})  # fmt: skip
        entry["count"] += 1
        if entry["size"] is None or case.size() < entry["size"]:  # keep the smallest input
            entry.update(size=case.size(), message=outcome.message, input=case.describe(), how=case.how)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker(
    name: str, examples: int, seed_value: int, out: Path, budget: float, timeout: float, headroom_mb: int
) -> None:
    """Fuzz one reader in this process: ``examples`` Hypothesis examples (or until ``budget`` seconds),
    writing the tally to ``out`` every few hundred examples and at the end. The case being read is
    pickled to ``out.case`` first, so the parent can report it if this process hangs or dies."""
    target = TARGET[name]
    folder = out.parent / f"{out.stem}-files"  # inside the parent's scratch folder, which it removes
    strategy = target.cases()
    tally = Tally()
    current = out.with_suffix(".case")
    progress = out.with_suffix(".progress")
    warm = st.data()

    @settings(max_examples=3, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(warm)
    def warm_up(data: Any) -> None:  # imports, caches and the first model builds before measuring memory
        run_case(target, data.draw(strategy), folder, timeout * 10)

    warm_up()
    tally.baseline_rss_mb = _rss_mb()
    if headroom_mb:
        soft = _vm_bytes() + headroom_mb * 2**20
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    start = time.monotonic()
    last_write = [0]

    class Done(BaseException):
        pass

    @seed(seed_value)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=False)  # fmt: skip
    @given(strategy)
    def fuzz(case: Case) -> None:
        if tally.examples >= examples or (budget and time.monotonic() - start > budget):
            raise Done
        current.write_bytes(pickle.dumps(case))
        progress.write_text(f"{tally.examples} {time.time()}")
        before = _rss_mb()
        outcome = run_case(target, case, folder, timeout)
        grown = _rss_mb() - before
        if grown > tally.largest_growth_mb:
            tally.largest_growth_mb, tally.largest_growth_input = grown, case.describe(300)
        if grown > 500:  # a few KB of input should not take 500 MB more
            outcome = Outcome(MEMORY, outcome.error or "none", f"peak memory grew by {grown:.0f} MB "
                              f"({outcome.status}: {outcome.message[:200]})", outcome.where)  # fmt: skip
        tally.add(case, outcome)
        if tally.examples - last_write[0] >= 500:
            last_write[0] = tally.examples
            _save(tally, out, start)

    with contextlib.suppress(Done):
        fuzz()
    progress.write_text(f"{tally.examples} done")
    _save(tally, out, start)
    shutil.rmtree(folder, ignore_errors=True)


def _save(tally: Tally, out: Path, start: float) -> None:
    tally.seconds = time.monotonic() - start
    tally.peak_rss_mb = _rss_mb()
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(tally)))
    tmp.replace(out)


# ----------------------------------------------------------------------------------------------- parent


def fuzz_reader(name: str, examples: int, budget: float, timeout: float, headroom_mb: int, work: Path,
                log: Callable[[str], None]) -> dict:  # fmt: skip
    """Run workers for one reader until ``examples`` are done or ``budget`` seconds pass; a worker that
    dies or stops making progress is reported (with the case it was reading) and replaced."""
    total: dict[str, Any] = {"examples": 0, "valid": 0, "valid_accepted": 0, "counts": {}, "refusals": {},
                             "findings": {}, "seconds": 0.0, "baseline_rss_mb": 0.0, "peak_rss_mb": 0.0,
                             "largest_growth_mb": 0.0, "largest_growth_input": "", "restarts": 0}  # fmt: skip
    started = time.monotonic()
    attempt = 0
    while total["examples"] < examples:
        left_time = budget - (time.monotonic() - started) if budget else 0
        if budget and left_time < 5:
            break
        out = work / f"{name}-{attempt}.json"
        for p in (out, out.with_suffix(".case"), out.with_suffix(".progress")):
            p.unlink(missing_ok=True)
        command = [sys.executable, __file__, "--worker", name, "--examples", str(examples - total["examples"]),
                   "--seed", str(1000 * attempt + 17), "--out", str(out), "--budget", str(max(left_time, 0)),
                   "--timeout", str(timeout), "--memory-headroom", str(headroom_mb)]  # fmt: skip
        with open(work / f"{name}-{attempt}.stderr", "wb") as err:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
            status = None
            while proc.poll() is None:
                time.sleep(0.5)
                beat = out.with_suffix(".progress")
                if beat.exists():
                    parts = beat.read_text().split()
                    if len(parts) == 2 and parts[1] != "done" and time.time() - float(parts[1]) > 3 * timeout + 30:
                        proc.kill()
                        proc.wait()
                        status = HANG
                elif time.monotonic() - started > (budget or 1e9) + 600:
                    proc.kill()
                    proc.wait()
                    status = HANG
        if proc.returncode != 0 and status is None:
            status = CRASH
        tally = json.loads(out.read_text()) if out.exists() else None
        if tally:
            _merge(total, tally)
        if status is not None:
            case_file = out.with_suffix(".case")
            case = pickle.loads(case_file.read_bytes()) if case_file.exists() else None
            tail = (work / f"{name}-{attempt}.stderr").read_bytes()[-1500:].decode("utf-8", "replace")
            stalled = f"no progress for {3 * timeout + 30:g} s"
            detail = f"exit status {proc.returncode}" if status == CRASH else stalled
            what = "process " + ("killed" if status == HANG else "died")
            outcome = Outcome(status, what, f"{detail}; stderr: {tail}", "worker process")
            entry = Tally()
            if case is not None:
                entry.add(case, outcome)
            else:
                entry.examples = 1
                entry.counts = {status: 1}
                entry.findings[outcome.signature()] = {"status": status, "error": outcome.error, "where": "worker",
                                                       "count": 1, "size": 0, "message": outcome.message,
                                                       "input": "(case not recorded)", "how": ""}  # fmt: skip
            _merge(total, dataclasses.asdict(entry))
            total["restarts"] += 1
            log(f"  {name}: worker {status} ({detail}); restarting")
        elif not tally:
            break
        attempt += 1
        if status is None:
            break  # the worker ran to its count or its budget
    total["seconds"] = round(time.monotonic() - started, 1)
    return total


def _merge(total: dict, tally: dict) -> None:
    for key in ("examples", "valid", "valid_accepted"):
        total[key] += tally[key]
    for key in ("counts", "refusals"):
        for k, v in tally[key].items():
            total[key][k] = total[key].get(k, 0) + v
    for sig, entry in tally["findings"].items():
        mine = total["findings"].setdefault(sig, {**entry, "count": 0})
        mine["count"] += entry["count"]
        if entry.get("size") is not None and (mine.get("size") is None or entry["size"] < mine["size"]):
            mine.update({k: entry[k] for k in ("size", "message", "input", "how") if k in entry})
    total["baseline_rss_mb"] = max(total["baseline_rss_mb"], tally["baseline_rss_mb"])
    total["peak_rss_mb"] = max(total["peak_rss_mb"], tally["peak_rss_mb"])
    if tally["largest_growth_mb"] > total["largest_growth_mb"]:
        total["largest_growth_mb"] = tally["largest_growth_mb"]
        total["largest_growth_input"] = tally["largest_growth_input"]


# ----------------------------------------------------------------------------------------------- report


def _place(where: str) -> str:
    """A finding's place without its line number (lines move as files are edited)."""
    return re.sub(r":\d+ in ", " in ", where)


def _before_section(before: dict, results: dict[str, dict]) -> list[str]:
    """Each finding of a run on the sources before the fixes, and how often it occurs now."""
    meta = before["meta"]
    lines = ["## Before the fixes", "",
             f"`{meta['command']}` on the sources as committed before this fuzzing's fixes ({meta['date']}; "
             f"at most {meta['budget']:g} s per reader). Each finding then, and the examples showing it now:", "",
             "| reader | finding then | examples then | examples now |", "|---|---|---:|---:|"]  # fmt: skip
    for name, r in before["readers"].items():
        now = results.get(name)
        for f in sorted(r["findings"].values(), key=lambda f: -f["count"]):
            key = (f["status"], f["error"], _place(f["where"]))
            if now is None:
                count = "not run"
            else:
                count = sum(g["count"] for g in now["findings"].values()
                            if (g["status"], g["error"], _place(g["where"])) == key)  # fmt: skip
                count = f"{count:,} (of {now['examples']:,})" if count else f"0 (of {now['examples']:,}): fixed"
            lines.append(f"| {name} | {f['status']} {f['error']} at `{_place(f['where'])}`: "
                         f"{' '.join(str(f.get('message', '')).split())[:160].replace('|', '/').replace('`', chr(39))} "
                         f"| {f['count']:,} (of {r['examples']:,}) | {count} |")  # fmt: skip
    return [*lines, ""]


def write_report(results: dict[str, dict], meta: dict, out_dir: Path, before: dict | None = None) -> None:
    """``results.json`` (everything) and ``results.md`` (a table per reader and every finding; with ``before``,
    the results of a run before the fixes, what each of its findings does now)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps({"meta": meta, "readers": results}, indent=1) + "\n")
    lines = ["# Fuzzing the readers", "",
             f"`{meta['command']}`" + (" (and `--note` lines: the Notes below)" if meta.get("notes") else "")
             + f", {meta['date']}, on {meta['machine']} (Python {meta['python']}, Hypothesis "
             f"{meta['hypothesis']}); {meta['examples']:,} examples asked per reader"
             + (f", at most {meta['budget']:g} s each" if meta["budget"] else "")
             + f"; per-example time limit {meta['timeout']:g} s; address space capped at "
             f"{meta['headroom_mb']:,} MB above the worker's size after warm-up.", "",
             "Valid inputs must be accepted and read back exactly; mutated ones must be accepted or refused with a "
             "`DNAGPTError` naming the file. Anything else is a finding.", "",
             "| reader | function | examples run | valid (accepted) | mutated accepted | refused (project error) | "
             "findings | hangs | crashes | peak RSS MB (after warm-up) | largest growth MB | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, r in results.items():
        counts = r["counts"]
        refused = counts.get(REFUSED, 0)
        mutated_ok = counts.get(ACCEPTED, 0) - r["valid_accepted"]
        findings = sum(counts.get(s, 0) for s in FINDINGS)
        lines.append(f"| {name} | `{TARGET[name].reader}` | {r['examples']:,} | {r['valid']:,} "
                     f"({r['valid_accepted']:,}) "
                     f"| {mutated_ok:,} | {refused:,} | {findings:,} | {counts.get(HANG, 0)} | {counts.get(CRASH, 0)} "
                     f"| {r['peak_rss_mb']:.0f} ({r['baseline_rss_mb']:.0f}) | {r['largest_growth_mb']:.1f} "
                     f"| {r['seconds']:.0f} |")  # fmt: skip
    lines += ["", "Refusals by error type: " + "; ".join(
        f"{name}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["refusals"].items())) for name, r in results.items()
        if r["refusals"]), ""]  # fmt: skip
    lines += ["## Findings", ""]
    any_finding = False
    for name, r in results.items():
        for f in sorted(r["findings"].values(), key=lambda f: -f["count"]):
            any_finding = True
            lines += [f"### {name}: {f['status']} — {f['error']} at `{f['where']}` ({f['count']:,} examples)", "",
                      "Message: `" + " ".join(str(f.get("message", "")).split())[:600].replace("`", "'") + "`", "",
                      "Smallest input:", "", "```", str(f.get("input", ""))[:3000], "```", ""]  # fmt: skip
    if not any_finding:
        lines += ["None: every example was accepted or refused with a project error naming the file.", ""]
    if before is not None:
        lines += _before_section(before, results)
    if meta.get("notes"):
        lines += ["## Notes", "", *(f"- {note}" for note in meta["notes"]), ""]
    (out_dir / "results.md").write_text("\n".join(lines))


def _command(argv: list[str]) -> str:
    """The command line as run, its ``--note`` texts left out (results.md shows them under Notes)."""
    shown, skip = ["scripts/fuzz_readers.py"], False
    for arg in argv:
        if skip or arg.startswith("--note="):
            skip = False
            continue
        if arg == "--note":
            skip = True
            continue
        shown.append(arg)
    return " ".join(shown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=100_000, help="examples per reader (default 100,000)")
    parser.add_argument("--readers", default=",".join(TARGET), help="comma-separated readers (default: all)")
    parser.add_argument("--budget", type=float, default=0, help="seconds per reader at most (0: no limit)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per example before it counts as a hang")
    parser.add_argument(
        "--memory-headroom",
        type=int,
        default=2048,
        help="MB of address space a worker may add after warm-up (0: no cap)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of results.md and results.json")
    parser.add_argument("--note", action="append", default=[], help="a line for the Notes section of results.md")
    parser.add_argument("--before", type=Path, help="results.json of a run before the fixes, compared in results.md")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite results.md from the results.json in --out, without fuzzing")  # fmt: skip
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=17, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.examples, args.seed, args.out, args.budget, args.timeout, args.memory_headroom)
        return 0
    before = json.loads(args.before.read_text()) if args.before else None
    if args.report_only:
        saved = json.loads((args.out / "results.json").read_text())
        meta = {**saved["meta"], "notes": args.note or saved["meta"].get("notes", [])}
        write_report(saved["readers"], meta, args.out, before)
        print(f"wrote {args.out / 'results.md'}")
        return 0
    names = [n.strip() for n in args.readers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGET]
    if unknown:
        parser.error(f"unknown readers {', '.join(unknown)}; known: {', '.join(TARGET)}")
    import platform

    import hypothesis

    results = {}
    work = scratch_dir("fuzz-readers-")
    try:
        for name in names:
            print(f"{name}: {args.examples:,} examples" + (f", at most {args.budget:g} s" if args.budget else ""),
                  flush=True)  # fmt: skip
            results[name] = fuzz_reader(name, args.examples, args.budget, args.timeout, args.memory_headroom,
                                        work, lambda line: print(line, flush=True))  # fmt: skip
            r = results[name]
            print(f"  {r['examples']:,} examples in {r['seconds']:.0f} s: " +
                  ", ".join(f"{k} {v:,}" for k, v in sorted(r["counts"].items())), flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"command": _command(argv if argv is not None else sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "hypothesis": hypothesis.__version__, "examples": args.examples,
            "budget": args.budget, "timeout": args.timeout, "headroom_mb": args.memory_headroom,
            "notes": args.note}  # fmt: skip
    previous = args.out / "results.json"
    if previous.exists() and set(names) != set(TARGET):  # a partial run keeps the other readers' last results
        old = json.loads(previous.read_text()).get("readers", {})
        results = {n: results.get(n) or old[n] for n in TARGET if n in results or n in old}
    write_report(results, meta, args.out, before)
    print(f"wrote {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
