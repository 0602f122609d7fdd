"""Artificial human genomes, end to end (paper section 6): prepare, fit, generate, evaluate, report.

Everything lives in one work directory, and each step skips what an earlier run already wrote,
so a killed run picks up where it stopped:

    WORK/data/{train,heldout}.npz, data/summary.json    real (or simulated) haplotypes, split by sample
    WORK/dnagpt/best/                                    the fine-tuned DNAGPT (generation template)
    WORK/generated/MODEL_T0.8.npz ... and .json          artificial haplotypes and how many were dropped
    WORK/evaluation.json, WORK/report.md, WORK/figures/  the comparison on held-out real haplotypes
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from pydantic import Field
from tqdm import tqdm

from ..data.regions import parse_region
from ..data.sources import SOURCES, fetch
from ..errors import ConfigError
from ..generation import SamplingConfig, generate
from ..io import atomic_write_text, remove_stale_temporaries
from ..models import DNAGPT
from ..tasks.finetune import finetune
from ..tasks.recipe import FinetuneConfig
from ..tasks.spec import TaskData, TaskSpec, build_examples
from ..validation import check_resume, settings
from .generators import GENERATORS
from .haplotypes import Haplotypes, read_vcf, select_snps, simulate, split_samples
from .report import evaluate_all, write_report

SHAPEIT_FILES = ("reference.vcf.gz", "unphased.vcf.gz")  # 300 + 203 EUR samples over the same sites
SHAPEIT_TARGET = ("NA12878",)  # the shapeit4 tutorial's sample to phase: unphased, so left out
SPECIES = "Homo sapiens"
STOP = "<Z>"


@settings
class GenomesConfig:
    """Settings of one artificial-genome study (defaults: real 1000 Genomes EUR haplotypes, chr20)."""

    source: Literal["1000g", "msprime", "vcf"] = "1000g"  # shapeit4 example (1,004 haplotypes), simulated, or yours
    vcf: str = ""  # source "vcf": a phased VCF/BCF file
    samples: list[str] = field(default_factory=list)  # source "vcf": keep only these samples (default: all)
    region: str = ""  # source "vcf": CHR:START-END to read SNPs from (default: the whole file, one chromosome)
    n_snps: Annotated[int, Field(ge=2)] = 1000  # length of the dense SNP run
    min_maf: Annotated[float, Field(ge=0, lt=0.5)] = 0.01  # SNPs rarer than this are left out
    start: Annotated[int, Field(ge=0)] = 0  # first position considered (bp)
    held_out: Annotated[float, Field(gt=0, lt=1)] = 0.2  # fraction of samples kept for evaluation only
    seed: Annotated[int, Field(ge=0)] = 0
    pretrained: str = "dnagpt-small-multispecies"  # model to fine-tune (name, directory or .pth)
    epochs: Annotated[float, Field(gt=0)] = 30  # 804 training haplotypes (the paper: 10 epochs over 5,008)
    lr: Annotated[float, Field(gt=0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 16
    n_generate: Annotated[int, Field(ge=1)] = 1000  # artificial haplotypes per model and temperature
    temperatures: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = field(
        default_factory=lambda: [0.8, 1.2]
    )
    generate_batch: Annotated[int, Field(ge=1)] = 250  # haplotypes generated together
    constrain: bool = True  # draw only the two alleles of each SNP (the stop symbol stays free)

    def __post_init__(self) -> None:
        if (self.source == "vcf") != bool(self.vcf):
            raise ConfigError("source 'vcf' goes with a VCF file (--vcf FILE), and a VCF file with source 'vcf'")
        if self.region:
            parse_region(self.region)


# ------------------------------------------------------------------ prepare
LANGUAGE_MODEL = "dnagpt"  # the generator that is a fine-tuned DNAGPT, beside the classical GENERATORS


def prepare(cfg: GenomesConfig, work: Path) -> tuple[Haplotypes, Haplotypes]:
    """Training and held-out haplotypes (read from WORK/data when already there)."""
    data = work / "data"
    if (data / "heldout.npz").is_file():
        return Haplotypes.load(data / "train.npz"), Haplotypes.load(data / "heldout.npz")
    if cfg.source == "1000g":
        where = fetch(SOURCES["haplotypes-chr20"])
        haps = read_vcf([next(where.rglob(name)) for name in SHAPEIT_FILES], exclude=SHAPEIT_TARGET)
        haps.source = f"1000 Genomes EUR, chr20 (shapeit4 example: {haps.source})"
    elif cfg.source == "msprime":
        haps = simulate(503, seed=cfg.seed + 1)
    elif cfg.source == "vcf":
        haps = read_vcf([cfg.vcf], cfg.samples or None, cfg.region or None)
    else:
        raise ConfigError(f"unknown haplotype source {cfg.source!r}; choose 1000g or msprime")
    haps = select_snps(haps, cfg.n_snps, cfg.min_maf, cfg.start)
    train, heldout = split_samples(haps, cfg.held_out, cfg.seed)
    train.save(data / "train.npz")
    summary = {
        "source": haps.source,
        "snps": haps.n_snps,
        "first_position": int(haps.positions[0]),
        "last_position": int(haps.positions[-1]),
        "train_haplotypes": train.n_haplotypes,
        "heldout_haplotypes": heldout.n_haplotypes,
    }
    atomic_write_text(data / "summary.json", json.dumps(summary, indent=2) + "\n")
    heldout.save(data / "heldout.npz")
    return train, heldout


# ------------------------------------------------------------------ fit
def generation_spec():
    """The generation task: species token, the alleles' bases, then the stop symbol."""
    return TaskSpec.from_dict({"name": "artificial_genomes", "template": "generation", "species": SPECIES,
                               "stop": STOP})  # fmt: skip


