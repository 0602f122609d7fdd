"""FASTA in, memory-mapped base codes out.

A genome is read once, line by line (plain or gzipped, LF or CRLF), checked and
normalised, and written as one byte per base (codes 0..4 in ``NAGCT`` order)
to ``bases.u8`` plus an ``index.json`` of its records, and the soft-masked
(lower-case: repeats, in UCSC and Ensembl genomes) stretches as intervals in ``softmask.npy``. Sampling then reads
windows straight from the memory map, so a 3 Gbp genome never has to fit in
memory. Problems are reported with the file, record and line.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_path, atomic_write_text

_INVALID = 255
# byte -> base code: ACGTN in any case; IUPAC ambiguity codes -> N (0); anything else invalid.
_CODE_TABLE = bytearray([_INVALID] * 256)
for _i, _b in enumerate("NAGCT"):
    _CODE_TABLE[ord(_b)] = _CODE_TABLE[ord(_b.lower())] = _i
for _b in "RYSWKMBDHV":
    _CODE_TABLE[ord(_b)] = _CODE_TABLE[ord(_b.lower())] = 0
_CODE_TABLE = bytes(_CODE_TABLE)
_FLUSH_BYTES = 1 << 22
STORE_VERSION = 2  # 2: soft-masked intervals kept


@dataclass(frozen=True)
class Record:
    """One FASTA record inside a prepared store."""

    name: str
    start: int  # offset of its first base in bases.u8
    length: int


class GenomeStore:
    """A prepared genome: ``codes`` is a read-only memory map of base codes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        meta = json.loads((directory / "index.json").read_text())
        self.source = meta["source"]
        self.records = [Record(r["name"], r["start"], r["length"]) for r in meta["records"]]
        total = sum(r.length for r in self.records)
        self.codes = np.memmap(directory / "bases.u8", dtype=np.uint8, mode="r", shape=(total,)) if total else None
        self.softmask = np.load(directory / "softmask.npy")  # [n, 2] sorted store offsets, half-open

    def fetch(self, record: Record, start: int, end: int) -> np.ndarray:
        """Base codes of ``record[start:end]`` (0-based, half-open)."""
        return np.asarray(self.codes[record.start + start : record.start + end])

    def soft_masked(self, record: Record, start: int, end: int) -> np.ndarray:
        """Whether each base of ``record[start:end]`` was lower case (soft-masked) in the FASTA."""
        lo, hi = record.start + start, record.start + end
        out = np.zeros(hi - lo, dtype=bool)
        first = int(np.searchsorted(self.softmask[:, 1], lo, side="right"))  # the first interval ending past lo
        for a, b in self.softmask[first:]:
            if a >= hi:
                break
            out[max(a, lo) - lo : min(b, hi) - lo] = True
        return out


