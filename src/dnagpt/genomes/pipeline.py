"""Artificial human genomes, end to end (paper section 6): prepare, fit, generate, evaluate, report.

Everything lives in one work directory, and each step skips what an earlier run already wrote,
so a killed run picks up where it stopped:

    WORK/config.json                                     the study's settings, read by every later step
    WORK/data/{train,heldout}.npz, data/summary.json     real (or simulated) haplotypes, split by sample
    WORK/dnagpt/best/                                    the fine-tuned DNAGPT (generation template)
    WORK/generated/MODEL_T0.8.npz, .vcf.gz and .json     artificial haplotypes (0/1 alleles and a phased
                                                         VCF) and how many were dropped
    WORK/evaluation.json, WORK/report.md, WORK/figures/  the comparison on held-out real haplotypes

The first step stores the settings in ``WORK/config.json``; a later step reads them, and a setting
given again changes the stored one only while the step it shapes has not written its output yet
(:func:`open_study`).
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field
from tqdm import tqdm

from ..data.regions import parse_region
from ..data.sources import SOURCES, fetch
from ..device import Precision, resolve_device
from ..errors import ConfigError
from ..generation import SamplingConfig, generate
from ..io import atomic_write_text, remove_stale_temporaries, untouched_on_refusal
from ..models import DNAGPT
from ..tasks.finetune import finetune, run_started
from ..tasks.recipe import FinetuneConfig
from ..tasks.spec import TaskData, TaskSpec, build_examples
from ..validation import build, read_recorded_settings, settings
from .generators import GENERATORS
from .haplotypes import Haplotypes, read_vcf, select_snps, simulate, split_samples, write_vcf
from .report import evaluate_all, write_report

log = logging.getLogger(__name__)

SHAPEIT_FILES = ("reference.vcf.gz", "unphased.vcf.gz")  # 300 + 203 EUR samples over the same sites
SHAPEIT_TARGET = ("NA12878",)  # the shapeit4 tutorial's sample to phase: unphased, so left out
SPECIES = "Homo sapiens"
STOP = "<Z>"
LANGUAGE_MODEL = "dnagpt"  # the generator that is a fine-tuned DNAGPT, beside the classical GENERATORS
MODELS = (LANGUAGE_MODEL, *GENERATORS)
GENERATE_BATCH = 250  # haplotypes DNAGPT draws per forward pass, unless the command says otherwise


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
    seed: Annotated[int, Field(ge=0)] = 0  # sample split, fine-tuning and sampling
    # the model to fine-tune (name, directory or .pth): the package's bundled model, the one the README
    # recommends (the results in docs/results/genomes.md were made with dnagpt-small-multispecies)
    pretrained: str = "dnagpt-small-multispecies-continued"
    epochs: Annotated[float, Field(gt=0)] = 30  # 804 training haplotypes (the paper: 10 epochs over 5,008)
    lr: Annotated[float, Field(gt=0)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 16  # haplotypes per fine-tuning step
    precision: Precision = "auto"  # fine-tuning arithmetic: bf16 autocast where supported
    models: Annotated[list[str], Field(min_length=1)] = field(default_factory=lambda: list(MODELS))
    n_generate: Annotated[int, Field(ge=1)] = 1000  # artificial haplotypes per model and temperature
    temperatures: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = field(
        default_factory=lambda: [0.8, 1.2]
    )
    constrain: bool = True  # draw only the two alleles of each SNP (the stop symbol stays free)

    def __post_init__(self) -> None:
        if (self.source == "vcf") != bool(self.vcf):
            raise ConfigError("source 'vcf' goes with a VCF file (--vcf FILE), and a VCF file with source 'vcf'")
        if self.region:
            parse_region(self.region)
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ConfigError(f"unknown model {unknown[0]!r}; choose among: {', '.join(MODELS)}")


# ------------------------------------------------------------------ settings of a work directory
STEPS = ("prepare", "fit", "generate", "evaluate", "report")
# the settings each step's output depends on; once a step has written its output they are fixed
STEP_SETTINGS = {
    "prepare": ("source", "vcf", "samples", "region", "n_snps", "min_maf", "start", "held_out", "seed"),
    "fit": ("pretrained", "epochs", "lr", "batch_size", "precision"),
    "generate": ("models", "n_generate", "temperatures", "constrain"),
}
RETIRED = frozenset({"generate_batch"})  # stored by older versions; now --batch-size of each generate run
OUTPUTS = {"prepare": "data", "fit": "dnagpt", "generate": "generated"}  # the folder each step writes


def step_begun(work: Path, step: str) -> bool:
    """Whether ``step`` has written (or, for fit, started writing) its output in ``work``."""
    if step == "prepare":
        return (work / "data" / "heldout.npz").is_file()  # written last
    if step == "fit":
        return (work / "dnagpt" / "done").is_file() or run_started(work / "dnagpt")
    if step == "generate":
        return (work / "generated").is_dir() and any((work / "generated").glob("*.json"))
    return (work / "evaluation.json").is_file()


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return " ".join(_show(v) for v in value) if value else "(none)"
    return '""' if value == "" else str(value)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def open_study(work: str | Path, given: Mapping[str, Any] | None = None,
               names: Mapping[str, str] | None = None) -> GenomesConfig:  # fmt: skip
    """The settings of the study in ``work``, updated with ``given`` and saved to WORK/config.json.

    ``given`` holds only what the user asked for now (field name -> value); every other setting
    keeps the value WORK/config.json holds, or the :class:`GenomesConfig` default in a new work
    directory. Each setting that ``given`` changes is logged as one line (``--epochs: 30 -> 1``);
    changing a setting of a step that has already written its output is refused with a
    :class:`ConfigError` naming the option, as that output would no longer match the settings.
    ``names`` gives each field the name the user wrote (``{"n_snps": "--snps"}``).
    """
    work, names, given = Path(work), dict(names or {}), _plain(dict(given or {}))
    if "vcf" in given and "source" not in given and given["vcf"]:
        given["source"] = "vcf"  # a VCF file says where the haplotypes come from
    path = work / "config.json"
    stored = read_recorded_settings(path, "study")
    if stored is not None:
        stored = {k: v for k, v in stored.items() if k not in RETIRED}
    # settings added after a work directory was started take their default, which older runs used
    before = {**_plain(asdict(GenomesConfig())), **(stored or {})}
    changed = [k for k in given if k in before and stored is not None and given[k] != before[k]]
    frozen = []
    for key in changed:
        step = next((s for s, keys in STEP_SETTINGS.items() if key in keys), None)
        if step and step_begun(work, step):
            frozen.append(f"{names.get(key, key)} cannot change from {_show(before[key])} to {_show(given[key])}: "
                          f"`{step}` already used {_show(before[key])} ({work / OUTPUTS[step]})")  # fmt: skip
    if frozen:
        raise ConfigError(f"{work}: {'; '.join(frozen)}. Leave the option out to keep the stored value, or give "
                          "it to a new work directory")  # fmt: skip
    cfg = build(GenomesConfig, {**before, **given}, str(path) if stored is not None else "dnagpt genomes", names)
    now = _plain(asdict(cfg))
    for key in changed:
        log.info(f"{names.get(key, key)}: {_show(before[key])} -> {_show(now[key])}")
    if stored != now:
        atomic_write_text(path, json.dumps(now, indent=2) + "\n")
    return cfg


# ------------------------------------------------------------------ prepare
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
        raise ConfigError(f"unknown haplotype source {cfg.source!r}; choose 1000g, msprime or vcf")
    haps = select_snps(haps, cfg.n_snps, cfg.min_maf, cfg.start)
    train, heldout = split_samples(haps, cfg.held_out, cfg.seed)
    train.save(data / "train.npz")
    summary = {
        "source": haps.source,
        "chromosome": haps.chrom,
        "snps": haps.n_snps,
        "first_position": int(haps.positions[0]),
        "last_position": int(haps.positions[-1]),
        "train_haplotypes": train.n_haplotypes,
        "heldout_haplotypes": heldout.n_haplotypes,
    }
    atomic_write_text(data / "summary.json", json.dumps(summary, indent=2) + "\n")
    heldout.save(data / "heldout.npz")  # written last: it marks the step as done
    return train, heldout


# ------------------------------------------------------------------ fit
def generation_spec():
    """The generation task: species token, the alleles' bases, then the stop symbol."""
    return TaskSpec.from_dict({"name": "artificial_genomes", "template": "generation", "species": SPECIES,
                               "stop": STOP})  # fmt: skip


