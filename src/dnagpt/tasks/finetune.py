"""Fine-tuning: one recipe, one entry point.

:class:`FinetuneConfig` holds the recipe with the paper's defaults (section 4,
Fig. S3), written once: the command line takes its defaults from it.
:func:`finetune` trains on the training examples with the shared
:class:`~dnagpt.training.trainer.Trainer` (resume, progress, logs, torchrun),
evaluates on dev after every epoch, keeps the best model in ``RUN/best``, stops
early, and scores the test examples once with the kept model.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from ..config import config_names, get_config
from ..device import Precision, resolve_device
from ..errors import ConfigError, DataError
from ..evaluation.plots import confusion_matrix_png, scatter_png
from ..io import atomic_write_text
from ..models import DNAGPT, PretrainedModel, build_model, load_model
from ..seeding import seed_everything
from ..training.distributed import DistributedContext, is_main_process
from ..training.optimization import TrainConfig
from ..training.trainer import Trainer, TrainingTask
from ..validation import check_resume, settings
from .codec import Readout, TaskBatch, TaskCodec, default_readout, load_task_codec
from .predict import evaluate_examples
from .spec import Example, TaskSpec


@settings(frozen=True)
class FinetuneConfig:
    """The fine-tuning recipe; defaults are the paper's where it gives them, except the learning rate
    of a small model (:func:`default_lr`), what an encoder reads (``readout``), the reading frames
    a k-mer model learns and answers in (``frame_shift``) and the shrinking of a small pretrained
    DNAGPT's weights before the first step (``shrink``, :func:`shrink_and_perturb`)."""

    epochs: Annotated[float, Field(gt=0)] = 10  # passes over the training examples (paper: 10)
    # peak learning rate; None: by the model's size (default_lr): 1e-3 for the small models dnagpt ships,
    # the paper's 3e-5 for its 0.1B and 3B models
    lr: Annotated[float, Field(gt=0)] | None = None
    batch_size: Annotated[int, Field(ge=1)] = 8  # examples per optimiser step and process (paper: 8)
    warmup_epochs: Annotated[float, Field(ge=0)] = 1.0  # linear warm-up, then cosine decay (paper: one epoch)
    weight_decay: Annotated[float, Field(ge=0)] = 0.1  # AdamW, on matrices only
    patience: Annotated[int, Field(ge=0)] = 3  # stop after this many epochs without a better dev score (0 = never)
    seed: Annotated[int, Field(ge=0)] = 0  # shuffling (and the random weights of a model trained from scratch)
    # fp32, auto (bf16 autocast where supported), bf16 or fp16. Full precision by default: runs are short,
    # and a tiny regression test fell from Pearson 0.5+ to 0.47 under bf16 autocast on the CPU.
    precision: Precision = "fp32"
    checkpoint_every: Annotated[int, Field(ge=0)] = 0  # steps between resumable checkpoints; 0 = once per epoch
    lora_rank: Annotated[int, Field(ge=0)] = 0  # > 0: train LoRA adapters of this rank (and the heads) instead
    lora_alpha: Annotated[float, Field(gt=0)] = 16.0  # LoRA scaling numerator
    # what the heads read: "answer" = the hidden state at the answer position (the paper), "mean" = the mean
    # hidden state over the sequence (one label column, or regression); None: by model and task
    # (default_readout: the answer for a decoder, the mean for an encoder where it serves)
    readout: Readout | None = None
    # k-mer models only: each training example loses 0 to k-1 of its leading bases at random (a new draw
    # every time it is drawn), so the model meets every sequence in all k reading frames of its tokens, and
    # dev, test and later predictions are the mean over the k frames (k times the scoring work);
    # None: on for k-mer models (measured: benchmarks/bench_gpu_frames), off for single bases, BPE and generation
    frame_shift: bool | None = None
    # warm start ("shrink and perturb", Ash & Adams 2020): before the first step every weight matrix of a
    # loaded model is multiplied by `shrink` and gets Gaussian noise of sd SHRINK_NOISE, so that weights
    # pretraining left large can move again; 1 = the weights as loaded. Random weights are never shrunk.
    # None: by the model and the run's length (default_shrink): DEFAULT_SHRINK for DNAGPT models under 20M
    # parameters (measured: benchmarks/bench_gpu_shrink, ~1,000 training examples; a briefly pretrained model
    # preferred 1 on dev: finetune_sweep over several shrinks lets dev pick), 1 for runs of fewer than
    # MIN_SHRINK_STEPS optimiser steps, other families, larger models and LoRA
    shrink: Annotated[float, Field(gt=0, le=1)] | None = None
    progress: bool = True  # progress bar on the terminal
    tensorboard: bool = True  # TensorBoard events when tensorboard is installed

    def for_model(self, model: PretrainedModel, spec: TaskSpec, n_train: int | None = None) -> FinetuneConfig:
        """This recipe with nothing left open: the learning rate, readout and warm start given, else
        :func:`default_lr` of ``model``, :func:`~dnagpt.tasks.codec.default_readout` of ``model`` on
        ``spec`` and :func:`default_shrink` of ``model`` for a run over ``n_train`` training examples
        (None: a run long enough to shrink)."""
        lr = self.lr if self.lr is not None else default_lr(model.num_parameters())
        readout = self.readout if self.readout is not None else default_readout(model.causal, spec)
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


