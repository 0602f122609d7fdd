"""Genomic signal recognition (GSR): is this motif occurrence a real signal? (DNAGPT paper S1.4.1,
after DeepGSR).

Positives are annotated sites carrying the motif (start codons for translation initiation sites,
TIS; polyadenylation hexamers just upstream of transcript ends, PAS). Negatives are the same motif
on either strand at least :data:`FLANK` bases from every annotated site. Each example is the
:data:`FLANK` bases upstream and downstream of the motif on its own strand, the motif itself
removed, so the model must read the context, not the motif.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import DataError
from .common import Example, Genome, distance_to_nearest, reverse_complement, task_toml, write_dataset
from .genomes import hg19_chr22, hg19_table, tair10_chr1, tair10_chr1_gtf

FLANK = 300  # bases on each side of the signal
YES_NO = {"1": "A", "0": "N"}  # label -> answer token of the classification


def signal_example(genome: Genome, pos: int, width: int, strand: str, label: int) -> Example | None:
    """The example of the ``width``-base signal at ``pos`` (0-based, + strand) read on ``strand``: the
    FLANK bases on each side of it, the signal removed; None off the sequence or with too many N."""
    start, end = pos - FLANK, pos + width + FLANK
    window = genome.window(start, end, strand)
    if window is None or "N" in window[FLANK : FLANK + width]:
        return None
    return Example(genome.name, start, end, strand, window[:FLANK] + window[FLANK + width :], label)


def signal_dataset(
    genome: Genome,
    positives: list[tuple[int, str]],
    motifs: tuple[str, ...],
    near: np.ndarray,
    out_dir: Path,
    task: str,
    per_class: int,
    seed: int,
) -> dict[str, int]:
    """Annotated ``positives`` (0-based position, strand) carrying one of ``motifs``, against the same
    motifs at least FLANK bases from every position in ``near``; files written, sizes returned."""
    rng = np.random.default_rng(seed)
    width = len(motifs[0])
    examples = []
    for p, strand in positives:
        e = signal_example(genome, p, width, strand, 1)
        if e and genome.window(p, p + width, strand) in motifs:
            examples.append(e)
    if not examples:
        raise DataError(f"{genome.name}: no annotated signal carries {', '.join(motifs)}")
    n_positive = len(examples)
    # every occurrence of a motif on either strand, far from every annotated site, is a candidate negative
    candidates = sorted(
        (m.start(), strand)
        for strand, patterns in (("+", motifs), ("-", {reverse_complement(x) for x in motifs}))
        for pattern in patterns
        for m in re.finditer(f"(?={pattern})", genome.seq)
    )
    where = np.array([p for p, _ in candidates], dtype=np.int64)
    far = np.flatnonzero(distance_to_nearest(near, where) >= FLANK)
    for i in rng.permutation(far):
        if len(examples) >= 3 * n_positive:  # enough for every split to be balanced
            break
        p, strand = candidates[i]
        if e := signal_example(genome, p, width, strand, 0):
            examples.append(e)
    return write_dataset(out_dir, examples, task, seed, per_class=per_class)


def build_tis_arabidopsis(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Arabidopsis TIS on TAIR10 chr1: annotated start codons vs other ATGs."""
    genome = tair10_chr1()
    starts = {(int(f[3]) - 1, f[6]) for f in tair10_chr1_gtf() if f[2] == "start_codon" and int(f[4]) - int(f[3]) == 2}
    if not starts:
        raise DataError("source arabidopsis-chr1: its GTF has no start_codon features")
    task = task_toml("tis_arabidopsis", "Arabidopsis thaliana", "Translation initiation sites in Arabidopsis "
                     "thaliana (TAIR10 chr1, RefSeq GTF) vs other ATGs, 600 bp, ATG removed.", YES_NO)  # fmt: skip
    near = np.array(sorted(p for p, _ in starts))
    return signal_dataset(genome, sorted(starts), ("ATG",), near, out_dir, task, per_class, seed)


