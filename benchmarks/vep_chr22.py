"""Zero-shot variant effect scores on real human variants: do they tell rare from common?

Variants: the 1000 Genomes phase 1 sites on hg19 chr22:50.3-51.0 Mb (source ``chr22-variants``).
As GPN evaluates, rare = seen once (AC = 1 of 2,184 chromosomes), common = minor allele frequency
above 5 %; purifying selection keeps damaging alleles rare, so a useful score ranks rare ones as
more damaging. Each score is read in a direction fixed beforehand (rare = lower likelihood, larger
embedding change, more conserved site, less mutable context) and scored by AUROC with a bootstrap
standard error, and the odds ratio at a 10 % false-positive rate. SNVs and indels are apart.
Every row is scored on the same SNVs; the main subset keeps those whose high-confidence ancestral
allele (upper-case AA) is REF, so that ALT is the new allele whose effect is being asked about.

Scores compared (SNVs):
  * each model given with --models, through ``dnagpt vep`` (likelihood ratio, embedding distance; a
    GPN-MSA model reads the primate alignment beside the sequence, and gives its likelihood ratio);
  * each model's shape with random weights (what the architecture gives untrained);
  * conservation: how many of chimp, gorilla and orangutan carry the human reference base
    (read from the chr22 primate alignment, source ``hg19-chr22-primates``); where REF is the
    derived allele this reads "primates differ", so it is honest only on ALT-derived sites;
  * mutability: how often the reference base in its trinucleotide context differs from the chimp
    base, as the ALT base, on the rest of chr22 (human-chimp divergence as a mutation-rate proxy);
  * CpG: whether the SNV is a transition at a CpG site.
Derived alleles (ancestral allele AA known): Spearman correlation between the derived allele's
frequency and its likelihood ratio.

    python benchmarks/vep_chr22.py [--models dnagpt-small-multispecies gpn=runs/gpn/model ...]
                                   [--controls NAME ...] [--out benchmarks/vep]

Writes OUT/results.json, OUT/report.md, OUT/roc_snv.png and one score table per model.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import torch

from dnagpt.data.datasets.genomes import hg19_chr22
from dnagpt.data.fasta import format_fasta
from dnagpt.data.sources import SOURCES, cache_root, fetch
from dnagpt.evaluation.variant_effects import roc_figure, separation
from dnagpt.io import atomic_write_text
from dnagpt.models import build_model, load_model
from dnagpt.vep.run import VepOptions, score_vcf

HERE = Path(__file__).resolve().parent
REGION = (50_200_000, 51_100_000)  # around the VCF's sites, for the conservation lookup
PRIMATES = ("Ptro", "Ggor", "Ppyg")
COMPLEMENT = str.maketrans("ACGT", "TGCA")


def variant_sites() -> list[dict]:
    """Biallelic sites of the chr22 VCF labelled rare (1) or common (0); others left out."""
    from cyvcf2 import VCF

    (path,) = fetch(SOURCES["chr22-variants"]).rglob("chr22.vcf.gz")
    sites = []
    for record in VCF(str(path)):
        if len(record.ALT) != 1:
            continue
        ac, an = record.INFO.get("AC"), record.INFO.get("AN")
        af = ac / an  # the exact count: AF is rounded in the file
        label = 1 if ac == 1 else 0 if 0.05 < af < 0.95 else None
        if label is None:
            continue
        aa = record.INFO.get("AA") or "."  # upper case: high-confidence ancestral call; lower: low confidence
        sites.append(dict(pos=record.POS, ref=record.REF, alt=record.ALT[0], id=record.ID or ".", label=label,
                          af=af, ancestral=aa if aa in ("A", "C", "G", "T") else None))  # fmt: skip
    return sites


def genome_fasta() -> Path:
    """hg19 chr22 as a FASTA file in the cache (N where the alignment has no human row)."""
    path = cache_root() / "vep" / "hg19-chr22.fa"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, format_fasta([("chr22", hg19_chr22().seq)]))
    return path


def write_vcf(sites: list[dict], path: Path) -> None:
    header = ("##fileformat=VCFv4.2\n##contig=<ID=22,length=51304566>\n"
              '##INFO=<ID=RARE,Number=1,Type=Integer,Description="1: AC = 1; 0: MAF > 5%">\n'
              "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")  # fmt: skip
    rows = [f"22\t{s['pos']}\t{s['id']}\t{s['ref']}\t{s['alt']}\t.\t.\tRARE={s['label']}\n" for s in sites]
    atomic_write_text(path, header + "".join(rows))


def primate_alignment() -> tuple[dict[int, tuple[str, ...]], dict[tuple[str, str], float]]:
    """Per 1-based chr22 position in REGION, the chimp/gorilla/orangutan bases; and, from the rest of
    chr22, the rate at which a human trinucleotide's middle base differs from chimp as each base."""
    (maf,) = fetch(SOURCES["hg19-chr22-primates"]).rglob("*.maf.gz")
    columns: dict[int, tuple[str, ...]] = {}
    seen: dict[str, int] = {}
    changed: dict[tuple[str, str], int] = {}
    block: dict[str, tuple[int, str]] = {}

    def finish() -> None:
        if "Hsap" not in block:
            return
        start, human = block["Hsap"]
        human = human.upper()
        others = [block.get(p, (0, "-" * len(human)))[1].upper() for p in PRIMATES]
        keep = np.frombuffer(human.encode(), dtype=np.uint8) != ord("-")
        cols = np.flatnonzero(keep)
        bases = "".join(human[c] for c in cols)
        chimp = "".join(others[0][c] for c in cols)
        inside = REGION[0] <= start + 1 and start + len(bases) <= REGION[1]
        if REGION[0] <= start + len(bases) and start + 1 <= REGION[1]:
            for i, c in enumerate(cols):
                columns[start + 1 + i] = tuple(o[c] for o in others)
        if inside:
            return  # the rates come from the rest of the chromosome
        for i in range(1, len(bases) - 1):
            context = bases[i - 1 : i + 2]
            if "N" in context or chimp[i] not in "ACGT":
                continue
            seen[context] = seen.get(context, 0) + 1
            if chimp[i] != bases[i]:
                changed[(context, chimp[i])] = changed.get((context, chimp[i]), 0) + 1

    with gzip.open(maf, "rt") as fh:
        for line in fh:
            if line.startswith("a"):
                finish()
                block = {}
            elif line.startswith("s "):
                _, src, start, _size, strand, _, text = line.split()
                if strand == "+":
                    block[src.split(".")[0]] = (int(start), text)
        finish()
    rates = {key: n / seen[key[0]] for key, n in changed.items()}
    return columns, rates