SMALL_MODEL_LR = 1e-3  # measured on the shipped 3-6M-parameter models (README, "Fine-tuning")
PAPER_LR = 3e-5  # the paper's, for its 0.1B and 3B models (section 4)
SMALL_MODEL_PARAMETERS = 20_000_000  # below this, SMALL_MODEL_LR


DEFAULT_SHRINK = 0.2  # measured on the GPU-pretrained 6M model (README, "Warm start")
# a shrunk model regrows what it needs during fine-tuning, which takes steps: with 28 (100 examples, 4 epochs
# of 16) it fell to MCC ~0 on test where the weights as loaded kept 0.118 (promoter-core-human); with 76 or
# 130 steps the two were level (benchmarks/results/shrink_by_size.json)
MIN_SHRINK_STEPS = 50
SHRINK_NOISE = 0.01  # sd of the noise added after shrinking: half the sd of the initial weights (0.02)


def default_shrink(model: PretrainedModel, lora_rank: int = 0, steps: int | None = None) -> float:
    """How much :func:`shrink_and_perturb` shrinks ``model`` before fine-tuning by default:
    :data:`DEFAULT_SHRINK` for a DNAGPT model under 20M parameters fully fine-tuned (measured), 1
    (the weights as loaded) for a run of fewer than :data:`MIN_SHRINK_STEPS` optimiser ``steps``
    (too few to regrow shrunk weights; measured), and for the other families, larger models (the
    paper's 3e-5 barely moves them) and LoRA (which freezes the weights), where it was not measured."""
    small = model.num_parameters() < SMALL_MODEL_PARAMETERS
    long_enough = steps is None or steps >= MIN_SHRINK_STEPS
    return DEFAULT_SHRINK if model.family == "dnagpt" and small and not lora_rank and long_enough else 1.0


