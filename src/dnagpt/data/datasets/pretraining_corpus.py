"""``corpus-multispecies``: the pretraining corpus, with every dev and test region of every
labelled dataset cut out (the held-out registry of :mod:`dnagpt.data.regions`)."""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ...io import atomic_write_gzip, atomic_write_text
from ..fasta import format_fasta, read_fasta_records
from ..regions import cut_to_training
from ..sources import SOURCES, fetch
from .genomes import maf_species_records

# (species, source, file pattern inside it)
CORPUS = [
    ("Homo sapiens", "hg19-chr22-primates", "*.maf.gz"),
    ("Homo sapiens", "augustus-genomes", "tutorial/data/chr[345].*M.fa"),
    ("Mus musculus", "augustus-genomes", "genomes/mm10.fa"),
    ("Bos taurus", "augustus-genomes", "genomes/bosTau8.fa"),
    ("Drosophila melanogaster", "augustus-genomes", "tutorial/data/chr2R.fa"),
    ("Caenorhabditis elegans", "worm-chrX", "*.fa.gz"),
    ("Arabidopsis thaliana", "arabidopsis-chr1", "*_genomic.fna.gz"),
    ("Escherichia coli", "bacteria", "E.Coli/references/MG1655-K12.fasta.gz"),
    ("Saccharomyces cerevisiae", "yeast-chr1", "ScerR64_I_GCF_*_genomic.fna.gz"),
]


def genome_pieces(source: str, path: Path) -> list[tuple[str, int, str]]:
    """``(SOURCE/SEQUENCE, 0-based offset, bases)`` of a FASTA file or of a MAF's human rows."""
    if path.name.endswith(".maf.gz"):
        return [(f"{source}/{chrom}", start, seq.upper()) for chrom, start, seq in maf_species_records(path)]
    return [(f"{source}/{name.split()[0]}", 0, seq) for name, seq in read_fasta_records(path)]


def build_corpus_multispecies(out_dir: Path) -> dict[str, int]:
    """FASTA files of nine species (training blocks only) and a ``manifest.toml`` for ``dnagpt pretrain``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = ["# Multi-species pretraining corpus built by `dnagpt data build corpus-multispecies`.",
                "# Dev and test blocks of the held-out registry (dnagpt.data.regions) are cut out.", ""]  # fmt: skip
    sizes: dict[str, int] = {}
    for species, source, pattern in CORPUS:
        where = fetch(SOURCES[source])
        files = sorted(p for p in where.rglob("*") if p.is_file() and p.match(pattern))
        if not files:
            raise DataError(f"source {source}: no file matches {pattern}")
        for path in files:
            records = cut_to_training(genome_pieces(source, path))
            if not records:
                continue
            name = f"{source}__{path.name.removesuffix('.gz')}".replace(".maf", ".fa") + ".gz"
            atomic_write_gzip(out_dir / name, format_fasta(records).encode())
            manifest += ["[[genome]]", f'path = "{name}"', f'species = "{species}"', ""]
            sizes[species] = sizes.get(species, 0) + sum(len(s) for _, s in records)
    atomic_write_text(out_dir / "manifest.toml", "\n".join(manifest))
    return sizes


DATASETS = {
    "corpus-multispecies": (
        "pretraining corpus: human, mouse, cow, fly, worm, Arabidopsis, E. coli, yeast (dev/test blocks cut out)",
        build_corpus_multispecies,
    ),
}
