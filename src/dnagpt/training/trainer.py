"""The training loop shared by pretraining and fine-tuning.

What it does, in order, at every step: draw micro-batches (a pure function of
step, micro-batch and rank, so resuming needs no data replay), forward under
autocast, backward (gradients summed over ``grad_accum`` micro-batches and
averaged over processes by DistributedDataParallel), clip, AdamW step with a
warm-up + cosine learning rate, log, evaluate, checkpoint.

A checkpoint (``checkpoint.pt``, written atomically) holds the model, the
optimiser, the schedule position, every RNG state and the step, which is also
the data position; ``resume=True`` continues so that the loss curve is the one
an uninterrupted run would have drawn.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..errors import ConfigError
from ..io import atomic_path, atomic_write_text
from .distributed import DistributedContext


@dataclass
class TrainConfig:
    """Optimisation settings; the defaults are the paper's (Fig. S3) where it gives them."""

    max_steps: int = 1000  # optimiser steps
    batch_size: int = 8  # samples per micro-batch, per process
    grad_accum: int = 5  # micro-batches per optimiser step (Fig. S3: 5)
    lr: float = 1e-4  # peak learning rate (Fig. S3: 1e-4 for the 0.1B models)
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    warmup_steps: int = 100  # linear warm-up (Fig. S3: 1 epoch or 10,000 steps)
    weight_decay: float = 0.1  # AdamW, on matrices only (not norms or embeddings)
    betas: tuple[float, float] = (0.9, 0.98)  # Fig. S3
    grad_clip: float = 1.0  # max global gradient norm (Fig. S3)
    precision: str = "auto"  # auto (bf16 where supported), bf16, fp16, fp32
    seed: int = 0
    log_every: int = 10  # steps between training-metric lines
    eval_every: int = 200  # steps between held-out evaluations (0: only at the end)
    save_every: int = 100  # steps between checkpoints
    tensorboard: bool = True  # also write TensorBoard events when tensorboard is installed
    progress: bool = True  # progress bar on the terminal
    fsdp: bool = False  # shard parameters across processes (models too big for one device)
    patience: int = 0  # stop after this many evaluations without a better selection metric (0 = never)

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if self.precision not in ("auto", "bf16", "fp16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16, fp16 or fp32, got {self.precision!r}")
        for name in ("max_steps", "batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")


class TrainingTask(Protocol):
    """What the trainer needs from a task (pretraining, classification, ...)."""

    def batch(self, step: int, micro: int, rank: int, world: int, micro_per_step: int) -> Any:
        """The micro-batch for this step / micro-batch / process (deterministic)."""

    def loss_module(self, model: nn.Module) -> nn.Module:
        """A module whose ``forward(batch)`` returns ``(loss, {name: detached tensor})``."""

    def tokens(self, batch: Any) -> int:
        """Tokens in a batch (for tokens/s)."""

    def evaluate(self, model: nn.Module, device: torch.device, autocast: contextlib.AbstractContextManager) -> dict:
        """Held-out metrics (floats), with baselines."""

    # Optional: a task with ``selection_metric`` (a key of ``evaluate``'s result) and
    # ``higher_is_better`` gets its best model kept in ``run_dir/best`` and early stopping.


