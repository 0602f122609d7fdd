"""The optimiser's side of training: its settings, the parameter groups and the learning-rate schedule."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from ..device import Precision
from ..validation import ResumeRules, settings


@settings
class TrainConfig:
    """Optimisation settings; the defaults are the paper's (Fig. S3) where it gives them."""

    max_steps: Annotated[int, Field(ge=1)] = 1000  # optimiser steps
    batch_size: Annotated[int, Field(ge=1)] = 8  # samples per micro-batch, per process
    grad_accum: Annotated[int, Field(ge=1)] = 5  # micro-batches per optimiser step (Fig. S3: 5)
    lr: Annotated[float, Field(gt=0)] = 1e-4  # peak learning rate (Fig. S3: 1e-4 for the 0.1B models)
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1  # the cosine ends at lr * min_lr_ratio
    warmup_steps: Annotated[int, Field(ge=0)] = 100  # linear warm-up (Fig. S3: 1 epoch or 10,000 steps)
    weight_decay: Annotated[float, Field(ge=0)] = 0.1  # AdamW, on matrices only (not norms or embeddings)
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.98)  # Fig. S3
    grad_clip: Annotated[float, Field(gt=0)] = 1.0  # max global gradient norm (Fig. S3)
    precision: Precision = "auto"  # auto: bf16 where supported
    seed: Annotated[int, Field(ge=0)] = 0
    log_every: Annotated[int, Field(ge=1)] = 10  # steps between training-metric lines
    eval_every: Annotated[int, Field(ge=0)] = 200  # steps between held-out evaluations (0: only at the end)
    save_every: Annotated[int, Field(ge=1)] = 100  # steps between checkpoints
    tensorboard: bool = True  # also write TensorBoard events when tensorboard is installed
    progress: bool = True  # progress bar on the terminal
    fsdp: bool = False  # shard parameters across processes (models too big for one device)
    # run the model's forward under torch.compile (needs a C++ compiler on the CPU): the first steps
    # compile; it pays for some models and not others (docs/findings.md, "Precision and compilation")
    compile: bool = False
    # make the next batch on a background thread while the model steps (the same batches either way).
    # auto: on a GPU only, where batching is a large share of a step; on a small CPU it is not
    prefetch: bool | Literal["auto"] = "auto"
    patience: Annotated[int, Field(ge=0)] = 0  # stop after this many evaluations without a better one (0 = never)


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


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups` with the settings of ``cfg``, fused into one kernel per
    step on the CPU and GPUs (faster than the default loop; benchmarks/train_throughput.py measures it)."""
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.AdamW(parameter_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, fused=fused or None)


# What a resumed run's trainer settings may differ in (the trainer checks them at every resume).
TRAIN_RESUME = ResumeRules(
    presentation=frozenset({"train.progress", "train.tensorboard", "train.log_every", "train.prefetch"}),
    may_change=frozenset(
        {"train.max_steps", "train.eval_every", "train.save_every", "train.patience", "train.compile"}
    ),
    added_later={"train.compile": False},
)
