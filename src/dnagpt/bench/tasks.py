"""The bench's tasks: datasets of ``dnagpt data build`` or folders of your own, and their subsamples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.datasets import DATASETS, TASKS
from ..data.tables import read_table
from ..errors import ConfigError, DataError
from ..tasks.spec import TaskSpec, load_task_dataset, with_labels_from
from .config import SPLITS


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
    """A dataset of ``dnagpt data build`` (built on first use) or a folder with ``train`` / ``dev`` /
    ``test`` tables (``.csv``, ``.tsv``, either gzipped, or ``.parquet``) and a ``task.toml``; a folder
    without one is read as a GUE task (DNABERT-2's benchmark layout): columns ``sequence`` and
    ``label``, a classification whose labels come from the training table."""
    folder = Path(name)
    if name in TASKS:
        spec, tables = load_task_dataset(name, data or None)
        return BenchTask(name, spec, tables, DATASETS[name].description)
    if not folder.is_dir():
        raise ConfigError(f"task {name!r}: neither a dataset of `dnagpt data build` ({', '.join(TASKS)}) nor a folder")
    tables = {}
    for split in SPLITS:
        found = sorted(
            p for p in folder.glob(f"{split}.*") if p.name.removesuffix(".gz").endswith((".csv", ".tsv", ".parquet"))
        )
        if len(found) != 1:
            raise DataError(f"{folder}: expected one {split} table ({split}.csv, .tsv, .csv.gz or .parquet), found "
                            f"{len(found)}")  # fmt: skip
        tables[split] = read_table(found[0])
    if (folder / "task.toml").is_file():
        lines = (folder / "task.toml").read_text().splitlines()
        given, description = TaskSpec.load(folder / "task.toml"), " ".join(s[1:].strip() for s in lines if s[:1] == "#")
    else:  # the GUE layout: sequence,label tables and nothing else
        missing = [c for c in ("sequence", "label") if tables["train"] and c not in tables["train"][0]]
        if missing:
            raise ConfigError(f"{folder}: no task.toml, and the train table has no {' or '.join(missing)} column "
                              "(a folder without a task file is read as GUE's sequence,label layout)")  # fmt: skip
        given, description = TaskSpec.load("classification"), "GUE layout: sequence,label"
    spec = with_labels_from(given, tables["train"], f"{folder} train table")
    return BenchTask(folder.name, spec, tables, description)


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
