"""A pretraining corpus: genomes from a manifest, held-out regions, window sampling.

The manifest (TOML, YAML or JSON) lists genomes, each with its species::

    [[genome]]
    path = "human_chr22.fa.gz"      # relative to the manifest
    species = "Homo sapiens"        # or a token such as "<R>", or "human"
    weight = 2.0                    # optional; default: the genome's length

Windows are drawn genome by weight, then record by length, then start uniformly;
windows with more than ``max_n_fraction`` N bases are redrawn (paper, Methods).
The last ``valid_fraction`` of every long enough record is held out for
validation; the regions are written to ``holdout.json`` in the run directory.
Every draw is a pure function of ``(seed, split, index)``, so a run can resume at
any step without replaying the data stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field

from ..errors import ConfigError, DataError
from ..io import atomic_write_text, read_structured
from ..tokenizers import species_token
from ..validation import build, settings
from .fasta import Record, prepare_fasta


def gc_fraction(codes: np.ndarray) -> float:
    """(G + C) / (A + C + G + T) of base codes in NAGCT order; N is left out."""
    counts = np.bincount(codes, minlength=5)
    acgt = counts[1:].sum()
    return float((counts[2] + counts[3]) / acgt) if acgt else 0.0


@dataclass(frozen=True)
class GenomeEntry:
    """One line of the manifest."""

    path: Path
    species: str  # the species token, e.g. "<R>"
    weight: float | None = None


@dataclass(frozen=True)
class Region:
    """A stretch of one record that windows are drawn from."""

    genome: int  # index into Corpus.stores
    record: Record
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@settings(frozen=True)
class _ManifestEntry:
    """One ``[[genome]]`` table as written in a manifest."""

    path: str
    species: str
    weight: Annotated[float, Field(gt=0)] | None = None
    source: str = ""  # where the file came from, for people reading the manifest


def read_manifest(path: str | Path) -> list[GenomeEntry]:
    """Parse a manifest file (``.toml``, ``.yaml``/``.yml`` or ``.json``); every entry is checked
    (keys, types, the file's existence, the species) before anything is read."""
    path = Path(path)
    data = read_structured(path, "manifest", DataError)
    unknown = sorted(set(data) - {"genome", "genomes"})
    if unknown:
        raise DataError(f"{path}: unknown manifest keys {', '.join(unknown)}; expected [[genome]] entries")
    genomes = data.get("genome") or data.get("genomes")
    if not genomes:
        raise DataError(f"{path}: manifest lists no genomes (expected [[genome]] entries with path and species)")
    if not isinstance(genomes, list):
        raise DataError(f"{path}: 'genome' must be a list of [[genome]] tables, got {genomes!r}")
    entries = []
    for i, g in enumerate(genomes, start=1):
        try:
            entry = build(_ManifestEntry, g, f"{path}: genome entry {i}")
        except ConfigError as e:
            raise DataError(str(e)) from None
        file = (path.parent / entry.path).resolve()
        if file.is_dir():
            raise DataError(f"{path}: genome entry {i}: {entry.path} is a directory; give a FASTA file (paths are "
                            "relative to the manifest)")  # fmt: skip
        if not file.is_file():
            raise DataError(f"{path}: genome entry {i}: file {entry.path} does not exist (paths are relative to the "
                            f"manifest, so it was looked for at {file})")  # fmt: skip
        try:
            token = species_token(entry.species)
        except ConfigError as e:
            raise DataError(f"{path}: genome entry {i}: {e}") from e
        entries.append(GenomeEntry(file, token, entry.weight))
    return entries


class Corpus:
    """Prepared genomes with a train / validation split of their records."""

    def __init__(
        self,
        entries: list[GenomeEntry],
        cache_dir: str | Path,
        window_bp: int,
        valid_fraction: float = 0.05,
        max_n_fraction: float = 0.05,
    ) -> None:
        if not 0.0 <= valid_fraction < 1.0:
            raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
        self.entries = entries
        self.stores = [prepare_fasta(e.path, cache_dir) for e in entries]
        self.window_bp = window_bp
        self.max_n_fraction = max_n_fraction
        self.regions: dict[str, list[Region]] = {"train": [], "valid": []}
        for g, store in enumerate(self.stores):
            usable = 0
            for rec in store.records:
                cut = int(rec.length * (1.0 - valid_fraction))
                if valid_fraction and rec.length - cut >= window_bp and cut >= window_bp:
                    self.regions["train"].append(Region(g, rec, 0, cut))
                    self.regions["valid"].append(Region(g, rec, cut, rec.length))
                    usable += 1
                elif rec.length >= window_bp:
                    self.regions["train"].append(Region(g, rec, 0, rec.length))
                    usable += 1
            if not usable:
                raise DataError(
                    f"{entries[g].path}: no record is long enough for a {window_bp} bp window "
                    f"(longest record: {max((r.length for r in store.records), default=0)} bp)"
                )
        if not self.regions["valid"] and valid_fraction:
            raise DataError(f"no record is long enough to hold out {valid_fraction:.0%} for validation")
        self._by_genome = {
            split: [[r for r in regs if r.genome == g] for g in range(len(self.stores))]
            for split, regs in self.regions.items()
        }
        self._tables = {split: self._sampling_table(split) for split in self.regions}

    def _sampling_table(self, split: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """Cumulative probabilities over genomes, then over each genome's regions."""
        regions = self.regions[split]
        genome_weights = np.zeros(len(self.stores))
        per_genome: list[np.ndarray] = []
        for g, entry in enumerate(self.entries):
            lengths = np.array([r.length - self.window_bp + 1 for r in regions if r.genome == g], dtype=float)
            if lengths.size:
                genome_weights[g] = entry.weight if entry.weight is not None else lengths.sum()
                per_genome.append(np.cumsum(lengths) / lengths.sum())
            else:
                per_genome.append(np.zeros(0))
        if genome_weights.sum() == 0:
            return np.zeros(0), per_genome
        return np.cumsum(genome_weights) / genome_weights.sum(), per_genome

    def sample_window(self, rng: np.random.Generator, split: str, length: int) -> tuple[np.ndarray, int]:
        """Draw one window of ``length`` bases: ``(base codes, genome index)``."""
        codes, g, _ = self._draw(rng, split, length)
        return codes, g

    def sample_window_softmask(
        self, rng: np.random.Generator, split: str, length: int
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The window :meth:`sample_window` draws with the same ``rng``, and whether each base was
        soft-masked (lower case, a repeat) in its FASTA: ``(base codes, soft-masked, genome index)``."""
        codes, g, (region, start) = self._draw(rng, split, length)
        return codes, self.stores[g].soft_masked(region.record, start, start + length), g

    def _draw(self, rng: np.random.Generator, split: str, length: int) -> tuple[np.ndarray, int, tuple[Region, int]]:
        genome_cdf, region_cdfs = self._tables[split]
        if not genome_cdf.size:
            raise DataError(f"the corpus has no {split} regions")
        for _ in range(200):
            g = min(int(np.searchsorted(genome_cdf, rng.random(), side="right")), len(genome_cdf) - 1)
            regs = self._by_genome[split][g]
            region = regs[min(int(np.searchsorted(region_cdfs[g], rng.random(), side="right")), len(regs) - 1)]
            start = region.start + int(rng.integers(0, region.length - length + 1))
            codes = self.stores[g].fetch(region.record, start, start + length)
            if np.count_nonzero(codes == 0) <= self.max_n_fraction * length:
                return codes, g, (region, start)
        raise DataError(f"{self.entries[g].path}: 200 windows in a row had more than {self.max_n_fraction:.0%} N bases")

    def describe_holdout(self) -> list[dict]:
        """The held-out regions, one dict each (file, record, 0-based start, end)."""
        return [
            {"file": str(self.entries[r.genome].path), "record": r.record.name, "start": r.start, "end": r.end}
            for r in self.regions["valid"]
        ]

    def write_holdout(self, path: str | Path) -> None:
        atomic_write_text(Path(path), json.dumps(self.describe_holdout(), indent=1) + "\n")

    def species_tokens(self) -> list[str]:
        return [e.species for e in self.entries]


_LETTERS = bytes.maketrans(bytes(range(5)), b"NAGCT")


def training_sequences(
    manifest: str | Path, cache_dir: str | Path, valid_fraction: float = 0.1, max_bases: int | None = None
) -> Iterator[str]:
    """The bases a tokenizer may learn from: the first ``1 - valid_fraction`` of every record of
    every genome in ``manifest`` (pretraining holds out the last part of each record, so none of
    its validation bases is seen), at most ``max_bases`` per genome."""
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    for entry in read_manifest(manifest):
        store = prepare_fasta(entry.path, cache_dir)
        left = max_bases if max_bases is not None else float("inf")
        for record in store.records:
            if left <= 0:
                break
            end = min(int(record.length * (1.0 - valid_fraction)), int(min(left, record.length)))
            if end <= 0:
                continue  # a record too short to give anything; later ones still may
            left -= end
            yield store.fetch(record, 0, end).tobytes().translate(_LETTERS).decode()
