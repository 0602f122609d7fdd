"""``dnagpt bench``: many real tasks x models x seeds, resumable, one tidy results table.

Every run fine-tunes or fits one model on one task with one seed and one training size, and is
saved as its own JSON file the moment it finishes, so a killed bench continues where it was. The
seed draws the training subsample (the same for every model at that seed, so differences between
models are paired) and seeds the model's own randomness. Dev picks each model's hyper-parameters
(learning rate or regularisation, and the epoch); test is scored once.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..data.datasets import TASKS
from ..errors import ConfigError
from ..io import atomic_write_text
from ..validation import ResumeRules, check_resume
from .config import PRIMARY, BenchConfig
from .models import MODELS, Run, register_models
from .tasks import BenchTask, load_bench_task, subsample

RESULTS_TABLE = "results.parquet"  # the tidy table of every run, written with the report
# Settings a bench may change between sessions: they add or leave out runs, never change one.
MAY_CHANGE = ("tasks", "models", "seeds", "curve_tasks", "curve_sizes", "data")
# Settings that benches of an older dnagpt did not record, with the value they ran with.
BENCH_RESUME = ResumeRules(added_later={"readout": "answer", "frame_shift": False, "shrink": 1.0})
# Named logger, not log: run_bench's parameter ``log`` (callers pass their own) would hide it.
logger = logging.getLogger(__name__)


def saved_config(out: str | Path) -> BenchConfig | None:
    """The settings a bench in ``out`` was run with (its ``bench.json``), or None where there is none."""
    path = Path(out) / "bench.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e}); cannot tell the bench's settings") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: expected the bench's settings, got {type(record).__name__}")
    return BenchConfig.from_record({**BENCH_RESUME.added_later, **record}, str(path))


def plan(cfg: BenchConfig, outputs: dict[str, str]) -> list[tuple[str, str, int, int]]:
    """Every run of the bench as ``(task, model, training size, seed)``; ``outputs`` gives each
    task's output, and a model runs only on the tasks whose output it handles."""
    models = register_models(cfg.models)
    runs = []
    for task, output in outputs.items():
        sizes = [cfg.max_train] + [s for s in cfg.curve_sizes if cfg.has_curve(task) and s != cfg.max_train]
        for size in sizes:
            for model in models or [name for name, m in MODELS.items() if m.default]:
                if output in MODELS[model].outputs:
                    runs += [(task, model, size, seed) for seed in range(cfg.seeds)]
    return runs


def result_path(out: Path, task: str, model: str, size: int, seed: int) -> Path:
    """Where one run's result is saved."""
    return out / "runs" / Path(task).name / model_folder(model) / f"n{size or 'all'}-seed{seed}.json"


def model_folder(model: str) -> str:
    """A bench model's name as one folder name (a model directory's path has slashes)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_.")


def _key(task: str, model: str, size: int, seed: int) -> tuple[str, str, int, int]:
    return Path(task).name, model, size, seed


def saved_in_table(path: Path) -> dict[tuple[str, str, int, int], dict]:
    """The runs a bench's results table holds, as the records of :func:`run_bench`, keyed by
    (task, model, training size, seed): a bench whose per-run files were not kept (a committed
    bench keeps its table and report) still reports and resumes from it."""
    if not path.is_file():
        return {}
    records: dict[tuple[str, str, int, int], dict] = {}
    for row in pq.read_table(path).to_pylist():
        key = _key(row["task"], row["model"], row["n_train"], row["seed"])
        record = records.setdefault(key, {
            "task": row["task"], "description": row.get("description") or "", "output": row["output"],
            "model": row["model"], "seed": row["seed"], "n_train": row["n_train"],
            "train_examples": row["train_examples"], "test_examples": row["test_examples"],
            "seconds": row["seconds"], "metrics": {}})  # fmt: skip
        record["metrics"][row["metric"]] = row["value"]
    return records


def run_bench(
    cfg: BenchConfig, out: str | Path, log: Callable[[str], None] = logger.info, execute: bool = True
) -> list[dict]:
    """Run every run of the bench not yet saved under ``out`` (as ``runs/*.json``, or in the
    results table where no ``runs`` folder is kept); return all results, saved ones included.
    With ``execute`` False nothing is run: the results saved so far are returned (to report on a
    bench that is still going, or was stopped). Every task is loaded (and built, for datasets of
    ``dnagpt data build``) before the first run, so a bad task stops the bench before any work.
    The settings are kept in ``out/bench.json``; a later bench in the same folder may add tasks,
    models, seeds or curve sizes, but not change how a run is done. Progress lines (runs to do, each
    run's score and the time left) go to ``log``: by default this module's logger at level INFO,
    which ``dnagpt bench`` shows on standard error (``-q`` hides them)."""
    out = Path(out)
    settings_now = cfg.record()
    check_resume(out / "bench.json", settings_now, BENCH_RESUME, ignore=MAY_CHANGE)
    tasks = {name: load_bench_task(name, cfg.data) for name in cfg.tasks or TASKS}
    runs = plan(cfg, {name: task.output for name, task in tasks.items()})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.json", json.dumps(settings_now, indent=2) + "\n")
    table = {} if (out / "runs").is_dir() else saved_in_table(out / RESULTS_TABLE)
    todo = [r for r in runs if not result_path(out, *r).is_file() and _key(*r) not in table]
    log(f"bench: {len(runs)} runs, {len(runs) - len(todo)} already saved in {out}")
    results, start, executed = [], time.perf_counter(), 0
    for task_name, model_name, size, seed in runs:
        path = result_path(out, task_name, model_name, size, seed)
        if path.is_file():
            results.append(json.loads(path.read_text()))
            continue
        if _key(task_name, model_name, size, seed) in table:  # a bench kept as its table alone
            results.append(table[_key(task_name, model_name, size, seed)])
            continue
        if not execute:
            continue
        task = tasks[task_name]
        run = make_run(task, model_name, seed, size, out, cfg)
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


def make_run(task: BenchTask, model: str, seed: int, size: int, out: Path, cfg: BenchConfig) -> Run:
    train = task.tables["train"]
    labels = task.labels(train) if task.output == "token" else None
    caps = {"dev": min(x for x in (cfg.max_dev, cfg.max_eval) if x) if cfg.max_dev or cfg.max_eval else 0,
            "test": cfg.max_eval}  # fmt: skip
    evaluation = {s: subsample(task.tables[s], caps[s], 0, task.labels(task.tables[s])
                               if task.output == "token" else None) for s in ("dev", "test")}  # fmt: skip
    work = out / "work" / Path(task.name).name / model_folder(model) / f"n{size or 'all'}-seed{seed}"
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
