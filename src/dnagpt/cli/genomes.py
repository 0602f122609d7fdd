"""``dnagpt genomes``: artificial human genomes (paper section 6)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..genomes.pipeline import STEPS, GenomesConfig, run_steps
from ..validation import build
from .registry import add_device_argument, command

_DEFAULTS = GenomesConfig()


def _genomes_args(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    p.add_argument("action", choices=list(STEPS),
                   help="prepare: haplotypes, split by sample; fit: fine-tune DNAGPT; generate: artificial "
                        "haplotypes from every model; evaluate: score them on held-out real ones; report: all "
                        "of these that are not done yet, then WORK/report.md with figures")  # fmt: skip
    p.add_argument("work", help="work directory; each step skips what is already there, so a rerun resumes")
    p.add_argument(
        "--source",
        default=None,
        choices=["1000g", "msprime", "vcf"],
        help="1000g (default): real 1000 Genomes EUR haplotypes, chr20 (shapeit4 example); msprime: simulated; "
        "vcf: your own phased VCF/BCF (--vcf)",
    )
    p.add_argument("--vcf", default="", help="your own phased VCF or BCF file (any chromosome or population)")
    p.add_argument("--samples", default="",
                   help="with --vcf: samples to keep, comma-separated or a file with one name per line")  # fmt: skip
    p.add_argument("--region", default="", help="with --vcf: CHR:START-END to read SNPs from, e.g. chr20:1-2000000")
    p.add_argument("--snps", type=int, default=d.n_snps, help="length of the dense SNP run")
    p.add_argument("--min-maf", type=float, default=d.min_maf, help="leave out SNPs rarer than this")
    p.add_argument("--held-out", type=float, default=d.held_out, help="fraction of samples kept for evaluation")
    p.add_argument("--pretrained", default=d.pretrained, help="model to fine-tune: shipped name, directory or .pth")
    p.add_argument("--epochs", type=float, default=d.epochs, help="fine-tuning epochs (best dev epoch kept)")
    p.add_argument("--lr", type=float, default=d.lr, help="fine-tuning peak learning rate")
    p.add_argument("--generate", type=int, default=d.n_generate, help="artificial haplotypes per model/temperature")
    p.add_argument("--temperatures", type=float, nargs="+", default=d.temperatures,
                   help="sampling temperatures of DNAGPT")  # fmt: skip
    p.add_argument("--models", nargs="+", default=["dnagpt", "independent", "markov", "li-stephens"],
                   help="generators to compare")  # fmt: skip
    p.add_argument(
        "--unconstrained",
        action="store_true",
        help="let DNAGPT draw any token, not only the two alleles of each SNP (more samples dropped)",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="sample split, fine-tuning and sampling seed")
    add_device_argument(p, "auto")


@command("genomes", "artificial human genomes: fine-tune on real haplotypes, generate, evaluate (paper section 6)",
         _genomes_args, group="evaluate")  # fmt: skip
def _genomes(args: argparse.Namespace) -> int:
    flags = {"source": "--source", "vcf": "--vcf", "samples": "--samples", "region": "--region",
             "n_snps": "--snps", "min_maf": "--min-maf", "held_out": "--held-out",
             "seed": "--seed", "pretrained": "--pretrained", "epochs": "--epochs", "lr": "--lr",
             "n_generate": "--generate", "temperatures": "--temperatures"}  # fmt: skip
    values = {field: getattr(args, flag.removeprefix("--").replace("-", "_")) for field, flag in flags.items()}
    values["source"] = args.source or ("vcf" if args.vcf else _DEFAULTS.source)
    values["samples"] = _sample_list(args.samples)
    cfg = build(GenomesConfig, {**values, "constrain": not args.unconstrained}, "dnagpt genomes", flags)
    run_steps(args.action, cfg, Path(args.work), args.models, args.device)
    return 0


def _sample_list(text: str) -> list[str]:
    """Sample names: a file with one per line, or names separated by commas."""
    if not text:
        return []
    path = Path(text)
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [name.strip() for name in text.split(",") if name.strip()]
