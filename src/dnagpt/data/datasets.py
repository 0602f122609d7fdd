"""Labelled datasets built from fetched sources (`dnagpt data build NAME`).

``tis-arabidopsis``: translation initiation sites following DeepGSR and the DNAGPT
paper (S1.4.1), from TAIR10 chr1 and its RefSeq GTF (source ``arabidopsis-chr1``).
Positives are annotated start codons; negatives are ATGs on either strand at
least 300 bp from any annotated start codon. Each example is 300 bp upstream + 300 bp
downstream on the coding strand, the ATG itself removed; classes are balanced. The
chromosome is cut into 500 kb blocks and whole blocks go to train, dev or test
(6 : 1.5 : 2.5), so no test window overlaps a training window; 4.9-6.1 Mb is left out
because 5-6 Mb is in the bundled pretraining corpus.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import atomic_write, atomic_write_text
from .fasta import read_fasta_records
from .sources import SOURCES, fetch

FLANK, BLOCK, EXCLUDED = 300, 500_000, (4_900_000, 6_100_000)
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
TIS_TASK = """# Translation initiation sites in Arabidopsis thaliana (TAIR10 chr1), 600 bp, ATG removed.
name = "tis_arabidopsis"
template = "classification"
species = "Arabidopsis thaliana"
sequence_column = "sequence"
label_column = "label"

