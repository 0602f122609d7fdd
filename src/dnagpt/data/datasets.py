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
import re
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_write_gzip, atomic_write_text, remove_stale_temporaries
from .fasta import format_fasta, read_fasta_records
from .sources import SOURCES, cache_root, fetch

FLANK, BLOCK, EXCLUDED = 300, 500_000, (4_900_000, 6_100_000)
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def _task_toml(name: str, species: str, comment: str) -> str:
    """The task file of a signal dataset: yes/no classification, label 1 answered by ``A``."""
    return (
        f'# {comment}\nname = "{name}"\ntemplate = "classification"\nspecies = "{species}"\n'
        'sequence_column = "sequence"\nlabel_column = "label"\n\n[labels]\n"1" = "A"\n"0" = "N"\n'
    )


TIS_TASK = _task_toml(
    "tis_arabidopsis",
    "Arabidopsis thaliana",
    "Translation initiation sites in Arabidopsis thaliana (TAIR10 chr1), 600 bp, ATG removed.",
)


def _window(seq: str, pos: int, width: int, strand: str, excluded=None) -> tuple[str, str] | None:
    """``(signal, flanks)`` of the signal of ``width`` bases at ``pos`` (0-based, + strand), read on
    ``strand``: the signal itself and FLANK bases on each side of it, the signal removed."""
    if pos - FLANK < 0 or pos + width + FLANK > len(seq) or (excluded and excluded[0] <= pos < excluded[1]):
        return None
    if strand == "+":
        signal, left, right = seq[pos : pos + width], seq[pos - FLANK : pos], seq[pos + width : pos + width + FLANK]
    else:
        signal = seq[pos : pos + width].translate(_COMPLEMENT)[::-1]
        left = seq[pos + width : pos + width + FLANK].translate(_COMPLEMENT)[::-1]
        right = seq[pos - FLANK : pos].translate(_COMPLEMENT)[::-1]
    if (left + right).count("N") > 0.05 * 2 * FLANK or "N" in signal:
        return None
    return signal, left + right


def distance_to_nearest(sorted_positions: np.ndarray, where: np.ndarray) -> np.ndarray:
    """For each of ``where``, the distance to the nearest of ``sorted_positions`` (ascending, not empty)."""
    i = np.searchsorted(sorted_positions, where)
    left = sorted_positions[np.clip(i - 1, 0, len(sorted_positions) - 1)]
    right = sorted_positions[np.clip(i, 0, len(sorted_positions) - 1)]
    return np.minimum(np.abs(where - left), np.abs(right - where))


