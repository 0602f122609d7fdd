"""Protein-DNA binding: is this 200 bp window bound by a protein in the cell, or is it background?

Two datasets, both on human hg19 chr22 (the human rows of the ``hg19-chr22-primates`` alignment,
with the annotation of the ``hg19-annotation`` source):

``ctcf-human``
    Label ``1`` (answer token ``A``): the 200 bp window centred on the centre of a CTCF ChIP-seq
    peak (``CTCF.parquet``; the peak's centre base is window base 101). Label ``0`` (token ``N``):
    a background window of chr22 that lies at least :data:`MARGIN` bases from every CTCF peak.
``tf-human``
    Label ``1`` (``A``): the 200 bp window centred on a transcription-factor summit
    (``Top1000sites_TF.parquet``: the top 1,000 summits of each of 504 factors, pooled over
    factors; the summit is window base 101). Summits closer than :data:`MIN_SUMMIT_GAP` bases to a
    summit already kept (of any factor) are dropped, so that nearly identical windows do not appear
    twice. Label ``0`` (``N``): a background window at least :data:`MARGIN` bases from every summit
    of every factor and from every CTCF peak.

Background windows are GC-matched to the positives: the GC content of the positives is cut into
:data:`GC_BINS` bins holding equally many positives, and in every split and every bin as many
background windows are drawn at random as there are positives (where the background has too few,
positives of that bin are dropped at random). A model cannot then tell the classes apart by GC
content alone. Background windows are drawn from the non-overlapping 200 bp tiles of chr22 (tiles
start at a random phase), so no two of them overlap. Binding does not depend on which strand is
read, so every window, bound or not, is read on a strand drawn at random.

Coordinates: the summits are 1-base intervals ``[_starts, _ends)`` (BED-style, 0-based
half-open: ``_ends - _starts == 1``), so a summit is 0-based base ``_starts``; CTCF peaks are read
the same way, and the centre of ``[start, end)`` is base ``(start + end) // 2`` (half a base either
way makes no difference to a 200 bp window). Windows with more than 5 % unknown bases (N: chr22 is
N wherever the alignment has no human row) are left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ...errors import DataError
from .common import Example, Genome, gc_fraction, merge_intervals, reverse_complement, task_toml, write_dataset
from .genomes import hg19_chr22, hg19_table

WIDTH = 200  # bases per window
MARGIN = 1000  # background windows keep at least this many bases from every peak or summit
MIN_SUMMIT_GAP = 100  # summits closer than this to a kept summit are dropped
GC_BINS = 20  # GC content bins, equally filled by positives, inside which background is matched
YES_NO = {"1": "A", "0": "N"}  # label -> answer token of the classification

CTCF_LABELS = (
    'label "1" (answer A): the 200 bp window centred on the centre of a CTCF ChIP-seq peak on hg19 chr22; '
    f'label "0" (answer N): a GC-matched 200 bp window at least {MARGIN} bp from every CTCF peak; '
    "each window read on a random strand"
)
TF_LABELS = (
    'label "1" (answer A): the 200 bp window centred on a transcription-factor summit on hg19 chr22 (top 1,000 '
    f"summits of each of 504 factors, pooled; summits within {MIN_SUMMIT_GAP} bp of a kept one dropped); "
    f'label "0" (answer N): a GC-matched 200 bp window at least {MARGIN} bp from every summit of every factor '
    "and from every CTCF peak; each window read on a random strand"
)
CTCF_TASK = task_toml("ctcf_human", "Homo sapiens", f"CTCF binding, hg19 chr22: {CTCF_LABELS}.", YES_NO)
TF_TASK = task_toml("tf_human", "Homo sapiens", f"Transcription-factor binding, hg19 chr22: {TF_LABELS}.", YES_NO)


def centred_window(genome: Genome, centre: int, strand: str, label: str, width: int = WIDTH) -> Example | None:
    """The ``width``-base example whose base ``width // 2`` (0-based) on the + strand is ``centre``,
    read on ``strand``; None off the sequence or with too many N."""
    start = centre - width // 2
    bases = genome.window(start, start + width, strand)
    return None if bases is None else Example(genome.name, start, start + width, strand, bases, label)


def dedup_summits(positions: Iterable[int], min_gap: int = MIN_SUMMIT_GAP) -> np.ndarray:
    """Summits from left to right, each kept only when it lies at least ``min_gap`` bases from the
    last one kept; the ones kept are then at least ``min_gap`` apart. Sorted, unique."""
    kept: list[int] = []
    for p in sorted(set(int(p) for p in positions)):
        if not kept or p - kept[-1] >= min_gap:
            kept.append(p)
    return np.array(kept, dtype=np.int64)


def clear_of(window_starts: np.ndarray, width: int, intervals: Iterable[tuple[int, int]], margin: int) -> np.ndarray:
    """For each window ``[s, s + width)``: True when at least ``margin`` bases separate it from every
    one of ``intervals`` (0-based half-open)."""
    window_starts = np.asarray(window_starts, dtype=np.int64)
    lo, hi = merge_intervals(intervals, margin)
    if len(lo) == 0:
        return np.ones(len(window_starts), dtype=bool)
    # the last widened interval that starts before the window ends is the only one that can reach it,
    # as the widened intervals are disjoint and sorted
    j = np.searchsorted(lo, window_starts + width, side="left") - 1
    return (j < 0) | (hi[np.clip(j, 0, None)] <= window_starts)


def background_pool(
    genome: Genome, avoid: Iterable[tuple[int, int]], rng: np.random.Generator, width: int = WIDTH, margin: int = MARGIN
) -> list[Example]:
    """Every non-overlapping ``width``-base tile of ``genome`` (from a random phase) at least ``margin``
    bases from each of ``avoid``, with few enough N and inside one block; label ``0``, + strand."""
    phase = int(rng.integers(width))
    starts = np.arange(phase, len(genome.seq) - width + 1, width, dtype=np.int64)
    starts = starts[clear_of(starts, width, avoid, margin)]
    pool = []
    for s in starts.tolist():
        bases = genome.window(s, s + width)
        if bases is not None:
            e = Example(genome.name, s, s + width, "+", bases, "0")
            if e.split is not None:
                pool.append(e)
    return pool


def gc_bin_edges(gc: np.ndarray, bins: int = GC_BINS) -> np.ndarray:
    """Inner edges of ``bins`` GC bins holding equally many of ``gc`` (fewer where values tie)."""
    return np.unique(np.quantile(gc, np.linspace(0, 1, bins + 1)[1:-1]))


def gc_matched(
    positives: list[Example], pool: list[Example], rng: np.random.Generator, bins: int = GC_BINS
) -> tuple[list[Example], list[Example]]:
    """Positives and as many background windows of ``pool``, matched split by split and GC bin by GC
    bin (bins from the positives' GC, see :func:`gc_bin_edges`). Where a split's bin has fewer
    background windows than positives, positives of that bin are dropped at random."""
    if not positives:
        return [], []
    edges = gc_bin_edges(np.array([gc_fraction(e.sequence) for e in positives]), bins)

    def groups(examples: list[Example]) -> dict[tuple[str, int], list[Example]]:
        out: dict[tuple[str, int], list[Example]] = defaultdict(list)
        for e in examples:
            out[(str(e.split), int(np.searchsorted(edges, gc_fraction(e.sequence), side="right")))].append(e)
        return out

    pos_groups, pool_groups = groups(positives), groups(pool)
    kept, negatives = [], []
    for key in sorted(pos_groups):
        here, there = pos_groups[key], pool_groups.get(key, [])
        n = min(len(here), len(there))
        kept += [here[i] for i in sorted(rng.choice(len(here), n, replace=False))]
        negatives += [there[i] for i in sorted(rng.choice(len(there), n, replace=False))]
    return kept, negatives


def random_strand(e: Example, rng: np.random.Generator) -> Example:
    """``e`` read on a strand drawn at random (a + strand example is turned when the draw says -)."""
    if e.strand != "+":
        raise DataError(f"{e.region}: expected a + strand window to turn")
    if rng.random() < 0.5:
        return e
    return Example(e.genome, e.start, e.end, "-", reverse_complement(e.sequence), e.label, e.extra)


def binding_examples(
    genome: Genome, centres: Iterable[int], avoid: Iterable[tuple[int, int]], seed: int, bins: int = GC_BINS
) -> list[Example]:
    """Bound windows centred on ``centres`` (label ``1``) and GC-matched background windows at least
    :data:`MARGIN` bases from every one of ``avoid`` (label ``0``), each on a random strand. Windows
    that straddle two blocks of the held-out registry are left out before matching."""
    rng = np.random.default_rng(seed)
    positives = [e for c in sorted(set(centres)) if (e := centred_window(genome, c, "+", "1")) and e.split]
    if not positives:
        raise DataError(f"{genome.name}: no bound window lies on known sequence")
    pool = background_pool(genome, avoid, rng)
    positives, negatives = gc_matched(positives, pool, rng, bins)
    return [random_strand(e, rng) for e in positives + negatives]


def ctcf_peaks() -> list[tuple[int, int]]:
    """CTCF peaks on hg19 chr22 as 0-based half-open ``[start, end)``."""
    return sorted((r["_starts"], r["_ends"]) for r in hg19_table("CTCF"))


def tf_summits() -> list[int]:
    """0-based positions of the transcription-factor summits on hg19 chr22 (all factors, with repeats)."""
    rows = hg19_table("Top1000sites_TF")
    if any(r["_ends"] - r["_starts"] != 1 for r in rows):
        raise DataError("source hg19-annotation: Top1000sites_TF has summits wider than one base")
    return sorted(r["_starts"] for r in rows)


def build_ctcf_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """CTCF binding on hg19 chr22: windows centred on CTCF peaks vs GC-matched background."""
    peaks = ctcf_peaks()
    examples = binding_examples(hg19_chr22(), [(a + b) // 2 for a, b in peaks], peaks, seed)
    return write_dataset(out_dir, examples, CTCF_TASK, seed, per_class=per_class)


def build_tf_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Transcription-factor binding on hg19 chr22: windows centred on summits vs GC-matched background."""
    summits = tf_summits()
    avoid = [(p, p + 1) for p in summits] + ctcf_peaks()
    examples = binding_examples(hg19_chr22(), dedup_summits(summits).tolist(), avoid, seed)
    return write_dataset(out_dir, examples, TF_TASK, seed, per_class=per_class)


DATASETS: dict[str, tuple[str, Callable[..., dict[str, int]]]] = {
    "ctcf-human": (
        "CTCF binding, human hg19 chr22: 200 bp centred on CTCF peaks (1) vs GC-matched windows >= 1 kb from "
        "every peak (0)",
        build_ctcf_human,
    ),
    "tf-human": (
        "TF binding, human hg19 chr22: 200 bp centred on summits of 504 factors (1) vs GC-matched windows >= 1 kb "
        "from every summit and CTCF peak (0)",
        build_tf_human,
    ),
}
