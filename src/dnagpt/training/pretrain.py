"""Multi-task pretraining: configuration, the task for the trainer, held-out evaluation.

``run_pretraining(config, run_dir)`` is what ``dnagpt pretrain`` calls. The run
directory receives ``config.json`` (every setting actually used), ``holdout.json``
(the validation regions), ``metrics.jsonl`` (training and held-out metrics),
``checkpoint.pt`` (to resume), ``evaluation.json`` and ``model/`` (the final
weights, loadable with ``DNAGPT.from_pretrained``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..checkpoint import save_pretrained
from ..config import get_config
from ..data.corpus import BUNDLED_MANIFEST, Corpus, read_manifest
from ..data.pretraining import EXTRA_TOKENS, PretrainBatch, PretrainSampler
from ..errors import ConfigError
from ..io import atomic_write_text, read_structured
from ..model import DNAGPT
from .distributed import DistributedContext
from .objectives import pretrain_loss
from .trainer import TrainConfig, Trainer

BUNDLED_CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@dataclass
class DataConfig:
    manifest: str = "bundled"  # a manifest file, or "bundled" for the corpus shipped with dnagpt
    cache_dir: str = ""  # prepared genomes; default $DNAGPT_CACHE or ~/.cache/dnagpt
    valid_fraction: float = 0.1  # the last part of each record held out for validation
    max_tokens: int = 0  # longest window in k-mers; 0 = context - 5
    min_tokens: int = 0  # shortest window in k-mers; 0 = 70 % of max_tokens
    reverse_prob: float = 0.5  # sequence-order task: chance of reversing a window
    max_n_fraction: float = 0.05  # windows with more N are redrawn (paper, Methods)


@dataclass
class ObjectiveConfig:
    mse_weight: float = 0.01  # lambda in loss = CE + lambda x MSE (paper, eq. 1)
    # GC targets are standardised with the training corpus' mean and standard deviation,
    # so that lambda weighs an error measured in standard deviations, not in raw fractions.
    standardize_gc: bool = True


@dataclass
class EvalConfig:
    samples: int = 512  # held-out windows per evaluation
    baseline_bp: int = 2_000_000  # bases per genome counted for the k-mer unigram baseline


@dataclass
class PretrainConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"config": "dnagpt-small"})
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        sections = {"data": DataConfig, "objective": ObjectiveConfig, "train": TrainConfig, "eval": EvalConfig}
        unknown = sorted(set(d) - set(sections) - {"model"})
        if unknown:
            raise ConfigError(f"unknown config sections: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {"model": dict(d.get("model", {"config": "dnagpt-small"}))}
        for name, klass in sections.items():
            values = d.get(name, {})
            known = {f.name for f in dataclasses.fields(klass)}
            bad = sorted(set(values) - known)
            if bad:
                raise ConfigError(f"unknown settings in [{name}]: {', '.join(bad)}; known: {', '.join(sorted(known))}")
            kwargs[name] = klass(**values)
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_pretrain_config(source: str, overrides: list[str] | None = None) -> PretrainConfig:
    """Read a TOML/YAML/JSON config (or a bundled one by name, e.g. "demo") and apply
    ``section.key=value`` overrides (values parsed as TOML literals, else strings)."""
    path = Path(source)
    if not path.exists():
        bundled = BUNDLED_CONFIGS / f"pretrain-{source}.toml"
        if not bundled.exists():
            names = sorted(p.stem.removeprefix("pretrain-") for p in BUNDLED_CONFIGS.glob("pretrain-*.toml"))
            raise ConfigError(f"{source}: no such config file, nor a bundled config (bundled: {', '.join(names)})")
        path = bundled
    data = read_structured(path, "config", ConfigError)
    manifest = data.get("data", {}).get("manifest")
    if manifest and manifest != "bundled" and not Path(manifest).is_absolute():
        data["data"]["manifest"] = str((path.parent / manifest).resolve())
    for item in overrides or []:
        _apply_override(data, item)
    return PretrainConfig.from_dict(data)


def _apply_override(data: dict, item: str) -> None:
    import tomllib

    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ConfigError(f"override {item!r} must look like section.key=value (e.g. train.lr=3e-4)")
    key, raw = item.split("=", 1)
    section, name = key.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    data.setdefault(section, {})[name] = value


# ------------------------------------------------------------------- the task
class PretrainObjective(nn.Module):
    """Wraps the model so that one ``forward(batch)`` gives the loss (what DDP needs)."""

    def __init__(self, model: DNAGPT, yes_id: int, no_id: int, mse_weight: float) -> None:
        super().__init__()
        self.model = model
        self.yes_id, self.no_id, self.mse_weight = yes_id, no_id, mse_weight

    def forward(self, batch: PretrainBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = pretrain_loss(self.model, batch, self.yes_id, self.no_id, self.mse_weight)
        acc = out.order_correct.float() / batch.gc.numel()
        return out.total, {
            "loss": out.total.detach(),
            "next_token": out.next_token,
            "order": out.order,
            "gc_mse": out.gc_mse,
            "order_acc": acc,
        }


class PretrainTask:
    """The three pretraining tasks on a corpus, with held-out evaluation and baselines."""

    def __init__(self, sampler: PretrainSampler, cfg: PretrainConfig, device: torch.device) -> None:
        self.sampler = sampler
        self.cfg = cfg
        self.tok = sampler.tok
        self.batch_size = cfg.train.batch_size
        self.device = device
        self.gc_mean, self.gc_std = corpus_gc_stats(sampler.corpus)
        if not cfg.objective.standardize_gc:
            self.gc_mean, self.gc_std = 0.0, 1.0
        self.baselines = unigram_baselines(sampler, cfg.eval.baseline_bp)
        self._eval_batches: list[PretrainBatch] | None = None

    def _standardize(self, batch: PretrainBatch) -> PretrainBatch:
        batch.gc = (batch.gc - self.gc_mean) / self.gc_std
        return batch

    def batch(self, step: int, micro: int, rank: int, world: int, micro_per_step: int) -> PretrainBatch:
        first = ((step * micro_per_step + micro) * world + rank) * self.batch_size
        return self._standardize(self.sampler.batch("train", range(first, first + self.batch_size))).to(self.device)

    def loss_module(self, model: DNAGPT) -> nn.Module:
        return PretrainObjective(model, self.tok.yes_id, self.tok.no_id, self.cfg.objective.mse_weight)

    def tokens(self, batch: PretrainBatch) -> int:
        return int(batch.input_ids.numel())

    def evaluate(self, model: DNAGPT, device: torch.device, autocast: contextlib.AbstractContextManager) -> dict:
        if self._eval_batches is None:
            n, bs = self.cfg.eval.samples, max(self.batch_size, 16)
            self._eval_batches = [
                self._standardize(self.sampler.batch("valid", range(i, min(i + bs, n)))) for i in range(0, n, bs)
            ]
        ce_sum, n_tokens, correct, preds, truth, genomes, labels = 0.0, 0, 0, [], [], [], []
        for cpu_batch in self._eval_batches:
            batch = cpu_batch.to(device)
            with autocast:
                out = pretrain_loss(model, batch, self.tok.yes_id, self.tok.no_id, self.cfg.objective.mse_weight)
            ce_sum += float(out.next_token) * batch.n_sequence_tokens
            n_tokens += batch.n_sequence_tokens
            correct += int(out.order_correct)
            preds.append(out.gc_pred.float().cpu() * self.gc_std + self.gc_mean)
            truth.append(cpu_batch.gc * self.gc_std + self.gc_mean)
            genomes.append(cpu_batch.genome)
            labels.append(cpu_batch.order_label)
        pred, gc, genome, label = (torch.cat(x).numpy().astype(float) for x in (preds, truth, genomes, labels))
        next_token = ce_sum / n_tokens
        species_mean = np.array([self.baselines["gc_by_genome"][int(g)] for g in genome])
        return {
            "next_token_loss": next_token,
            "perplexity": math.exp(next_token),
            "unigram_loss": self.baselines["unigram_loss"](self._eval_batches),
            "species_unigram_loss": self.baselines["species_unigram_loss"](self._eval_batches),
            "order_accuracy": correct / len(gc),
            "order_chance": float(max(label.mean(), 1.0 - label.mean())),
            "gc_r2": r_squared(gc, pred),
            "gc_r2_species_mean": r_squared(gc, species_mean),
            "gc_mse": float(np.mean((gc - pred) ** 2)),
            "samples": len(gc),
        }


def r_squared(truth: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot."""
    ss_tot = float(np.sum((truth - truth.mean()) ** 2))
    return 1.0 - float(np.sum((truth - pred) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def corpus_gc_stats(corpus: Corpus) -> tuple[float, float]:
    """Mean and standard deviation of window GC fractions, from 2,000 training windows."""
    from ..data.pretraining import gc_fraction

    rng = np.random.default_rng(12345)
    values = [gc_fraction(corpus.sample_window(rng, "train", corpus.window_bp)[0]) for _ in range(2000)]
    return float(np.mean(values)), float(max(np.std(values), 1e-3))


def unigram_baselines(sampler: PretrainSampler, baseline_bp: int) -> dict:
    """k-mer unigram models fitted on the training regions (every frame, both orientations).

    Returns callables that score held-out batches, and each genome's mean GC
    (the GC baseline: predict the species' average).
    """
    tok, corpus = sampler.tok, sampler.corpus
    k, vocab = tok.k, tok.vocab_size
    counts = np.ones((len(corpus.stores), vocab))  # add-one smoothing
    gc_by_genome = []
    for g, store in enumerate(corpus.stores):
        gc_num = gc_den = 0
        budget = baseline_bp
        for region in corpus.regions["train"]:
            if region.genome != g or budget <= 0:
                continue
            length = min(region.length, budget)
            budget -= length
            codes = store.fetch(region.record, region.start, region.start + length)
            bc = np.bincount(codes, minlength=5)
            gc_num += bc[2] + bc[3]
            gc_den += bc[1:].sum()
            for seq in (codes, codes[::-1]):
                for frame in range(k):
                    usable = (len(seq) - frame) // k * k
                    ids = tok.encode_bases(np.ascontiguousarray(seq[frame : frame + usable]))
                    counts[g] += np.bincount(ids, minlength=vocab)
        gc_by_genome.append(gc_num / max(gc_den, 1))
    log_species = np.log(counts / counts.sum(1, keepdims=True))
    pooled = counts.sum(0) - (len(corpus.stores) - 1)  # keep a single +1 per id
    log_global = np.log(pooled / pooled.sum())

    def score(batches: list[PretrainBatch], per_species: bool) -> float:
        total, n = 0.0, 0
        for b in batches:
            for row in range(b.input_ids.shape[0]):
                targets = b.kmer_ids(row).numpy()
                table = log_species[int(b.genome[row])] if per_species else log_global
                total -= float(table[targets].sum())
                n += len(targets)
        return total / n

    return {
        "unigram_loss": lambda batches: score(batches, False),
        "species_unigram_loss": lambda batches: score(batches, True),
        "gc_by_genome": gc_by_genome,
    }


# ------------------------------------------------------------------- entry point
def default_cache_dir() -> Path:
    return Path(os.environ.get("DNAGPT_CACHE", Path.home() / ".cache" / "dnagpt"))


def build_model_config(cfg: PretrainConfig):
    fields = dict(cfg.model)
    name = fields.pop("config", "dnagpt-small")
    return get_config(name, **fields)


def run_pretraining(
    cfg: PretrainConfig, run_dir: str | Path, resume: bool = False, device: str = "auto", stop_after: int | None = None
) -> dict:
    """Pretrain as configured; return the final held-out evaluation (with baselines).

    Under torchrun every process calls this; only rank 0 writes files and gets the evaluation.
    """
    run_dir = Path(run_dir)
    dist = DistributedContext.from_environment(device)
    model_cfg = build_model_config(cfg)
    tok = model_cfg.tokenizer()
    max_tokens = cfg.data.max_tokens or model_cfg.context_length - EXTRA_TOKENS
    min_tokens = cfg.data.min_tokens or max(1, int(0.7 * max_tokens))
    if max_tokens + EXTRA_TOKENS > model_cfg.context_length:
        raise ConfigError(
            f"data.max_tokens={max_tokens} plus {EXTRA_TOKENS} task tokens exceeds the context of "
            f"{model_cfg.context_length}"
        )
    manifest = BUNDLED_MANIFEST if cfg.data.manifest == "bundled" else Path(cfg.data.manifest)
    cache = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else default_cache_dir()
    corpus = Corpus(
        read_manifest(manifest),
        cache / "genomes",
        window_bp=max_tokens * tok.k,
        valid_fraction=cfg.data.valid_fraction,
        max_n_fraction=cfg.data.max_n_fraction,
    )
    sampler = PretrainSampler(corpus, tok, min_tokens, max_tokens, cfg.data.reverse_prob, seed=cfg.train.seed)
    torch.manual_seed(cfg.train.seed)
    model = DNAGPT(model_cfg)
    task = PretrainTask(sampler, cfg, dist.device)
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved = cfg.to_dict()
        resolved["data"] |= {"max_tokens": max_tokens, "min_tokens": min_tokens, "manifest": str(manifest)}
        resolved["model_config"] = model_cfg.to_dict()
        resolved["gc_standardization"] = {"mean": task.gc_mean, "std": task.gc_std}
        atomic_write_text(run_dir / "config.json", json.dumps(resolved, indent=2) + "\n")
        corpus.write_holdout(run_dir / "holdout.json")
    trainer = Trainer(model, task, cfg.train, run_dir, dist)
    result = trainer.train(resume=resume, stop_after=stop_after)
    finished = result.step >= cfg.train.max_steps
    weights = dist.full_state_dict(model) if finished else None  # collective: every process takes part
    if dist.is_main and finished:
        save_pretrained(model, run_dir / "model", state_dict=weights)
        card = {
            "species": corpus.species_tokens(),
            "gc_standardization": {"mean": task.gc_mean, "std": task.gc_std},
            "steps": result.step,
            "evaluation": result.evaluation,
        }
        atomic_write_text(run_dir / "model" / "pretraining.json", json.dumps(card, indent=2) + "\n")
        atomic_write_text(run_dir / "evaluation.json", json.dumps(result.evaluation, indent=2) + "\n")
    dist.barrier()
    dist.close()
    return result.evaluation if dist.is_main else {}  # only rank 0 reports


def format_report(ev: dict, run_dir: str | Path) -> str:
    """The held-out evaluation as a short table, model beside its baselines."""
    gain = ev["unigram_loss"] - ev["next_token_loss"]
    lines = [
        f"Held-out evaluation: {ev['samples']} windows from regions never trained on ({run_dir}/holdout.json)",
        f"  next-token loss   {ev['next_token_loss']:.3f} nats (perplexity {ev['perplexity']:.0f})"
        f"   baseline: k-mer unigram {ev['unigram_loss']:.3f}, per-species unigram {ev['species_unigram_loss']:.3f}"
        f"   -> {abs(gain):.3f} nats {'below' if gain > 0 else 'ABOVE'} the unigram",
        f"  order accuracy    {ev['order_accuracy']:.3f}   baseline: chance {ev['order_chance']:.3f}",
        f"  GC content R2     {ev['gc_r2']:.3f}   baseline: species mean GC R2 {ev['gc_r2_species_mean']:.3f}",
        f"Model: {run_dir}/model   metrics: {run_dir}/metrics.jsonl   evaluation: {run_dir}/evaluation.json",
    ]
    return "\n".join(lines)