def build_tis_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human TIS on hg19 chr22: GENCODE start codons vs other ATGs."""
    starts = sorted({(r["_starts"] - 1, r["Strand"]) for r in hg19_table("start_codons")})
    task = task_toml("tis_human", "Homo sapiens", "Human translation initiation sites (hg19 chr22, GENCODE) vs other "
                     "ATGs, 600 bp, ATG removed.", YES_NO)  # fmt: skip
    near = np.array([p for p, _ in starts])
    return signal_dataset(hg19_chr22(), starts, ("ATG",), near, out_dir, task, per_class, seed)


# Polyadenylation signal hexamers: AATAAA and its common variants (Beaudoing et al. 2000; DeepGSR).
PAS_VARIANTS = ("AATAAA", "ATTAAA", "AGTAAA", "TATAAA", "CATAAA", "GATAAA", "AATATA", "AATACA", "AATAGA",
                "AAAAAG", "ACTAAA", "AATGAA")  # fmt: skip
PAS_WINDOW = 40  # a signal counts when it lies within this many bases upstream of an annotated transcript end


def _pas_dataset(out_dir: Path, motifs: tuple[str, ...], name: str, per_class: int, seed: int) -> dict[str, int]:
    genome = hg19_chr22()
    seq = genome.seq
    # transcript ends (alternative polyadenylation gives several per gene) and gene ends, 0-based
    ends = {
        (r["_ends"] - 1 if r["Strand"] == "+" else r["_starts"] - 1, r["Strand"]) for r in hg19_table("transcripts")
    }
    ends |= {(r["_starts"] - 1, r["Strand"]) for r in hg19_table("tes")}
    reverse = {reverse_complement(m) for m in motifs}
    positives = set()
    for end, strand in sorted(ends):  # the signal nearest the transcript end, within PAS_WINDOW bases upstream
        if strand == "+":
            hits = [p for p in range(end - PAS_WINDOW, end - 5) if seq[p : p + 6] in motifs]
            if hits:
                positives.add((max(hits), "+"))
        else:
            hits = [p for p in range(end + 1, end + PAS_WINDOW - 5) if seq[p : p + 6] in reverse]
            if hits:
                positives.add((min(hits), "-"))
    near = np.array(sorted(p for p, _ in ends))
    what = ", ".join(motifs) if len(motifs) < 3 else "all 12 hexamer variants"
    task = task_toml(name, "Homo sapiens", f"Human polyadenylation signals ({what}) within {PAS_WINDOW} bp upstream "
                     "of hg19 chr22 transcript ends (GENCODE) vs the same hexamers elsewhere, 600 bp, hexamer "
                     "removed.", YES_NO)  # fmt: skip
    return signal_dataset(genome, sorted(positives), motifs, near, out_dir, task, per_class, seed)


def build_pas_aataaa_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human PAS (AATAAA) near hg19 chr22 transcript ends vs AATAAA elsewhere."""
    return _pas_dataset(out_dir, ("AATAAA",), "pas_aataaa_human", per_class, seed)


def build_pas_all_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human PAS (all hexamer variants) near hg19 chr22 transcript ends vs the same hexamers elsewhere."""
    return _pas_dataset(out_dir, PAS_VARIANTS, "pas_all_human", per_class, seed)


DATASETS = {
    "tis-arabidopsis": (
        "translation initiation sites, Arabidopsis TAIR10 chr1: annotated start codons vs other ATGs, 600 bp",
        build_tis_arabidopsis,
    ),
    "tis-human": ("translation initiation sites, human hg19 chr22: GENCODE start codons vs other ATGs, 600 bp",
                  build_tis_human),
    "pas-aataaa-human": (
        "polyadenylation signals, human chr22: AATAAA within 40 bp of a transcript end vs AATAAA elsewhere, 600 bp",
        build_pas_aataaa_human,
    ),
    "pas-all-human": (
        "polyadenylation signals, human chr22: 12 hexamer variants near transcript ends vs elsewhere, 600 bp",
        build_pas_all_human,
    ),
}  # fmt: skip