def baselines(sites: list[dict], chrom: str) -> dict[str, np.ndarray]:
    """Scores that know only the site: conservation, mutability of the context, CpG transition."""
    columns, rates = primate_alignment()
    conservation, mutability, cpg = [], [], []
    transitions = {("C", "T"), ("T", "C"), ("G", "A"), ("A", "G")}
    for s in sites:
        pos, ref, alt = s["pos"], s["ref"], s["alt"]
        aligned = columns.get(pos)
        conservation.append(np.nan if aligned is None else sum(b == ref for b in aligned))
        context = chrom[pos - 2 : pos + 1]
        mutability.append(-rates.get((context, alt), 0.0))
        is_cpg = (ref == "C" and chrom[pos] == "G") or (ref == "G" and chrom[pos - 2] == "C")
        cpg.append(-float(is_cpg and (ref, alt) in transitions))
    return {"conservation (3 primates)": np.array(conservation, dtype=float),
            "mutability (trinucleotide, from human-chimp)": np.array(mutability),
            "CpG transition": np.array(cpg)}  # fmt: skip


def model_scores(name: str, model, vcf: Path, genome: Path, out: Path, sites: list[dict]) -> dict[str, np.ndarray]:
    """The model's ``dnagpt vep`` table for ``vcf``, reused from an earlier run only if it holds
    exactly these sites in this order."""
    import pyarrow.parquet as pq

    table_path = out / f"scores-{name}.parquet"
    if table_path.exists():
        saved = pq.read_table(table_path, columns=["pos", "ref", "alt"]).to_pydict()
        if list(zip(saved["pos"], saved["ref"], saved["alt"], strict=True)) != [
            (s["pos"], s["ref"], s["alt"]) for s in sites
        ]:
            table_path.unlink()  # scored on another site list
    if not table_path.exists():
        alignment = None
        if model.aligned_species:  # GPN-MSA: the primate alignment the chr22 sequence comes from
            (alignment,) = fetch(SOURCES["hg19-chr22-primates"]).rglob("*.maf.gz")
        score_vcf(
            model, name, vcf, genome, table_path, VepOptions(batch_size=32, alignment=alignment and str(alignment))
        )
    return pq.read_table(table_path).to_pydict()


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["dnagpt-small-multispecies"],
                        help="model names or folders; NAME=PATH labels a folder")  # fmt: skip
    parser.add_argument("--controls", nargs="*", metavar="NAME",
                        help="models given a random-weights copy (untrained architecture); default all")  # fmt: skip
    parser.add_argument("--out", default=str(HERE / "vep"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    chrom = hg19_chr22().seq
    every = variant_sites()
    sites = [s for s in every if chrom[s["pos"] - 1 : s["pos"] - 1 + len(s["ref"])] == s["ref"]]
    dropped = len(every) - len(sites)  # REF where the alignment has no human base (N in our chr22)
    genome = genome_fasta()
    vcf = out / "variants.vcf"
    write_vcf(sites, vcf)
    snv = np.array([len(s["ref"]) == len(s["alt"]) == 1 for s in sites])
    labels = np.array([s["label"] for s in sites])
    alt_derived = np.array([s["ancestral"] == s["ref"] for s in sites])
    ref_derived = np.array([s["ancestral"] == s["alt"] for s in sites])

    models = {}
    for spec in args.models:
        label, _, path = spec.rpartition("=")
        models[label or Path(path).name] = load_model(path)
    for name, model in [(n, m) for n, m in models.items() if args.controls is None or n in args.controls]:
        torch.manual_seed(0)
        models[f"{name} shape, random weights"] = build_model(model.config).eval()
    scores: dict[str, np.ndarray] = {}
    derived = []
    for name, model in models.items():
        table = model_scores(name.replace(" ", "_").replace(",", ""), model, vcf, genome, out, sites)
        column = "llr" if "llr" in table else "masked_llr"
        likelihood = np.array(table[column], dtype=float)
        scores[f"{name}: -{column}"] = -likelihood
        if "embedding_distance" in table:  # GPN's own procedure gives the likelihood score alone
            scores[f"{name}: embedding distance"] = np.array(table["embedding_distance"], dtype=float)
        known = (alt_derived | ref_derived) & snv
        af = np.array([s["af"] for s in sites])
        daf = np.where(alt_derived, af, 1 - af)
        derived_llr = np.where(alt_derived, likelihood, -likelihood)
        derived.append(dict(score=f"{name}: {column} of the derived allele", sites=int(known.sum()),
                            spearman_with_daf=spearman(daf[known], derived_llr[known])))  # fmt: skip
    for name, values in baselines([s for s, m in zip(sites, snv, strict=True) if m], chrom).items():
        scores[name] = np.full(len(sites), np.nan)
        scores[name][snv] = values
    # one subset for every row: SNVs that every score covers
    covered = snv & np.all([np.isfinite(v) for v in scores.values()], axis=0)
    subsets = {"ALT derived": covered & alt_derived, "all": covered}
    rows, curves = [], {}
    for subset, mask in subsets.items():
        for name, values in scores.items():
            rows.append(dict(score=name, variants=f"SNV, {subset}", **separation(labels[mask], values[mask])))
            if subset == "ALT derived":
                curves[name] = (labels[mask], values[mask])
    indel = ~snv
    if labels[indel].sum() and (1 - labels[indel]).sum():  # both classes present
        for name, values in scores.items():
            if np.isfinite(values[indel]).all():
                rows.append(dict(score=name, variants="indel", **separation(labels[indel], values[indel])))
    half = 256  # the windows' reach around a site
    n_fraction = [chrom[max(s["pos"] - 1 - half, 0) : s["pos"] - 1 + half].count("N") / (2 * half)
                  for s, m in zip(sites, covered, strict=True) if m]  # fmt: skip
    results = dict(
        region="hg19 chr22:50.3-51.0 Mb", rare="AC = 1 of 2,184", common="MAF > 5 % (AC/AN)",
        sites_in_vcf=len(every), dropped_reference_n=dropped,
        snvs=dict(rare=int(labels[snv].sum()), common=int((1 - labels[snv]).sum())),
        indels=dict(rare=int(labels[indel].sum()), common=int((1 - labels[indel]).sum())),
        subsets={name: dict(rare=int(labels[m].sum()), common=int((1 - labels[m]).sum()))
                 for name, m in subsets.items()},
        window_n_fraction=float(np.mean(n_fraction)), rows=rows, derived=derived,
    )  # fmt: skip
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    roc_figure(curves, out / "roc_snv.png", "rare (AC = 1) vs common (MAF > 5 %) SNVs, ALT derived")
    atomic_write_text(out / "report.md", report(results))
    print(report(results))


def _ratio(row: dict) -> str:
    if np.isfinite(row["odds_ratio"]):
        return f"{row['odds_ratio']:.2f}"
    return f"n/a ({100 * row['odds_ratio_fpr']:.0f} % reached)"


def report(results: dict) -> str:
    sub = results["subsets"]
    lines = [
        "# Rare vs common variants, hg19 chr22:50.3-51.0 Mb (1000 Genomes phase 1)",
        "",
        f"Sites in the VCF slice (rare AC = 1, or common MAF > 5 %, biallelic): {results['sites_in_vcf']:,}; "
        f"{results['dropped_reference_n']:,} left out because our chr22 (read from the primate alignment) "
        f"has N at their REF. SNVs: {results['snvs']['rare']:,} rare, {results['snvs']['common']:,} common; "
        f"indels: {results['indels']['rare']:,} rare, {results['indels']['common']:,} common"
        + (" (no rare indel: indels are not evaluated)" if not results["indels"]["rare"] else "")
        + ". "
        "Every row is scored on the same SNVs: those every score covers. **ALT derived** (the main test): "
        f"the high-confidence ancestral allele is REF, so ALT is the new allele ({sub['ALT derived']['rare']:,} "
        f"rare, {sub['ALT derived']['common']:,} common); **all**: every covered SNV "
        f"({sub['all']['rare']:,} rare, {sub['all']['common']:,} common), where a common variant's REF is often "
        "the derived allele, which flatters conservation. The windows around these sites are "
        f"{100 * results['window_n_fraction']:.1f} % N on average. Written by `python benchmarks/vep_chr22.py`. "
        "Each score is read in a direction fixed beforehand; AUROC 0.5 = no separation; +- = bootstrap "
        "standard error; OR = odds ratio at 10 % false positives (n/a where a score with few values "
        "cannot reach 10 %).",
        "",
        "| score | AUROC, ALT derived | OR at 10 % FPR | AUROC, all SNVs |",
        "| --- | ---: | ---: | ---: |",
    ]
    main_rows = [r for r in results["rows"] if r["variants"] == "SNV, ALT derived"]
    every = {r["score"]: r for r in results["rows"] if r["variants"] == "SNV, all"}
    for r in sorted(main_rows, key=lambda r: -r["auroc"]):
        a = every[r["score"]]
        lines.append(f"| {r['score']} | {r['auroc']:.3f} +- {r['auroc_se']:.3f} | {_ratio(r)} | "
                     f"{a['auroc']:.3f} +- {a['auroc_se']:.3f} |")  # fmt: skip
    indels = [r for r in results["rows"] if r["variants"] == "indel"]
    if indels:
        lines += ["", "| indels | AUROC | OR at 10 % FPR |", "| --- | ---: | ---: |"]
        lines += [f"| {r['score']} | {r['auroc']:.3f} +- {r['auroc_se']:.3f} | {_ratio(r)} |" for r in indels]
    lines += ["", "| derived alleles (high-confidence ancestral) | SNVs | Spearman with derived allele frequency |",
              "| --- | ---: | ---: |"]  # fmt: skip
    for d in results["derived"]:
        lines.append(f"| {d['score']} | {d['sites']:,} | {d['spearman_with_daf']:+.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