def shrink_and_perturb(model: torch.nn.Module, shrink: float, seed: int, noise: float = SHRINK_NOISE) -> None:
    """Multiply every weight matrix of ``model`` (embeddings, attention, MLPs, heads) by ``shrink``
    and add Gaussian noise of sd ``noise`` (drawn from ``seed``), in place; gains and biases stay.
    Pretraining leaves the small DNAGPT's matrices several times their initial size, which an
    optimiser's steps of a fixed size barely move; shrinking them lets fine-tuning reshape the model
    while keeping the direction of what pretraining learnt."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                draw = torch.randn(p.shape, generator=generator, dtype=torch.float32) * noise
                p.mul_(shrink).add_(draw.to(device=p.device, dtype=p.dtype))


def default_lr(n_parameters: int) -> float:
    """The fine-tuning learning rate used when none is given: 1e-3 for a model under 20M parameters,
    3e-5 (the paper's) from there up.

    The paper's 3e-5 barely moves the small models dnagpt ships: on six bench tasks (3 seeds, the
    GPU-pretrained 6M model and its random-weights twin) 1e-3 raised the mean test MCC from 0.246
    to 0.392 pretrained and from 0.162 to 0.275 from scratch, and splice-arabidopsis from 0.005 to
    0.324 (``benchmarks/finetune_default_lr``). Between 20M and 0.1B nothing was measured; compare
    rates on your dev set there (``dnagpt bench --lr``)."""
    return SMALL_MODEL_LR if n_parameters < SMALL_MODEL_PARAMETERS else PAPER_LR


@dataclass
class FinetuneResult:
    """What a fine-tuning run kept, and how it scored (filled on rank 0 only under torchrun)."""

    best_dir: Path  # the kept model, with its task.json: load with DNAGPT.from_pretrained
    lr: float  # the peak learning rate it was trained with
    shrink: float = 1.0  # how much its loaded weights were shrunk before the first step (1 = not at all)
    dev: dict = field(default_factory=dict)  # dev metrics of the kept model, with the step it was kept at
    test: dict | None = None  # test metrics of the kept model, when test examples were given


class FinetuneTask(TrainingTask):
    """Training on a list of examples, shuffled anew every epoch; evaluated on dev examples."""

    def __init__(self, codec: TaskCodec, train: list[Example], dev: list[Example], seed: int, eval_batch: int,
                 frame_shift: bool = False) -> None:  # fmt: skip
        self.codec, self.train, self.dev = codec, train, dev
        self.seed, self.eval_batch, self.frame_shift = seed, eval_batch, frame_shift
        self.selection_metric = codec.selection_metric
        self.higher_is_better = codec.spec.output != "sequence"
        self.lora: tuple[int, float] | None = None

    def batch(self, indices: range) -> TaskBatch:
        n = len(self.train)
        picks = []
        for g in indices:  # sample g is position g % n of epoch g // n's shuffle: a pure function of g
            order = np.random.default_rng([self.seed, g // n]).permutation(n)
            example = self.train[int(order[g % n])]
            picks.append(self._shifted(example, g) if self.frame_shift else example)
        return self.codec.batch(picks)

    def _shifted(self, example: Example, g: int) -> Example:
        """``example`` without 0 to k-1 of its leading bases, drawn from the seed and sample number
        ``g`` (so a resumed run draws the same), at least one base kept."""
        choices = min(self.codec.tok.reading_frames, len("".join(example.sequence.split())))
        return self.codec.shifted(example, int(np.random.default_rng([self.seed, g, _FRAME_STREAM]).integers(choices)))

    def loss(self, model: DNAGPT, batch: TaskBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self.codec.loss(model, batch)
        return loss, {"loss": loss.detach()}

    def evaluate(self, model: DNAGPT, device, autocast: contextlib.AbstractContextManager) -> dict:
        return evaluate_examples(self.codec, model, self.dev, device, autocast, self.eval_batch)[0]

    def export_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.lora is None:
            return state
        from .lora import merged_state_dict

        return merged_state_dict(state, *self.lora)


_FRAME_STREAM = 7  # keeps the frame draws apart from the shuffle's random stream
RUN_SETTINGS = "finetune.json"  # the recipe, task and data a run was started with
_TRAINER_NAME = {"recipe.epochs": "train.max_steps", "recipe.patience": "train.patience",
                 "recipe.checkpoint_every": "train.save_every"}  # fmt: skip


def _fingerprint(examples: list[Example]) -> dict:
    """How many examples, and a SHA-256 of their prompts and answers, in order."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(repr((e.text, e.labels, e.value)).encode())
    return {"examples": len(examples), "sha256": digest.hexdigest()}


