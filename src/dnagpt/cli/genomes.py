"""``dnagpt genomes``: artificial human genomes (paper section 6), one subcommand per step.

The first step stores the study's settings in WORK/config.json; every later step reads them, so an
option is given once. Options are stored settings only when the user passes them (their argparse
default is ``SUPPRESS``); ``--device``, ``--batch-size`` and ``--no-progress`` only change how one
command runs.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from ..genomes.pipeline import GENERATE_BATCH, MODELS, GenomesConfig, run_steps
from .registry import (
    add_batch_size_argument,
    add_device_argument,
    add_integrity_argument,
    add_precision_argument,
    add_progress_argument,
    add_verbosity_arguments,
    command,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

_DEFAULTS = GenomesConfig()

# stored setting -> the option that sets it
NAMES = {"source": "--source", "vcf": "--vcf", "samples": "--samples", "region": "--region", "n_snps": "--snps",
         "min_maf": "--min-maf", "held_out": "--held-out", "seed": "--seed", "pretrained": "--pretrained",
         "epochs": "--epochs", "lr": "--lr", "precision": "--precision", "models": "--models",
         "n_generate": "--generate", "temperatures": "--temperatures", "constrain": "--unconstrained"}  # fmt: skip

_KEEPS = ("Options left out keep the value stored in WORK/config.json by an earlier step; the defaults "
          "shown apply to a new work directory. A step's settings cannot change once it has written its "
          "output: use a new work directory for that.")  # fmt: skip

STEP_HELP = {
    "prepare": (
        "read real (or simulated) phased haplotypes, keep a run of SNPs, set people aside for evaluation",
        "Read phased haplotypes (1000 Genomes chr20 by default, msprime simulations or your own phased VCF), "
        "keep a dense run of SNPs and split the people into a training and a held-out set (both haplotypes "
        "of a person on one side). Writes WORK/data and WORK/config.json, the settings the later steps read.",
    ),
    "fit": (
        "fine-tune DNAGPT on the training haplotypes",
        "Fine-tune DNAGPT on the training haplotypes of WORK/data; the epoch that scores best on 10% of the "
        "training people is kept in WORK/dnagpt/best. Needs `prepare` first. A killed run resumes.",
    ),
    "generate": (
        "draw artificial haplotypes from DNAGPT and classical generators; write them as .npz and phased VCF",
        "Draw artificial haplotypes from the fine-tuned DNAGPT (needs `fit`) and from classical generators "
        "fitted on the same training haplotypes. Each set is written to WORK/generated as MODEL.npz (0/1 "
        "alleles) and MODEL.vcf.gz: a bgzip-compressed phased VCF at the real SNPs' chromosome, positions, "
        "ids and alleles, two artificial haplotypes per sample (ART_0001, ...; with an odd number the last "
        "haplotype is left out of the VCF).",
    ),
    "evaluate": (
        "score every generated set against the held-out real haplotypes",
        "Compare every generated set, and the training haplotypes themselves, with the held-out real "
        "haplotypes: principal components, allele frequencies, linkage (LD), distances between haplotypes "
        "and copies of training haplotypes. Writes WORK/evaluation.json.",
    ),
    "report": (
        "every step not done yet, then WORK/report.md with figures",
        "Run every step that WORK does not hold yet (prepare, fit, generate, evaluate), then write "
        "WORK/report.md with a table and figures. Takes the options of all steps.",
    ),
}


def _no_default(parser: argparse.ArgumentParser, *dests: str) -> None:
    """Leave these options out of the parsed arguments unless given (they are stored settings)."""
    for action in parser._actions:
        if action.dest in dests:
            action.default = argparse.SUPPRESS


def _prepare_options(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    g = p.add_argument_group("haplotypes (prepare)")
    g.add_argument("--source", choices=["1000g", "msprime", "vcf"],
                   help="where the haplotypes come from: 1000g: 1000 Genomes EUR haplotypes of chr20 from the "
                        "shapeit4 example (downloaded once); msprime: simulated with the coalescent; vcf: your "
                        f"own phased VCF or BCF (--vcf) (default {d.source}, or vcf with --vcf)")  # fmt: skip
    g.add_argument("--vcf", metavar="FILE",
                   help="your own phased VCF or BCF file (any chromosome, population or diploid species)")  # fmt: skip
    g.add_argument("--samples", metavar="NAMES",
                   help="with --vcf: the people to keep, comma-separated or a file with one sample name per "
                        "line (default: all)")  # fmt: skip
    g.add_argument("--region", metavar="CHR:START-END",
                   help="with --vcf: the stretch to read SNPs from, e.g. chr20:1-2000000 (default: the whole "
                        "file, which must then hold one chromosome)")  # fmt: skip
    g.add_argument("--snps", dest="n_snps", type=positive_int, metavar="N",
                   help=f"how many consecutive SNPs each haplotype covers, the first ones at or above --min-maf "
                        f"(default {d.n_snps})")  # fmt: skip
    g.add_argument(
        "--min-maf",
        type=non_negative_float,
        metavar="F",
        help=f"leave out SNPs whose minor allele frequency is below this (default {d.min_maf:g})",
    )
    g.add_argument("--held-out", type=positive_float, metavar="F",
                   help="fraction of the people set aside, both haplotypes each, to evaluate the generated "
                        f"haplotypes; no model sees them (default {d.held_out:g})")  # fmt: skip
    g.add_argument("--seed", type=non_negative_int,
                   help=f"random seed of the training/held-out split, of fine-tuning and of sampling "
                        f"(default {d.seed})")  # fmt: skip


def _fit_options(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    g = p.add_argument_group("fine-tuning (fit)")
    g.add_argument("--pretrained", metavar="MODEL",
                   help="the DNAGPT model to fine-tune: a shipped model's name, a model directory or a "
                        f"published .pth file (default {d.pretrained})")  # fmt: skip
    g.add_argument("--epochs", type=positive_float,
                   help="passes over the training haplotypes; the epoch that scores best on 10%% of the "
                        f"training people is kept (default {d.epochs:g})")  # fmt: skip
    g.add_argument("--lr", type=positive_float, help=f"peak learning rate of fine-tuning (default {d.lr:g})")
    add_precision_argument(g, d.precision)


def _generate_options(p: argparse.ArgumentParser) -> None:
    d = _DEFAULTS
    g = p.add_argument_group("artificial haplotypes (generate)")
    g.add_argument("--models", nargs="+", choices=MODELS, metavar="MODEL",
                   help="generators to compare: dnagpt (the fine-tuned model), independent (allele "
                        "frequencies only), markov (each allele given the 3 before it) and li-stephens "
                        "(a mosaic of training haplotypes) (default: all four)")  # fmt: skip
    g.add_argument("--generate", dest="n_generate", type=positive_int, metavar="N",
                   help="artificial haplotypes to draw from each generator, and from DNAGPT at each temperature "
                        f"(default {d.n_generate})")  # fmt: skip
    g.add_argument("--temperatures", type=positive_float, nargs="+", metavar="T",
                   help="DNAGPT's sampling temperatures: below 1 favours its likeliest haplotypes, above 1 adds "
                        f"diversity (default {' '.join(f'{t:g}' for t in d.temperatures)})")  # fmt: skip
    g.add_argument("--unconstrained", dest="constrain", action="store_const", const=False,
                   help="let DNAGPT draw any letters, not only the two alleles of each SNP (more haplotypes "
                        "come out malformed and are dropped)")  # fmt: skip
    add_batch_size_argument(g, GENERATE_BATCH, "haplotypes DNAGPT generates per forward pass")


def _step_parser(sub, step: str, parts) -> None:
    summary, description = STEP_HELP[step]
    paragraphs = [description, _KEEPS] if parts else [description]
    p = sub.add_parser(step, help=summary, prog=f"dnagpt genomes {step}",
                       description="\n\n".join(textwrap.fill(text, 100) for text in paragraphs))  # fmt: skip
    p.add_argument("work", metavar="WORK",
                   help="work directory: the study's settings (config.json) and every step's output; a rerun "
                        "skips what is done and resumes a killed step")  # fmt: skip
    for add in parts:
        add(p)
    if step in ("fit", "generate", "report"):
        add_device_argument(p, "auto")
        add_progress_argument(p)
    add_verbosity_arguments(p)  # also after the step's name; the parent's -q / -v stays when not given here
    add_integrity_argument(p)
    _no_default(p, "verbosity", "verify", *NAMES)


def _genomes_args(p: argparse.ArgumentParser) -> None:
    p.prog = "dnagpt genomes"  # in usage lines and errors
    p.description = textwrap.fill(
        "Artificial human genomes, one step at a time: prepare, fit, generate, evaluate (or report: every "
        "step not done yet, then a report). Options are given once, at the step they belong to; later steps "
        "read them from WORK/config.json. Run `dnagpt genomes STEP --help` for a step's options.",
        100,
    )
    sub = p.add_subparsers(dest="step", metavar="STEP", required=True, prog="dnagpt genomes")
    parts = {"prepare": [_prepare_options], "fit": [_fit_options], "generate": [_generate_options], "evaluate": [],
             "report": [_prepare_options, _fit_options, _generate_options]}  # fmt: skip
    for step, adds in parts.items():
        _step_parser(sub, step, adds)


@command("genomes", "artificial human genomes: fine-tune on real haplotypes, generate, evaluate (paper section 6)",
         _genomes_args, group="evaluate")  # fmt: skip
def _genomes(args: argparse.Namespace) -> int:
    given = {key: getattr(args, key) for key in NAMES if hasattr(args, key)}
    if "samples" in given:
        given["samples"] = _sample_list(given["samples"])
    run_steps(
        args.step,
        Path(args.work),
        given,
        NAMES,
        device=getattr(args, "device", "auto"),
        batch=getattr(args, "batch_size", GENERATE_BATCH),
        progress=not getattr(args, "no_progress", False),
    )
    return 0


def _sample_list(text: str) -> list[str]:
    """Sample names: a file with one per line, or names separated by commas."""
    if not text:
        return []
    path = Path(text)
    if path.is_file():
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [name.strip() for name in text.split(",") if name.strip()]