def _block_split(positions: list[int], block: int, rng: np.random.Generator) -> dict[int, str]:
    """Block number -> "train" / "dev" / "test", whole blocks shuffled and cut 6 : 1.5 : 2.5."""
    blocks = sorted({p // block for p in positions})
    order = rng.permutation(len(blocks))
    cut1, cut2 = round(0.6 * len(blocks)), round(0.75 * len(blocks))
    return {blocks[i]: ("train" if r < cut1 else "dev" if r < cut2 else "test") for r, i in enumerate(order)}


def _write_csv_gz(path: Path, header: list[str], rows: list) -> int:
    """Write a gzipped CSV (see :func:`~dnagpt.io.atomic_write_gzip`); return the number of rows."""
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    atomic_write_gzip(path, text.getvalue().encode())
    return len(rows)


def _signal_dataset(
    seq: str,
    positives: list[tuple[int, str]],
    motifs: tuple[str, ...],
    near: np.ndarray,
    rng: np.random.Generator,
    per_class: int,
    out_dir: Path,
    task: str,
    excluded=None,
) -> dict[str, int]:
    """Balanced windows around ``motifs``: annotated ``positives`` against the same motifs at least
    FLANK bases from every position in ``near``; whole blocks to train / dev / test; files written."""
    width = len(motifs[0])
    pos_examples = []
    for p, strand in positives:
        w = _window(seq, p, width, strand, excluded)
        if w and w[0] in motifs:
            pos_examples.append((p, strand, w[1]))
    if not pos_examples:
        raise DataError("no annotated signal falls in the sequence")
    # every occurrence of a motif on either strand, far from every annotated site, is a candidate negative
    candidates = sorted(
        (m.start(), strand)
        for strand, patterns in (("+", motifs), ("-", {x.translate(_COMPLEMENT)[::-1] for x in motifs}))
        for pattern in patterns
        for m in re.finditer(f"(?={pattern})", seq)
    )
    where = np.array([p for p, _ in candidates], dtype=np.int64)
    far = distance_to_nearest(near, where) >= FLANK
    negatives = []
    for i in rng.permutation(np.flatnonzero(far)):
        if len(negatives) >= len(pos_examples):
            break
        p, strand = candidates[i]
        if w := _window(seq, p, width, strand, excluded):
            negatives.append((p, strand, w[1]))
    take = min(per_class, len(pos_examples), len(negatives))
    examples = [(*pos_examples[i], 1) for i in rng.choice(len(pos_examples), take, replace=False)]
    examples += [(*negatives[i], 0) for i in rng.choice(len(negatives), take, replace=False)]
    split_of = _block_split([p for p, *_ in examples], BLOCK, rng)
    sizes = {}
    for split in ("train", "dev", "test"):
        rows = [(w, label, p + 1, strand) for p, strand, w, label in examples
                if split_of[p // BLOCK] == split and FLANK + width <= p % BLOCK < BLOCK - FLANK - width]  # fmt: skip
        rows.sort(key=lambda r: (r[2], r[3]))
        sizes[split] = _write_csv_gz(out_dir / f"{split}.csv.gz", ["sequence", "label", "position", "strand"], rows)
    atomic_write_text(out_dir / "task.toml", task)
    return sizes


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
    near = np.array(sorted(p for p, _ in starts))
    return _signal_dataset(seq, sorted(starts), ("ATG",), near, np.random.default_rng(seed), per_class, out_dir,
                           TIS_TASK, excluded=EXCLUDED)  # fmt: skip


# Polyadenylation signal hexamers: AATAAA and its common variants (Beaudoing et al. 2000; DeepGSR).
PAS_VARIANTS = ("AATAAA", "ATTAAA", "AGTAAA", "TATAAA", "CATAAA", "GATAAA", "AATATA", "AATACA", "AATAGA",
                "AAAAAG", "ACTAAA", "AATGAA")  # fmt: skip
PAS_WINDOW = 40  # a signal counts when it lies within this many bases upstream of an annotated transcript end


def hg19_chr22() -> str:
    """hg19 chr22 as one string (1-based position p is index p - 1); N where the alignment has no human row."""
    src = fetch(SOURCES["hg19-chr22-primates"])
    (maf,) = src.rglob("*.maf.gz")
    chrom = bytearray(b"N" * 51_304_566)
    for name, seq in maf_species_records(maf):
        start = int(name.split(":")[1].split("-")[0])
        chrom[start - 1 : start - 1 + len(seq)] = seq.upper().encode()
    return chrom.decode()


def _hg19_table(name: str) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("building the human datasets reads parquet: pip install pyarrow") from None
    (path,) = fetch(SOURCES["hg19-annotation"]).rglob(f"{name}.parquet")
    return [r for r in pq.read_table(path).to_pylist() if r["_labels"] == "chr22"]


def build_tis_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human TIS on hg19 chr22: GENCODE start codons vs other ATGs (see the module docstring)."""
    seq = hg19_chr22()
    starts = sorted({(r["_starts"] - 1, r["Strand"]) for r in _hg19_table("start_codons")})
    near = np.array([p for p, _ in starts])
    task = _task_toml("tis_human", "Homo sapiens", "Human translation initiation sites (hg19 chr22, GENCODE), 600 bp.")
    return _signal_dataset(seq, starts, ("ATG",), near, np.random.default_rng(seed), per_class, out_dir, task)


def _pas_dataset(out_dir: Path, motifs: tuple[str, ...], name: str, per_class: int, seed: int) -> dict[str, int]:
    seq = hg19_chr22()
    # transcript ends (alternative polyadenylation gives several per gene) and gene ends, 0-based
    ends = {
        (r["_ends"] - 1 if r["Strand"] == "+" else r["_starts"] - 1, r["Strand"]) for r in _hg19_table("transcripts")
    }
    ends |= {(r["_starts"] - 1, r["Strand"]) for r in _hg19_table("tes")}
    ends = sorted(ends)
    reverse = {m.translate(_COMPLEMENT)[::-1] for m in motifs}
    positives = set()
    for end, strand in ends:  # the signal nearest the gene end, within PAS_WINDOW bases upstream of it
        if strand == "+":
            hits = [p for p in range(end - PAS_WINDOW, end - 5) if seq[p : p + 6] in motifs]
            if hits:
                positives.add((max(hits), "+"))
        else:
            hits = [p for p in range(end + 1, end + PAS_WINDOW - 5) if seq[p : p + 6] in reverse]
            if hits:
                positives.add((min(hits), "-"))
    near = np.array(sorted(p for p, _ in ends))
    what = f"Human polyadenylation signals ({', '.join(motifs) if len(motifs) < 3 else 'all hexamer variants'}), "
    task = _task_toml(name, "Homo sapiens", what + "hg19 chr22 transcript ends (GENCODE), 600 bp, hexamer removed.")
    return _signal_dataset(seq, sorted(positives), motifs, near, np.random.default_rng(seed), per_class, out_dir, task)


def build_pas_aataaa_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human PAS (AATAAA) near hg19 chr22 transcript ends vs AATAAA elsewhere."""
    return _pas_dataset(out_dir, ("AATAAA",), "pas_aataaa_human", per_class, seed)


def build_pas_all_human(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Human PAS (all hexamer variants) near hg19 chr22 transcript ends vs the same hexamers elsewhere."""
    return _pas_dataset(out_dir, PAS_VARIANTS, "pas_all_human", per_class, seed)


AF_POPULATIONS = ("EUR_AF", "ASN_AF", "AMR_AF")  # the numeric inputs; AFR_AF is the target
AF_BLOCK = 25_000
AF_TASK = """# African allele frequency of 1000 Genomes phase 1 SNPs (hg19 chr22:50.3-51.0 Mb) from the
# 600 bp around the SNP (reference allele at base 301) and the frequencies in three other populations.
name = "af_human"
template = "mixed_regression"
species = "Homo sapiens"
sequence_column = "sequence"
label_column = "afr_af"
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
    """SNPs of the 1000 Genomes chr22 sites VCF with their 600 bp context: regression of the African
    allele frequency on the sequence and the European, East Asian and American frequencies.
    Whole 25 kb blocks go to train / dev / test (6 : 1.5 : 2.5); SNPs closer than 300 bp to a block
    edge are dropped, so no test window overlaps a training window."""
    seq = hg19_chr22()
    (vcf,) = fetch(SOURCES["chr22-variants"]).rglob("chr22.vcf.gz")
    examples = []
    for pos, ref, freqs in read_vcf_frequencies(vcf):
        p = pos - 1
        window = seq[p - FLANK : p + FLANK]
        if seq[p] != ref or window.count("N") > 0.05 * len(window):
            continue  # outside the human rows of the alignment, or not the hg19 base
        if FLANK <= p % AF_BLOCK < AF_BLOCK - FLANK:
            examples.append((window, freqs["AFR_AF"], *(freqs[k] for k in AF_POPULATIONS), pos))
    if not examples:
        raise DataError(f"{vcf}: no SNP falls in the human rows of hg19 chr22")
    split_of = _block_split([e[-1] - 1 for e in examples], AF_BLOCK, np.random.default_rng(seed))
    header = ["sequence", "afr_af", "eur_af", "asn_af", "amr_af", "position"]
    sizes = {}
    for split in ("train", "dev", "test"):
        rows = [e for e in examples if split_of[(e[-1] - 1) // AF_BLOCK] == split]
        sizes[split] = _write_csv_gz(out_dir / f"{split}.csv.gz", header, rows)
    atomic_write_text(out_dir / "task.toml", AF_TASK)
    return sizes


# The multi-species corpus: (species, source, file pattern inside it).
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
    for species, source, pattern in CORPUS:
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
            atomic_write_gzip(out_dir / name, format_fasta(records).encode())
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
    "tis-human": ("translation initiation sites, human hg19 chr22 (GENCODE), 600 bp", build_tis_human),
    "pas-aataaa-human": ("polyadenylation signals AATAAA, human hg19 chr22, 600 bp", build_pas_aataaa_human),
    "pas-all-human": (
        "polyadenylation signals, all 12 hexamer variants, human hg19 chr22, 600 bp",
        build_pas_all_human,
    ),
    "af-human": (
        "regression with numbers: African allele frequency of 1000 Genomes SNPs (chr22) from sequence "
        "and EUR/ASN/AMR frequencies",
        build_af_human,
    ),
    "corpus-multispecies": (
        "pretraining corpus: human, mouse, cow, fly, worm, Arabidopsis, E. coli, yeast (about 100 Mbp)",
        build_corpus_multispecies,
    ),
}


def build_dataset(name: str, out: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Build dataset ``name`` (see ``DATASETS``) into ``out`` (default: CACHE/datasets/NAME);
    returns where it is and the size of each part."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    where = Path(out) if out else cache_root() / "datasets" / name
    remove_stale_temporaries(where)  # left by an earlier build that was killed mid-write
    return where, DATASETS[name][1](where)
