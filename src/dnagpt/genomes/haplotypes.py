"""Phased haplotypes as allele matrices: read from VCF, simulated with msprime, split, written as text.

A :class:`Haplotypes` holds ``alleles[h, s]`` (0 = reference, 1 = alternative) for haplotype ``h``
at SNP ``s``, with the chromosome and each SNP's position, identifier and bases, so that generated
haplotypes can be written back as a phased VCF (:func:`write_vcf`). For the language model a
haplotype is written as the string of its alleles' bases (``"ACG..."``, one letter per SNP), as in
the paper (S1.4.2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.regions import parse_region
from ..errors import DataError
from ..io import atomic_write

GENOTYPES = np.array(["0|0", "0|1", "1|0", "1|1"])  # by 2 * first allele + second allele
SIMULATED_CHROM = "1"  # the chromosome name written for msprime's simulated sites


@dataclass
class Haplotypes:
    """Biallelic SNP alleles of phased haplotypes."""

    alleles: np.ndarray  # (haplotypes, snps) uint8, 0 = REF, 1 = ALT
    positions: np.ndarray  # (snps,) 1-based positions
    ref: list[str]  # reference base of each SNP
    alt: list[str]  # alternative base of each SNP
    names: list[str]  # one per haplotype, "SAMPLE_1" / "SAMPLE_2"
    source: str = ""  # where the haplotypes came from
    chrom: str = ""  # chromosome of every SNP as the source names it ("" = unknown: a file of an older dnagpt)
    ids: list[str] | None = None  # identifier of each SNP (rs number), "." where there is none

    def __post_init__(self) -> None:
        self.alleles = np.asarray(self.alleles, dtype=np.uint8)
        self.positions = np.asarray(self.positions, dtype=np.int64)
        n, m = self.alleles.shape
        if self.ids is None:
            self.ids = ["."] * m
        lengths = {len(self.positions), len(self.ref), len(self.alt), len(self.ids)}
        if lengths != {m} or len(self.names) != n:
            raise DataError(f"{self.source}: {n} x {m} alleles do not match the site and haplotype lists")

    @property
    def n_haplotypes(self) -> int:
        """Number of haplotypes (rows)."""
        return self.alleles.shape[0]

    @property
    def n_snps(self) -> int:
        """Number of SNPs (columns)."""
        return self.alleles.shape[1]

    def frequencies(self) -> np.ndarray:
        """Alternative allele frequency of each SNP."""
        return self.alleles.mean(axis=0)

    def subset(self, haplotypes=None, snps=None) -> Haplotypes:
        """The haplotypes and SNPs selected by index arrays (None = all)."""
        h = np.arange(self.n_haplotypes) if haplotypes is None else np.asarray(haplotypes)
        s = np.arange(self.n_snps) if snps is None else np.asarray(snps)
        ids = self.ids or []
        return Haplotypes(self.alleles[np.ix_(h, s)], self.positions[s], [self.ref[i] for i in s],
                          [self.alt[i] for i in s], [self.names[i] for i in h], self.source, self.chrom,
                          [ids[i] for i in s])  # fmt: skip

    def with_alleles(self, alleles: np.ndarray, names: list[str], source: str) -> Haplotypes:
        """New haplotypes over the same SNPs (e.g. generated ones)."""
        return Haplotypes(alleles, self.positions, self.ref, self.alt, names, source, self.chrom, self.ids)

    # ------------------------------------------------------------------ text
    def to_texts(self) -> list[str]:
        """Each haplotype as the bases of its alleles, one letter per SNP."""
        bases = np.array([list(self.ref), list(self.alt)])  # (2, snps)
        return ["".join(bases[row, np.arange(self.n_snps)]) for row in self.alleles]

    def parse_text(self, text: str) -> np.ndarray | None:
        """Alleles of one generated haplotype, or None when its length or any letter does not fit the SNPs."""
        if len(text) != self.n_snps:
            return None
        letters = np.frombuffer(text.encode(), dtype="S1").astype(str)
        is_ref, is_alt = letters == np.array(self.ref), letters == np.array(self.alt)
        if not np.all(is_ref | is_alt):
            return None
        return is_alt.astype(np.uint8)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` file (atomically)."""
        meta = json.dumps({"ref": self.ref, "alt": self.alt, "names": self.names, "source": self.source,
                           "chrom": self.chrom, "ids": self.ids})  # fmt: skip

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, alleles=self.alleles, positions=self.positions, meta=np.array(meta))

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> Haplotypes:
        """Read a file written by :meth:`save` (older ones lack the chromosome and SNP ids)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                return cls(z["alleles"], z["positions"], meta["ref"], meta["alt"], meta["names"], meta["source"],
                           meta.get("chrom", ""), meta.get("ids"))  # fmt: skip
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{path}: not a haplotype file written by dnagpt ({e})") from None


def read_vcf(
    paths: list[str | Path],
    samples: list[str] | None = None,
    region: str | None = None,
    exclude: tuple[str, ...] = (),
) -> Haplotypes:
    """Biallelic SNPs of phased VCF/BCF files over the same sites, samples side by side (needs cyvcf2).

    ``samples`` keeps only those samples (each must be in some file), ``exclude`` drops these;
    ``region`` (``CHR:START-END``) keeps only SNPs there, without needing an index.
    Multi-allelic sites and indels are skipped.
    Unphased, missing or non-diploid genotypes, a position given twice, several chromosomes without
    a region, and records the reader cannot parse are errors naming the file, position and sample.
    """
    try:
        from cyvcf2 import VCF  # optional: the genomes extra
    except ImportError:
        raise DataError("reading VCF needs cyvcf2: pip install 'dnagpt[genomes]'") from None
    where = parse_region(region) if region else None
    blocks, names, sites, found, chroms = [], [], None, set(), []
    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"{path}: no such VCF file")
        try:
            vcf = VCF(str(path))
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable VCF/BCF file ({e})") from None
        wanted = np.isin(vcf.samples, samples) if samples is not None else np.ones(len(vcf.samples), bool)
        keep = np.flatnonzero(wanted & ~np.isin(vcf.samples, list(exclude)))
        found |= {vcf.samples[i] for i in keep}
        here, rows, chrom, last = [], [], None, -1
        records = iter(vcf)
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except Exception as e:  # cyvcf2 / htslib raise plain exceptions on malformed records
                raise DataError(f"{path}: malformed record after position {last} ({e})") from None
            if where and (record.CHROM != where[0] or not where[1] <= record.POS <= where[2]):
                continue
            if chrom is not None and record.CHROM != chrom:
                raise DataError(f"{path}: SNPs on {chrom} and {record.CHROM}; choose one with --region CHR:START-END")
            chrom = record.CHROM
            if len(record.ALT) != 1 or not record.is_snp:
                continue  # an indel may share a SNP's position; only SNPs must be one per site
            if record.POS == last:
                raise DataError(f"{path}: a SNP at position {record.POS} appears twice (a split multi-allelic "
                                "site?); give one SNP record per site")  # fmt: skip
            last = record.POS
            gt = record.genotype.array()[keep]
            if gt.shape[1] != 3:
                raise DataError(f"{path}: position {record.POS}: ploidy {gt.shape[1] - 1}; give diploid genotypes")
            missing = np.flatnonzero((gt[:, :2] < 0).any(axis=1))
            if len(missing):
                raise DataError(f"{path}: position {record.POS}, sample {vcf.samples[keep[missing[0]]]}: missing or "
                                "haploid genotype; give phased diploid genotypes")  # fmt: skip
            unphased = np.flatnonzero(gt[:, 2] == 0)
            if len(unphased):
                raise DataError(f"{path}: position {record.POS}, sample {vcf.samples[keep[unphased[0]]]}: unphased "
                                "genotype (a/b); give phased genotypes (a|b), e.g. from SHAPEIT or Beagle")  # fmt: skip
            here.append((record.POS, record.REF, record.ALT[0], record.ID or "."))
            rows.append(gt[:, :2].reshape(-1).astype(np.uint8))  # sample 1 hap 1, sample 1 hap 2, ...
        if sites is not None and ([site[:3] for site in here] != [site[:3] for site in sites] or chrom != chroms[0]):
            raise DataError(f"{path}: its SNPs differ from those of {paths[0]}; give files over the same sites")
        sites, chroms = sites or here, [*chroms, chrom]
        blocks.append(np.array(rows, dtype=np.uint8).reshape(len(rows), 2 * len(keep)).T)
        names += [f"{vcf.samples[i]}_{k}" for i in keep for k in (1, 2)]
        vcf.close()
    absent = sorted(set(samples or []) - found)
    if absent:
        raise DataError(f"{paths[0]}: samples not in the VCF: {', '.join(absent[:10])}")
    if not sites:
        raise DataError(f"{paths[0]}: no biallelic SNP{' in ' + region if region else ''}")
    pos, ref, alt, ids = zip(*sites, strict=True)
    source = " + ".join(Path(p).name for p in paths) + (f" {region}" if region else "")
    return Haplotypes(np.vstack(blocks), np.array(pos), list(ref), list(alt), names, source, chroms[0], list(ids))


def select_snps(haps: Haplotypes, n_snps: int, min_maf: float = 0.01, start: int = 0) -> Haplotypes:
    """A dense run: the first ``n_snps`` SNPs at or after position ``start`` whose minor allele
    frequency (over all haplotypes given) is at least ``min_maf``."""
    freq = haps.frequencies()
    keep = np.flatnonzero((np.minimum(freq, 1 - freq) >= min_maf) & (haps.positions >= start))
    if len(keep) < n_snps:
        raise DataError(f"{haps.source}: only {len(keep)} SNPs with MAF >= {min_maf} after {start}; "
                        f"{n_snps} asked for")  # fmt: skip
    return haps.subset(snps=keep[:n_snps])


def split_samples(haps: Haplotypes, held_out: float, seed: int = 0) -> tuple[Haplotypes, Haplotypes]:
    """(training, held-out): whole samples (both haplotypes of a person) go to one side."""
    samples = sorted({n.rsplit("_", 1)[0] for n in haps.names})
    rng = np.random.default_rng(seed)
    out = set(rng.choice(samples, max(1, round(held_out * len(samples))), replace=False).tolist())
    is_out = np.array([n.rsplit("_", 1)[0] in out for n in haps.names])
    return haps.subset(np.flatnonzero(~is_out)), haps.subset(np.flatnonzero(is_out))


def simulate(n_samples: int, length: float = 1e6, seed: int = 1, population_size: float = 10_000,
             recombination_rate: float = 1e-8, mutation_rate: float = 1.25e-8) -> Haplotypes:  # fmt: skip
    """Diploid samples from the coalescent with recombination (msprime), biallelic SNPs only.

    A constant-size population with human-like rates: a stand-in whose true process is known,
    to check the generative models apart from real data.
    """
    try:
        import msprime  # optional: the genomes extra
    except ImportError:
        raise DataError("simulating needs msprime: pip install 'dnagpt[genomes]'") from None
    ts = msprime.sim_ancestry(n_samples, sequence_length=length, population_size=population_size,
                              recombination_rate=recombination_rate, random_seed=seed)  # fmt: skip
    ts = msprime.sim_mutations(ts, rate=mutation_rate, random_seed=seed, model=msprime.JC69())
    rows, pos, ref, alt = [], [], [], []
    last = -1
    for variant in ts.variants():
        p = int(variant.site.position) + 1
        if len(variant.alleles) != 2 or p == last:
            continue
        rows.append(variant.genotypes.astype(np.uint8))
        pos.append(p)
        ref.append(variant.alleles[0])
        alt.append(variant.alleles[1])
        last = p
    names = [f"sim{i}_{k}" for i in range(n_samples) for k in (1, 2)]
    return Haplotypes(np.array(rows).T, np.array(pos), ref, alt, names, f"msprime seed {seed}", SIMULATED_CHROM)


def write_vcf(haps: Haplotypes, path: str | Path, prefix: str = "ART", note: str = "") -> int:
    """Write ``haps`` as a bgzip-compressed, phased VCF (atomically); returns the number of samples.

    Haplotypes ``2i`` and ``2i + 1`` become sample ``PREFIX_000(i+1)`` with genotype ``a|b``, at the
    chromosome, positions, SNP ids and REF/ALT bases of ``haps``. An odd last haplotype has no
    partner and is left out (a warning in the header says so). ``note`` is added to the header.
    """
    if not haps.chrom:
        raise DataError(f"{haps.source}: the chromosome of these SNPs is unknown (haplotypes prepared by an older "
                        "dnagpt); prepare the data again in a new work directory to write VCF files")  # fmt: skip
    from Bio.bgzf import BgzfWriter

    n = haps.n_haplotypes // 2
    width = max(4, len(str(n)))
    samples = [f"{prefix}_{i + 1:0{width}d}" for i in range(n)]
    pairs = haps.alleles[: 2 * n].astype(np.int64)
    codes = (2 * pairs[0::2] + pairs[1::2]).T  # (snps, samples)
    header = [
        "##fileformat=VCFv4.2",
        f"##source=dnagpt genomes{': ' + ' '.join(note.split()) if note else ''}",  # one line, no tabs
        f"##contig=<ID={haps.chrom}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype: two artificial haplotypes">',
    ]
    if haps.n_haplotypes % 2:
        header.append(f"##dnagpt_note=an odd number of haplotypes ({haps.n_haplotypes}): the last one is left out")
    genotypes = ["FORMAT", *samples] if n else []  # a single haplotype makes no sample: sites only
    header.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", *genotypes]))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as raw:
            out = BgzfWriter(fileobj=raw, mode="wb")
            out.write(("\n".join(header) + "\n").encode())
            for s in range(haps.n_snps):
                site = [haps.chrom, str(haps.positions[s]), haps.ids[s], haps.ref[s], haps.alt[s], ".", ".", "."]
                calls = ["GT", *GENOTYPES[codes[s]]] if n else []
                out.write(("\t".join([*site, *calls]) + "\n").encode())
            out.close()  # writes the end-of-file block

    atomic_write(path, write)
    return n
