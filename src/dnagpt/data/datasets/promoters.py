"""Promoter recognition: does this window hold the core of a promoter, around a transcription start?

Label "1" (answer token ``A``): the window around an annotated transcription start site (TSS), read
on the transcript's strand. The TSS is the first base of a transcript (its 5' end); positions are
counted from the TSS, which is position 0, negative upstream and positive downstream, both ends
included. ``promoter-core-human`` takes -34..+35 (70 bp) and ``promoter-300-human`` -249..+50 (300 bp,
as GUE's prom_300 does) around the TSSs of GENCODE (hg19) transcripts on chr22 whose gene is
protein-coding or a long non-coding RNA; ``promoter-arabidopsis`` takes -249..+50 around the starts of
RefSeq (TAIR10) chr1 transcripts whose gene is protein-coding or a long non-coding / antisense RNA.
Transcripts that share a TSS give one example. Pseudogenes and small RNAs (tRNA, miRNA, snoRNA, ...)
are left out of the positives because their annotated 5' end is mostly not a promoter (processed
copies, or pieces cut out of a longer host transcript).

Label "0" (answer token ``N``): a window of the same length from the same chromosome, read on a
random strand, whose every base lies at least :data:`MIN_TSS_DISTANCE` (2 kb) from every annotated
transcript start of any kind (pseudogenes and small RNAs included), with at most 5 % N. Promoters are
often GC-rich (CpG islands), so a random window could be told apart by its GC content alone; the
negatives are therefore drawn to match the positives' GC content: the GC fraction (G+C among the
A/C/G/T bases) is cut into :data:`GC_BINS` equal bins and, inside every split and every bin, as many
negatives are drawn at random as there are positives, from windows all along the chromosome (no two
negatives overlap). Where a bin has too few candidates, positives of that bin are dropped at random, so
the two classes keep the same GC distribution. A window whose bases repeat an earlier one (a segmental
duplication) is dropped, so no sequence appears twice.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..regions import BLOCK, SPLITS, block_split
from .common import MAX_N_FRACTION, Example, Genome, gc_fraction, task_toml, write_dataset
from .genomes import hg19_chr22, hg19_table, tair10_chr1, tair10_chr1_gtf

MIN_TSS_DISTANCE = 2000  # every base of a negative is at least this far from every annotated TSS
# Equal-width bins of GC fraction inside which negatives match positives. Bins 0.05 wide (20) left
# Arabidopsis positives 0.005 poorer in GC than their negatives, enough for GC alone to score 54 %;
# at 0.02 it scores 51 %, and the human GC-rich bins still find enough candidates.
GC_BINS = 50
YES_NO = {"1": "A", "0": "N"}  # label -> answer token of the classification
CORE = (34, 35)  # (bases upstream, bases downstream) of the TSS: -34..+35, 70 bp
PROM_300 = (249, 50)  # -249..+50, 300 bp, as GUE's prom_300

# GENCODE gene types whose transcripts start at a polymerase II promoter of their own. Pseudogenes,
# small RNAs (often cut from an intron or a pseudo-copy) and immunoglobulin segments (joined by
# recombination) are left out of the positives but still kept away from the negatives.
HUMAN_PROMOTER_GENE_TYPES = frozenset(
    {"protein_coding", "lincRNA", "antisense", "processed_transcript", "sense_intronic", "sense_overlapping"}
)
ARABIDOPSIS_PROMOTER_GENE_TYPES = frozenset({"protein_coding", "lncRNA", "antisense_RNA"})

# GC-rich windows are rare in bulk genome but common among promoters (CpG islands); letting candidate
# negatives start every length / POOL_SHIFTS bases instead of tiling gives the top GC bins this many
# times more to draw from, so fewer GC-rich positives have to be dropped for want of a match.
POOL_SHIFTS = 4

_GC_BYTES = np.frombuffer(b"GC", dtype=np.uint8)
_ACGT_BYTES = np.frombuffer(b"ACGT", dtype=np.uint8)


def tss_window(genome: Genome, tss: int, strand: str, upstream: int, downstream: int) -> Example | None:
    """The positive example of the TSS at 0-based position ``tss`` (+ strand coordinates) of a
    transcript on ``strand``: bases -``upstream``..+``downstream`` around it (TSS = 0, both ends
    included), read 5' to 3' on the transcript's strand, so the TSS is always at index ``upstream``.
    None when the window runs off the sequence or has too many N."""
    if strand == "+":
        start, end = tss - upstream, tss + downstream + 1
    else:  # upstream of a minus-strand transcript lies at higher + strand coordinates
        start, end = tss - downstream, tss + upstream + 1
    bases = genome.window(start, end, strand)
    return None if bases is None else Example(genome.name, start, end, strand, bases, "1")


def gc_bin(gc: np.ndarray | float, bins: int = GC_BINS) -> np.ndarray:
    """The bin (0 .. ``bins`` - 1) of each GC fraction; a fraction of exactly 1 goes in the top bin."""
    return np.minimum((np.asarray(gc) * bins).astype(np.int64), bins - 1)


def far_from_tss(sorted_tss: np.ndarray, starts: np.ndarray, ends: np.ndarray, distance: int) -> np.ndarray:
    """For each window ``[start, end)``, whether every TSS in ``sorted_tss`` (ascending) lies at least
    ``distance`` bases from every base of it."""
    # the TSSs strictly between start - distance and end - 1 + distance are the ones too close
    lo = np.searchsorted(sorted_tss, starts - distance, side="right")
    hi = np.searchsorted(sorted_tss, ends - 1 + distance, side="left")
    return hi <= lo


def _splits_of(name: str, starts: np.ndarray, length: int) -> np.ndarray:
    """The split of each window ``[start, start + length)`` of sequence ``name``, "" when it
    straddles two blocks (such windows never reach a dataset)."""
    first, last = starts // BLOCK, (starts + length - 1) // BLOCK
    names = {b: block_split(name, b) for b in set(first.tolist())}
    out = np.array([names[b] for b in first.tolist()], dtype=object)
    out[first != last] = ""
    return out


def pool_step(length: int) -> int:
    """How far apart candidate negatives start: the largest divisor of ``length`` at most a
    :data:`POOL_SHIFTS`-th of it (a divisor, so window counts add up from whole chunks)."""
    return max(d for d in range(1, max(1, length // POOL_SHIFTS) + 1) if length % d == 0)


def candidate_negatives(
    genome: Genome, length: int, sorted_tss: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``length``-base windows of ``genome`` starting every :func:`pool_step` bases (from a random
    offset) with at most 5 % N, inside one block and at least :data:`MIN_TSS_DISTANCE` from every TSS
    of ``sorted_tss``: their starts, GC fractions and splits. Neighbouring candidates overlap; the
    draw (:func:`gc_matched_examples`) never takes two that do."""
    codes = np.frombuffer(genome.seq.encode(), dtype=np.uint8)
    step = pool_step(length)
    offset = int(rng.integers(step))
    n = (len(codes) - offset) // step
    # counts per step-long chunk; a window is POOL_SHIFTS-or-so consecutive chunks
    chunks = codes[offset : offset + n * step].reshape(n, step)
    gc_sum = np.concatenate([[0], np.cumsum(np.isin(chunks, _GC_BYTES).sum(axis=1))])
    known_sum = np.concatenate([[0], np.cumsum(np.isin(chunks, _ACGT_BYTES).sum(axis=1))])
    per_window = length // step
    gc, known = gc_sum[per_window:] - gc_sum[:-per_window], known_sum[per_window:] - known_sum[:-per_window]
    starts = offset + step * np.arange(len(gc), dtype=np.int64)
    keep = (length - known <= MAX_N_FRACTION * length) & (known > 0)
    if len(sorted_tss):
        keep &= far_from_tss(sorted_tss, starts, starts + length, MIN_TSS_DISTANCE)
    starts, fraction = starts[keep], gc[keep] / known[keep]
    splits = _splits_of(genome.name, starts, length)
    inside = splits != ""
    return starts[inside], fraction[inside], splits[inside]


