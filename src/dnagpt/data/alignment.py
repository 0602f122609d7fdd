"""Multiple alignments in MAF, projected on their reference genome, as GPN-MSA reads them.

GPN-MSA reads, at every base of the reference (human) sequence, the base that each other species
of the alignment carries there: A, C, G or T, or a gap where the species has none, is not in the
block, or the block does not cover the position. Columns where the reference has a gap (bases the
other species have and the reference lacks) are dropped, so the aligned bases line up with the
reference genome's coordinates. Biopython's ``MafIO`` parses the file; an :class:`Alignment`
keeps only the covered stretches, one array per alignment block.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError

ALIGNED_BASES = "-ACGT"  # code i is ALIGNED_BASES[i]: GPN-MSA's vocabulary of aligned bases
_CODES = np.zeros(256, dtype=np.uint8)  # anything but a base (gap, N) reads as a gap
for _i, _base in enumerate("ACGT", start=1):
    _CODES[ord(_base)] = _CODES[ord(_base.lower())] = _i
_COMPLEMENT = np.array([0, 4, 3, 2, 1], dtype=np.uint8)  # - A C G T -> - T G C A
_BASE_COMPLEMENT = bytes.maketrans(b"ACGTNacgtn", b"TGCANtgcan")
MAX_SOURCE_SIZE = 2**50  # a chromosome is far shorter; positions past it would not fit numpy's int64 searches


@dataclass
class Block:
    """One alignment block on the reference: its 0-based start and the other species' codes."""

    start: int
    codes: np.ndarray  # [bases of the reference in the block, species], uint8 codes of ALIGNED_BASES
    bases: bytes  # the reference's bases, as the file writes them (lower case: soft-masked repeats)

    @property
    def end(self) -> int:
        return self.start + len(self.codes)


@dataclass
class Alignment:
    """An alignment projected on its reference species (:func:`read_maf`)."""

    path: str
    reference: str  # the species name of the reference rows (the part of "Hsap.22" before the dot)
    species: tuple[str, ...]  # the other species, in the order of the columns of :meth:`columns`
    blocks: dict[str, list[Block]]  # reference chromosome -> its blocks, by start
    _starts: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # each chromosome's block starts

    def check_species(self, count: int) -> None:
        """Raise an error naming the file unless the alignment holds ``count`` species beside the
        reference (what a GPN-MSA model reads: its ``n_aux_features`` / 5)."""
        if len(self.species) != count:
            raise ConfigError(f"{self.path}: {len(self.species)} species beside {self.reference} "
                              f"({', '.join(self.species)}), but the model reads {count}")  # fmt: skip

    def columns(self, chrom: str, start: int, end: int) -> np.ndarray:
        """The other species' bases at reference positions ``start .. end - 1`` (0-based), as codes of
        :data:`ALIGNED_BASES`: an array ``[end - start, species]``, gaps where no block covers a
        position (also beyond the chromosome's ends). A chromosome or stretch that the alignment
        does not cover at all is an error naming the file."""
        blocks = self.blocks.get(_chromosome(chrom))
        if blocks is None:
            known = ", ".join(sorted(self.blocks)[:5])
            raise DataError(f"{self.path}: the alignment has no {self.reference} rows on chromosome {chrom!r} "
                            f"(it has {known})")  # fmt: skip
        out = np.zeros((end - start, len(self.species)), dtype=np.uint8)
        covered = 0
        for block, lo, hi in self._overlapping(chrom, start, end):
            out[lo - start : hi - start] = block.codes[lo - block.start : hi - block.start]
            covered += hi - lo
        if not covered:
            raise DataError(f"{self.path}: {chrom}:{start + 1:,}-{end:,} is not covered by the alignment")
        return out

    def has_chromosome(self, chrom: str) -> bool:
        """Whether the reference has rows on ``chrom`` ("chr22" and "22" alike)."""
        return _chromosome(chrom) in self.blocks

    def window(self, chrom: str, start: int, end: int, strand: str = "+") -> tuple[str, np.ndarray]:
        """What GPN-MSA reads of ``start .. end - 1`` (0-based) on ``strand``: the reference's bases (upper
        case, N where no block covers) and the other species' codes (:meth:`columns`); on the minus
        strand both are reversed and complemented. An uncovered stretch is an error."""
        codes = self.columns(chrom, start, end)
        bases = self.reference_bases(chrom, start, end).upper()
        if strand == "-":
            return bases[::-1].translate(_BASE_COMPLEMENT).decode(), reverse_complement_columns(codes)
        if strand != "+":
            raise DataError(f"strand {strand!r}: expected + or -")
        return bases.decode(), codes

    def reference_bases(self, chrom: str, start: int, end: int) -> bytes:
        """The reference's own bases at ``start .. end - 1`` as the alignment holds them (case kept), N
        where no block covers a position."""
        out = bytearray(b"N" * (end - start))
        for block, lo, hi in self._overlapping(chrom, start, end):
            out[lo - start : hi - start] = block.bases[lo - block.start : hi - block.start]
        return bytes(out)

    def covered(self, chrom: str, start: int, end: int) -> int:
        """How many of the reference positions ``start .. end - 1`` (0-based) a block covers."""
        return sum(hi - lo for _, lo, hi in self._overlapping(chrom, start, end))

    def _overlapping(self, chrom: str, start: int, end: int) -> Iterator[tuple[Block, int, int]]:
        """``(block, lo, hi)`` for each block overlapping ``start .. end - 1``: ``lo .. hi - 1`` is the overlap."""
        blocks = self.blocks.get(_chromosome(chrom), [])
        if _chromosome(chrom) not in self._starts:
            self._starts[_chromosome(chrom)] = np.array([b.start for b in blocks], dtype=np.int64)
        first = max(0, int(np.searchsorted(self._starts[_chromosome(chrom)], start, side="right")) - 1)
        for block in blocks[first:]:
            if block.start >= end:
                break
            lo, hi = max(start, block.start), min(end, block.end)
            if lo < hi:
                yield block, lo, hi


