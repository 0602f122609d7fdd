"""Multi-task pretraining: the task the trainer runs, and the entry point.

``run_pretraining(config, run_dir)`` is what ``dnagpt pretrain`` calls. The run
directory receives ``config.json`` (every setting actually used), ``holdout.json``
(the validation regions), ``metrics.jsonl`` (training and held-out metrics),
``checkpoint.pt`` (to resume), ``evaluation.json`` and ``model/`` (the final
weights, loadable with ``dnagpt.models.load_model``).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Collection
from pathlib import Path

import numpy as np
import torch

from ..data.alignment import read_maf
from ..data.corpus import Corpus, read_manifest
from ..data.regions import parse_region
from ..data.sources import cache_root
from ..errors import ConfigError
from ..evaluation.metrics import r_squared
from ..io import atomic_write_text
from ..models import PretrainedModel, build_model, family_of, load_model
from ..resources import BUNDLED_MANIFEST
from ..seeding import seed_everything
from ..tokenizers import KmerTokenizer
from ..validation import check_resume
from .aligned_masked_lm import AlignedMaskedLMTask, AlignedSampler
from .compute import pretraining_compute
from .distributed import DistributedContext
from .masked_lm import MaskedLMTask, MaskedSampler
from .objectives import IGNORE, next_token_loss, pretrain_loss
from .pretrain_config import PRETRAIN_RESUME, PretrainConfig, build_model_config
from .pretrain_eval import (
    MarkovReference,
    UnigramReference,
    bits_per_base,
    dinucleotide_order_rule,
    window_bases,
)
from .pretrain_samples import EXTRA_TOKENS, PretrainBatch, PretrainSampler
from .trainer import Trainer, TrainingTask


class PretrainTask(TrainingTask):
    """The three pretraining tasks on a corpus, with held-out evaluation and baselines."""

    def __init__(self, sampler: PretrainSampler, cfg: PretrainConfig) -> None:
        self.sampler = sampler
        self.cfg = cfg
        self.tok = sampler.tok
        self.gc_mean, self.gc_std = sampler.gc_stats() if cfg.objective.standardize_gc else (0.0, 1.0)
        self.reference = UnigramReference(sampler.corpus, self.tok, cfg.eval.baseline_bp)
        self.markov = MarkovReference(sampler.corpus, cfg.eval.baseline_bp, cfg.eval.markov_order)
        self._eval_batches: list[PretrainBatch] | None = None
        self._baselines: dict | None = None  # the references' scores on the (fixed) held-out windows

    def _standardize(self, batch: PretrainBatch) -> PretrainBatch:
        batch.gc = (batch.gc - self.gc_mean) / self.gc_std
        return batch

    def batch(self, indices: range) -> PretrainBatch:
        return self._standardize(self.sampler.batch("train", indices))

    def loss(self, model: PretrainedModel, batch: PretrainBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = pretrain_loss(model, batch, self.tok.yes_id, self.tok.no_id, self.cfg.objective.mse_weight)
        return out.total, {
            "loss": out.total.detach(),
            "next_token": out.next_token,
            "order": out.order,
            "gc_mse": out.gc_mse,
            "order_acc": out.order_correct.float() / batch.gc.numel(),
        }

    def evaluate(
        self, model: PretrainedModel, device: torch.device, autocast: contextlib.AbstractContextManager
    ) -> dict:
        if self._eval_batches is None:
            n, bs = self.cfg.eval.samples, max(self.cfg.train.batch_size, 16)
            self._eval_batches = [
                self._standardize(self.sampler.batch("valid", range(i, min(i + bs, n)))) for i in range(0, n, bs)
            ]
        if self._baselines is None:
            self._baselines = self._reference_scores()
        ce_sum, n_tokens, correct, preds, truth, genomes, labels = 0.0, 0, 0, [], [], [], []
        nats_by_genome: dict[int, float] = {}
        for cpu_batch in self._eval_batches:
            batch = cpu_batch.to(device)
            with autocast:
                out = pretrain_loss(model, batch, self.tok.yes_id, self.tok.no_id, self.cfg.objective.mse_weight)
                for g, nats in self._nats_by_genome(model, batch).items():
                    nats_by_genome[g] = nats_by_genome.get(g, 0.0) + nats
            ce_sum += float(out.next_token) * batch.n_sequence_tokens
            n_tokens += batch.n_sequence_tokens
            correct += int(out.order_correct)
            preds.append(out.gc_pred.float().cpu() * self.gc_std + self.gc_mean)
            truth.append(cpu_batch.gc * self.gc_std + self.gc_mean)
            genomes.append(cpu_batch.genome)
            labels.append(cpu_batch.order_label)
        pred, gc, genome, label = (torch.cat(x).numpy().astype(float) for x in (preds, truth, genomes, labels))
        next_token = ce_sum / n_tokens
        species_mean = np.array([self.reference.gc_by_genome[int(g)] for g in genome])
        return {
            "next_token_loss": next_token,
            "perplexity": math.exp(next_token),
            "unigram_loss": self.reference.loss(self._eval_batches),
            "species_unigram_loss": self.reference.loss(self._eval_batches, per_species=True),
            "order_accuracy": correct / len(gc),
            "order_chance": float(max(label.mean(), 1.0 - label.mean())),
            "gc_r2": r_squared(gc, pred),
            "gc_r2_species_mean": r_squared(gc, species_mean),
            "gc_mse": float(np.mean((gc - pred) ** 2)),
            "samples": len(gc),
            "order_rule_accuracy": self._baselines["order_rule_accuracy"],
            "species": {  # one entry per genome: by its species token, with the file where a species has several
                self._genome_label(g): {
                    "model_bits_per_base": bits_per_base(nats_by_genome.get(g, math.nan), ref["model_bases"]),
                    **{k: v for k, v in ref.items() if k != "model_bases"},
                }
                for g, ref in self._baselines["genomes"].items()
            },
        }

    def _genome_label(self, g: int) -> str:
        """Genome ``g``'s species token, followed by its file name when the corpus has several
        genomes of that species (four human files would otherwise share one entry)."""
        entries = self.sampler.corpus.entries
        species = entries[g].species
        if sum(e.species == species for e in entries) == 1:
            return species
        return f"{species} {entries[g].path.name}"

    def _nats_by_genome(self, model: PretrainedModel, batch: PretrainBatch) -> dict[int, float]:
        """The model's summed next-k-mer cross-entropy (nats) on ``batch``, per genome."""
        hidden = model(batch.input_ids, compute_heads=False).hidden_states
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        targets = batch.targets.clone()
        targets[rows, batch.order_index] = IGNORE
        out = {}
        for g in batch.genome.unique().tolist():
            mine = batch.genome == g
            n = int((targets[mine] != IGNORE).sum())
            out[g] = float(next_token_loss(model, hidden[mine], targets[mine])) * n
        return out

    def _reference_scores(self) -> dict:
        """The Markov models (each genome's best order on these windows) and the dinucleotide order
        rule on the held-out windows; ``model_bases`` is how many bases the model's k-mers cover."""
        k = self.tok.k
        right, total = 0, 0
        by_genome: dict[int, dict] = {}
        for b in self._eval_batches:
            for row in range(b.input_ids.shape[0]):
                ids = b.kmer_ids(row)
                bases = window_bases(self.tok, ids)
                g = int(b.genome[row])
                entry = by_genome.setdefault(g, {"model_bases": 0, "nats": np.zeros(self.markov.max_order + 1),
                                                  "bases": np.zeros(self.markov.max_order + 1)})  # fmt: skip
                entry["model_bases"] += len(ids) * k
                for order in range(self.markov.max_order + 1):
                    nats, n = self.markov.nats(g, bases, order)
                    entry["nats"][order] += nats
                    entry["bases"][order] += n
                right += dinucleotide_order_rule(bases) == bool(b.order_label[row])
                total += 1
        genomes = {}
        for g, e in by_genome.items():
            bits = [bits_per_base(e["nats"][o], int(e["bases"][o])) for o in range(self.markov.max_order + 1)]
            best = int(np.nanargmin(bits))
            genomes[g] = {"model_bases": e["model_bases"], "markov_bits_per_base": bits[best], "markov_order": best,
                          "markov_bits_by_order": bits}  # fmt: skip
        return {"order_rule_accuracy": right / max(total, 1), "genomes": genomes}


