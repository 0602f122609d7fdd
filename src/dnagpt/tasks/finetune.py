"""Fine-tuning one model on one task: the run.

:func:`finetune` trains on the training examples with the shared
:class:`~dnagpt.training.trainer.Trainer` (resume, progress, logs, torchrun), evaluates
on dev after every epoch, keeps the best model in ``RUN/best``, stops early, and scores
the test examples once with the kept model. The recipe is :class:`~.recipe.FinetuneConfig`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.alignment import Alignment
from ..device import resolve_device
from ..errors import ConfigError
from ..evaluation.plots import can_draw, confusion_matrix_png, scatter_png
from ..io import atomic_write_text, digest_path
from ..models import PretrainedModel, build_model, config_names, get_config, load_model
from ..seeding import seed_everything
from ..training.distributed import DistributedContext
from ..training.trainer import Trainer, TrainingTask
from ..validation import ResumeRules, check_resume
from .codec import TaskBatch, TaskCodec, load_task_codec
from .lora import add_lora, merged_state_dict
from .predict import evaluate_examples
from .recipe import FinetuneConfig
from .spec import Example, TaskData
from .warm_start import shrink_and_perturb

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"  # the trainer's resumable state
FINISHED = "finished.json"  # a finished run whose resumable checkpoint was removed


def run_started(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a fine-tuning run: one ``--resume`` continues, or finds finished."""
    return (Path(run_dir) / CHECKPOINT).is_file() or (Path(run_dir) / FINISHED).is_file()


@dataclass
class FinetuneResult:
    """What a fine-tuning run kept, and how it scored (filled on rank 0 only under torchrun)."""

    best_dir: Path  # the kept model, with its task.json: load with dnagpt.models.load_model
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

    def loss(self, model: PretrainedModel, batch: TaskBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = self.codec.loss(model, batch)
        return loss, {"loss": loss.detach()}

    def evaluate(self, model: PretrainedModel, device, autocast: contextlib.AbstractContextManager) -> dict:
        return evaluate_examples(self.codec, model, self.dev, device, autocast, self.eval_batch)[0]

    def export_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.lora is None:
            return state
        return merged_state_dict(state, *self.lora)


# What a resumed run's recipe may differ in (its trainer settings are checked by the trainer).
FINETUNE_RESUME = ResumeRules(
    presentation=frozenset({"recipe.progress", "recipe.tensorboard"}),
    may_change=frozenset({"recipe.epochs", "recipe.patience", "recipe.checkpoint_every"}),
    added_later={"recipe.readout": "answer", "recipe.frame_shift": False, "recipe.shrink": 1.0},
)
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


def starting_model(source: str, from_scratch: bool = False, seed: int = 0) -> PretrainedModel:
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
    model: PretrainedModel,
    data: TaskData,
    cfg: FinetuneConfig,
    run_dir: str | Path,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_changes: Collection[str] = (),
    alignment: Alignment | None = None,
    keep_checkpoint: bool = False,
) -> FinetuneResult:
    """Fine-tune ``model`` (in place) on ``data.train``, keep the best epoch on ``data.dev`` in
    ``RUN/best``, and score ``data.test`` with it (``RUN/test_metrics.json`` and a confusion matrix
    or scatter plot). Loaded weights are first shrunk as ``cfg.shrink`` says (:mod:`.warm_start`).
    A finished run removes its resumable ``checkpoint.pt`` (the optimiser's state, about three times
    the model's size) unless ``keep_checkpoint``; only a kept checkpoint lets a later ``--resume``
    train it further (more epochs).

    ``resume`` continues the run in ``run_dir``; the recipe, task and data must be those it was
    started with, except the settings ``allow_changes`` names (``recipe.epochs``, ``recipe.patience``,
    ``recipe.checkpoint_every``). A model that reads other species' aligned bases (GPN-MSA) reads them
    from ``alignment`` at each example's region (the task's ``region_column``)."""
    run_dir = Path(run_dir)
    spec, train, dev, test = data.spec, data.train, data.dev, data.test
    cfg = cfg.for_model(model, spec, len(train))
    if not resume and run_started(run_dir):
        raise ConfigError(f"{run_dir} already holds a run; add --resume to continue it, or choose another --out")
    settings_now = {
        "recipe": dataclasses.asdict(cfg),
        "task": dataclasses.asdict(spec),
        "data": {name: _fingerprint(part) for name, part in (("train", train), ("dev", dev))},
    }
    if resume:  # before any work: changed settings or data would silently make another run
        check_resume(run_dir / RUN_SETTINGS, settings_now, FINETUNE_RESUME, allow_changes)
        if (run_dir / FINISHED).is_file() and not (run_dir / CHECKPOINT).is_file():
            return _finished_run(run_dir, cfg, test, device, alignment, allow_changes)
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
    if bool(model.aligned_species) != (alignment is not None):
        raise ConfigError("a GPN-MSA model reads an alignment (--alignment MAF)" if model.aligned_species
                          else "--alignment: this model reads no alignment (only GPN-MSA models do)")  # fmt: skip
    if alignment is not None:
        alignment.check_species(model.aligned_species)
    codec = TaskCodec(spec, tok, model.max_input_tokens, mean, std, cfg.readout, frames, alignment)
    for part in (train, dev, test or []):
        codec.check(part)
    if codec.head_outputs and (not resume or codec.head_outputs != model.config.task_outputs):
        seed_everything(cfg.seed)  # a fresh task head (a resumed run's comes from its checkpoint)
        model.add_task_head(codec.head_outputs)
    train_cfg = cfg.train_config(len(train), dist.world_size)
    task = FinetuneTask(codec, train, dev, cfg.seed, eval_batch=cfg.batch_size * 4, frame_shift=cfg.frame_shift)
    if cfg.shrink < 1 and not resume:  # a resumed run takes its weights from the checkpoint
        shrink_and_perturb(model, cfg.shrink, cfg.seed)
    if cfg.lora_rank:
        trainable = add_lora(model, cfg.lora_rank, cfg.lora_alpha)
        task.lora = (cfg.lora_rank, cfg.lora_alpha)
        if dist.is_main:
            log.info("LoRA rank %d: %s trainable parameters", cfg.lora_rank, f"{trainable:,}")
    if dist.is_main:
        log.info(_recipe_line(cfg, model, len(train), train_cfg.max_steps, frames))  # what the defaults settled to
        run_dir.mkdir(parents=True, exist_ok=True)
        codec.save(run_dir)
        atomic_write_text(run_dir / RUN_SETTINGS, json.dumps(settings_now, indent=2) + "\n")
    trainer_may_change = {_TRAINER_NAME[k] for k in allow_changes if k in _TRAINER_NAME}
    trained = Trainer(model, task, train_cfg, run_dir, dist, trainer_may_change).train(resume=resume)
    best_dir = run_dir / "best"
    if dist.is_main and best_dir.exists():
        codec.save(best_dir)
        if not keep_checkpoint:  # the run is done: what a user keeps is best/, not the optimiser's state
            atomic_write_text(run_dir / FINISHED, json.dumps({"step": trained.step}) + "\n")
            for leftover in (run_dir / CHECKPOINT, digest_path(run_dir / CHECKPOINT)):
                leftover.unlink(missing_ok=True)
    dist.barrier()
    device_used = dist.device
    dist.close()
    result = FinetuneResult(best_dir, cfg.lr, cfg.shrink)
    if not dist.is_main:  # under torchrun, rank 0 reports and scores the test set
        return result
    if (best_dir / "selection.json").exists():
        result.dev = json.loads((best_dir / "selection.json").read_text())
    if test:
        result.test = score_test_set(best_dir, test, run_dir, device_used, alignment)
    return result