def reverse_complement_columns(codes: np.ndarray) -> np.ndarray:
    """Aligned-base codes ``[positions, species]`` read on the other strand: reversed and complemented."""
    return _COMPLEMENT[codes[::-1]]


def _chromosome(name: str) -> str:
    """A chromosome's name without a "chr" prefix, so that "chr22" and "22" are the same."""
    return name[3:] if name.lower().startswith("chr") else name


def read_maf(path: str | Path, reference: str | None = None) -> Alignment:
    """Read a MAF file (plain or gzip) and project it on ``reference``, a species name as the rows
    spell it before the dot ("Hsap" in "Hsap.22"; default: the species of the first row of the first
    block). The other species are all the others that any block holds, in order of appearance."""
    from Bio import AlignIO  # Biopython: a slow import, needed only where an alignment is read

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such alignment file")
    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    raw: list[tuple[str, int, int, dict[str, str]]] = []  # chromosome, start, strand sign, species -> text
    order: dict[str, None] = {}
    number = 0  # blocks read
    try:
        with opener(path, "rt") as handle:
            for block in AlignIO.parse(handle, "maf"):
                number += 1
                rows: dict[str, str] = {}
                place = None
                for record in block:
                    species, _, chrom = record.id.partition(".")
                    if reference is None:
                        reference = species
                    if species == reference and place is None:
                        a = record.annotations
                        if not 0 <= a["start"] <= a["start"] + a["size"] <= a["srcSize"] <= MAX_SOURCE_SIZE:
                            where = f"{path}: block {number}: row {record.id}"
                            raise DataError(f"{where}: start {a['start']} and size {a['size']} do not lie within its "
                                            f"source of {a['srcSize']} bases")  # fmt: skip
                        start = a["start"] if a["strand"] in (1, "+") else a["srcSize"] - a["start"] - a["size"]
                        place = (chrom, start, 1 if a["strand"] in (1, "+") else -1)
                    rows.setdefault(species, str(record.seq))
                    order.setdefault(species)
                if place is not None:
                    raw.append((*place, rows))
    except (ValueError, KeyError, UnicodeDecodeError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: block {number + 1}: not a readable MAF alignment ({e})") from None
    if not raw:
        raise DataError(f"{path}: no alignment block with a {reference or 'reference'} row")
    others = tuple(s for s in order if s != reference)
    blocks: dict[str, list[Block]] = {}
    for chrom, start, sign, rows in raw:
        ref = np.frombuffer(rows[reference].encode(), dtype=np.uint8)
        keep = ref != ord("-")
        codes = np.zeros((int(keep.sum()), len(others)), dtype=np.uint8)
        for j, species in enumerate(others):
            if species in rows:
                codes[:, j] = _CODES[np.frombuffer(rows[species].encode(), dtype=np.uint8)[keep]]
        bases = rows[reference].replace("-", "").encode()
        if sign < 0:  # a reference row on the minus strand: read the block on the plus strand
            codes = reverse_complement_columns(codes)
            bases = bases[::-1].translate(_BASE_COMPLEMENT)
        blocks.setdefault(_chromosome(chrom), []).append(Block(start, codes, bases))
    for chrom_blocks in blocks.values():
        chrom_blocks.sort(key=lambda b: b.start)
    return Alignment(str(path), reference or "", others, blocks)