def starting_model(source: str, from_scratch: bool = False, seed: int = 0) -> DNAGPT:
    """The model fine-tuning starts from: the weights at ``source`` (a model directory, a shipped
    model's name or a published ``.pth``), or with ``from_scratch`` random weights (seeded) of the
    architecture that ``source`` names: a configuration name, or any of the above."""
    if not from_scratch:
        return load_model(source)
    config = get_config(source) if source in config_names() else load_model(source).config
    seed_everything(seed)
    return build_model(config)


def _recipe_line(cfg: FinetuneConfig, model: PretrainedModel, n_train: int, steps: int, frames: int) -> str:
    """One line saying how this run fine-tunes: the settled learning rate, length, frames and warm start."""
    if model.loaded_from is None:
        start = "random weights"
    elif cfg.shrink < 1:
        start = f"pretrained weights shrunk by {cfg.shrink:g}"
    else:
        start = "pretrained weights as loaded"
    read = f"every one of {frames} reading frames" if frames > 1 else "one reading frame"
    epochs = f"{cfg.epochs:g} epoch{'' if cfg.epochs == 1 else 's'} of batch {cfg.batch_size}"
    return f"fine-tuning {n_train:,} examples: lr {cfg.lr:g}, {epochs} ({steps:,} steps at most), {read}, {start}"


def finetune(
    model: DNAGPT,
    spec: TaskSpec,
    train: list[Example],
    dev: list[Example],
    cfg: FinetuneConfig,
    run_dir: str | Path,
    test: list[Example] | None = None,
    device: str = "auto",
    resume: bool = False,
    allow_changes: Collection[str] = (),
) -> FinetuneResult:
    """Fine-tune ``model`` (in place) on ``train``, keep the best epoch on ``dev`` in ``RUN/best``,
    and score ``test`` with it (``RUN/test_metrics.json`` and a confusion matrix or scatter plot).
    Loaded weights are first shrunk as ``cfg.shrink`` says (by default for a small DNAGPT).

    ``resume`` continues the run in ``run_dir``; the recipe, task and data must be those it was
    started with, except the settings ``allow_changes`` names (``recipe.epochs``, ``recipe.patience``,
    ``recipe.checkpoint_every``)."""
    run_dir = Path(run_dir)
    cfg = cfg.for_model(model, spec, len(train))
    if not resume and (run_dir / "checkpoint.pt").exists():
        raise ConfigError(f"{run_dir} already holds a run; add --resume to continue it, or choose another --out")
    settings_now = {
        "recipe": dataclasses.asdict(cfg),
        "task": dataclasses.asdict(spec),
        "data": {name: _fingerprint(part) for name, part in (("train", train), ("dev", dev))},
    }
    if resume:  # before any work: changed settings or data would silently make another run
        check_resume(run_dir / RUN_SETTINGS, settings_now, allow_changes)
    if spec.output == "sequence" and not model.causal:
        raise ConfigError(f"task {spec.name} generates sequences, which a {model.family!r} encoder cannot do; "
                          "fine-tune a DNAGPT decoder for it")  # fmt: skip
    dist = DistributedContext.from_environment(device)
    mean, std = 0.0, 1.0
    if spec.output == "number":
        values = np.array([e.value for e in train])
        mean, std = float(values.mean()), float(max(values.std(), 1e-8))
    tok = model.tokenizer()
    if cfg.frame_shift and tok.reading_frames == 1:
        raise ConfigError(f"task {spec.name}: frame_shift serves models that read k-mer tokens (k > 1); this "
                          f"{model.family!r} model has one reading frame")  # fmt: skip
    frames = tok.reading_frames if cfg.frame_shift else 1
    codec = TaskCodec(spec, tok, model.max_input_tokens, mean, std, cfg.readout, frames)
    for part in (train, dev, test or []):
        codec.check(part)
    train_cfg = cfg.train_config(len(train), dist.world_size)
    task = FinetuneTask(codec, train, dev, cfg.seed, eval_batch=cfg.batch_size * 4, frame_shift=cfg.frame_shift)
    if cfg.shrink < 1 and not resume:  # a resumed run takes its weights from the checkpoint
        shrink_and_perturb(model, cfg.shrink, cfg.seed)
    if cfg.lora_rank:
        from .lora import add_lora

        trainable = add_lora(model, cfg.lora_rank, cfg.lora_alpha)
        task.lora = (cfg.lora_rank, cfg.lora_alpha)
        if dist.is_main:
            print(f"LoRA rank {cfg.lora_rank}: {trainable:,} trainable parameters")
    if dist.is_main:
        print(_recipe_line(cfg, model, len(train), train_cfg.max_steps, frames))  # what the defaults settled to
        run_dir.mkdir(parents=True, exist_ok=True)
        codec.save(run_dir)
        atomic_write_text(run_dir / RUN_SETTINGS, json.dumps(settings_now, indent=2) + "\n")
    trainer_may_change = {_TRAINER_NAME[k] for k in allow_changes if k in _TRAINER_NAME}
    Trainer(model, task, train_cfg, run_dir, dist, trainer_may_change).train(resume=resume)
    best_dir = run_dir / "best"
    if dist.is_main and best_dir.exists():
        codec.save(best_dir)
    dist.barrier()
    device_used = dist.device
    dist.close()
    result = FinetuneResult(best_dir, cfg.lr, cfg.shrink)
    if not dist.is_main:  # under torchrun, rank 0 reports and scores the test set
        return result
    if (best_dir / "selection.json").exists():
        result.dev = json.loads((best_dir / "selection.json").read_text())
    if test:
        result.test = score_test_set(best_dir, test, run_dir, device_used)
    return result


