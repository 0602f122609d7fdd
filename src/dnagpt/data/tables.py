"""Tables in: CSV, TSV (plain or gzipped) and parquet, as lists of row dicts.

The GUE / DNABERT-2 layout (``sequence,label``) reads unchanged.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError


def read_table(path: str | Path) -> list[dict]:
    """Rows of a ``.csv``, ``.tsv`` (optionally ``.gz``) or ``.parquet`` file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such table")
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from None
        return pq.read_table(path).to_pylist()
    delimiter = "\t" if name.endswith((".tsv", ".txt")) else ","
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text table ({e})") from e
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for i, row in enumerate(reader, start=1):
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"{path}, row {i}: {len(reader.fieldnames or [])} columns expected")
        rows.append(row)
    return rows


def split_rows(rows: list, seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.15, 0.25)) -> tuple:
    """Shuffle with ``seed`` and cut into train / dev / test (the paper's 6 : 1.5 : 2.5)."""
    order = np.random.default_rng(seed).permutation(len(rows))
    n_train = round(fractions[0] * len(rows))
    n_dev = round(fractions[1] * len(rows))
    parts = (order[:n_train], order[n_train : n_train + n_dev], order[n_train + n_dev :])
    return tuple([rows[i] for i in part] for part in parts)


FASTA_SUFFIXES = (".fa", ".fasta", ".fna")


def read_rows(path: str | Path, sequence_column: str = "sequence") -> list[dict]:
    """Rows of a table, or of a FASTA file (one row per record: ``name`` and the sequence column)."""
    path = Path(path)
    if path.name.removesuffix(".gz").endswith(FASTA_SUFFIXES):
        from .fasta import read_fasta_records

        return [{"name": name, sequence_column: seq} for name, seq in read_fasta_records(path)]
    return read_table(path)
