"""The bench's models: classical baselines and, for every registered model family, its pretrained
model and the same shape from random weights, each fine-tuned with the bench's recipe."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..evaluation.classical import (
    cnn_classifier,
    kmer_features,
    kmer_logistic_regression,
    majority_class,
    ridge_regression,
)
from ..models import FAMILIES, ModelFamily, get_family, load_config
from ..tasks.finetune import starting_model
from ..tasks.spec import TaskData, build_examples
from ..tasks.sweep import finetune_sweep
from .config import SPLITS, BenchConfig
from .tasks import BenchTask


@dataclass
class Run:
    """One cell of the bench: a model fitted on a task's training subsample with one seed."""

    task: BenchTask
    model: str
    seed: int
    n_train: int  # the requested size (0 = all)
    train: list[dict]
    dev: list[dict]
    test: list[dict]
    work: Path  # scratch folder of a fine-tuning run (removed when the run is saved)
    cfg: BenchConfig


def classical_inputs(run: Run) -> tuple[list, list]:
    parts = (run.train, run.dev, run.test)
    return [run.task.sequences(p) for p in parts], [run.task.labels(p) for p in parts]


def _majority(run: Run) -> dict:
    _, ys = classical_inputs(run)
    return majority_class(ys[0], ys[2])


def _kmer_logreg(run: Run) -> dict:
    seqs, ys = classical_inputs(run)
    return kmer_logistic_regression(*(kmer_features(s) for s in seqs), *ys)


def _cnn(run: Run) -> dict:
    seqs, ys = classical_inputs(run)
    return cnn_classifier(*seqs, *ys, epochs=run.cfg.cnn_epochs, seed=run.seed, patience=run.cfg.cnn_patience or None)


def _ridge(run: Run) -> dict:
    seqs, ys = classical_inputs(run)
    parts = (run.train, run.dev, run.test)
    features = [np.hstack([kmer_features(s), run.task.numbers(p)]) for s, p in zip(seqs, parts, strict=True)]
    return ridge_regression(*features, *ys)


def _fine_tuned(run: Run, source: str, from_scratch: bool) -> dict:
    """Fine-tune the model at ``source`` (a family's :meth:`BenchModel.pretrained_source`, or a model
    directory), or its architecture from random weights, with the bench's recipe. A causal model reads the recipe's
    readout; a masked one reads where :func:`~dnagpt.tasks.codec.default_readout` says. With several
    learning rates or (for loaded weights) several warm starts, each setting gets its own run and
    the best dev score is kept (``lr``, ``shrink``)."""
    cfg = run.cfg
    model = starting_model(source, from_scratch=from_scratch, seed=run.seed)
    frame_shift = cfg.recipe.frame_shift
    if frame_shift is not None:  # asked of every model: the models with one reading frame have none to shift
        frame_shift = frame_shift and model.tokenizer().reading_frames > 1
    recipe = replace(cfg.recipe, seed=run.seed, readout=cfg.recipe.readout if model.causal else None,
                     frame_shift=frame_shift)  # fmt: skip
    sweep = replace(cfg.sweep, shrinks=()) if from_scratch else cfg.sweep  # random weights are never shrunk
    examples = [build_examples(run.task.spec, rows, f"{run.task.name} {split}")
                for split, rows in zip(SPLITS, (run.train, run.dev, run.test), strict=True)]  # fmt: skip
    # resume=True: a bench killed during this run continues it
    best, by_setting = finetune_sweep(model, TaskData(run.task.spec, *examples), recipe, run.work, sweep,
                                      device="auto", resume=True)  # fmt: skip
    several_rates, several_shrinks = len(cfg.sweep.lrs) > 1, len(sweep.shrinks) > 1
    # the warm start a loaded model got is recorded, picked or by default (it follows the run's length)
    picked: dict = ({"lr": best.lr} if several_rates else {}) | ({} if from_scratch else {"shrink": best.shrink})
    if several_rates and several_shrinks:
        picked["dev_by_setting"] = {f"lr {lr:g}, shrink {s:g}": score for (lr, s), score in by_setting.items()}
    elif several_rates:
        picked["dev_by_lr"] = {f"{lr:g}": score for (lr, _), score in by_setting.items()}
    elif several_shrinks:
        picked["dev_by_shrink"] = {f"{s:g}": score for (_, s), score in by_setting.items()}
    return dict(best.test or {}) | {"dev": best.dev} | picked


def _source(family: ModelFamily, cfg: BenchConfig) -> str:
    return cfg.pretrained if family.bench_default or family.shipped is None else family.shipped