def score_test_set(model_dir: Path, test: list[Example], out_dir: Path, device: torch.device | str = "cpu") -> dict:
    """Score the kept model once on the test examples (full precision); write ``test_metrics.json``
    and a picture: a confusion matrix per label column, or predicted against true values."""
    model = load_model(model_dir, map_location=device)
    codec = load_task_codec(model_dir, model)
    scores, preds = evaluate_examples(codec, model, test, device)
    atomic_write_text(out_dir / "test_metrics.json", json.dumps(scores, indent=2) + "\n")
    columns = codec.spec.label_columns
    if codec.spec.output == "token":
        names = codec.label_names
        for j, column in enumerate(columns):  # one matrix per label column
            truth = [names.index(e.labels[j]) for e in test]
            column_scores = scores if len(columns) == 1 else {k.split(":", 1)[1]: v for k, v in scores.items()
                                                              if k.startswith(f"{column}:")}  # fmt: skip
            where = out_dir / ("test_confusion.png" if len(columns) == 1 else f"test_confusion_{column}.png")
            confusion_matrix_png(truth, preds[:, j].argmax(-1), names, where, column_scores)
    if codec.spec.output == "number":
        scatter_png([e.value for e in test], preds, out_dir / "test_scatter.png", scores)
    return scores


def finetune_sweep(
    model: DNAGPT,
    spec: TaskSpec,
    train: list[Example],
    dev: list[Example],
    cfg: FinetuneConfig,
    run_dir: str | Path,
    lrs: Sequence[float | None] | None = None,
    shrinks: Sequence[float | None] | None = None,
    test: list[Example] | None = None,
    device: str = "auto",
    resume: bool = False,
    allow_changes: Collection[str] = (),
) -> tuple[FinetuneResult, dict[tuple[float, float | None], float]]:
    """Fine-tune ``model`` at each learning rate of ``lrs`` and each warm start of ``shrinks`` (None,
    or a missing list: the recipe's own ``cfg.lr`` / ``cfg.shrink``), keep the run with the best dev
    score, and score ``test`` once with it; the test set plays no part in the choice.

    One setting is a plain :func:`finetune` in ``run_dir``. Several each get their own run in
    ``RUN/lr<lr>`` (``RUN/lr<lr>-shrink<s>`` when several warm starts are tried; the last setting
    trains ``model`` itself, the others a copy); the kept run's model is then copied to ``RUN/best``,
    the dev score of every setting written to ``RUN/sweep.json`` and the test scores to
    ``RUN/test_metrics.json``. Returns the kept run and each (learning rate, shrink) setting's dev
    score. ``resume`` continues the runs a killed sweep left."""
    run_dir = Path(run_dir)
    shrinks = list(shrinks or [cfg.shrink])
    if len(shrinks) > 1 and None in shrinks:
        raise ConfigError("several warm starts are tried: give each shrink as a number (1 = the weights as loaded)")
    default = cfg.for_model(model, spec).lr
    settings_tried = [(default if lr is None else lr, shrink) for shrink in shrinks for lr in (lrs or [cfg.lr])]
    metric = TaskCodec(spec, model.tokenizer(), model.max_input_tokens).selection_metric
    if len(settings_tried) == 1:
        lr, shrink = settings_tried[0]
        one = finetune(model, spec, train, dev, replace(cfg, lr=lr, shrink=shrink), run_dir, test, device,
                       resume and (run_dir / "checkpoint.pt").is_file(), allow_changes)  # fmt: skip
        return one, {(lr, shrink): one.dev.get(metric, float("nan"))}
    runs, folders = {}, {}
    for i, (lr, shrink) in enumerate(settings_tried):
        folders[lr, shrink] = f"lr{lr:g}" + (f"-shrink{shrink:g}" if len(shrinks) > 1 else "")
        out = run_dir / folders[lr, shrink]
        start = model if i == len(settings_tried) - 1 else copy.deepcopy(model)  # the last run may train the original
        runs[lr, shrink] = finetune(start, spec, train, dev, replace(cfg, lr=lr, shrink=shrink), out, device=device,
                                    resume=resume and (out / "checkpoint.pt").is_file(),
                                    allow_changes=allow_changes)  # fmt: skip
    sign = -1.0 if spec.output == "sequence" else 1.0  # generation: lower loss is better
    by_setting = {key: r.dev.get(metric, float("nan")) for key, r in runs.items()}
    key = max(settings_tried, key=lambda k: sign * by_setting[k] if not math.isnan(by_setting[k]) else float("-inf"))
    kept = runs[key]
    if not is_main_process() or not kept.best_dir.is_dir():
        return kept, by_setting
    kept.best_dir = _replace_folder(kept.best_dir, run_dir / "best")
    record = {"metric": metric, "kept": folders[key],
              "runs": [{"folder": folders[k], "lr": k[0], "shrink": runs[k].shrink, "dev": by_setting[k]}
                       for k in settings_tried]}  # fmt: skip
    atomic_write_text(run_dir / "sweep.json", json.dumps(record, indent=2) + "\n")
    if test:
        kept.test = score_test_set(kept.best_dir, test, run_dir, resolve_device(device))
    return kept, by_setting


