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
import logging
import os
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.prefetch import BatchPrefetcher
from ..device import autocast_dtype, precision_context
from ..errors import CheckpointError, ConfigError, RunFolderBusyError
from ..io import (
    atomic_write_text,
    exclusive_directory,
    remove_stale_temporaries,
    verify_digest,
    warn_unverified,
    write_with_digest,
)
from ..seeding import seed_everything
from ..validation import setting_changes
from .distributed import DistributedContext
from .optimization import TRAIN_RESUME, TrainConfig, build_optimizer, learning_rate

log = logging.getLogger(__name__)


class TrainingTask:
    """What the trainer needs from a task (pretraining, fine-tuning, masked LM, ...).

    A task fills in :meth:`batch`, :meth:`loss` and :meth:`evaluate`; the rest has
    defaults. The trainer owns the arithmetic of which samples go into which
    micro-batch: sample ``i`` of the training stream must be a pure function of
    ``i`` (and the task's seed), so that a resumed run draws exactly the same data.
    """

    selection_metric: str | None = None  # a key of evaluate()'s result: its best model is kept in run_dir/best
    higher_is_better: bool = True  # direction of selection_metric

    def batch(self, indices: range) -> Any:
        """Samples ``indices`` of the training stream, collated into a batch with a ``.to(device)`` method."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss to minimise and the terms to log (detached tensors), ``loss`` among them."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, device: torch.device, autocast: contextlib.AbstractContextManager) -> dict:
        """Held-out metrics (floats), with their baselines."""
        raise NotImplementedError

    def tokens(self, batch: Any) -> int:
        """Tokens in a batch (for tokens/s)."""
        return int(batch.input_ids.numel())

    def export_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The weights to save for a kept model (e.g. LoRA adapters folded in); by default as they are."""
        return state


class _TaskLoss(nn.Module):
    """``forward(batch)`` runs the task's loss on the model: the one module DDP / FSDP wrap."""

    def __init__(self, model: nn.Module, task: TrainingTask) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.task.loss(self.model, batch)


@dataclass
class TrainResult:
    step: int
    evaluation: dict = field(default_factory=dict)