def fit_dnagpt(cfg: GenomesConfig, work: Path, train: Haplotypes, device: str = "auto") -> Path:
    """Fine-tune DNAGPT on the training haplotypes (10 % of their samples select the best epoch)."""
    out = work / "dnagpt"
    if (out / "best" / "model.safetensors").is_file() and (out / "done").is_file():
        return out / "best"
    fit, dev = split_samples(train, 0.1, cfg.seed + 1)
    spec = generation_spec()
    examples = [build_examples(spec, [{"sequence": t} for t in part.to_texts()], f"{cfg.source} haplotypes")
                for part in (fit, dev)]  # fmt: skip
    recipe = FinetuneConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, precision="auto",
                            tensorboard=False)  # fmt: skip
    finetune(
        DNAGPT.from_pretrained(cfg.pretrained),
        TaskData(spec, examples[0], examples[1]),
        recipe,
        out,
        device=device,
        resume=(out / "checkpoint.pt").is_file(),
    )
    atomic_write_text(out / "done", "")
    return out / "best"


# ------------------------------------------------------------------ generate
def allele_masks(template: Haplotypes, tok, stop_id: int, vocab_size: int) -> torch.Tensor:
    """Allowed tokens at each step of a haplotype: the k-mers made of each SNP's two alleles, or the stop."""
    k = tok.k
    steps = -(-template.n_snps // k)
    allowed = torch.zeros(steps + 1, vocab_size, dtype=torch.bool)
    for step in range(steps):
        snps = range(step * k, min((step + 1) * k, template.n_snps))
        kmers = ["".join(c) for c in itertools.product(*[(template.ref[i], template.alt[i]) for i in snps])]
        allowed[step, [int(tok.encode_bases(kmer)[0]) for kmer in kmers]] = True
    allowed[:, stop_id] = True
    allowed[steps] = True  # after the last SNP the model must choose the stop symbol by itself
    return allowed


def generate_dnagpt(
    model_dir: Path,
    template: Haplotypes,
    n: int,
    temperature: float,
    seed: int,
    batch: int = 250,
    progress: bool = True,
    constrain: bool = True,
) -> tuple[np.ndarray, dict]:
    """``n`` artificial haplotypes from a fine-tuned model, and what was dropped.

    Sampling uses the key/value cache, the whole batch at once. With ``constrain`` each step may
    only draw k-mers of its SNPs' two alleles, or the stop symbol. A sample is dropped when its
    stop symbol is missing or misplaced (not right after the last SNP), or a letter is neither of
    its SNP's alleles; drawing continues until ``n`` are kept or ``3 n`` were drawn.
    """
    model = DNAGPT.from_pretrained(model_dir)
    tok = model.tokenizer()
    prompt = generation_spec().text("")  # the species token
    length = len(tok.encode(template.to_texts()[0]))
    stop_id = tok.token_id(STOP)
    allowed = allele_masks(template, tok, stop_id, model.config.vocab_size) if constrain else None
    sampling = dict(max_new_tokens=length + 2, temperature=temperature, stop_ids=(stop_id,), allowed=allowed)
    kept, counts = [], {"drawn": 0, "no_stop": 0, "wrong_length": 0, "wrong_allele": 0}
    bar = tqdm(total=n, desc=f"T={temperature}", unit="hap", disable=not progress)
    round_ = 0
    while len(kept) < n and counts["drawn"] < 3 * n:
        cfg = SamplingConfig(num_samples=batch, seed=seed * 1000 + round_, **sampling)
        round_ += 1
        for g in generate(model, [prompt], cfg, tok):
            if len(kept) == n:
                break  # the rest of the batch is neither kept nor counted
            counts["drawn"] += 1
            if not g.stopped:
                counts["no_stop"] += 1
                continue
            if len(g.text) != template.n_snps:
                counts["wrong_length"] += 1
                continue
            alleles = template.parse_text(g.text)
            if alleles is None:
                counts["wrong_allele"] += 1
                continue
            kept.append(alleles)
            bar.update(1)
    bar.close()
    counts["kept"] = len(kept)
    counts["dropped"] = counts["no_stop"] + counts["wrong_length"] + counts["wrong_allele"]
    return np.array(kept, dtype=np.uint8).reshape(len(kept), template.n_snps), counts


def generate_all(cfg: GenomesConfig, work: Path, train: Haplotypes, models: list[str]) -> None:
    """Write WORK/generated/MODEL[_T...].npz for every model (skipping those already there)."""
    rng_seed = cfg.seed
    for name in models:
        runs = [(f"{name}_T{t:g}", t) for t in cfg.temperatures] if name == LANGUAGE_MODEL else [(name, None)]
        for label, temperature in runs:
            path = work / "generated" / f"{label}.npz"
            if path.with_suffix(".json").is_file():
                continue
            start = time.perf_counter()
            if name == LANGUAGE_MODEL:
                if not (work / "dnagpt" / "done").is_file():
                    raise ConfigError(f"{work}: DNAGPT is not fitted yet; run `dnagpt genomes fit {work}` first")
                alleles, counts = generate_dnagpt(work / "dnagpt" / "best", train, cfg.n_generate, temperature,
                                                  rng_seed, cfg.generate_batch, constrain=cfg.constrain)  # fmt: skip
            elif name in GENERATORS:
                model = GENERATORS[name]().fit(train.alleles)
                alleles = model.sample(cfg.n_generate, np.random.default_rng(rng_seed))
                counts = {"drawn": cfg.n_generate, "kept": cfg.n_generate, "dropped": 0}
            else:
                raise ConfigError(f"unknown model {name!r}; choose dnagpt or one of: {', '.join(GENERATORS)}")
            counts["seconds"] = time.perf_counter() - start
            if len(alleles):
                train.with_alleles(alleles, [f"{label}_{i}" for i in range(len(alleles))], label).save(path)
            else:
                print(f"{label}: no generated haplotype had the right form in {counts['drawn']} draws ({counts})")
            # written last: it marks the set as done
            atomic_write_text(path.with_suffix(".json"), json.dumps(counts, indent=2) + "\n")


def save_config(cfg: GenomesConfig, work: Path) -> None:
    """Record the settings; a work directory keeps the settings it was started with."""
    path = work / "config.json"
    settings_now = json.loads(json.dumps(asdict(cfg)))
    check_resume(path, settings_now)
    if not path.is_file():
        work.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(settings_now, indent=2) + "\n")