def gc_matched_examples(
    genome: Genome, positives: list[Example], sorted_tss: np.ndarray, seed: int, bins: int = GC_BINS
) -> list[Example]:
    """``positives`` and, for each, one negative ("0") of the same length and split and GC bin, drawn
    from :func:`candidate_negatives` on a random strand. Where a (split, bin) has fewer candidates than
    positives, that many positives of it are dropped at random, so both classes keep one GC
    distribution in every split. Windows with the same bases as an earlier one are dropped first
    (segmental duplications would otherwise put one sequence in two splits)."""
    rng = np.random.default_rng(seed)
    if not positives:
        raise DataError(f"{genome.name}: no transcript start gives a usable window")
    length = positives[0].end - positives[0].start
    seen: set[str] = set()
    unique = []
    for e in positives:
        if e.split is not None and e.sequence not in seen:
            seen.add(e.sequence)
            unique.append(e)
    starts, gc, splits = candidate_negatives(genome, length, sorted_tss, rng)
    step = pool_step(length)
    taken: set[int] = set()  # starts of the negatives drawn so far
    bin_of = gc_bin(gc, bins)
    wanted: dict[tuple[str, int], list[Example]] = {}
    for e in unique:
        wanted.setdefault((str(e.split), int(gc_bin(gc_fraction(e.sequence), bins))), []).append(e)
    examples: list[Example] = []
    for split in SPLITS:
        for b in range(bins):
            group = wanted.get((split, b), [])
            if not group:
                continue
            drawn = []
            for i in rng.permutation(np.flatnonzero((splits == split) & (bin_of == b))).tolist():
                if len(drawn) == len(group):
                    break
                start = int(starts[i])
                if any(start + j * step in taken for j in range(1 - length // step, length // step)):
                    continue  # it would share bases with a negative already drawn
                strand = "+" if rng.random() < 0.5 else "-"
                bases = genome.window(start, start + length, strand)
                if bases is not None and bases not in seen:
                    seen.add(bases)
                    taken.add(start)
                    drawn.append(Example(genome.name, start, start + length, strand, bases, "0"))
            kept = sorted(rng.choice(len(group), len(drawn), replace=False).tolist())
            examples += [group[i] for i in kept] + drawn
    return examples


def promoter_examples(
    genome: Genome, tss: list[tuple[int, str]], all_tss: list[int], upstream: int, downstream: int, seed: int
) -> list[Example]:
    """The examples of a promoter dataset: a window around each of ``tss`` (0-based position, strand;
    duplicates give one example) and GC-matched negatives far from every position of ``all_tss``."""
    positives = [e for p, s in sorted(set(tss)) if (e := tss_window(genome, p, s, upstream, downstream))]
    near = np.array(sorted(set(all_tss) | {p for p, _ in tss}), dtype=np.int64)
    return gc_matched_examples(genome, positives, near, seed)


def _comment(what: str, upstream: int, downstream: int, positives: str) -> str:
    """The task file's one-line definition of the labels."""
    return (
        f'{what}. Label 1 ("A"): bases -{upstream}..+{downstream} ({upstream + downstream + 1} bp; TSS = 0) around '
        f'{positives}, read on the transcript\'s strand; label 0 ("N"): windows of the same length from the same '
        f"chromosome on a random strand, every base at least {MIN_TSS_DISTANCE} bp from every annotated "
        f"transcript start, at most 5 % N, drawn to match the positives' GC content ({GC_BINS} bins) in every "
        "split (positives of a bin with too few such windows are dropped)."
    )


def _human_tss() -> tuple[list[tuple[int, str]], list[int]]:
    """The 0-based TSSs of hg19 chr22 GENCODE transcripts of promoter gene types (with their strand),
    and the positions of every transcript and gene start of any type."""
    transcripts = hg19_table("transcripts")
    # 1-based inclusive: a + strand transcript starts at _starts, a - strand one at _ends
    starts = [
        (r["_starts"] - 1 if r["Strand"] == "+" else r["_ends"] - 1, r["Strand"], r["gene_type"]) for r in transcripts
    ]
    positives = [(p, s) for p, s, kind in starts if kind in HUMAN_PROMOTER_GENE_TYPES]
    everything = [p for p, _, _ in starts] + [r["_starts"] - 1 for r in hg19_table("tss")]
    return positives, everything


_HUMAN_POSITIVES = "the TSSs of GENCODE (hg19) chr22 transcripts of protein-coding and long non-coding genes"


def build_promoter_core_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human core promoters (hg19 chr22): -34..+35 around GENCODE TSSs vs GC-matched windows far from any TSS."""
    positives, everything = _human_tss()
    genome = hg19_chr22()
    task = task_toml(
        "promoter-core-human", "Homo sapiens", _comment("Human core promoters", *CORE, _HUMAN_POSITIVES), YES_NO
    )
    examples = promoter_examples(genome, positives, everything, *CORE, seed)
    return write_dataset(out_dir, examples, task, seed, per_class=per_class)


def build_promoter_300_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human promoters (hg19 chr22): -249..+50 around GENCODE TSSs vs GC-matched windows far from any TSS."""
    positives, everything = _human_tss()
    genome = hg19_chr22()
    task = task_toml(
        "promoter-300-human", "Homo sapiens", _comment("Human promoters", *PROM_300, _HUMAN_POSITIVES), YES_NO
    )
    examples = promoter_examples(genome, positives, everything, *PROM_300, seed)
    return write_dataset(out_dir, examples, task, seed, per_class=per_class)


def _gtf_attribute(attributes: str, key: str) -> str | None:
    m = re.search(rf'(?:^|;\s*){key} "([^"]*)"', attributes)
    return m.group(1) if m else None


def _arabidopsis_tss() -> tuple[list[tuple[int, str]], list[int]]:
    """The 0-based first bases of TAIR10 chr1 transcripts of promoter gene types (with their strand),
    and the start of every transcript and gene of any type."""
    gtf = tair10_chr1_gtf()
    kind = {_gtf_attribute(f[8], "gene_id"): _gtf_attribute(f[8], "gene_biotype") for f in gtf if f[2] == "gene"}
    # GTF coordinates are 1-based inclusive: a + strand feature starts at column 4, a - strand one at column 5
    firsts = [(int(f[3]) - 1 if f[6] == "+" else int(f[4]) - 1, f[6], f) for f in gtf if f[2] in ("transcript", "gene")]
    wanted = ARABIDOPSIS_PROMOTER_GENE_TYPES
    positives = [
        (p, s) for p, s, f in firsts if f[2] == "transcript" and kind.get(_gtf_attribute(f[8], "gene_id")) in wanted
    ]
    if not positives:
        raise DataError("source arabidopsis-chr1: its GTF has no transcripts of protein-coding or lncRNA genes")
    return positives, [p for p, _, _ in firsts]


def build_promoter_arabidopsis(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Arabidopsis promoters (TAIR10 chr1): -249..+50 around transcript starts vs GC-matched windows far from any."""
    positives, everything = _arabidopsis_tss()
    genome = tair10_chr1()
    task = task_toml(
        "promoter-arabidopsis",
        "Arabidopsis thaliana",
        _comment(
            "Arabidopsis thaliana promoters",
            *PROM_300,
            "the first base of RefSeq (TAIR10) chr1 transcripts of protein-coding, lncRNA and antisense-RNA genes",
        ),
        YES_NO,
    )
    examples = promoter_examples(genome, positives, everything, *PROM_300, seed)
    return write_dataset(out_dir, examples, task, seed, per_class=per_class)


DATASETS = {
    "promoter-core-human": (
        "core promoters, human hg19 chr22: -34..+35 around GENCODE TSSs (protein-coding and lncRNA genes) vs "
        "same-chromosome windows >= 2 kb from any TSS, GC-matched, 70 bp",
        build_promoter_core_human,
    ),
    "promoter-300-human": (
        "promoters, human hg19 chr22: -249..+50 around GENCODE TSSs (protein-coding and lncRNA genes) vs "
        "same-chromosome windows >= 2 kb from any TSS, GC-matched, 300 bp",
        build_promoter_300_human,
    ),
    "promoter-arabidopsis": (
        "promoters, Arabidopsis TAIR10 chr1: -249..+50 around RefSeq transcript starts (protein-coding and lncRNA "
        "genes) vs same-chromosome windows >= 2 kb from any TSS, GC-matched, 300 bp",
        build_promoter_arabidopsis,
    ),
}