def fit_dnagpt(cfg: GenomesConfig, work: Path, train: Haplotypes, device: str = "auto", progress: bool = True) -> Path:
    """Fine-tune DNAGPT on the training haplotypes (10 % of their samples select the best epoch)."""
    out = work / "dnagpt"
    if (out / "best" / "model.safetensors").is_file() and (out / "done").is_file():
        return out / "best"
    fit, dev = split_samples(train, 0.1, cfg.seed + 1)
    spec = generation_spec()
    examples = [build_examples(spec, [{"sequence": t} for t in part.to_texts()], f"{cfg.source} haplotypes")
                for part in (fit, dev)]  # fmt: skip
    recipe = FinetuneConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed,
                            precision=cfg.precision, progress=progress, tensorboard=False)  # fmt: skip
    finetune(
        DNAGPT.from_pretrained(cfg.pretrained),
        TaskData(spec, examples[0], examples[1]),
        recipe,
        out,
        device=device,
        resume=run_started(out),
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
    batch: int = GENERATE_BATCH,
    progress: bool = True,
    constrain: bool = True,
    device: str = "auto",
) -> tuple[np.ndarray, dict]:
    """``n`` artificial haplotypes from a fine-tuned model, and what was dropped.

    Sampling uses the key/value cache, ``batch`` haplotypes at once on ``device``. With ``constrain``
    each step may only draw k-mers of its SNPs' two alleles, or the stop symbol. A sample is dropped
    when its stop symbol is missing or misplaced (not right after the last SNP), or a letter is
    neither of its SNP's alleles; drawing continues until ``n`` are kept or ``3 n`` were drawn.
    """
    model = DNAGPT.from_pretrained(model_dir, map_location=resolve_device(device))
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