def _finished_run(run_dir: Path, cfg: FinetuneConfig, test: list[Example] | None, device: str,
                  alignment: Alignment | None, allow_changes: Collection[str]) -> FinetuneResult:  # fmt: skip
    """A resumed run that had finished: its kept model, dev and test scores as they stand."""
    if allow_changes:
        raise ConfigError(f"{run_dir}: this run finished and its resumable checkpoint was removed, so it cannot "
                          "train further; fine-tune again in another --out (--keep-checkpoint keeps a finished "
                          "run resumable)")  # fmt: skip
    best_dir = run_dir / "best"
    log.info("%s: the run had finished; its kept model is %s", run_dir, best_dir)
    result = FinetuneResult(best_dir, cfg.lr, cfg.shrink)
    if (best_dir / "selection.json").is_file():
        result.dev = json.loads((best_dir / "selection.json").read_text())
    if test and best_dir.is_dir():
        result.test = score_test_set(best_dir, test, run_dir, resolve_device(device), alignment)
    return result


def score_test_set(model_dir: Path, test: list[Example], out_dir: Path, device: torch.device | str = "cpu",
                   alignment: Alignment | None = None) -> dict:  # fmt: skip
    """Score the kept model once on the test examples (full precision); write ``test_metrics.json``
    and a picture: a confusion matrix per label column, or predicted against true values."""
    model = load_model(model_dir, map_location=device)
    codec = load_task_codec(model_dir, model, alignment)
    scores, preds = evaluate_examples(codec, model, test, device)
    atomic_write_text(out_dir / "test_metrics.json", json.dumps(scores, indent=2) + "\n")
    columns = codec.spec.label_columns
    if codec.spec.output == "token" and can_draw():
        names = codec.label_names
        for j, column in enumerate(columns):  # one matrix per label column
            truth = [names.index(e.labels[j]) for e in test]
            column_scores = scores if len(columns) == 1 else {k.split(":", 1)[1]: v for k, v in scores.items()
                                                              if k.startswith(f"{column}:")}  # fmt: skip
            where = out_dir / ("test_confusion.png" if len(columns) == 1 else f"test_confusion_{column}.png")
            confusion_matrix_png(truth, preds[:, j].argmax(-1), names, where, column_scores)
    if codec.spec.output == "number" and can_draw():
        scatter_png([e.value for e in test], preds, out_dir / "test_scatter.png", scores)
    return scores