def run_pretraining(
    cfg: PretrainConfig,
    run_dir: str | Path,
    resume: bool = False,
    device: str = "auto",
    stop_after: int | None = None,
    allow_changes: Collection[str] = (),
) -> dict:
    """Pretrain as configured; return the final held-out evaluation (with baselines).

    ``resume`` continues the run in ``run_dir``; its settings must be the ones it was started with,
    except those named in ``allow_changes`` (of those :data:`~.pretrain_config.PRETRAIN_RESUME` permits).
    Under torchrun every process calls this; only rank 0 writes files and gets the evaluation.
    """
    run_dir = Path(run_dir)
    if not resume and (run_dir / "checkpoint.pt").exists():
        raise ConfigError(f"{run_dir} already holds a run; add --resume to continue it, or choose another --out")
    model_cfg = build_model_config(cfg)
    if cfg.data.alignment:  # GPN-MSA: the alignment is the corpus
        resolved = cfg.to_dict() | {"model_config": model_cfg.to_dict()}
        return _pretrain_on_alignment(cfg, model_cfg, resolved, run_dir, resume, device, stop_after, allow_changes)
    tok = model_cfg.tokenizer()
    if family_of(model_cfg).model.causal and not isinstance(tok, KmerTokenizer):
        raise ConfigError("the DNAGPT pretraining tasks (next k-mer, GC content, order) read k-mer tokens: "
                          "pretrain a BPE vocabulary with an encoder (--set model.config=bert-small), or leave "
                          "model.tokenizer_file out")  # fmt: skip
    max_tokens = cfg.data.max_tokens or model_cfg.context_length - EXTRA_TOKENS
    min_tokens = cfg.data.min_tokens or max(1, int(0.7 * max_tokens))
    if max_tokens + EXTRA_TOKENS > model_cfg.context_length:
        raise ConfigError(
            f"data.max_tokens={max_tokens} plus {EXTRA_TOKENS} task tokens exceeds the context of "
            f"{model_cfg.context_length}"
        )
    if min_tokens > max_tokens:
        raise ConfigError(f"data.min_tokens={min_tokens} is above data.max_tokens={max_tokens}")
    manifest = BUNDLED_MANIFEST if cfg.data.manifest == "bundled" else Path(cfg.data.manifest)
    resolved = cfg.to_dict()
    resolved["data"] |= {"max_tokens": max_tokens, "min_tokens": min_tokens, "manifest": str(manifest)}

    resolved["model_config"] = model_cfg.to_dict()
    if resume:  # before any work: a changed setting would silently make another run
        saved = run_dir / "config.json"
        if saved.is_file():
            check_resume(saved, resolved, PRETRAIN_RESUME, allow_changes, ignore=("gc_standardization",))
    dist = DistributedContext.from_environment(device)
    cache = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else cache_root()
    corpus = Corpus(
        read_manifest(manifest),
        cache / "genomes",
        window_bp=math.ceil(max_tokens * tok.bases_per_token),
        valid_fraction=cfg.data.valid_fraction,
        max_n_fraction=cfg.data.max_n_fraction,
    )
    seed_everything(cfg.train.seed)
    init = cfg.model.get("init")  # continue from a pretrained model's weights (a resumed run: the checkpoint's)
    model = load_model(init) if init else build_model(model_cfg)
    if model.causal:  # the paper's three tasks
        sampler = PretrainSampler(corpus, tok, min_tokens, max_tokens, cfg.data.reverse_prob, seed=cfg.train.seed)
        task = PretrainTask(sampler, cfg)
    else:  # an encoder learns by masked-token prediction
        masked = MaskedSampler(corpus, tok, min_tokens, max_tokens, cfg.objective.mask_fraction, seed=cfg.train.seed,
                               repeat_weight=cfg.objective.repeat_weight)  # fmt: skip
        task = MaskedLMTask(masked, cfg.eval.samples, max(cfg.train.batch_size, 16))
    gc_stats = {"mean": task.gc_mean, "std": task.gc_std} if model.causal else None
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        resolved["gc_standardization"] = gc_stats
        atomic_write_text(run_dir / "config.json", json.dumps(resolved, indent=2) + "\n")
        corpus.write_holdout(run_dir / "holdout.json")
    trainer = Trainer(model, task, cfg.train, run_dir, dist, allow_changes)
    result = trainer.train(resume=resume, stop_after=stop_after)
    finished = result.step >= cfg.train.max_steps
    weights = dist.full_state_dict(model) if finished else None  # collective: every process takes part
    if dist.is_main and finished:
        model.save_pretrained(run_dir / "model", state_dict=weights)
        with torch.device("meta"):  # the shape alone, for counting; the trained model may be wrapped or sharded
            meta_model = build_model(model_cfg)
        card = {
            "species": corpus.species_tokens(),
            "gc_standardization": gc_stats,
            "steps": result.step,
            "compute": pretraining_compute(run_dir, meta_model),
            "evaluation": result.evaluation,
        }
        atomic_write_text(run_dir / "model" / "pretraining.json", json.dumps(card, indent=2) + "\n")
        atomic_write_text(run_dir / "evaluation.json", json.dumps(result.evaluation, indent=2) + "\n")
    dist.barrier()
    dist.close()
    return result.evaluation if dist.is_main else {}  # only rank 0 reports