def _write_generated_vcf(gen: Haplotypes, path: Path, label: str, train: Haplotypes) -> None:
    """WORK/generated/LABEL.vcf.gz beside the set's .npz (nothing for data prepared by an older dnagpt)."""
    if not gen.chrom:
        log.warning(f"{label}: no VCF written: {path.parent.parent / 'data'} was prepared by an older dnagpt that "
                    "did not keep the chromosome; prepare again in a new work directory for VCF files")  # fmt: skip
        return
    write_vcf(gen, path, note=f"{gen.n_haplotypes} artificial haplotypes from {label}, fitted on {train.source}")
    if gen.n_haplotypes % 2:
        log.warning(f"{label}: {gen.n_haplotypes} haplotypes, an odd number: the VCF pairs them into diploid "
                    f"samples and leaves the last one out (it is in {label}.npz)")  # fmt: skip


def generate_all(cfg: GenomesConfig, work: Path, train: Haplotypes, device: str = "auto",
                 batch: int = GENERATE_BATCH, progress: bool = True) -> None:  # fmt: skip
    """Write WORK/generated/MODEL[_T...].npz and .vcf.gz for every model of ``cfg`` (skipping sets already
    there; a finished set without its VCF, from an older dnagpt, gets one). ``batch``: haplotypes DNAGPT
    draws per forward pass."""
    rng_seed = cfg.seed
    for name in cfg.models:
        runs = [(f"{name}_T{t:g}", t) for t in cfg.temperatures] if name == LANGUAGE_MODEL else [(name, None)]
        for label, temperature in runs:
            path = work / "generated" / f"{label}.npz"
            vcf = path.with_name(f"{label}.vcf.gz")
            if path.with_suffix(".json").is_file():
                if path.is_file() and not vcf.is_file():
                    _write_generated_vcf(Haplotypes.load(path), vcf, label, train)
                continue
            start = time.perf_counter()
            if name == LANGUAGE_MODEL:
                if not (work / "dnagpt" / "done").is_file():
                    raise ConfigError(f"{work}: DNAGPT is not fitted yet; run `dnagpt genomes fit {work}` first")
                alleles, counts = generate_dnagpt(work / "dnagpt" / "best", train, cfg.n_generate, temperature,
                                                  rng_seed, batch, progress, cfg.constrain, device)  # fmt: skip
                counts["batch"] = batch  # the random draws depend on it (and on the device)
            else:
                model = GENERATORS[name]().fit(train.alleles)
                alleles = model.sample(cfg.n_generate, np.random.default_rng(rng_seed))
                counts = {"drawn": cfg.n_generate, "kept": cfg.n_generate, "dropped": 0}
            counts["seconds"] = time.perf_counter() - start
            if len(alleles):
                gen = train.with_alleles(alleles, [f"{label}_{i}" for i in range(len(alleles))], label)
                gen.save(path)
                _write_generated_vcf(gen, vcf, label, train)
            else:
                log.warning(f"{label}: no generated haplotype had the right form in {counts['drawn']} draws "
                            f"({counts})")  # fmt: skip
            # written last: it marks the set as done
            atomic_write_text(path.with_suffix(".json"), json.dumps(counts, indent=2) + "\n")