def _replace_folder(source: Path, target: Path) -> Path:
    """Copy the folder ``source`` to ``target``, replacing what was there; a killed copy leaves the
    old ``target`` (or, between two renames, ``target`` missing and its old copy beside it)."""
    partial, old = target.with_name(f".{target.name}.partial"), target.with_name(f".{target.name}.old")
    for leftover in (partial, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, partial)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def load_splits(
    spec: TaskSpec, train: str, dev: str | None, test: str | None, seed: int, out_dir: Path
) -> tuple[TaskSpec, list[Example], list[Example], list[Example] | None]:
    """The task (with its labels read from the training table when the task file maps none) and
    its train / dev / test examples from the given tables.

    Without a dev table the training table is split with ``seed``: 6 : 1.5 : 2.5 into
    train / dev / test, or 6 : 1.5 into train / dev when a test table is given. The
    split's row numbers are saved in ``out_dir/split.json``. Every table is read and
    checked before any training starts.
    """
    from ..data.tables import read_rows, split_rows
    from .spec import build_examples, with_labels_from

    paths = {"train": train, "dev": dev, "test": test}
    tables = {name: read_rows(path, spec.sequence_column) for name, path in paths.items() if path}
    spec = with_labels_from(spec, tables["train"], train)
    if dev:
        built = {name: build_examples(spec, rows, paths[name]) for name, rows in tables.items()}
        return spec, built["train"], built["dev"], built.get("test")
    rows = tables["train"]
    fractions = (0.8, 0.2, 0.0) if test else (0.6, 0.15, 0.25)
    parts = dict(zip(("train", "dev", "test"), split_rows(list(range(len(rows))), seed, fractions), strict=True))
    empty = [name for name in ("train", "dev", "test") if not parts[name] and not (name == "test" and test)]
    if empty:
        raise DataError(
            f"{train}: {len(rows)} rows are too few to split into train / dev{'' if test else ' / test'} "
            f"(the {' and '.join(empty)} part would be empty); give more rows, or --dev and --test tables"
        )
    built = {
        name: build_examples(spec, [rows[i] for i in idx], train, row_numbers=[i + 1 for i in idx])
        for name, idx in parts.items()
        if idx
    }
    if test:
        built["test"] = build_examples(spec, tables["test"], test)
    out_dir.mkdir(parents=True, exist_ok=True)
    split = {"seed": seed, "rows": {k: [i + 1 for i in v] for k, v in parts.items()}}
    atomic_write_text(out_dir / "split.json", json.dumps(split) + "\n")
    return spec, built["train"], built["dev"], built.get("test")