class Trainer:
    """Runs a :class:`TrainingTask` on a model, writing everything to ``run_dir``."""

    def __init__(
        self,
        model: nn.Module,
        task: TrainingTask,
        cfg: TrainConfig,
        run_dir: str | Path,
        dist: DistributedContext,
        allow_changes: Collection[str] = (),
    ) -> None:
        """``allow_changes``: settings (``train.max_steps``, ...) that a resumed run may change."""
        self.cfg = cfg
        self.allow_changes = allow_changes
        self.task = task
        self.run_dir = Path(run_dir)
        self.dist = dist
        self.device = dist.device
        self.model = model.to(self.device)
        if cfg.compile:
            self.model.compile()  # in place: the weights keep their names in checkpoints
        self.loss_module = dist.wrap(_TaskLoss(self.model, task), fsdp=cfg.fsdp)
        self.optimizer = build_optimizer(self.model, cfg)
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
        return precision_context(self.cfg.precision, self.device)

    def save_checkpoint(self) -> None:
        """Write model, optimiser, schedule, RNG states and step atomically (rank 0)."""
        model_state = self.dist.full_state_dict(self.model)
        optim_state = self.dist.optimizer_state_dict(self.model, self.optimizer)
        rng = {"torch": torch.get_rng_state(),
               "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}  # fmt: skip
        rng_by_rank = self.dist.gather(rng)  # each process draws its own dropout masks: keep every stream
        if not self.dist.is_main:
            return
        state = {
            "step": self.step,
            "model": model_state,
            "optimizer": optim_state,
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "rng_by_rank": rng_by_rank,
            "train_config": json.dumps(asdict(self.cfg)),
            "selection": {"best": self.best, "bad_evaluations": self.bad_evaluations},
        }
        write_with_digest(self.checkpoint_path, lambda tmp: torch.save(state, tmp))

    def load_checkpoint(self) -> None:
        """Restore the state written by :meth:`save_checkpoint` (its SHA-256 checked first)."""
        path = self.checkpoint_path
        checked = verify_digest(path, CheckpointError, warn=False)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            step = int(state["step"])
        except Exception as e:  # torch raises many types here; its messages advise unsafe loading
            raise CheckpointError(
                f"{path}: truncated or corrupt checkpoint ({type(e).__name__}); delete it and its .sha256 "
                "to start the run again"
            ) from None
        if not checked:  # said once it is known the file reads: a damaged one gets its own one-line error
            warn_unverified(path)
        saved = {"train": json.loads(state.get("train_config", "{}"))}
        now = {"train": json.loads(json.dumps(asdict(self.cfg)))}
        changes = setting_changes(saved, now, TRAIN_RESUME, self.allow_changes)
        if changes:
            raise ConfigError(f"{self.run_dir}: the run was started with other settings ({'; '.join(changes)})")
        self.dist.load_full_state_dict(self.model, state["model"])
        self.dist.load_optimizer_state_dict(self.model, self.optimizer, state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        streams = state.get("rng_by_rank") or [state["rng"]]
        # with another number of processes than the run was saved with, rank 0's stream is the best left
        rng = streams[self.dist.rank] if len(streams) == self.dist.world_size else state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.step = step
        self.best = state["selection"]["best"]
        self.bad_evaluations = int(state["selection"]["bad_evaluations"])
        self._truncate_metrics(self.step)

    def sample_indices(self, step: int, micro: int) -> range:
        """The training-stream samples of one micro-batch of one process: consecutive blocks of
        ``batch_size``, ordered by step, then micro-batch, then rank."""
        cfg, world = self.cfg, self.dist.world_size
        first = ((step * cfg.grad_accum + micro) * world + self.dist.rank) * cfg.batch_size
        return range(first, first + cfg.batch_size)

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
            from torch.utils.tensorboard import SummaryWriter  # optional: the tensorboard extra
        except ImportError:  # tensorboard is optional
            return
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    # ------------------------------------------------------------------- loop
    def train(self, resume: bool = False, stop_after: int | None = None) -> TrainResult:
        """Train to ``max_steps`` (``stop_after`` stops early without a final save: for tests).

        The main process holds the run folder's lock throughout, so a second run started on the same
        folder (say a resume while the killed run's workers still live) stops with a clear error."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        held = exclusive_directory(self.run_dir, RunFolderBusyError) if self.dist.is_main else contextlib.nullcontext()
        with held:
            return self._train(resume, stop_after)

    def _train(self, resume: bool, stop_after: int | None) -> TrainResult:
        cfg = self.cfg
        if self.dist.is_main:
            for folder in (self.run_dir, self.run_dir / "best", self.run_dir / "model"):
                remove_stale_temporaries(folder)  # left by a write that a kill interrupted
        if resume and self.checkpoint_path.exists():
            self.load_checkpoint()  # restores the random streams too: reseeding here would break exact resume
        else:
            if self.dist.is_main and self.metrics_path.exists():
                self.metrics_path.unlink()  # a fresh run starts a fresh log
            seed_everything(cfg.seed + self.dist.rank)
        if self.step >= cfg.max_steps:  # a finished run: evaluate again, train no further
            return TrainResult(self.step, self.evaluate())
        self._open_tensorboard()
        bar = self._progress_bar()
        self.loss_module.train()
        batches = BatchPrefetcher(self.task.batch, cfg.prefetch, self.device.type)
        try:
            return self._loop(bar, batches, stop_after)
        finally:
            batches.close()
            if bar is not None:
                bar.close()
            if self._tb is not None:
                self._tb.close()

    def _next_indices(self, micro: int) -> range | None:
        """The samples of the micro-batch after ``micro`` of this step (None after the last step)."""
        if micro + 1 < self.cfg.grad_accum:
            return self.sample_indices(self.step, micro + 1)
        return self.sample_indices(self.step + 1, 0) if self.step + 1 < self.cfg.max_steps else None

    def _loop(self, bar, batches: BatchPrefetcher, stop_after: int | None) -> TrainResult:
        cfg = self.cfg
        evaluation: dict = {}
        tokens_seen, started = 0, time.perf_counter()
        data_seconds = step_seconds = 0.0  # since the last log line: waiting for batches, and whole steps
        while self.step < cfg.max_steps:
            lr = learning_rate(self.step, cfg)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            terms: dict[str, float] = {}
            step_began = time.perf_counter()
            for micro in range(cfg.grad_accum):
                batch_began = time.perf_counter()
                indices = self.sample_indices(self.step, micro)
                batch = batches.get(indices, self._next_indices(micro)).to(self.device)
                data_seconds += time.perf_counter() - batch_began
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
            step_seconds += time.perf_counter() - step_began
            elapsed = time.perf_counter() - started
            rate = tokens_seen / max(elapsed, 1e-9)
            if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                terms = self.dist.mean(terms)
                self.log({"step": self.step, "split": "train", "lr": lr, "grad_norm": grad_norm,
                          "tokens_per_s": rate, "elapsed_s": elapsed,
                          # the share of step time the training thread spent making or waiting for batches
                          "data_share": data_seconds / max(step_seconds, 1e-9), **terms})  # fmt: skip
                data_seconds = step_seconds = 0.0
            if bar is not None:
                bar.update(1)
                postfix = {"loss": f"{terms.get('loss', float('nan')):.3f}", "tok_s": f"{rate:,.0f}"}
                bar.set_postfix(postfix, refresh=False)  # redrawn at the bar's own interval
            last = self.step == cfg.max_steps
            if (cfg.eval_every and self.step % cfg.eval_every == 0) or last:
                batches.settle()
                evaluation = self.evaluate()
            early_stop = bool(cfg.patience) and self.bad_evaluations >= cfg.patience
            if self.step % cfg.save_every == 0 or last or early_stop:
                self.save_checkpoint()
            if early_stop:
                if self.dist.is_main:
                    log.info("early stop at step %d: no better evaluation in %d tries", self.step, cfg.patience)
                break
            if stop_after is not None and self.step >= stop_after:
                break
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
            shown = ", ".join(f"{k} {v:.4g}" for k, v in result.items() if isinstance(v, float))
            tqdm.write(f"[step {self.step}] held-out: {shown}")
        return result

    def _select(self, result: dict) -> None:
        """Keep the best model by the task's selection metric (in ``run_dir/best``)."""
        metric = self.task.selection_metric
        if metric is None or metric not in result:
            return
        value = float(result[metric])
        better = self.task.higher_is_better
        if self.best is None or (value > self.best if better else value < self.best):
            self.best, self.bad_evaluations = value, 0
            weights = self.task.export_weights(self.dist.full_state_dict(self.model))
            if self.dist.is_main:
                self.model.save_pretrained(self.run_dir / "best", state_dict=weights)
                atomic_write_text(
                    self.run_dir / "best" / "selection.json",
                    json.dumps({"step": self.step, metric: value, **result}, indent=2) + "\n",
                )
        else:
            self.bad_evaluations += 1

    def _progress_bar(self):
        if not (self.cfg.progress and self.dist.is_main):
            return None
        return tqdm(
            total=self.cfg.max_steps,
            initial=self.step,
            desc="training",
            unit="step",
            mininterval=1.0 if os.isatty(2) else 30.0,
            dynamic_ncols=True,
        )
