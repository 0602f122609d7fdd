"""``af-human``: regression with numeric inputs (DNAGPT paper, the mRNA-expression task's shape).

The African allele frequency of each 1000 Genomes phase 1 SNP of hg19 chr22:50.3-51.0 Mb,
predicted from the 600 bp around it (reference allele at base 301) and its frequencies in
three other populations.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from ...errors import DataError
from ..sources import SOURCES, fetch
from .common import Example, write_dataset
from .genomes import hg19_chr22

FLANK = 300
AF_POPULATIONS = ("EUR_AF", "ASN_AF", "AMR_AF")  # the numeric inputs; AFR_AF is the target
AF_TASK = """# African allele frequency of 1000 Genomes phase 1 SNPs (hg19 chr22:50.3-51.0 Mb) from the
# 600 bp around the SNP (reference allele at base 301) and the frequencies in three other populations.
name = "af_human"
template = "mixed_regression"
species = "Homo sapiens"
sequence_column = "sequence"
label_column = "label"
number_columns = ["eur_af", "asn_af", "amr_af"]
"""


def read_vcf_frequencies(path: Path) -> list[tuple[int, str, dict[str, float]]]:
    """``(position, reference base, INFO allele frequencies)`` of the biallelic SNPs of a sites VCF.

    A population frequency absent from INFO counts as 0 (1000 Genomes phase 1 leaves zeros out).
    """
    out = []
    with gzip.open(path, "rt") as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith("#"):
                continue
            fields = line.split("\t", 8)
            if len(fields) < 8:
                raise DataError(f"{path}: line {number}: expected 8 or more tab-separated columns")
            pos, ref, alt, info = fields[1], fields[3], fields[4], fields[7]
            if len(ref) != 1 or len(alt) != 1 or ref not in "ACGT" or alt not in "ACGT":
                continue
            values = dict(kv.split("=", 1) for kv in info.split(";") if "=" in kv)
            try:
                freqs = {k: float(values.get(k, 0.0)) for k in ("AFR_AF", *AF_POPULATIONS)}
                out.append((int(pos), ref, freqs))
            except ValueError as e:
                raise DataError(f"{path}: line {number}: bad number in POS or INFO ({e})") from None
    return out


def build_af_human(out_dir: Path, seed: int = 0) -> dict[str, int]:
    """Write the af-human splits (each SNP in the split of its block); return their sizes."""
    genome = hg19_chr22()
    (vcf,) = fetch(SOURCES["chr22-variants"]).rglob("chr22.vcf.gz")
    examples = []
    for pos, ref, freqs in read_vcf_frequencies(vcf):
        p = pos - 1
        window = genome.window(p - FLANK, p + FLANK)
        if window is None or genome.seq[p] != ref:
            continue  # outside the human rows of the alignment, or not the hg19 base
        numbers = tuple(freqs[k] for k in AF_POPULATIONS)
        examples.append(Example(genome.name, p - FLANK, p + FLANK, "+", window, freqs["AFR_AF"], numbers))
    if not examples:
        raise DataError(f"{vcf}: no SNP falls in the human rows of hg19 chr22")
    columns = tuple(k.lower() for k in AF_POPULATIONS)
    return write_dataset(out_dir, examples, AF_TASK, seed, balance=False, extra_columns=columns)


DATASETS = {
    "af-human": (
        "regression with numbers: African allele frequency of 1000 Genomes chr22 SNPs from 600 bp and the "
        "EUR/ASN/AMR frequencies",
        build_af_human,
    ),
}