[labels]
"1" = "A"
"0" = "N"
"""


def build_tis_arabidopsis(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Write ``train/dev/test.csv.gz`` and ``task.toml`` to ``out_dir``; return the split sizes."""
    src = fetch(SOURCES["arabidopsis-chr1"])
    (fasta,) = src.rglob("AthaTAIR10_chr1_GCF_*_genomic.fna.gz")
    (gtf,) = src.rglob("AthaTAIR10_chr1.gtf.gz")
    seq = read_fasta_records(fasta)[0][1]
    starts = set()
    with gzip.open(gtf, "rt") as fh:
        for line in fh:
            f = line.split("\t")
            if len(f) > 6 and f[2] == "start_codon" and int(f[4]) - int(f[3]) == 2:
                starts.add((int(f[3]) - 1, f[6]))  # 0-based first base of the codon on the + strand
    if not starts:
        raise DataError(f"{gtf}: no start_codon features")
    rng = np.random.default_rng(seed)

    def window(pos: int, strand: str) -> str | None:
        if pos - FLANK < 0 or pos + 3 + FLANK > len(seq) or EXCLUDED[0] <= pos < EXCLUDED[1]:
            return None
        if strand == "+":
            codon, left, right = seq[pos : pos + 3], seq[pos - FLANK : pos], seq[pos + 3 : pos + 3 + FLANK]
        else:
            codon = seq[pos : pos + 3].translate(_COMPLEMENT)[::-1]
            left = seq[pos + 3 : pos + 3 + FLANK].translate(_COMPLEMENT)[::-1]
            right = seq[pos - FLANK : pos].translate(_COMPLEMENT)[::-1]
        if codon != "ATG" or (left + right).count("N") > 0.05 * 2 * FLANK:
            return None
        return left + right

    positives = [(p, s, w) for p, s in sorted(starts) if (w := window(p, s))]
    start_positions = np.array(sorted(p for p, _ in starts))
    negatives = []
    while len(negatives) < len(positives):
        p = int(rng.integers(FLANK, len(seq) - FLANK - 3))
        strand = "+" if seq[p : p + 3] == "ATG" else "-" if seq[p : p + 3] == "CAT" else None
        if strand and np.abs(start_positions - p).min() >= FLANK and (w := window(p, strand)):
            negatives.append((p, strand, w))
    take = min(per_class, len(positives))
    examples = [(*positives[i], 1) for i in rng.choice(len(positives), take, replace=False)]
    examples += [(*negatives[i], 0) for i in rng.choice(len(negatives), take, replace=False)]
    blocks = sorted({p // BLOCK for p, *_ in examples})
    order = rng.permutation(len(blocks))
    cut1, cut2 = round(0.6 * len(blocks)), round(0.75 * len(blocks))
    split_of = {blocks[i]: ("train" if r < cut1 else "dev" if r < cut2 else "test") for r, i in enumerate(order)}
    sizes = {}
    for split in ("train", "dev", "test"):
        rows = [(w, label, p + 1, strand) for p, strand, w, label in examples
                if split_of[p // BLOCK] == split and FLANK + 3 <= p % BLOCK < BLOCK - FLANK - 3]  # fmt: skip
        rows.sort(key=lambda r: (r[2], r[3]))
        text = io.StringIO()
        csv.writer(text).writerows([["sequence", "label", "chr1_position", "strand"], *rows])
        payload = text.getvalue().encode()

        def write(tmp: Path, payload: bytes = payload) -> None:
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(payload)

        atomic_write(out_dir / f"{split}.csv.gz", write)
        sizes[split] = len(rows)
    atomic_write_text(out_dir / "task.toml", TIS_TASK)
    return sizes


# The multi-species corpus: (species, source, file pattern inside it, largest number of bases to take).
CORPUS = [
    ("Homo sapiens", "hg19-chr22-primates", "*.maf.gz", None),
    ("Homo sapiens", "augustus-genomes", "tutorial/data/chr[345].*M.fa", None),
    ("Mus musculus", "augustus-genomes", "genomes/mm10.fa", None),
    ("Bos taurus", "augustus-genomes", "genomes/bosTau8.fa", None),
    ("Drosophila melanogaster", "augustus-genomes", "tutorial/data/chr2R.fa", None),
    ("Caenorhabditis elegans", "worm-chrX", "*.fa.gz", None),
    ("Arabidopsis thaliana", "arabidopsis-chr1", "*_genomic.fna.gz", None),
    ("Escherichia coli", "bacteria", "E.Coli/references/MG1655-K12.fasta.gz", None),
    ("Saccharomyces cerevisiae", "yeast-chr1", "ScerR64_I_GCF_*_genomic.fna.gz", None),
]


def maf_species_records(path: Path, prefix: str = "Hsap.") -> list[tuple[str, str]]:
    """The gap-free sequence of one species' rows in a MAF alignment, one record per block."""
    records = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("s ") and line.split()[1].startswith(prefix):
                _, src, start, size, strand, _, text = line.split()
                if strand != "+":
                    continue
                seq = text.replace("-", "")
                chrom = src.split(".", 1)[1]
                records.append((f"chr{chrom}:{int(start) + 1}-{int(start) + int(size)}", seq))
    return records


def build_corpus_multispecies(out_dir: Path) -> dict[str, int]:
    """FASTA files of nine species and a ``manifest.toml`` for ``dnagpt pretrain`` (``[data] manifest``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = ["# Multi-species pretraining corpus built by `dnagpt data build corpus-multispecies`.", ""]
    sizes: dict[str, int] = {}
    for species, source, pattern, _ in CORPUS:
        where = fetch(SOURCES[source])
        files = sorted(p for p in where.rglob("*") if p.is_file() and p.match(pattern))
        if not files:
            raise DataError(f"source {source}: no file matches {pattern}")
        for path in files:
            records = maf_species_records(path) if path.name.endswith(".maf.gz") else read_fasta_records(path)
            records = [(n, s) for n, s in records if len(s) >= 1000]
            if not records:
                continue
            name = f"{source}__{path.name.removesuffix('.gz')}".replace(".maf", ".fa") + ".gz"
            text = "".join(
                f">{n}\n" + "\n".join(s[i : i + 80] for i in range(0, len(s), 80)) + "\n" for n, s in records
            )

            def write(tmp: Path, payload: bytes = text.encode()) -> None:
                with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                    gz.write(payload)

            atomic_write(out_dir / name, write)
            manifest += ["[[genome]]", f'path = "{name}"', f'species = "{species}"', ""]
            sizes[species] = sizes.get(species, 0) + sum(len(s) for _, s in records)
    atomic_write_text(out_dir / "manifest.toml", "\n".join(manifest))
    return sizes


# name -> (what it is, builder)
DATASETS = {
    "tis-arabidopsis": (
        "translation initiation sites, Arabidopsis chr1, 600 bp, held-out chromosome blocks",
        build_tis_arabidopsis,
    ),
    "corpus-multispecies": (
        "pretraining corpus: human, mouse, cow, fly, worm, Arabidopsis, E. coli, yeast (about 100 Mbp)",
        build_corpus_multispecies,
    ),
}
