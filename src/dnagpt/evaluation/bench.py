"""``dnagpt bench``: many real tasks x models x seeds, resumable, one tidy results table.

Every run fine-tunes or fits one model on one task with one seed and one training size, and is
saved as its own JSON file the moment it finishes, so a killed bench continues where it was. The
seed draws the training subsample (the same for every model at that seed, so differences between
models are paired) and seeds the model's own randomness. Dev picks each model's hyper-parameters
(learning rate or regularisation, and the epoch); test is scored once.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from ..errors import ConfigError, DataError
from ..io import atomic_write_text
from ..tasks.codec import Readout
from ..tasks.spec import TaskSpec
from ..validation import check_resume, settings
from .classical import cnn_classifier, kmer_features, kmer_logistic_regression, majority_class, ridge_regression

SPLITS = ("train", "dev", "test")
PRIMARY = {"token": "mcc", "number": "r2"}  # the metric each kind of task is judged by
CURVE_TASKS = ["promoter-core-human", "ctcf-human", "tf-human"]  # short windows: "all" examples stays affordable


Shrink = Annotated[float, Field(gt=0, le=1)]  # a warm start: the pretrained matrices times this (1 = as loaded)


@settings(frozen=True)
class BenchConfig:
    """What a bench runs. Task names are datasets of ``dnagpt data build`` or folders holding a
    ``task.toml`` and ``train`` / ``dev`` / ``test`` tables (your own data)."""

    tasks: list[str] = field(default_factory=list)  # empty: every labelled dataset of `dnagpt data build`
    models: list[str] = field(default_factory=list)  # empty: every model of MODELS that fits the task
    seeds: Annotated[int, Field(ge=1)] = 5  # seeds 0 .. seeds-1, each a paired replicate
    # fine-tuned as is; its architecture trained from scratch. The GPU model pretrained one CPU hour more:
    # level with the GPU model downstream (benchmarks/results/continued_vs_gpu.json), which beats the CPU
    # one on all 14 tasks by mean, and the only shipped model below the Markov baseline on every genome
    pretrained: str = "dnagpt-small-multispecies-continued"
    max_train: Annotated[int, Field(ge=0)] = 1000  # training examples per run, drawn by the seed (0 = all)
    max_dev: Annotated[int, Field(ge=0)] = 500  # dev examples kept (0 = all): scored every epoch, so they cost time
    max_eval: Annotated[int, Field(ge=0)] = 0  # dev and test examples kept (0 = all; for quick looks only)
    curve_tasks: list[str] = field(default_factory=lambda: list(CURVE_TASKS))  # learning curves on these
    curve_sizes: list[Annotated[int, Field(ge=0)]] = field(default_factory=lambda: [100, 300, 1000, 0])  # 0 = all
    epochs: Annotated[float, Field(gt=0)] = 4  # DNAGPT fine-tuning epochs (best dev epoch kept)
    # fine-tuning peak learning rate of every neural model; several: each is tried and dev picks, per
    # model and seed, as for the CNN (costs one fine-tuning run per rate)
    lr: Annotated[float, Field(gt=0)] | Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)] = 1e-3
    batch_size: Annotated[int, Field(ge=1)] = 16
    patience: Annotated[int, Field(ge=0)] = 2  # epochs without a better dev score before stopping
    readout: Readout = "answer"  # what DNAGPT's heads read: the answer position, or the mean over the sequence
    # k-mer models train on sequences shifted by 0..k-1 bases and answer as the mean over the k reading
    # frames (FinetuneConfig.frame_shift); None: as dnagpt finetune, on for k-mer models
    frame_shift: bool | None = None
    # the pretrained weights' matrices are multiplied by this before fine-tuning (FinetuneConfig.shrink);
    # None: as dnagpt finetune (0.2 for the small DNAGPT models); several: each is tried and dev picks, per
    # model and seed (one fine-tuning run each); random weights are never shrunk
    shrink: Shrink | Annotated[list[Shrink], Field(min_length=2)] | None = None
    cnn_epochs: Annotated[int, Field(ge=1)] = 15  # CNN epochs at most (best dev epoch and learning rate kept)
    # CNN epochs without a better dev MCC before a learning rate's run stops (0: never). Off by default:
    # the CNN's dev MCC is noisy and its best epoch often late (stopping after 3 cost 0.06-0.09 MCC)
    cnn_patience: Annotated[int, Field(ge=0)] = 0
    data: str = ""  # where datasets are built (default: the cache)

    def has_curve(self, task: str) -> bool:
        """Whether ``task`` gets a learning curve (a task folder may be named by its path or its name)."""
        return task in self.curve_tasks or Path(task).name in self.curve_tasks


# Settings a bench may change between sessions: they add or leave out runs, never change one.
MAY_CHANGE = ("tasks", "models", "seeds", "curve_tasks", "curve_sizes", "data")


@dataclass
class BenchTask:
    """A task loaded for benchmarking: its spec and its full train / dev / test rows."""

    name: str
    spec: TaskSpec
    tables: dict[str, list[dict]]
    description: str = ""  # how its labels are defined, for the report

    @property
    def output(self) -> str:
        return self.spec.output

    @property
    def label_names(self) -> list[str]:
        return list(self.spec.labels)

    def labels(self, rows: list[dict]) -> np.ndarray:
        """Class indices (classification) or numbers (regression) of ``rows``."""
        column = self.spec.label_column
        if self.output == "number":
            return np.array([float(r[column]) for r in rows])
        names = self.label_names
        return np.array([names.index(str(r[column])) for r in rows])

    def sequences(self, rows: list[dict]) -> list[str]:
        return [str(r[self.spec.sequence_column]).upper() for r in rows]

    def numbers(self, rows: list[dict]) -> np.ndarray:
        return np.array([[float(r[c]) for c in self.spec.number_columns] for r in rows]).reshape(len(rows), -1)


def load_bench_task(name: str, data: str = "") -> BenchTask:
    """A dataset of ``dnagpt data build`` (built on first use) or a folder with ``task.toml`` and
    ``train`` / ``dev`` / ``test`` tables (``.csv``, ``.tsv``, either gzipped, or ``.parquet``)."""
    from ..data.datasets import DATASETS, TASKS
    from ..data.tables import read_table
    from ..tasks.spec import load_task_dataset, with_labels_from

    folder = Path(name)
    if name in TASKS:
        spec, tables = load_task_dataset(name, data or None)
        return BenchTask(name, spec, tables, DATASETS[name].description)
    if not folder.is_dir():
        raise ConfigError(f"task {name!r}: neither a dataset of `dnagpt data build` ({', '.join(TASKS)}) nor a folder")
    if not (folder / "task.toml").is_file():
        raise ConfigError(f"{folder}: no task.toml (the task file saying the template, labels and columns)")
    tables = {}
    for split in SPLITS:
        found = sorted(
            p for p in folder.glob(f"{split}.*") if p.name.removesuffix(".gz").endswith((".csv", ".tsv", ".parquet"))
        )
        if len(found) != 1:
            raise DataError(f"{folder}: expected one {split} table ({split}.csv, .tsv, .csv.gz or .parquet), found "
                            f"{len(found)}")  # fmt: skip
        tables[split] = read_table(found[0])
    comments = [line[1:].strip() for line in (folder / "task.toml").read_text().splitlines() if line.startswith("#")]
    spec = with_labels_from(TaskSpec.load(folder / "task.toml"), tables["train"], f"{folder} train table")
    return BenchTask(folder.name, spec, tables, " ".join(comments))


def subsample(rows: list[dict], n: int, seed: int, labels: np.ndarray | None) -> list[dict]:
    """``n`` rows drawn by ``seed`` (all rows when ``n`` is 0 or not smaller); with class ``labels``,
    every class keeps its share, so a balanced table stays balanced."""
    if n == 0 or n >= len(rows):
        return rows
    rng = np.random.default_rng(seed)
    if labels is None:
        return [rows[i] for i in sorted(rng.choice(len(rows), n, replace=False))]
    chosen = []
    classes = np.unique(labels)
    for k, c in enumerate(classes):
        members = np.flatnonzero(labels == c)
        take = round(n * (k + 1) / len(classes)) - round(n * k / len(classes))
        chosen += list(rng.choice(members, min(take, len(members)), replace=False))
    return [rows[i] for i in sorted(chosen)]


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


def _classical_inputs(run: Run) -> tuple[list, list]:
    parts = (run.train, run.dev, run.test)
    return [run.task.sequences(p) for p in parts], [run.task.labels(p) for p in parts]


def _majority(run: Run) -> dict:
    _, ys = _classical_inputs(run)
    return majority_class(ys[0], ys[2])


def _kmer_logreg(run: Run) -> dict:
    seqs, ys = _classical_inputs(run)
    return kmer_logistic_regression(*(kmer_features(s) for s in seqs), *ys)


def _cnn(run: Run) -> dict:
    seqs, ys = _classical_inputs(run)
    return cnn_classifier(*seqs, *ys, epochs=run.cfg.cnn_epochs, seed=run.seed, patience=run.cfg.cnn_patience or None)


def _ridge(run: Run) -> dict:
    seqs, ys = _classical_inputs(run)
    parts = (run.train, run.dev, run.test)
    features = [np.hstack([kmer_features(s), run.task.numbers(p)]) for s, p in zip(seqs, parts, strict=True)]
    return ridge_regression(*features, *ys)


def _fine_tuned(run: Run, from_scratch: bool) -> dict:
    """Fine-tune the bench model's pretrained source (its ``shipped`` model, else the bench's
    ``pretrained``), or its architecture from random weights. The decoder reads the bench's
    ``readout``; an encoder reads where :func:`~dnagpt.tasks.codec.default_readout` says (the mean
    over the sequence, or the answer position on a task with numeric inputs). With several learning
    rates or (for loaded weights) several warm starts, each setting gets its own run and the best
    dev score is kept (``lr``, ``shrink``)."""
    from ..tasks.codec import default_readout
    from ..tasks.finetune import FinetuneConfig, finetune_sweep, starting_model
    from ..tasks.spec import build_examples

    cfg = run.cfg
    rates = cfg.lr if isinstance(cfg.lr, list) else [cfg.lr]
    # random weights are never shrunk, so a twin from scratch runs once whatever the warm starts
    shrinks = cfg.shrink if isinstance(cfg.shrink, list) and not from_scratch else None
    model = starting_model(MODELS[run.model].pretrained_source(cfg), from_scratch=from_scratch, seed=run.seed)
    readout = cfg.readout if model.causal else default_readout(model.causal, run.task.spec)
    frame_shift = None if cfg.frame_shift is None else cfg.frame_shift and model.tokenizer().reading_frames > 1
    recipe = FinetuneConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, patience=cfg.patience, seed=run.seed,
                            precision="auto", readout=readout, frame_shift=frame_shift,
                            shrink=cfg.shrink if isinstance(cfg.shrink, float) else None,
                            progress=False, tensorboard=False)  # fmt: skip
    examples = [build_examples(run.task.spec, rows, f"{run.task.name} {split}")
                for split, rows in zip(SPLITS, (run.train, run.dev, run.test), strict=True)]  # fmt: skip
    # resume=True: a bench killed during this run continues it
    best, by_setting = finetune_sweep(model, run.task.spec, examples[0], examples[1], recipe, run.work, rates,
                                      shrinks, test=examples[2], device="auto", resume=True)  # fmt: skip
    several_rates, several_shrinks = len(rates) > 1, shrinks is not None
    # the warm start a loaded model got is recorded, picked or by default (it follows the run's length)
    picked: dict = ({"lr": best.lr} if several_rates else {}) | ({} if from_scratch else {"shrink": best.shrink})
    if several_rates and several_shrinks:
        picked["dev_by_setting"] = {f"lr {lr:g}, shrink {s:g}": score for (lr, s), score in by_setting.items()}
    elif several_rates:
        picked["dev_by_lr"] = {f"{lr:g}": score for (lr, _), score in by_setting.items()}
    elif several_shrinks:
        picked["dev_by_shrink"] = {f"{s:g}": score for (_, s), score in by_setting.items()}
    return dict(best.test or {}) | {"dev": best.dev} | picked


@dataclass(frozen=True)
class BenchModel:
    """A model the bench can run: what it is, which task outputs it handles, how it runs."""

    description: str
    outputs: tuple[str, ...]  # "token" (classification) and / or "number" (regression)
    run: Callable[[Run], dict]
    classical: bool = True
    default: bool = True  # in a bench that names no models
    family: str | None = None  # the model family of a neural model (dnagpt, bert, gpn)
    shipped: str | None = None  # the pretrained model it starts from; None: the bench's ``pretrained``

    def pretrained_source(self, cfg: BenchConfig) -> str | None:
        """The pretrained model this bench model (or its scratch twin) takes its shape from."""
        return None if self.family is None else self.shipped or cfg.pretrained


MODELS: dict[str, BenchModel] = {
    "majority": BenchModel("always the most frequent training class", ("token",), _majority),
    "kmer-logreg": BenchModel(
        "logistic regression on 1- to 6-mer frequencies, L2 picked on dev", ("token",), _kmer_logreg
    ),
    "cnn": BenchModel("3-block CNN on one-hot bases; learning rate and epoch picked on dev", ("token",), _cnn),
    "ridge": BenchModel(
        "ridge regression on 1- to 6-mer frequencies and the numeric inputs, L2 picked on dev", ("number",), _ridge
    ),
    "dnagpt-scratch": BenchModel(
        "DNAGPT of the pretrained model's shape, random weights, fine-tuned",
        ("token", "number"),
        lambda run: _fine_tuned(run, from_scratch=True),
        classical=False,
        family="dnagpt",
    ),
    "dnagpt-pretrained": BenchModel(
        "the pretrained DNAGPT, fine-tuned",
        ("token", "number"),
        lambda run: _fine_tuned(run, from_scratch=False),
        classical=False,
        family="dnagpt",
    ),
    # The other families' shipped models (named with --models: the default bench keeps to the budget)
    **{
        f"{family}-{how}": BenchModel(
            f"{what}, {'pretrained on the same corpus' if how == 'pretrained' else 'random weights'}, "
            "fine-tuned with a mean-pooled head (the answer position on a task with numeric inputs)",
            ("token", "number"),
            lambda run, scratch=how == "scratch": _fine_tuned(run, scratch),
            classical=False,
            default=False,
            family=family,
            shipped=shipped,
        )
        for family, shipped, what in (
            ("bert", "bert-small-multispecies", "DNABERT-2 style encoder (bert-small-multispecies)"),
            ("gpn", "gpn-small-multispecies", "GPN style ConvNet (gpn-small-multispecies)"),
        )
        for how in ("pretrained", "scratch")
    },
}


def plan(cfg: BenchConfig, outputs: dict[str, str]) -> list[tuple[str, str, int, int]]:
    """Every run of the bench as ``(task, model, training size, seed)``; ``outputs`` gives each
    task's output, and a model runs only on the tasks whose output it handles."""
    unknown = [m for m in cfg.models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown bench models {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    runs = []
    for task, output in outputs.items():
        sizes = [cfg.max_train] + [s for s in cfg.curve_sizes if cfg.has_curve(task) and s != cfg.max_train]
        for size in sizes:
            for model in cfg.models or [name for name, m in MODELS.items() if m.default]:
                if output in MODELS[model].outputs:
                    runs += [(task, model, size, seed) for seed in range(cfg.seeds)]
    return runs


def result_path(out: Path, task: str, model: str, size: int, seed: int) -> Path:
    """Where one run's result is saved."""
    return out / "runs" / Path(task).name / model / f"n{size or 'all'}-seed{seed}.json"


def run_bench(
    cfg: BenchConfig, out: str | Path, log: Callable[[str], None] = print, execute: bool = True
) -> list[dict]:
    """Run every run of the bench not yet saved under ``out``; return all results (saved ones
    included). With ``execute`` False nothing is run: the results saved so far are returned (to
    report on a bench that is still going, or was stopped). Every task is loaded (and built, for
    datasets of ``dnagpt data build``) before the first run, so a bad task stops the bench before
    any work. The settings are kept in
    ``out/bench.json``; a later bench in the same folder may add tasks, models, seeds or curve
    sizes, but not change how a run is done."""
    from ..data.datasets import TASKS

    out = Path(out)
    settings_now = dataclasses.asdict(cfg)
    check_resume(out / "bench.json", settings_now, ignore=MAY_CHANGE)
    tasks = {name: load_bench_task(name, cfg.data) for name in cfg.tasks or TASKS}
    runs = plan(cfg, {name: task.output for name, task in tasks.items()})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.json", json.dumps(settings_now, indent=2) + "\n")
    todo = [r for r in runs if not result_path(out, *r).is_file()]
    log(f"bench: {len(runs)} runs, {len(runs) - len(todo)} already saved in {out}")
    results, start, executed = [], time.perf_counter(), 0
    for task_name, model_name, size, seed in runs:
        path = result_path(out, task_name, model_name, size, seed)
        if path.is_file():
            results.append(json.loads(path.read_text()))
            continue
        if not execute:
            continue
        task = tasks[task_name]
        run = _make_run(task, model_name, seed, size, out, cfg)
        began = time.perf_counter()
        metrics = MODELS[model_name].run(run)
        record = {"task": task.name, "description": task.description, "output": task.output, "model": model_name,
                  "seed": seed, "n_train": size,
                  "train_examples": len(run.train), "test_examples": len(run.test),
                  "seconds": time.perf_counter() - began, "metrics": _plain(metrics)}  # fmt: skip
        atomic_write_text(path, json.dumps(record, indent=2) + "\n")
        shutil.rmtree(run.work, ignore_errors=True)
        results.append(record)
        executed += 1  # saved runs are met anywhere in the plan, so they are not counted here
        minutes_left = (time.perf_counter() - start) / executed * (len(todo) - executed) / 60
        primary = PRIMARY[task.output]
        log(f"[{len(results)}/{len(runs)}] {task.name} {model_name} n={size or 'all'} seed {seed}: "
            f"{primary} {metrics.get(primary, float('nan')):.3f} ({record['seconds']:.0f} s; about "
            f"{minutes_left:.0f} min left)")  # fmt: skip
    if (out / "work").is_dir() and not any((out / "work").rglob("*.*")):
        shutil.rmtree(out / "work")  # only the empty folders of finished runs are left
    return results


def _make_run(task: BenchTask, model: str, seed: int, size: int, out: Path, cfg: BenchConfig) -> Run:
    train = task.tables["train"]
    labels = task.labels(train) if task.output == "token" else None
    caps = {"dev": min(x for x in (cfg.max_dev, cfg.max_eval) if x) if cfg.max_dev or cfg.max_eval else 0,
            "test": cfg.max_eval}  # fmt: skip
    evaluation = {s: subsample(task.tables[s], caps[s], 0, task.labels(task.tables[s])
                               if task.output == "token" else None) for s in ("dev", "test")}  # fmt: skip
    work = out / "work" / Path(task.name).name / model / f"n{size or 'all'}-seed{seed}"
    return Run(task, model, seed, size, subsample(train, size, seed, labels), evaluation["dev"], evaluation["test"],
               work, cfg)  # fmt: skip


def _plain(value):
    """JSON-ready: numpy numbers become Python numbers, NaN stays NaN (json writes it as NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def quick_config(tasks: list[str] | None = None) -> BenchConfig:
    """A few-minute bench on the dataset that ships with dnagpt: two seeds, 64 training and 64 dev /
    test examples, one epoch; for checking an installation, not for conclusions."""
    from ..resources import BUNDLED_DATASETS

    return BenchConfig(tasks=tasks or [str(BUNDLED_DATASETS / "tis_arabidopsis")], seeds=2, max_train=64,
                       max_eval=64, curve_tasks=[], epochs=1, cnn_epochs=3)  # fmt: skip