@dataclass(frozen=True)
class BenchModel:
    """A model the bench can run: what it is, which task outputs it handles, how it runs."""

    description: str
    outputs: tuple[str, ...]  # "token" (classification) and / or "number" (regression)
    run: Callable[[Run], dict]
    classical: bool = True
    default: bool = True  # in a bench that names no models
    family: ModelFamily | None = None  # the model family of a neural model

    @property
    def family_name(self) -> str | None:
        """The name of its model family; None for a classical model."""
        return None if self.family is None else self.family.name

    def pretrained_source(self, cfg: BenchConfig) -> str | None:
        """The pretrained model this bench model (or its scratch twin) takes its shape from."""
        return None if self.family is None else _source(self.family, cfg)


def family_models(family: ModelFamily) -> dict[str, BenchModel]:
    """A family's two bench models: ``FAMILY-scratch`` (its architecture from random weights) and
    ``FAMILY-pretrained``, both fine-tuned the same way."""
    source = "the bench's pretrained model (--pretrained)" if family.bench_default else f"{family.shipped}"
    head = ("" if family.model.causal else ", read by the mean over the sequence (the answer position on a task "
            "with numeric inputs)")  # fmt: skip
    return {
        f"{family.name}-{how}": BenchModel(
            f"{family.title}: {source}{', its shape from random weights' if how == 'scratch' else ''}, "
            f"fine-tuned{head}",
            ("token", "number"),
            lambda run, scratch=how == "scratch": _fine_tuned(run, _source(family, run.cfg), scratch),
            classical=False,
            default=family.bench_default,
            family=family,
        )
        for how in ("scratch", "pretrained")
    }


def bench_models() -> dict[str, BenchModel]:
    """Every model the bench can run: the classical baselines, then two per registered family."""
    models = {
        "majority": BenchModel("always the most frequent training class", ("token",), _majority),
        "kmer-logreg": BenchModel(
            "logistic regression on 1- to 6-mer frequencies, L2 picked on dev", ("token",), _kmer_logreg
        ),
        "cnn": BenchModel("3-block CNN on one-hot bases; learning rate and epoch picked on dev", ("token",), _cnn),
        "ridge": BenchModel(
            "ridge regression on 1- to 6-mer frequencies and the numeric inputs, L2 picked on dev", ("number",), _ridge
        ),
    }
    for family in FAMILIES.values():
        if family.shipped or family.bench_default:  # a family with a pretrained model to start from
            models |= family_models(family)
    return models


MODELS = bench_models()


RANDOM_PREFIX = "random:"  # LABEL=random:DIR: the shape of the model in DIR, from random weights


def directory_model(path: str, from_scratch: bool = False) -> BenchModel:
    """A model directory as a bench model: any model dnagpt reads (its own, or a downloaded GPN or
    DNABERT-2 checkpoint), fine-tuned from its weights with the bench's recipe and read as
    ``dnagpt finetune`` reads it by default; with ``from_scratch``, its architecture and vocabulary
    from random weights (seeded by the run), the twin that shows what its pretraining adds."""
    config = load_config(Path(path) / "config.json")
    start = "its shape from random weights" if from_scratch else "fine-tuned"
    return BenchModel(f"{get_family(config.family).title}: the model in {path}, {start}",
                      ("token", "number"), lambda run: _fine_tuned(run, path, from_scratch), classical=False,
                      default=False)  # fmt: skip


def register_models(names: Iterable[str]) -> list[str]:
    """Make every name a bench model and return the names the bench files them under: the registered
    ones; model directories, filed under the path as given, or under LABEL for ``LABEL=DIR`` (added to
    :data:`MODELS`), and ``LABEL=random:DIR`` for the same architecture from random weights; anything
    else is an error listing the choices."""
    unknown, filed = [], []
    for name in names:
        labelled = "=" in name
        label, path = name.split("=", 1) if labelled else (name, name)
        from_scratch = labelled and path.startswith(RANDOM_PREFIX)
        path = path.removeprefix(RANDOM_PREFIX) if from_scratch else path
        if name in MODELS and not labelled:
            filed.append(name)
        elif Path(path).is_dir() and (Path(path) / "config.json").is_file():
            MODELS[label] = directory_model(path, from_scratch)
            filed.append(label)
        else:
            unknown.append(name)
    if unknown:
        raise ConfigError(f"unknown bench models {', '.join(unknown)}: neither a model directory (with config.json; "
                          f"or LABEL=DIR, LABEL=random:DIR) nor one of {', '.join(MODELS)}")  # fmt: skip
    return filed