def _pretrain_on_alignment(cfg: PretrainConfig, model_cfg, resolved: dict, run_dir: Path, resume: bool, device: str,
                           stop_after: int | None, allow_changes: Collection[str]) -> dict:  # fmt: skip
    """GPN-MSA pretraining (:mod:`.aligned_masked_lm`): masked reference bases, read beside the other
    species' aligned bases, in windows of the model's context; blocks touching ``data.exclude`` unread."""
    alignment = read_maf(cfg.data.alignment)
    exclude = tuple((chrom, start - 1, end) for chrom, start, end in map(parse_region, cfg.data.exclude))
    init = cfg.model.get("init")
    seed_everything(cfg.train.seed)
    model = load_model(init) if init else build_model(model_cfg)
    if not model.aligned_species:
        raise ConfigError(f"data.alignment: a {model.family!r} model reads no alignment; pretrain a GPN-MSA "
                          "configuration on it (model.config = gpn-msa-primates-small)")  # fmt: skip
    alignment.check_species(model.aligned_species)
    window = model_cfg.context_length  # every window is one context long (padded at a block's end)
    resolved["data"] |= {"manifest": None, "alignment": str(Path(cfg.data.alignment).resolve()),
                         "min_tokens": window, "max_tokens": window}  # fmt: skip
    if resume and (run_dir / "config.json").is_file():
        check_resume(run_dir / "config.json", resolved, PRETRAIN_RESUME, allow_changes, ignore=("gc_standardization",))
    dist = DistributedContext.from_environment(device)
    sampler = AlignedSampler(alignment, model_cfg.context_length, model_cfg.mask_id, cfg.objective.mask_fraction,
                             cfg.train.seed, cfg.objective.repeat_weight, exclude)  # fmt: skip
    task = AlignedMaskedLMTask(sampler, cfg.eval.samples, max(cfg.train.batch_size, 16))
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.json", json.dumps(resolved, indent=2) + "\n")
    result = Trainer(model, task, cfg.train, run_dir, dist, allow_changes).train(resume=resume, stop_after=stop_after)
    finished = result.step >= cfg.train.max_steps
    weights = dist.full_state_dict(model) if finished else None
    if dist.is_main and finished:
        model.save_pretrained(run_dir / "model", state_dict=weights)
        with torch.device("meta"):
            meta_model = build_model(model_cfg)
        card = {"alignment": {"file": Path(cfg.data.alignment).name, "reference": alignment.reference,
                              "species": list(alignment.species), "excluded": cfg.data.exclude,
                              "training_bases": sampler.bases("train"), "held_out_bases": sampler.bases("valid")},
                "steps": result.step, "compute": pretraining_compute(run_dir, meta_model),
                "evaluation": result.evaluation}  # fmt: skip
        atomic_write_text(run_dir / "model" / "pretraining.json", json.dumps(card, indent=2) + "\n")
        atomic_write_text(run_dir / "evaluation.json", json.dumps(result.evaluation, indent=2) + "\n")
    dist.barrier()
    dist.close()
    return result.evaluation if dist.is_main else {}
