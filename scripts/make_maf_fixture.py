"""Cut the primate alignment fixture (not run by CI): three real blocks of the human / chimp / gorilla /
orangutan chr22 alignment of Debian's maffilter-examples, moved 17,505,000 bases down so that a test
genome of 12 kb holds them, and the human chr22 FASTA they make (N where no block covers).

    python scripts/make_maf_fixture.py [--out tests/fixtures/primates_chr22]
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import pysam
from Bio import bgzf

from dnagpt.data.sources import SOURCES, fetch

BLOCKS = (19, 21, 23)  # 0-based block numbers: 555, 340 and 302 human bases; the last has a human gap
SHIFT, LENGTH = 17_505_000, 12_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "tests/fixtures/primates_chr22"
    parser.add_argument("--out", type=Path, default=default)
    args = parser.parse_args()
    (maf,) = fetch(SOURCES["hg19-chr22-primates"]).rglob("*.maf.gz")
    blocks, current = [], []
    with gzip.open(maf, "rt") as fh:
        for line in fh:
            if line.startswith("a"):
                if current:
                    blocks.append(current)
                current = []
            elif line.startswith("s "):
                current.append(line.split())
            if len(blocks) > max(BLOCKS):
                break
    text, genome = ["##maf version=1\n"], bytearray(b"N" * LENGTH)
    for number in BLOCKS:
        text.append("a\n")
        for _, src, start, size, strand, src_size, seq in blocks[number]:
            if src.startswith("Hsap."):
                start, src_size = str(int(start) - SHIFT), str(LENGTH)
                bases = seq.replace("-", "").upper().encode()
                genome[int(start) : int(start) + len(bases)] = bases
            text.append(f"s {src} {start} {size} {strand} {src_size} {seq}\n")
        text.append("\n")
    args.out.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out / "alignment.maf.gz", "wt") as fh:
        fh.write("".join(text))
    # bgzip with its index, so that dnagpt vep reads it in place (a plain-gzip FASTA cannot be)
    with bgzf.BgzfWriter(args.out / "chr22.fa.gz", "wb") as fh:
        fh.write((">chr22\n" + "\n".join(genome[i : i + 80].decode() for i in range(0, LENGTH, 80)) + "\n").encode())
    pysam.faidx(str(args.out / "chr22.fa.gz"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
