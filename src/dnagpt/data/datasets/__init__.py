"""Labelled datasets and corpora built from fetched sources (``dnagpt data build NAME``).

One module per family of tasks, each with its ``DATASETS`` (name -> description, builder),
gathered here into one registry. Every dataset puts its examples in the split of their block in
the held-out registry (:mod:`dnagpt.data.regions`), balances its classes inside every split, and
writes ``train/dev/test.csv.gz`` (with each window's ``region``) and ``task.toml``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from ...io import atomic_write_text, remove_stale_temporaries
from ..sources import cache_root
from . import binding, coding, pretraining_corpus, promoters, signals, species, splicing, variants


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is (one line, with how its labels are defined) and the function that builds it."""

    description: str
    build: Callable[[Path], dict[str, int]]
    kind: str = "task"  # "task" (labelled) or "corpus" (pretraining)


_FAMILIES = (signals, promoters, splicing, coding, binding, species, variants)
DATASETS: dict[str, DatasetInfo] = {
    name: DatasetInfo(description, build)
    for family in _FAMILIES
    for name, (description, build) in family.DATASETS.items()
} | {name: DatasetInfo(d, b, kind="corpus") for name, (d, b) in pretraining_corpus.DATASETS.items()}
TASKS = [name for name, info in DATASETS.items() if info.kind == "task"]
FORMAT = 2  # raised whenever the builders change what they write; older builds are rebuilt
STAMP = "dataset.json"  # written last by a build: name, format and sizes


def is_built(name: str, where: Path) -> bool:
    """Whether ``where`` holds a finished build of ``name`` in the current :data:`FORMAT`."""
    try:
        stamp = json.loads((where / STAMP).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and stamp.get("name") == name and stamp.get("format") == FORMAT


def build_dataset(name: str, out: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Build dataset ``name`` (see :data:`DATASETS`) into ``out`` (default: CACHE/datasets/NAME);
    returns where it is and the size of each part."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    where = Path(out) if out else cache_root() / "datasets" / name
    remove_stale_temporaries(where)  # left by an earlier build that was killed mid-write
    (where / STAMP).unlink(missing_ok=True)
    sizes = DATASETS[name].build(where)
    atomic_write_text(where / STAMP, json.dumps({"name": name, "format": FORMAT, "sizes": sizes}, indent=2) + "\n")
    return where, sizes
