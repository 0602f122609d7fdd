"""What every labelled dataset shares: windows cut from a genome, the split of each window by
the held-out registry (:mod:`dnagpt.data.regions`), classes balanced inside every split, and the
files written (``train/dev/test.csv.gz`` and ``task.toml``).

Every row carries ``region``, the window's place in its genome (``SOURCE/SEQUENCE:START-END``),
so that anyone can check a dataset against a pretraining corpus (:func:`~dnagpt.data.regions.overlapping`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...io import atomic_write_gzip, atomic_write_text
from ..regions import SPLITS, format_region, window_split

_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
MAX_N_FRACTION = 0.05  # windows with more N (unknown) bases are left out
SHARE = {"train": 0.6, "dev": 0.15, "test": 0.25}  # each split's expected share of a dataset (the registry's)


def reverse_complement(seq: str) -> str:
    """The other strand of ``seq``, read 5' to 3'."""
    return seq.translate(_COMPLEMENT)[::-1]


def distance_to_nearest(sorted_positions: np.ndarray, where: np.ndarray) -> np.ndarray:
    """For each of ``where``, the distance to the nearest of ``sorted_positions`` (ascending, not empty)."""
    i = np.searchsorted(sorted_positions, where)
    left = sorted_positions[np.clip(i - 1, 0, len(sorted_positions) - 1)]
    right = sorted_positions[np.clip(i, 0, len(sorted_positions) - 1)]
    return np.minimum(np.abs(where - left), np.abs(right - where))


def gc_fraction(bases: str) -> float:
    """G + C among the known bases (A, C, G, T) of ``bases``; 0 when none is known."""
    known = len(bases) - bases.count("N")
    return (bases.count("G") + bases.count("C")) / known if known else 0.0


def merge_intervals(intervals: Iterable[tuple[int, int]], margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the union of ``intervals`` (0-based half-open), each widened by ``margin``
    bases on both sides: disjoint, sorted."""
    starts: list[int] = []
    ends: list[int] = []
    for a, b in sorted((a - margin, b + margin) for a, b in intervals):
        if starts and a <= ends[-1]:
            ends[-1] = max(ends[-1], b)
        else:
            starts.append(a)
            ends.append(b)
    return np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


@dataclass(frozen=True)
class Genome:
    """One sequence of a fetched source: ``name`` is ``SOURCE/RECORD`` (the registry's key)."""

    name: str
    seq: str

    def window(self, start: int, end: int, strand: str = "+") -> str | None:
        """Bases ``[start, end)`` (0-based, + strand coordinates) read on ``strand``, or None when
        the window runs off the sequence or has too many N bases."""
        if start < 0 or end > len(self.seq):
            return None
        bases = self.seq[start:end]
        if bases.count("N") > MAX_N_FRACTION * len(bases):
            return None
        return bases if strand == "+" else reverse_complement(bases)


@dataclass(frozen=True)
class Example:
    """One labelled window: its place ``[start, end)`` on ``genome`` (+ strand), the strand it is
    read on, the model's input text and the label (class or number)."""

    genome: str
    start: int
    end: int
    strand: str
    sequence: str
    label: str | float
    extra: tuple = ()  # more columns, named by the dataset's ``extra_columns``

    @property
    def region(self) -> str:
        return format_region(self.genome, self.start, self.end)

    @property
    def split(self) -> str | None:
        return window_split(self.genome, self.start, self.end)


def task_toml(name: str, species: str, comment: str, labels: dict[str, str]) -> str:
    """The task file of a classification dataset: ``labels`` maps each class to its answer token."""
    lines = [f"# {comment}", f'name = "{name}"', 'template = "classification"', f'species = "{species}"',
             'sequence_column = "sequence"', 'label_column = "label"', "", "[labels]"]  # fmt: skip
    lines += [f'"{label}" = "{token}"' for label, token in labels.items()]
    return "\n".join(lines) + "\n"


def write_csv_gz(path: Path, header: list[str], rows: Iterable) -> int:
    """Write a gzipped CSV (see :func:`~dnagpt.io.atomic_write_gzip`); return the number of rows."""
    rows = list(rows)
    text = io.StringIO()
    csv.writer(text).writerows([header, *rows])
    atomic_write_gzip(path, text.getvalue().encode())
    return len(rows)


def write_dataset(
    out_dir: Path,
    examples: Iterable[Example],
    task: str,
    seed: int,
    balance: bool = True,
    per_class: int | None = None,
    extra_columns: tuple[str, ...] = (),
) -> dict[str, int]:
    """Put each example in the split of its block (dropping those that straddle two), balance the
    classes inside every split by drawing at random from the larger ones (``balance``), cap each
    class of a split at its share of ``per_class``, and write the files. Returns the split sizes."""
    by_split: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for e in examples:
        if (split := e.split) is not None:
            by_split[split].append(e)
    rng = np.random.default_rng(seed)
    labels = sorted({str(e.label) for part in by_split.values() for e in part})
    sizes = {}
    for split, part in by_split.items():
        if balance:
            cap = None if per_class is None else split_cap(per_class, split)
            part = _balanced(part, labels, rng, cap)
        part.sort(key=lambda e: (e.genome, e.start, e.strand, str(e.label)))
        rows = [(e.sequence, e.label, e.region, e.strand, *e.extra) for e in part]
        header = ["sequence", "label", "region", "strand", *extra_columns]
        sizes[split] = write_csv_gz(out_dir / f"{split}.csv.gz", header, rows)
    if not all(sizes.values()):
        raise DataError(f"{out_dir}: a split came out empty ({sizes}); the source has too few examples")
    atomic_write_text(out_dir / "task.toml", task)
    return sizes


def split_cap(per_class: int, split: str) -> int:
    """How many examples of each class :func:`write_dataset` keeps at most in ``split``."""
    return max(1, round(per_class * SHARE[split]))


def _balanced(part: list[Example], labels: list[str], rng: np.random.Generator, cap: int | None) -> list[Example]:
    """As many examples of each of ``labels`` as the rarest has here (at most ``cap``), drawn at random."""
    classes: dict[str, list[Example]] = {label: [] for label in labels}
    for e in part:
        classes[str(e.label)].append(e)
    take = min(len(v) for v in classes.values())
    if cap is not None:
        take = min(take, cap)
    return [v[i] for v in classes.values() for i in sorted(rng.choice(len(v), take, replace=False))]
