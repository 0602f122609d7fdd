"""``dnagpt bench``: many real tasks x models x seeds, resumable, one tidy results table.

Every run fine-tunes or fits one model on one task with one seed and one training size, and is
saved as its own JSON file the moment it finishes, so a killed bench continues where it was. The
seed draws the training subsample (the same for every model at that seed, so differences between
models are paired) and seeds the model's own randomness. Dev picks each model's hyper-parameters
(learning rate or regularisation, and the epoch); test is scored once.

A bench may share its runs among several worker processes, on one machine or many: under
``torchrun`` (or ``dnagpt bench --workers N``, which starts torch's own launcher), every worker
takes its share of the runs not saved yet and runs them one at a time; the first worker (rank 0)
then gathers every result and writes the report. Each run is seeded by itself alone, so which
worker did it changes nothing in its figures.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from ..data.datasets import TASKS
from ..errors import ConfigError
from ..io import atomic_write_text, remove_stale_temporaries
from ..validation import ResumeRules, check_resume, read_recorded_settings
from ..workers import Workers, available_cores, process_group, torch_threads, wait_for_all
from .config import PRIMARY, BenchConfig
from .models import MODELS, Run, register_models
from .tasks import BenchTask, load_bench_task, subsample

RESULTS_TABLE = "results.parquet"  # the tidy table of every run, written with the report
# Settings a bench may change between sessions: they add or leave out runs, never change one.
MAY_CHANGE = ("tasks", "models", "seeds", "curve_tasks", "curve_sizes", "data")
# Settings that benches of an older dnagpt did not record, with the value they ran with.
BENCH_RESUME = ResumeRules(added_later={"readout": "answer", "frame_shift": False, "shrink": 1.0})
# How long a worker waits for the others (for the first to build the datasets, or for the last to
# finish its share). Long, as a share may hold hours-long runs; torchrun stops every worker of a
# machine when one of them fails, so the wait only runs out where a whole machine is lost.
WORKERS_WAIT = timedelta(days=7)
# A run's rough cost per training example, base and pass over the data, as a share of a neural
# model's (measured on the quick bench); each neural model counts 1. Used only to share out runs.
RELATIVE_COST = {"majority": 0.005, "kmer-logreg": 0.15, "ridge": 0.15, "cnn": 0.07}
# Named logger, not log: run_bench's parameter ``log`` (callers pass their own) would hide it.
logger = logging.getLogger(__name__)

Key = tuple[str, str, int, int]  # (task name, model, training size, seed): one run


def saved_config(out: str | Path) -> BenchConfig | None:
    """The settings a bench in ``out`` was run with (its ``bench.json``), or None where there is none."""
    path = Path(out) / "bench.json"
    record = read_recorded_settings(path, "bench")
    if record is None:
        return None
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


def _key(task: str, model: str, size: int, seed: int) -> Key:
    return Path(task).name, model, size, seed


def saved_in_table(path: Path) -> dict[Key, dict]:
    """The runs a bench's results table holds, as the records of :func:`run_bench`, keyed by
    (task, model, training size, seed): a bench whose per-run files were not kept (a committed
    bench keeps its table and report) still reports and resumes from it."""
    if not path.is_file():
        return {}
    records: dict[Key, dict] = {}
    for row in pq.read_table(path).to_pylist():
        key = _key(row["task"], row["model"], row["n_train"], row["seed"])
        record = records.setdefault(key, {
            "task": row["task"], "description": row.get("description") or "", "output": row["output"],
            "model": row["model"], "seed": row["seed"], "n_train": row["n_train"],
            "train_examples": row["train_examples"], "test_examples": row["test_examples"],
            "seconds": row["seconds"], "metrics": {}})  # fmt: skip
        record["metrics"][row["metric"]] = row["value"]
    return records


def prepare_bench(cfg: BenchConfig, out: str | Path) -> tuple[dict[str, BenchTask], list[tuple[str, str, int, int]]]:
    """Check the settings against those the bench in ``out`` was started with and record them
    (``bench.json``), load every task (building datasets of ``dnagpt data build`` on first use), and
    plan the runs: every check that can fail is made here, before any work."""
    out = Path(out)
    settings_now = cfg.record()
    check_resume(out / "bench.json", settings_now, BENCH_RESUME, ignore=MAY_CHANGE)
    tasks = {name: load_bench_task(name, cfg.data) for name in cfg.tasks or TASKS}
    runs = plan(cfg, {name: task.output for name, task in tasks.items()})
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.json", json.dumps(settings_now, indent=2) + "\n")
    return tasks, runs


def saved_runs(out: Path, runs: list[tuple[str, str, int, int]], log: Callable[[str], None] = logger.warning
               ) -> dict[Key, dict]:  # fmt: skip
    """The results of ``runs`` saved in ``out``: each run's JSON file or, for a bench kept as its
    results table alone (no ``runs`` folder), the table's rows. A result file that cannot be read is
    no finished run (``log`` says so) and is run again."""
    table = {} if (out / "runs").is_dir() else saved_in_table(out / RESULTS_TABLE)
    saved = {}
    for run in runs:
        key, path = _key(*run), result_path(out, *run)
        if path.is_file():
            try:
                saved[key] = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                log(f"{path}: not a finished result (unreadable); the run is done again")
        elif key in table:  # a bench kept as its table alone
            saved[key] = table[key]
    return saved


def runs_to_do(cfg: BenchConfig, out: str | Path) -> list[tuple[str, str, int, int]]:
    """The runs of the bench not saved in ``out`` yet (after :func:`prepare_bench`'s checks)."""
    _, runs = prepare_bench(cfg, out)
    saved = saved_runs(Path(out), runs, log=lambda _: None)
    return [r for r in runs if _key(*r) not in saved]


def run_bench(
    cfg: BenchConfig,
    out: str | Path,
    log: Callable[[str], None] = logger.info,
    execute: bool = True,
    workers: Workers | None = None,
    threads: int = 1,
) -> list[dict]:
    """Run every run of the bench not yet saved under ``out`` (as ``runs/*.json``, or in the
    results table where no ``runs`` folder is kept); return all results, saved ones included.
    With ``execute`` False nothing is run: the results saved so far are returned (to report on a
    bench that is still going, or was stopped). Every task is loaded (and built, for datasets of
    ``dnagpt data build``) before the first run, so a bad task stops the bench before any work.
    The settings are kept in ``out/bench.json``; a later bench in the same folder may add tasks,
    models, seeds or curve sizes, but not change how a run is done. Progress lines (runs to do, each
    run's score and the time left) go to ``log``: by default this module's logger at level INFO,
    which ``dnagpt bench`` shows on standard error (``-q`` hides them).

    ``threads``: torch threads of each run, the same whatever the number of workers, as the
    figures of a neural model may change with it (in the last digits, or the epoch dev picks).
    ``workers`` (by default read from the environment torchrun sets): with several, this process
    is one of them and runs its share of the runs (see :func:`_run_shared`); the first worker
    (rank 0) returns every result, the others only the runs they did."""
    out = Path(out)
    workers = workers or Workers.from_environment()
    if threads < 1:
        raise ConfigError(f"threads: a run needs at least one thread, got {threads}")
    if execute and workers.size > 1:
        return _run_shared(cfg, out, log, workers, threads)
    tasks, runs = prepare_bench(cfg, out)
    saved = saved_runs(out, runs)
    todo = [r for r in runs if _key(*r) not in saved]
    log(f"bench: {len(runs)} runs, {len(runs) - len(todo)} already saved in {out}")
    results, start, executed = [], time.perf_counter(), 0
    for run in runs:
        if _key(*run) in saved:
            results.append(saved[_key(*run)])
            continue
        if not execute:
            continue
        with torch_threads(threads):
            record = _do_run(tasks[run[0]], *run[1:], out, cfg)
        results.append(record)
        executed += 1  # saved runs are met anywhere in the plan, so they are not counted here
        minutes_left = (time.perf_counter() - start) / executed * (len(todo) - executed) / 60
        log(f"[{len(results)}/{len(runs)}] {_progress(record, minutes_left)}")
    _tidy(out, temporaries=execute)
    return results


def _do_run(task: BenchTask, model_name: str, size: int, seed: int, out: Path, cfg: BenchConfig) -> dict:
    """Fit one model on one task with one seed and training size; save its result (atomically: a
    run killed midway leaves no result file) and return it."""
    run = make_run(task, model_name, seed, size, out, cfg)
    began = time.perf_counter()
    metrics = MODELS[model_name].run(run)
    record = {"task": task.name, "description": task.description, "output": task.output, "model": model_name,
              "seed": seed, "n_train": size, "train_examples": len(run.train), "test_examples": len(run.test),
              "seconds": time.perf_counter() - began, "metrics": _plain(metrics)}  # fmt: skip
    atomic_write_text(result_path(out, task.name, model_name, size, seed), json.dumps(record, indent=2) + "\n")
    shutil.rmtree(run.work, ignore_errors=True)
    return record


def _progress(record: dict, minutes_left: float) -> str:
    primary = PRIMARY[record["output"]]
    score = record["metrics"].get(primary, float("nan"))
    return (f"{record['task']} {record['model']} n={record['n_train'] or 'all'} seed {record['seed']}: "
            f"{primary} {score:.3f} ({record['seconds']:.0f} s; about {minutes_left:.0f} min left)")  # fmt: skip


def _tidy(out: Path, temporaries: bool = True) -> None:
    """Remove what finished runs leave behind: the empty work folders and (``temporaries``; only
    once every run of this bench is over) the temporary files of result files a killed bench was
    writing."""
    if (out / "work").is_dir() and not any((out / "work").rglob("*.*")):
        shutil.rmtree(out / "work")  # only the empty folders of finished runs are left
    if temporaries:
        for folder in (out / "runs").glob("*/*"):
            remove_stale_temporaries(folder)


def expected_cost(task: BenchTask, model: str, size: int, cfg: BenchConfig) -> float:
    """A run's rough cost, for sharing runs out fairly among workers: training examples x their
    mean length x passes over them (epochs, learning rates, warm starts) x the model's relative
    cost. Only the sharing depends on it, never a result."""
    train = task.tables["train"]
    examples = len(train) if size == 0 else min(size, len(train))
    length = float(np.mean([len(s) for s in task.sequences(train[:200])])) if train else 1.0
    if MODELS[model].classical:
        weight = RELATIVE_COST.get(model, RELATIVE_COST["kmer-logreg"])
        passes = cfg.cnn_epochs if model == "cnn" else 1
    else:
        weight, passes = 1.0, cfg.recipe.epochs * len(cfg.lrs) * max(len(cfg.sweep.shrinks), 1)
    return examples * length * passes * weight


def share_out(costs: list[float], workers: int) -> list[list[int]]:
    """Which runs each worker does (indices into ``costs``, in their order): the costliest run
    first goes to the worker with the least work so far, the lowest rank on a tie. The same
    costs always give the same shares."""
    loads, shares = [0.0] * workers, [[] for _ in range(workers)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(workers), key=lambda w: (loads[w], w))
        shares[w].append(i)
        loads[w] += costs[i]
    return [sorted(share) for share in shares]


@contextlib.contextmanager
def single_process(workers: Workers) -> Iterator[None]:
    """Inside this block the process looks like a plain, single-process command to the code a run
    calls: the fine-tuning reads torchrun's ``RANK`` and ``WORLD_SIZE`` to decide whether to train
    across processes (:meth:`~dnagpt.training.distributed.DistributedContext.from_environment`) and
    which process writes files (:func:`~dnagpt.training.distributed.is_main_process`), and a bench
    worker's fine-tuning is its own. ``LOCAL_RANK`` picks the GPU a worker's runs use, where there
    are GPUs (worker i of a machine takes GPU i modulo their number)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    alone = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1",
             "LOCAL_RANK": str(workers.local_rank % gpus if gpus else 0)}  # fmt: skip
    before = {name: os.environ.get(name) for name in alone}
    os.environ.update(alone)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_shared(cfg: BenchConfig, out: Path, log: Callable[[str], None], workers: Workers, threads: int
                ) -> list[dict]:  # fmt: skip
    """This worker's part of a bench shared among ``workers`` (torch.distributed, gloo backend).

    1. The first worker checks the settings and builds the datasets, then the first worker of
       every other machine, then the rest (so no two build the same dataset at once).
    2. The workers tell each other which runs they hold saved (a machine may keep its own
       ``out`` folder); the runs saved nowhere are shared out by :func:`share_out` on their
       :func:`expected_cost`, the same on every worker.
    3. Each worker does its share one run at a time with ``threads`` torch threads, each run
       single-process (:func:`single_process`), saving each result file as it finishes.
    4. When all are done, the first worker receives the results it does not hold, saves them in
       its ``out`` too and returns every result, in the plan's order, as a one-process bench does.
    """
    import torch.distributed as dist

    with process_group(workers) as group:
        turn = 0 if workers.rank == 0 else 1 if workers.local_rank == 0 else 2
        for step in range(3):
            if step == turn:
                tasks, runs = prepare_bench(cfg, out)
            wait_for_all(group, WORKERS_WAIT)
        saved = saved_runs(out, runs, log=logger.warning if workers.rank == 0 else lambda _: None)
        held: list[set[Key]] = [set()] * workers.size
        dist.all_gather_object(held, set(saved), group=group)
        anywhere = set().union(*held)
        todo = [r for r in runs if _key(*r) not in anywhere]
        costs = [expected_cost(tasks[t], m, n, cfg) for t, m, n, _ in todo]
        picked = share_out(costs, workers.size)[workers.rank]
        mine = [todo[i] for i in picked]
        if workers.rank == 0:
            elsewhere = len(anywhere - held[0])  # saved in the out folders of other machines' workers
            where = f" ({elsewhere} of them only in other machines' folders)" if elsewhere else ""
            log(f"bench: {len(runs)} runs, {len(runs) - len(todo)} already saved in {out}{where}; {len(todo)} to do "
                f"by {workers.size} workers")  # fmt: skip
        share = sum(costs[i] for i in picked) / sum(costs) if sum(costs) > 0 else len(mine) / max(len(todo), 1)
        log(f"worker {workers.rank}: {len(mine)} run{'' if len(mine) == 1 else 's'} (about {share:.0%} of the work)")
        if workers.local_rank == 0 and threads * workers.local_size > available_cores():
            logger.warning("%d workers of %d torch threads each share %d cores on this machine: they slow each "
                           "other down (fewer --workers or --threads)", workers.local_size, threads,
                           available_cores())  # fmt: skip
        done, start = [], time.perf_counter()
        with single_process(workers), torch_threads(threads):
            for run in mine:
                done.append(_do_run(tasks[run[0]], *run[1:], out, cfg))
                minutes_left = (time.perf_counter() - start) / len(done) * (len(mine) - len(done)) / 60
                log(f"worker {workers.rank}: [{len(done)}/{len(mine)}] {_progress(done[-1], minutes_left)}")
        # the saved runs the first worker lacks, each sent by the first worker that holds it
        sends = [record for key, record in saved.items()
                 if key not in held[0] and workers.rank == min(r for r, h in enumerate(held) if key in h)]  # fmt: skip
        wait_for_all(group, WORKERS_WAIT)  # every share is done
        received: list[list[dict]] | None = [[] for _ in range(workers.size)] if workers.rank == 0 else None
        dist.gather_object(done + sends, received, dst=0, group=group)
        if workers.rank != 0:
            return done
        for record in (r for records in received for r in records):
            key = _key(record["task"], record["model"], record["n_train"], record["seed"])
            path = result_path(out, *key)
            if not path.is_file():  # a worker on another machine, with its own out folder
                atomic_write_text(path, json.dumps(record, indent=2) + "\n")
            saved[key] = record
        missing = [r for r in runs if _key(*r) not in saved]
        if missing:
            raise RuntimeError(f"bench: no worker returned the results of {missing}")
        _tidy(out)
        log(f"bench: every worker is done; {len(runs)} results in {out}")
        return [saved[_key(*r)] for r in runs]


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
