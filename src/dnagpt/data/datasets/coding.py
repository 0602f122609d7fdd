"""Coding or not: is this 300 bp window part of a protein-coding sequence?

Labels, exactly. Every example is a window of :data:`WIDTH` = 300 bases starting at a multiple of :data:`STRIDE` =
100 on the + strand coordinates of the chromosome (a fixed grid, so that neighbouring windows share at most 200
bases and the same window from several overlapping transcripts is one window, kept once):

* ``1`` (coding): the window lies entirely inside one CDS segment (one CDS record, i.e. the coding part of one
  exon) of an annotated transcript, and is read 5' to 3' on that transcript's strand. Its reading frame is whatever
  the grid gives, so the frame is not fixed.
* ``0`` (non-coding): the window overlaps no base of any CDS or exon of any annotated transcript on either strand
  (so it is intronic or intergenic, never UTR), and is read on a strand drawn at random.

Non-coding windows are GC-matched to the coding ones inside every split: GC content (over the A, C, G and T bases)
is cut into :data:`GC_BINS` equal bins, and each bin gets as many non-coding windows as coding ones, drawn at
random (coding windows of a bin with too few non-coding ones are dropped at random to match), so base composition
alone does not separate the classes. Human: GENCODE (hg19) chr22 CDS and exon records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..regions import SPLITS
from .common import Example, Genome, merge_intervals, split_cap, task_toml, write_dataset
from .genomes import hg19_chr22, hg19_table

WIDTH = 300  # bases per window
STRIDE = 100  # windows start on this grid: overlap is capped at 200 bases, and identical windows coincide exactly
GC_BINS = 20  # GC bins of width 5 %
CODING_LABELS = {"1": "A", "0": "N"}  # coding -> yes, non-coding -> no, as the other yes / no datasets


def overlaps_any(starts: np.ndarray, ends: np.ndarray, where: np.ndarray, width: int) -> np.ndarray:
    """For each window ``[w, w + width)`` of ``where``, whether it shares a base with the disjoint, sorted
    intervals ``starts`` / ``ends``."""
    # if any interval reaches into the window, so does the last one starting before the window ends (disjoint, sorted)
    i = np.searchsorted(starts, where + width) - 1
    return (i >= 0) & (ends[np.clip(i, 0, None)] > where) if len(starts) else np.zeros(len(where), dtype=bool)


def coding_windows(genome: Genome, cds: Iterable[tuple[int, int, str]]) -> list[Example]:
    """Label ``1``: grid windows lying inside one of the CDS segments ``(start, end, strand)`` (0-based, half-open,
    + strand coordinates), read on the segment's strand; each window and strand once."""
    found = set()
    for a, b, strand in cds:
        first = -(-a // STRIDE) * STRIDE  # the first grid position at or after the segment's start
        found.update((s, strand) for s in range(first, b - WIDTH + 1, STRIDE))
    out = []
    for s, strand in sorted(found):
        if (bases := genome.window(s, s + WIDTH, strand)) is not None:
            out.append(Example(genome.name, s, s + WIDTH, strand, bases, "1"))
    return out


def noncoding_windows(genome: Genome, occupied: Iterable[tuple[int, int]], rng: np.random.Generator) -> list[Example]:
    """Label ``0``: every grid window that shares no base with the ``occupied`` intervals (every CDS and exon,
    0-based half-open), read on a strand drawn at random."""
    starts, ends = merge_intervals(occupied)
    where = np.arange(0, len(genome.seq) - WIDTH + 1, STRIDE, dtype=np.int64)
    strands = rng.choice(np.array(["+", "-"]), size=len(where))  # drawn for every grid window: same seed, same strands
    free = ~overlaps_any(starts, ends, where, WIDTH)
    out = []
    for s, strand in zip(where[free].tolist(), strands[free].tolist(), strict=True):
        if (bases := genome.window(s, s + WIDTH, strand)) is not None:
            out.append(Example(genome.name, s, s + WIDTH, strand, bases, "0"))
    return out


def gc_bin(bases: str) -> int:
    """The GC bin (0 .. GC_BINS - 1) of ``bases``, GC counted over A, C, G and T (N left out)."""
    gc = bases.count("G") + bases.count("C")
    acgt = gc + bases.count("A") + bases.count("T")
    return min(GC_BINS - 1, GC_BINS * gc // max(acgt, 1))


def gc_matched(
    positives: list[Example], candidates: list[Example], caps: dict[str, int], rng: np.random.Generator
) -> list[Example]:
    """Positives and GC-matched negatives, split by split: at most ``caps[split]`` positives drawn at random,
    then in every GC bin as many of each class as the scarcer has there, drawn at random."""
    by_split: dict[str | None, tuple[list[Example], list[Example]]] = {}
    for label, group in ((0, positives), (1, candidates)):
        for e in group:
            by_split.setdefault(e.split, ([], []))[label].append(e)
    out: list[Example] = []
    for split in SPLITS:
        pos, neg = by_split.get(split, ([], []))
        if len(pos) > caps[split]:
            pos = [pos[i] for i in sorted(rng.choice(len(pos), caps[split], replace=False))]
        bins: dict[int, tuple[list[Example], list[Example]]] = {}
        for e in pos:
            bins.setdefault(gc_bin(e.sequence), ([], []))[0].append(e)
        for e in neg:
            if (b := gc_bin(e.sequence)) in bins:
                bins[b][1].append(e)
        for b in sorted(bins):
            ones, zeros = bins[b]
            take = min(len(ones), len(zeros))
            for group in (ones, zeros):
                out += [group[i] for i in sorted(rng.choice(len(group), take, replace=False))]
    return out


def coding_dataset(
    genome: Genome,
    cds: list[tuple[int, int, str]],
    exons: list[tuple[int, int]],
    out_dir: Path,
    task: str,
    per_class: int,
    seed: int,
) -> dict[str, int]:
    """Coding windows of the ``cds`` segments against GC-matched windows clear of every CDS and of ``exons``,
    balanced inside every split; files written to ``out_dir``, split sizes returned."""
    rng = np.random.default_rng(seed)
    positives = coding_windows(genome, cds)
    if not positives:
        raise DataError(f"{genome.name}: no CDS segment holds a {WIDTH} bp window on the sequence")
    candidates = noncoding_windows(genome, [*exons, *((a, b) for a, b, _ in cds)], rng)
    matched = gc_matched(positives, candidates, {s: split_cap(per_class, s) for s in SPLITS}, rng)
    return write_dataset(out_dir, matched, task, seed, per_class=per_class)


def build_coding_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human coding vs non-coding windows on hg19 chr22 (GENCODE), GC-matched."""
    cds = [(r["_starts"] - 1, r["_ends"], r["Strand"]) for r in hg19_table("CDSs")]
    exons = [(r["_starts"] - 1, r["_ends"]) for r in hg19_table("exons")]
    task = task_toml("coding-human", "Homo sapiens", "Human coding sequence (hg19 chr22, GENCODE). 300 bp windows "
                     'starting at multiples of 100. 1 ("A"): the window lies inside one CDS segment (CDS record) and '
                     "is read on its transcript's strand. 0 (\"N\"): the window overlaps no CDS or exon of any "
                     "transcript on either strand (intron or intergenic), random strand, GC-matched to the 1s (20 bins "
                     "of GC over ACGT, equal counts per bin in every split).", CODING_LABELS)  # fmt: skip
    return coding_dataset(hg19_chr22(), cds, exons, out_dir, task, per_class, seed)


DATASETS: dict[str, tuple[str, Callable[..., dict[str, int]]]] = {
    "coding-human": (
        "coding sequence, human hg19 chr22 (GENCODE): 300 bp inside one CDS segment, on its strand (1), vs 300 bp "
        "overlapping no CDS or exon, random strand (0), GC-matched",
        build_coding_human,
    ),
}
