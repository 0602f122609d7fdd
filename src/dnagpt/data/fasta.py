"""FASTA files: a genome read in place through its index, or a prepared copy for pretraining.

Two ways to read a genome, each for one job:

* :func:`open_fasta` reads a FASTA where it lies, plain or bgzip-compressed, through its samtools
  index (``.fai``, and ``.gzi`` for bgzip), fetching only the bases asked for. Variant scoring
  (``dnagpt vep``) reads a few hundred bases around each variant this way, so a 3 Gbp genome costs
  neither a copy nor memory. A missing index is built once (logged), beside the FASTA or, where its
  folder cannot be written, in the cache.
* :func:`prepare_fasta` reads a genome once, line by line (plain or gzipped, LF or CRLF), checks and
  normalises it, and writes it as one byte per base (codes 0..4 in ``NAGCT`` order) to
  ``bases.u8`` plus an ``index.json`` of its records, and the soft-masked (lower-case: repeats, in
  UCSC and Ensembl genomes) stretches as intervals in ``softmask.npy``. Pretraining corpora use it:
  they draw windows from everywhere in the genome, and the bundled ones are plain gzip, which cannot
  be read in place.

Both offer the same :class:`Genome` view: records by name and length, base codes of a stretch, and
which of its bases were soft-masked. Problems are reported with the file, record and line or position.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ..errors import DataError
from ..io import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

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
    """One FASTA record (a chromosome, contig or other sequence)."""

    name: str
    start: int  # offset of its first base in the genome's records laid end to end (bases.u8 of a store)
    length: int


class Genome(Protocol):
    """What variant scoring reads of a genome: its records, and stretches of one record."""

    records: list[Record]

    def fetch(self, record: Record, start: int, end: int) -> np.ndarray:
        """Base codes (0..4: ``NAGCT``) of ``record[start:end]`` (0-based, half-open)."""
        ...

    def soft_masked(self, record: Record, start: int, end: int) -> np.ndarray:
        """Whether each base of ``record[start:end]`` was lower case (soft-masked) in the FASTA."""
        ...


Compression = Literal["bgzip", "gzip"] | None


def compression(path: str | Path) -> Compression:
    """How a file is compressed: ``"bgzip"`` (blocked gzip, which htslib can seek in: ``bgzip``,
    ``tabix``, ``samtools``), plain ``"gzip"``, or None for none. Every bgzip file is also a valid
    gzip file; a bgzip block carries a ``BC`` field in its gzip header, which plain gzip never writes."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != b"\x1f\x8b":
        return None
    has_extra = len(head) >= 14 and head[3] & 4  # FEXTRA flag: bgzip's first subfield, "BC", comes first
    return "bgzip" if has_extra and head[12:14] == b"BC" else "gzip"


