"""The genomes and annotations that labelled datasets are cut from, read from fetched sources.

Each genome is named ``SOURCE/RECORD`` (the key of the held-out registry), and the same name is
used by the pretraining corpus, so that one rule keeps dev and test regions out of both.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pyarrow.parquet as pq

from ...errors import DataError
from ..fasta import read_fasta_records
from ..sources import SOURCES, fetch
from .common import Genome

HG19_CHR22_LENGTH = 51_304_566


def maf_species_records(path: Path, prefix: str = "Hsap.") -> list[tuple[str, int, str]]:
    """The gap-free rows of one species in a MAF alignment, one ``(chromosome, 0-based start, bases)``
    per block (plus-strand rows only)."""
    records = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("s ") and line.split()[1].startswith(prefix):
                _, src, start, _size, strand, _, text = line.split()
                if strand != "+":
                    continue
                records.append((f"chr{src.split('.', 1)[1]}", int(start), text.replace("-", "")))
    return records


@functools.cache
def hg19_chr22() -> Genome:
    """hg19 chr22 (index p - 1 is 1-based position p); N where the alignment has no human row."""
    source = "hg19-chr22-primates"
    (maf,) = fetch(SOURCES[source]).rglob("*.maf.gz")
    chrom = bytearray(b"N" * HG19_CHR22_LENGTH)
    for _, start, seq in maf_species_records(maf):
        chrom[start : start + len(seq)] = seq.upper().encode()
    return Genome(f"{source}/chr22", chrom.decode())


def hg19_table(name: str) -> list[dict]:
    """The chr22 rows of one GENCODE hg19 parquet table of the ``hg19-annotation`` source
    (1-based inclusive ``_starts`` / ``_ends``; ``Strand``)."""
    found = list(fetch(SOURCES["hg19-annotation"]).rglob(f"{name}.parquet"))
    if len(found) != 1:
        raise DataError(f"source hg19-annotation: expected one {name}.parquet, found {len(found)}")
    return [r for r in pq.read_table(found[0]).to_pylist() if r["_labels"] == "chr22"]


@functools.cache
def tair10_chr1() -> Genome:
    """Arabidopsis thaliana TAIR10 chromosome 1 (source ``arabidopsis-chr1``)."""
    source = "arabidopsis-chr1"
    (fasta,) = fetch(SOURCES[source]).rglob("AthaTAIR10_chr1_GCF_*_genomic.fna.gz")
    ((name, seq),) = read_fasta_records(fasta)
    return Genome(f"{source}/{name.split()[0]}", seq.upper())


def tair10_chr1_gtf() -> list[list[str]]:
    """The GTF records of TAIR10 chromosome 1, each as its nine tab-separated fields."""
    (gtf,) = fetch(SOURCES["arabidopsis-chr1"]).rglob("AthaTAIR10_chr1.gtf.gz")
    with gzip.open(gtf, "rt") as fh:
        return [f for line in fh if not line.startswith("#") and len(f := line.rstrip("\n").split("\t")) == 9]