def finetune_from_files(
    model: str,
    task_file: str | Path,
    train: str,
    out: str | Path,
    cfg: FinetuneConfig | None = None,
    dev: str | None = None,
    test: str | None = None,
    from_scratch: bool = False,
    split_seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    allow_changes: Collection[str] = (),
    lrs: Sequence[float] | None = None,
    shrinks: Sequence[float] | None = None,
) -> FinetuneResult:
    """What ``dnagpt finetune`` does: read the task file (or a template's name) and tables (every row
    checked first), start from ``model`` (or from random weights of its architecture), and
    :func:`finetune`; or, given several learning rates ``lrs`` or warm starts ``shrinks``,
    :func:`finetune_sweep` over them, dev keeping the best. A classification without ``[labels]``
    reads them from the training table."""
    cfg = cfg or FinetuneConfig()
    if from_scratch and shrinks and len(shrinks) > 1:
        raise ConfigError("random weights (--from-scratch) are never shrunk: give one --shrink, or none")
    given = TaskSpec.load(task_file)
    spec, train_examples, dev_examples, test_examples = load_splits(given, train, dev, test, split_seed, Path(out))
    report = is_main_process()
    if spec.labels != given.labels and report:
        mapping = ", ".join(f"{value} -> <{token}>" for value, token in spec.labels.items())
        print(f"labels read from {train}: {mapping}")
    start = starting_model(model, from_scratch, cfg.seed)
    kept, by_setting = finetune_sweep(start, spec, train_examples, dev_examples, cfg, out, lrs, shrinks,
                                      test_examples, device, resume, allow_changes)  # fmt: skip
    if len(by_setting) > 1 and report:
        for (lr, shrink), score in by_setting.items():
            warm = "" if shrink is None else f", shrink {shrink:g}"
            mark = "  <- kept" if lr == kept.lr and shrink in (None, kept.shrink) else ""
            print(f"lr {lr:g}{warm}: best dev {score:.4f}{mark}")
    return kept