@dataclass
class TrainResult:
    step: int
    evaluation: dict = field(default_factory=dict)


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr * min_lr_ratio`` at ``max_steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.max_steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices; none on norms, embeddings and biases."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_embedding = name.endswith(("wte.weight", "wpe.weight"))
        (decay if p.dim() >= 2 and not is_embedding else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting on a device (None: full fp32)."""
    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_has_bf16() else None


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


class Trainer:
    """Runs a :class:`TrainingTask` on a model, writing everything to ``run_dir``."""

    def __init__(
        self, model: nn.Module, task: TrainingTask, cfg: TrainConfig, run_dir: str | Path, dist: DistributedContext
    ) -> None:
        self.cfg = cfg
        self.task = task
        self.run_dir = Path(run_dir)
        self.dist = dist
        self.device = dist.device
        self.model = model.to(self.device)
        self.loss_module = dist.wrap(task.loss_module(self.model), fsdp=cfg.fsdp)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
        self.amp_dtype = autocast_dtype(cfg.precision, self.device)
        self.scaler = torch.amp.GradScaler(enabled=self.amp_dtype == torch.float16 and self.device.type == "cuda")
        self.step = 0
        self.best: float | None = None  # best selection metric so far
        self.bad_evaluations = 0  # evaluations since the best one
        self._tb = None

    # ------------------------------------------------------------------ state
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def save_checkpoint(self) -> None:
        """Write model, optimiser, schedule, RNG states and step atomically (rank 0)."""
        model_state = self.dist.full_state_dict(self.model)
        optim_state = self.dist.optimizer_state_dict(self.model, self.optimizer)
        if not self.dist.is_main:
            return
        state = {
            "step": self.step,
            "model": model_state,
            "optimizer": optim_state,
            "scheduler": {"kind": "warmup-cosine", "step": self.step},
            "scaler": self.scaler.state_dict(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "train_config": json.dumps(asdict(self.cfg)),
            "selection": {"best": self.best, "bad_evaluations": self.bad_evaluations},
        }
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save(state, tmp)

    def load_checkpoint(self) -> None:
        """Restore the state written by :meth:`save_checkpoint`."""
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.dist.load_full_state_dict(self.model, state["model"])
        self.dist.load_optimizer_state_dict(self.model, self.optimizer, state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])
        self.best = state["selection"]["best"]
        self.bad_evaluations = int(state["selection"]["bad_evaluations"])
        self._truncate_metrics(self.step)

    # ---------------------------------------------------------------- logging
    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    def log(self, record: dict) -> None:
        if not self.dist.is_main:
            return
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self._tb is not None:
            prefix = record.get("split", "train")
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    self._tb.add_scalar(f"{prefix}/{k}", v, record["step"])

    def _truncate_metrics(self, step: int) -> None:
        """Drop lines logged after the checkpoint, so a resumed run does not repeat them."""
        if not self.dist.is_main or not self.metrics_path.exists():
            return
        kept = [ln for ln in self.metrics_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
        atomic_write_text(self.metrics_path, "".join(ln + "\n" for ln in kept))

    def _open_tensorboard(self) -> None:
        if not (self.cfg.tensorboard and self.dist.is_main):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional
            return
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    # ------------------------------------------------------------------- loop
    def train(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train to ``max_steps`` (``stop_after`` stops early without a final save: for tests)."""
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if resume and self.checkpoint_path.exists():
            self.load_checkpoint()
        elif self.dist.is_main and self.metrics_path.exists():
            self.metrics_path.unlink()  # a fresh run starts a fresh log
        if self.step >= cfg.max_steps:  # a finished run: evaluate again, train no further
            return TrainResult(self.step, self.evaluate())
        torch.manual_seed(cfg.seed + self.dist.rank)
        self._open_tensorboard()
        bar = self._progress_bar()
        evaluation: dict = {}
        tokens_seen, started = 0, time.perf_counter()
        self.loss_module.train()
        while self.step < cfg.max_steps:
            lr = learning_rate(self.step, cfg)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            terms: dict[str, float] = {}
            for micro in range(cfg.grad_accum):
                batch = self.task.batch(self.step, micro, self.dist.rank, self.dist.world_size, cfg.grad_accum)
                tokens_seen += self.task.tokens(batch) * self.dist.world_size
                sync = micro == cfg.grad_accum - 1
                with self.dist.maybe_no_sync(self.loss_module, sync), self.autocast():
                    loss, parts = self.loss_module(batch)
                self.scaler.scale(loss / cfg.grad_accum).backward()
                for k, v in parts.items():
                    terms[k] = terms.get(k, 0.0) + float(v) / cfg.grad_accum
            self.scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            elapsed = time.perf_counter() - started
            rate = tokens_seen / max(elapsed, 1e-9)
            if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                terms = self.dist.mean(terms)
                self.log({"step": self.step, "split": "train", "lr": lr, "grad_norm": grad_norm,
                          "tokens_per_s": rate, **terms})  # fmt: skip
            if bar is not None:
                bar.update(1)
                postfix = {"loss": f"{terms.get('loss', float('nan')):.3f}", "tok_s": f"{rate:,.0f}"}
                bar.set_postfix(postfix, refresh=False)  # redrawn at the bar's own interval
            last = self.step == cfg.max_steps
            if (cfg.eval_every and self.step % cfg.eval_every == 0) or last:
                evaluation = self.evaluate()
            early_stop = bool(cfg.patience) and self.bad_evaluations >= cfg.patience
            if self.step % cfg.save_every == 0 or last or early_stop:
                self.save_checkpoint()
            if early_stop:
                if self.dist.is_main:
                    print(f"early stop at step {self.step}: no better evaluation in {cfg.patience} tries")
                break
            if stop_after is not None and self.step >= stop_after:
                break
        if bar is not None:
            bar.close()
        if self._tb is not None:
            self._tb.close()
        return TrainResult(self.step, evaluation)

    def evaluate(self) -> dict:
        """Held-out metrics from the task, logged with split "valid"."""
        self.loss_module.eval()
        # Under FSDP the task calls the inner model directly, so gather the root's shards first.
        gather = getattr(self.loss_module, "unshard", None)
        if gather is not None:
            gather()
        with torch.no_grad():
            result = self.task.evaluate(self.model, self.device, self.autocast())
        if gather is not None:
            self.loss_module.reshard()
        self.loss_module.train()
        self.log({"step": self.step, "split": "valid", **result})
        self._select(result)
        if self.dist.is_main and self.cfg.progress:
            from tqdm.auto import tqdm

            shown = ", ".join(f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float))
            tqdm.write(f"[step {self.step}] held-out: {shown}")
        return result

    def _select(self, result: dict) -> None:
        """Keep the best model by the task's selection metric (in ``run_dir/best``)."""
        metric = getattr(self.task, "selection_metric", None)
        if metric is None or metric not in result:
            return
        value = float(result[metric])
        better = getattr(self.task, "higher_is_better", True)
        if self.best is None or (value > self.best if better else value < self.best):
            self.best, self.bad_evaluations = value, 0
            weights = self.dist.full_state_dict(self.model)
            export = getattr(self.task, "export_weights", None)  # e.g. fold LoRA adapters in
            if export is not None:
                weights = export(weights)
            if self.dist.is_main:
                from ..checkpoint import save_pretrained

                save_pretrained(self.model, self.run_dir / "best", state_dict=weights)
                atomic_write_text(
                    self.run_dir / "best" / "selection.json",
                    json.dumps({"step": self.step, metric: value, **result}, indent=2) + "\n",
                )
        else:
            self.bad_evaluations += 1

    def _progress_bar(self):
        if not (self.cfg.progress and self.dist.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=self.cfg.max_steps,
            initial=self.step,
            desc="training",
            unit="step",
            mininterval=1.0 if os.isatty(2) else 30.0,
            dynamic_ncols=True,
        )