def _file_key(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v{STORE_VERSION}".encode()).hexdigest()[:16]


def prepare_fasta(path: str | Path, cache_dir: str | Path) -> GenomeStore:
    """Convert a FASTA file into a :class:`GenomeStore` under ``cache_dir`` (reused when unchanged).

    Raises :class:`DataError` naming the file, record and line for: a missing or
    empty file, text before the first ``>`` header, a character that is not a base
    or IUPAC code, a duplicate record name, or a record without bases.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such FASTA file")
    out = Path(cache_dir) / f"{path.name}.{_file_key(path)}"
    if (out / "index.json").exists():
        return GenomeStore(out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    soft = _SoftMask()
    with atomic_path(out / "bases.u8") as tmp, open(tmp, "wb") as sink:
        _stream_records(path, sink, records, soft)
    if not records:
        raise DataError(f"{path}: no FASTA records (empty file, or no line starting with '>')")
    with atomic_path(out / "softmask.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, soft.intervals())
    atomic_write_text(out / "index.json", json.dumps({"source": str(path), "records": records}, indent=1))
    return GenomeStore(out)


class _SoftMask:
    """Collects the lower-case stretches of a FASTA as it streams, merged across line breaks (a stretch
    may run on into the next record: lookups stay inside one record, so it never matters)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add_line(self, line: bytes, offset: int) -> None:
        if line.isupper():  # no lower-case letter: the common case, decided in C
            return
        if line.islower():
            self._add(offset, offset + len(line))
            return
        lower = np.frombuffer(line, dtype=np.uint8) >= ord("a")
        edges = np.flatnonzero(np.diff(np.concatenate([[False], lower, [False]]).astype(np.int8)))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            self._add(offset + int(a), offset + int(b))

    def _add(self, start: int, end: int) -> None:
        if self.ends and self.ends[-1] == start:
            self.ends[-1] = end
        else:
            self.starts.append(start)
            self.ends.append(end)

    def intervals(self) -> np.ndarray:
        return np.array([self.starts, self.ends], dtype=np.int64).T.reshape(-1, 2)


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _stream_records(path: Path, sink, records: list[dict], soft: _SoftMask | None = None) -> None:
    seen: set[str] = set()
    name: str | None = None
    start = offset = 0
    pending: list[bytes] = []
    pending_bytes = 0

    def finish(line_no: int) -> None:
        nonlocal pending_bytes
        if pending:
            sink.write(b"".join(pending))
            pending.clear()
            pending_bytes = 0
        if name is not None:
            if offset == start:
                raise DataError(f"{path}: record '{name}' (ending before line {line_no}) has no bases")
            records.append({"name": name, "start": start, "length": offset - start})

    try:
        with _open_text(path) as fh:
            line_no = 0
            for line_no, raw in enumerate(fh, start=1):
                line = raw.rstrip(b"\r\n").strip()
                if not line:
                    continue
                if line.startswith(b">"):
                    finish(line_no)
                    name = line[1:].split()[0].decode("utf-8", "replace") if len(line) > 1 else ""
                    if not name:
                        raise DataError(f"{path}: line {line_no}: FASTA header without a record name")
                    if name in seen:
                        raise DataError(f"{path}: line {line_no}: duplicate record name '{name}'")
                    seen.add(name)
                    start = offset
                    continue
                if name is None:
                    raise DataError(
                        f"{path}: line {line_no}: not FASTA (text before the first '>' header: {line[:30]!r})"
                    )
                codes = line.translate(_CODE_TABLE)
                bad = codes.find(bytes([_INVALID]))
                if bad >= 0:
                    raise DataError(
                        f"{path}: record '{name}', line {line_no}, column {bad + 1}: "
                        f"character {chr(line[bad])!r} is not a DNA base or IUPAC code"
                    )
                if soft is not None:
                    soft.add_line(line, offset)
                pending.append(codes)
                pending_bytes += len(codes)
                offset += len(codes)
                if pending_bytes >= _FLUSH_BYTES:
                    sink.write(b"".join(pending))
                    pending.clear()
                    pending_bytes = 0
            finish(line_no + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from e


def read_fasta_records(path: str | Path) -> list[tuple[str, str]]:
    """``(name, sequence)`` of every record of a small FASTA file, read into memory.

    Checked and normalised exactly like :func:`prepare_fasta` (upper case, IUPAC -> N).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such FASTA file")
    sink = io.BytesIO()
    records: list[dict] = []
    _stream_records(path, sink, records)
    if not records:
        raise DataError(f"{path}: no FASTA records (empty file, or no line starting with '>')")
    letters = sink.getvalue().translate(bytes.maketrans(bytes(range(5)), b"NAGCT"))
    return [(r["name"], letters[r["start"] : r["start"] + r["length"]].decode()) for r in records]


def format_fasta(records: Iterable[tuple[str, str]], width: int = 80) -> str:
    """FASTA text: each ``(header, sequence)`` as ``>header`` and lines of ``width`` bases."""
    return "".join(
        f">{header}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        for header, seq in records
    )
