"""What ``dnagpt finetune`` does with files: a task file and tables in, a fine-tuned model out."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..data.alignment import read_maf
from ..data.tables import read_rows, split_rows
from ..errors import ConfigError, DataError
from ..io import atomic_write_text, untouched_on_refusal
from ..training.distributed import is_main_process
from .finetune import CHECKPOINT, FinetuneResult, starting_model
from .recipe import FinetuneConfig, Sweep
from .spec import TaskData, TaskSpec, build_examples, with_labels_from
from .sweep import finetune_sweep

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskTables:
    """The tables a task's examples come from. Without a dev table the training table is split with
    ``split_seed``: 6 : 1.5 : 2.5 into train / dev / test, or 6 : 1.5 into train / dev when a test
    table is given."""

    train: str  # .csv, .tsv (either gzipped), .parquet; or FASTA for generation
    dev: str | None = None
    test: str | None = None
    split_seed: int = 0


def load_splits(spec: TaskSpec, tables: TaskTables, out_dir: Path) -> TaskData:
    """The task (with its labels read from the training table when the task file maps none) and its
    train / dev / test examples from ``tables``; a split's row numbers are saved in
    ``out_dir/split.json``. Every table is read and checked before any training starts."""
    paths = {"train": tables.train, "dev": tables.dev, "test": tables.test}
    rows_of = {name: read_rows(path, spec.sequence_column) for name, path in paths.items() if path}
    spec = with_labels_from(spec, rows_of["train"], tables.train)
    if tables.dev:
        built = {name: build_examples(spec, rows, paths[name]) for name, rows in rows_of.items()}
        return TaskData(spec, built["train"], built["dev"], built.get("test"))
    rows = rows_of["train"]
    fractions = (0.8, 0.2, 0.0) if tables.test else (0.6, 0.15, 0.25)
    parts = dict(zip(("train", "dev", "test"), split_rows(list(range(len(rows))), tables.split_seed, fractions),
                     strict=True))  # fmt: skip
    empty = [name for name in ("train", "dev", "test") if not parts[name] and not (name == "test" and tables.test)]
    if empty:
        raise DataError(
            f"{tables.train}: {len(rows)} rows are too few to split into train / dev{'' if tables.test else ' / test'} "
            f"(the {' and '.join(empty)} part would be empty); give more rows, or --dev and --test tables"
        )
    built = {
        name: build_examples(spec, [rows[i] for i in idx], tables.train, row_numbers=[i + 1 for i in idx])
        for name, idx in parts.items()
        if idx
    }
    if tables.test:
        built["test"] = build_examples(spec, rows_of["test"], tables.test)
    out_dir.mkdir(parents=True, exist_ok=True)
    split = {"seed": tables.split_seed, "rows": {k: [i + 1 for i in v] for k, v in parts.items()}}
    atomic_write_text(out_dir / "split.json", json.dumps(split) + "\n")
    return TaskData(spec, built["train"], built["dev"], built.get("test"))


def finetune_from_files(
    model: str,
    task_file: str | Path,
    tables: TaskTables,
    out: str | Path,
    cfg: FinetuneConfig | None = None,
    sweep: Sweep | None = None,
    *,
    from_scratch: bool = False,
    device: str = "auto",
    resume: bool = False,
    allow_changes: Collection[str] = (),
    alignment: str | Path | None = None,
    keep_checkpoint: bool = False,
) -> FinetuneResult:
    """What ``dnagpt finetune`` does: read the task file (or a template's name) and tables (every row
    checked first), start from ``model`` (or from random weights of its architecture), and
    fine-tune, over the settings of ``sweep`` when it names several (dev keeping the best). A
    classification without ``[labels]`` reads them from the training table. A GPN-MSA model reads
    the other species' bases from the MAF ``alignment`` at each row's region. A run refused on bad
    input leaves ``out`` as it found it; a finished run keeps its resumable checkpoint only with
    ``keep_checkpoint``."""
    with untouched_on_refusal(Path(out), keep_if=CHECKPOINT):  # a checkpoint: work worth resuming
        return _finetune_from_files(model, task_file, tables, out, cfg, sweep, from_scratch=from_scratch,
                                    device=device, resume=resume, allow_changes=allow_changes, alignment=alignment,
                                    keep_checkpoint=keep_checkpoint)  # fmt: skip


def _finetune_from_files(model: str, task_file: str | Path, tables: TaskTables, out: str | Path,
                         cfg: FinetuneConfig | None, sweep: Sweep | None, *, from_scratch: bool, device: str,
                         resume: bool, allow_changes: Collection[str], alignment: str | Path | None,
                         keep_checkpoint: bool) -> FinetuneResult:  # fmt: skip
    cfg, sweep = cfg or FinetuneConfig(), sweep or Sweep()
    if from_scratch and len(sweep.shrinks) > 1:
        raise ConfigError("random weights (--from-scratch) are never shrunk: give one --shrink, or none")
    given = TaskSpec.load(task_file)
    data = load_splits(given, tables, Path(out))
    report = is_main_process()
    if data.spec.labels != given.labels and report:
        mapping = ", ".join(f"{value} -> <{token}>" for value, token in data.spec.labels.items())
        log.info("labels read from %s: %s", tables.train, mapping)
    start = starting_model(model, from_scratch, cfg.seed)
    kept, by_setting = finetune_sweep(start, data, cfg, out, sweep, device=device, resume=resume,
                                      allow_changes=allow_changes, keep_checkpoint=keep_checkpoint,
                                      alignment=read_maf(alignment) if alignment else None)  # fmt: skip
    if len(by_setting) > 1 and report:
        for (lr, shrink), score in by_setting.items():
            warm = "" if shrink is None else f", shrink {shrink:g}"
            mark = "  <- kept" if lr == kept.lr and shrink in (None, kept.shrink) else ""
            log.info("lr %s%s: best dev %.4f%s", f"{lr:g}", warm, score, mark)
    return kept