STEPS = ("prepare", "fit", "generate", "evaluate", "report")


def run_steps(
    action: str,
    cfg: GenomesConfig,
    work: Path,
    models: list[str],
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> None:
    """Run the pipeline up to ``action`` (one of ``STEPS``; "report" runs every step), skipping
    what ``work`` already holds; ``say`` receives one line per finished step."""
    if action not in STEPS:
        raise ConfigError(f"unknown step {action!r}; choose one of: {', '.join(STEPS)}")
    save_config(cfg, work)
    for folder in (work, work / "data", work / "generated"):
        remove_stale_temporaries(folder)  # left by a step that was killed mid-write
    train, heldout = prepare(cfg, work)
    say(f"haplotypes: {train.n_haplotypes} training, {heldout.n_haplotypes} held out, {train.n_snps} SNPs")
    if action in ("fit", "report") and LANGUAGE_MODEL in models:
        say(f"fine-tuned model: {fit_dnagpt(cfg, work, train, device)}")
    if action in ("generate", "report"):
        generate_all(cfg, work, train, models)
        for counts in sorted((work / "generated").glob("*.json")):
            say(f"{counts.stem}: {counts.read_text().strip()}".replace("\n", " "))
    if action in ("evaluate", "report"):
        results = evaluate_all(work, train, heldout)
        for name, r in results.items():
            say(
                f"{name:36s} AF r2 {r['af_r2']:.3f}  LD corr {r['ld_correlation']:.3f}  "
                f"PCA W1 {r['pca_wasserstein_mean']:.3f}  nearest-train median {r['nearest_train_median']:.0f}"
            )
        if action == "report":
            say(f"wrote {write_report(work, train, heldout, results)}")
