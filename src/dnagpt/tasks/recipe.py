"""The fine-tuning recipe: one settings object, and the defaults it settles for a given model.

:class:`FinetuneConfig` holds the paper's recipe (section 4, Fig. S3) where the paper gives one;
the command line, the bench and the benchmark scripts all start from it. :class:`Sweep` names the
settings tried side by side, dev keeping the best. The measurements behind the defaults are in
docs/findings.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated

from pydantic import Field

from ..device import Precision
from ..errors import ConfigError
from ..models import PretrainedModel
from ..training.optimization import TrainConfig
from ..validation import settings
from .codec import Readout, default_readout
from .spec import TaskSpec
from .warm_start import SMALL_MODEL_PARAMETERS, default_shrink

SMALL_MODEL_LR = 1e-3  # the paper's rate barely moves models of a few million parameters
PAPER_LR = 3e-5  # the paper's, for its 0.1B and 3B models (section 4)


def default_lr(n_parameters: int) -> float:
    """The fine-tuning learning rate used when none is given: 1e-3 for a model under 20M
    parameters (such as the shipped ones), the paper's 3e-5 from there up. Between 20M and 0.1B
    nothing was measured: compare rates on your dev set there (:class:`Sweep`, ``--lr A B``)."""
    return SMALL_MODEL_LR if n_parameters < SMALL_MODEL_PARAMETERS else PAPER_LR


@settings(frozen=True)
class FinetuneConfig:
    """The fine-tuning recipe. ``None`` means "by the model and task" (:meth:`for_model`)."""

    epochs: Annotated[float, Field(gt=0)] = 10  # passes over the training examples (paper: 10)
    lr: Annotated[float, Field(gt=0)] | None = None  # peak learning rate; None: default_lr of the model's size
    batch_size: Annotated[int, Field(ge=1)] = 8  # examples per optimiser step and process (paper: 8)
    warmup_epochs: Annotated[float, Field(ge=0)] = 1.0  # linear warm-up, then cosine decay (paper: one epoch)
    weight_decay: Annotated[float, Field(ge=0)] = 0.1  # AdamW, on matrices only
    patience: Annotated[int, Field(ge=0)] = 3  # stop after this many epochs without a better dev score (0 = never)
    seed: Annotated[int, Field(ge=0)] = 0  # shuffling (and the random weights of a model trained from scratch)
    # fp32, auto (bf16 autocast where supported), bf16 or fp16; full precision by default, as small
    # regression tasks lose accuracy under bf16 (docs/findings.md)
    precision: Precision = "fp32"
    checkpoint_every: Annotated[int, Field(ge=0)] = 0  # steps between resumable checkpoints; 0 = once per epoch
    lora_rank: Annotated[int, Field(ge=0)] = 0  # > 0: train LoRA adapters of this rank (and the heads) instead
    lora_alpha: Annotated[float, Field(gt=0)] = 16.0  # LoRA scaling numerator
    # what the heads read: "answer" (the hidden state at the answer position, the paper's), "mean" (over
    # the sequence) or "first" ([CLS], for a vocabulary without answer tokens); None: default_readout
    readout: Readout | None = None
    # k-mer models: train on each sequence in all k reading frames (0 to k-1 leading bases dropped at random)
    # and answer as the mean over the k frames; None: on for k-mer models, off for single bases, BPE and generation
    frame_shift: bool | None = None
    # warm start: a loaded model's weight matrices times this before the first step (tasks.warm_start;
    # 1 = as loaded; random weights are never shrunk); None: default_shrink of the model and run length
    shrink: Annotated[float, Field(gt=0, le=1)] | None = None
    progress: bool = True  # progress bar on the terminal
    tensorboard: bool = True  # TensorBoard events when tensorboard is installed

    def for_model(self, model: PretrainedModel, spec: TaskSpec, n_train: int | None = None) -> FinetuneConfig:
        """This recipe with nothing left open: the learning rate, readout, reading frames and warm start
        given, else settled by ``model`` on ``spec`` for a run over ``n_train`` training examples
        (None: a run long enough to shrink)."""
        lr = self.lr if self.lr is not None else default_lr(model.num_parameters())
        pooling = None if model.tokenizer().has_task_tokens else model.pooling  # read by a task head
        readout = self.readout if self.readout is not None else default_readout(model.causal, spec, pooling)
        frame_shift = self.frame_shift
        if frame_shift is None:
            frame_shift = model.tokenizer().reading_frames > 1 and spec.output != "sequence"
        steps = None if n_train is None else self.max_steps(n_train)
        shrink = self.shrink if self.shrink is not None else default_shrink(model, self.lora_rank, steps)
        if model.loaded_from is None:
            shrink = 1.0
        return replace(self, lr=lr, readout=readout, frame_shift=frame_shift, shrink=shrink)

    def steps_per_epoch(self, n_train: int, world_size: int = 1) -> int:
        """Optimiser steps that see every training example once."""
        return max(1, math.ceil(n_train / (self.batch_size * world_size)))

    def max_steps(self, n_train: int, world_size: int = 1) -> int:
        """Optimiser steps of the whole run, if early stopping does not end it first."""
        return max(1, round(self.epochs * self.steps_per_epoch(n_train, world_size)))

    def train_config(self, n_train: int, world_size: int = 1) -> TrainConfig:
        """The trainer's settings for ``n_train`` training examples: steps follow from epochs."""
        if self.lr is None:
            raise ConfigError("the fine-tuning learning rate is not settled: use FinetuneConfig.for_model(model, spec)")
        epoch = self.steps_per_epoch(n_train, world_size)
        return TrainConfig(
            max_steps=self.max_steps(n_train, world_size),
            batch_size=self.batch_size,
            grad_accum=1,
            lr=self.lr,
            warmup_steps=max(1, round(self.warmup_epochs * epoch)),
            weight_decay=self.weight_decay,
            precision=self.precision,
            seed=self.seed,
            eval_every=epoch,
            save_every=self.checkpoint_every or epoch,
            patience=self.patience,
            progress=self.progress,
            tensorboard=self.tensorboard,
        )


@dataclass(frozen=True)
class Sweep:
    """Settings tried side by side, each in its own run, dev keeping the best: learning rates and
    warm starts (``None`` in either, or an empty list: the recipe's own)."""

    lrs: Sequence[float | None] = ()
    shrinks: Sequence[float | None] = ()

    def settings(self, recipe: FinetuneConfig, default_lr: float) -> list[tuple[float, float | None]]:
        """Every (learning rate, shrink) pair to run, warm starts outermost; ``default_lr`` stands for
        an unset rate."""
        shrinks = list(self.shrinks or [recipe.shrink])
        if len(shrinks) > 1 and None in shrinks:
            raise ConfigError("several warm starts are tried: give each shrink as a number (1 = the weights as loaded)")
        rates = list(self.lrs or [recipe.lr])
        return [(default_lr if lr is None else lr, shrink) for shrink in shrinks for lr in rates]