class IndexedFasta:
    """A FASTA file read in place through its samtools index: only the bases asked for are read.

    Plain or bgzip-compressed; letters keep their case in the file, so soft-masked (lower-case)
    repeats are known, and IUPAC ambiguity codes read as N. Open one with :func:`open_fasta`, which
    finds or builds the index.
    """

    def __init__(self, path: Path, index: Path, gzi: Path | None = None) -> None:
        import pysam  # htslib's FASTA reader; imported here so that `import dnagpt` stays light

        self.path, self.index = path, index
        try:
            self._file = pysam.FastaFile(
                str(path), filepath_index=str(index), filepath_index_compressed=str(gzi) if gzi else None
            )
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read it through its index {index} ({e}); "
                            f"delete the index and rerun to rebuild it") from None  # fmt: skip
        records, offset = [], 0
        for name, length in zip(self._file.references, self._file.lengths, strict=True):
            records.append(Record(name, offset, length))
            offset += length
        if not records:
            raise DataError(f"{path}: no FASTA records (empty file, or no line starting with '>')")
        self.records: list[Record] = records

    def _text(self, record: Record, start: int, end: int) -> bytes:
        if not 0 <= start <= end <= record.length:
            raise DataError(f"{self.path}: {record.name}:{start + 1}-{end} lies outside "
                            f"{record.name} ({record.length:,} bases)")  # fmt: skip
        if start == end:
            return b""
        try:
            text = self._file.fetch(reference=record.name, start=start, end=end).encode("utf-8", "replace")
        except UnicodeDecodeError:  # pysam decodes the bases as UTF-8: a byte that is no text, let alone a base
            raise DataError(f"{self.path}: record '{record.name}', {start + 1:,}-{end:,}: bytes that are not "
                            f"text, so not DNA bases (a binary or damaged file?)") from None  # fmt: skip
        except (OSError, ValueError) as e:  # htslib cannot fetch the record (a name it parses as a region, I/O)
            raise DataError(f"{self.path}: cannot read record '{record.name}' {start + 1:,}-{end:,} through "
                            f"its index ({e})") from None  # fmt: skip
        if len(text) != end - start:  # a stale index: it no longer describes the file
            raise DataError(f"{self.path}: {record.name}:{start + 1}-{end} reads {len(text)} bases through "
                            f"{self.index}; the index does not match the file: delete it and rerun")  # fmt: skip
        return text

    def fetch(self, record: Record, start: int, end: int) -> np.ndarray:
        """Base codes (0..4: ``NAGCT``) of ``record[start:end]`` (0-based, half-open); a character that
        is neither a base nor an IUPAC code is a :class:`DataError` naming the record and position."""
        text = self._text(record, start, end)
        codes = text.translate(_CODE_TABLE)
        bad = codes.find(bytes([_INVALID]))
        if bad >= 0:
            raise DataError(f"{self.path}: record '{record.name}', position {start + bad + 1:,}: character "
                            f"{chr(text[bad])!r} is not a DNA base or IUPAC code")  # fmt: skip
        return np.frombuffer(codes, dtype=np.uint8)

    def soft_masked(self, record: Record, start: int, end: int) -> np.ndarray:
        """Whether each base of ``record[start:end]`` is lower case (soft-masked) in the FASTA."""
        return np.frombuffer(self._text(record, start, end), dtype=np.uint8) >= ord("a")

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> IndexedFasta:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_fasta(path: str | Path, cache_dir: str | Path) -> IndexedFasta:
    """Open a FASTA file (plain or bgzip-compressed) to be read in place through its index.

    The index is ``PATH.fai`` (with ``PATH.gzi`` for bgzip), as ``samtools faidx PATH`` writes it.
    Where there is none it is built once and logged: beside the FASTA, or, where that folder cannot be
    written, under ``cache_dir/fasta-index/``. Nothing is written anywhere when the index is there.
    A plain-gzip FASTA cannot be read in place: the :class:`DataError` says how to recompress it
    with ``bgzip``. So is a file htslib cannot index (text before the first header, lines of one
    record of different lengths, a duplicate record name), naming what and where.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such FASTA file")
    kind = compression(path)
    if kind == "gzip":
        how = (f"gunzip {path} && bgzip {str(path).removesuffix('.gz')}" if path.name.endswith(".gz")
               else f"gunzip -c {path} | bgzip > {path}.bgz")  # fmt: skip
        raise DataError(f"{path}: compressed with plain gzip, which cannot be read in place; recompress it with "
                        f"bgzip (from htslib, keeps the name): {how}")  # fmt: skip
    if path.stat().st_size == 0:
        raise DataError(f"{path}: no FASTA records (empty file)")
    bgzip = kind == "bgzip"
    beside = Path(f"{path}.fai"), Path(f"{path}.gzi") if bgzip else None
    stem = Path(cache_dir) / "fasta-index" / f"{path.name}.{_file_key(path)}"
    cached = Path(f"{stem}.fai"), Path(f"{stem}.gzi") if bgzip else None
    for fai, gzi in (beside, cached):
        if fai.is_file() and (gzi is None or gzi.is_file()):
            if fai == beside[0] and fai.stat().st_mtime < path.stat().st_mtime:
                log.warning("%s is older than %s: if the FASTA changed since, delete the index and rerun "
                            "(or samtools faidx %s)", fai, path, path)  # fmt: skip
            return IndexedFasta(path, fai, gzi)
    if _writable(path.parent):
        fai, gzi = beside
        log.info("indexing %s once, to read it in place: %s", path, fai)
    elif _writable(cached[0].parent):
        fai, gzi = cached
        log.info("indexing %s once, to read it in place; its folder cannot be written, so the index goes "
                 "to %s", path, fai)  # fmt: skip
    else:
        raise DataError(f"{path}: no index ({path}.fai), and neither its folder nor the cache "
                        f"({cached[0].parent}) can be written; index it where you can write: samtools faidx "
                        f"{path}, or set DNAGPT_CACHE to a writable folder")  # fmt: skip
    try:
        _build_index(path, fai, gzi)
    except OSError as e:
        raise DataError(
            f"{path}: cannot write its index {fai} ({e}); index it yourself: samtools faidx {path}"
        ) from None
    return IndexedFasta(path, fai, gzi)


def _writable(folder: Path) -> bool:
    """Whether files can be made in ``folder``, or in the nearest folder above it that exists."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return os.access(folder, os.W_OK)


def _build_index(path: Path, fai: Path, gzi: Path | None) -> None:
    """Index ``path`` with htslib (``samtools faidx``), written atomically so that an interrupted build
    leaves no half index; htslib's complaints become one :class:`DataError`."""
    import pysam

    with contextlib.ExitStack() as stack:
        arguments = [str(path), "--fai-idx", str(stack.enter_context(atomic_path(fai)))]
        if gzi is not None:
            arguments += ["--gzi-idx", str(stack.enter_context(atomic_path(gzi)))]
        with _stderr_lines() as complaints:
            try:
                pysam.faidx(*arguments)
                failed = False
            except pysam.SamtoolsError:
                failed = True
        messages = [line.split("] ", 1)[-1] for line in complaints if line.startswith(("[E::", "[W::"))]
        duplicate = next((m for m in messages if m.startswith("Ignoring duplicate sequence")), None)
        if duplicate:
            name = duplicate.split('"')[1] if '"' in duplicate else "?"
            raise DataError(f"{path}: duplicate record name '{name}'; record names must be unique")
        if failed:
            reason = "; ".join(messages) or "htslib could not index it"
            raise DataError(f"{path}: cannot index this FASTA ({reason}); a FASTA read in place starts with a "
                            "'>' header and holds lines of the same length within each record (the last may "
                            "be shorter), with no blank line inside a record")  # fmt: skip


@contextlib.contextmanager
def _stderr_lines() -> Iterator[list[str]]:
    """Collect what C code (htslib) writes to the process's standard error while the block runs."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


class GenomeStore:
    """A prepared copy of a genome (:func:`prepare_fasta`): ``codes`` is a read-only memory map of base codes."""

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
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as e:  # zlib.error: damaged compressed data
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