def _generated_line(counts_path: Path) -> str:
    c = json.loads(counts_path.read_text())
    vcf = counts_path.with_name(f"{counts_path.stem}.vcf.gz")
    where = f" -> {vcf}" if vcf.is_file() else ""
    return (f"{counts_path.stem}: {c['kept']} haplotypes kept of {c['drawn']} drawn ({c['dropped']} dropped), "
            f"{c.get('seconds', 0):.1f} s{where}")  # fmt: skip


# ------------------------------------------------------------------ the steps
def _check_order(action: str, work: Path) -> None:
    """Refuse a step whose input an earlier step has not written yet (``report`` runs them all)."""
    if action in ("fit", "generate", "evaluate") and not step_begun(work, "prepare"):
        raise ConfigError(f"{work}: no prepared haplotypes yet; start with `dnagpt genomes prepare {work}` "
                          f"(or `dnagpt genomes report {work}` for every step)")  # fmt: skip
    if action == "evaluate" and not step_begun(work, "generate"):
        raise ConfigError(f"{work}: no generated haplotypes yet; run `dnagpt genomes generate {work}` first")


def run_steps(
    action: str,
    work: str | Path,
    given: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
    device: str = "auto",
    batch: int = GENERATE_BATCH,
    progress: bool = True,
) -> GenomesConfig:
    """Run one step of the study in ``work`` (one of ``STEPS``; "report" runs every step not done
    yet, then writes WORK/report.md), skipping what ``work`` already holds; returns the settings.

    ``given`` and ``names``: the settings the user gave now, as :func:`open_study` takes them.
    ``device``, ``batch`` (haplotypes DNAGPT draws per forward pass) and ``progress`` change how the
    work runs, not the study, and are not stored. Progress goes to the ``dnagpt`` logger, one line
    per finished step.
    """
    if action not in STEPS:
        raise ConfigError(f"unknown step {action!r}; choose one of: {', '.join(STEPS)}")
    work = Path(work)
    _check_order(action, work)
    new_study = not (work / "config.json").is_file()
    with untouched_on_refusal(work):  # haplotypes refused: no settings or work directory left behind
        cfg = open_study(work, given, names)
        for folder in (work, work / "data", work / "generated"):
            remove_stale_temporaries(folder)  # left by a step that was killed mid-write
        train, heldout = prepare(cfg, work)
    if new_study:
        log.info(f"settings of this study: {work / 'config.json'} (later steps read them)")
    log.info(f"haplotypes: {train.n_haplotypes} training, {heldout.n_haplotypes} held out, {train.n_snps} SNPs "
             f"on {train.chrom or '?'}:{train.positions[0]}-{train.positions[-1]} ({work / 'data'})")  # fmt: skip
    if action == "fit" or (action == "report" and LANGUAGE_MODEL in cfg.models):
        log.info(f"fine-tuned model: {fit_dnagpt(cfg, work, train, device, progress)}")
    if action in ("generate", "report"):
        generate_all(cfg, work, train, device, batch, progress)
        for counts in sorted((work / "generated").glob("*.json")):
            log.info(_generated_line(counts))
    if action in ("evaluate", "report"):
        results = evaluate_all(work, train, heldout)
        for name, r in results.items():
            log.info(
                f"{name:36s} AF r2 {r['af_r2']:.3f}  LD corr {r['ld_correlation']:.3f}  "
                f"PCA W1 {r['pca_wasserstein_mean']:.3f}  nearest-train median {r['nearest_train_median']:.0f}"
            )
        log.info(f"wrote {work / 'evaluation.json'}")
        if action == "report":
            log.info(f"wrote {write_report(work, train, heldout, results)}")
    return cfg
