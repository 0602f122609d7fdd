"""Tables in: CSV, TSV (plain or gzipped) and parquet, as lists of row dicts.

The GUE / DNABERT-2 layout (``sequence,label``) reads unchanged.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..errors import DataError
from .fasta import read_fasta_records


def read_table(path: str | Path) -> list[dict]:
    """Rows of a ``.csv``, ``.tsv`` (optionally ``.gz``) or ``.parquet`` file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such table")
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises its own error types for every kind of damage
            raise DataError(f"{path}: not a readable parquet file ({str(e).splitlines()[0]})") from None
        _check_header(path, table.column_names)
        return table.to_pylist()
    delimiter = "\t" if name.endswith((".tsv", ".txt")) else ","
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: truncated or corrupt gzip file ({e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text table ({e})") from e
    try:
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        _check_header(path, reader.fieldnames or [])
    except csv.Error as e:
        raise DataError(f"{path}: not a readable table ({e})") from None
    rows: list[dict] = []
    try:
        for i, row in enumerate(reader, start=1):
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"{path}, row {i}: {len(reader.fieldnames or [])} columns expected")
            rows.append(row)
    except csv.Error as e:
        raise DataError(f"{path}, row {len(rows) + 1}: not readable as a table row ({e})") from None
    return rows


def _check_header(path: Path, names: list[str]) -> None:
    """A table needs a header of distinct, non-empty column names."""
    if not names:
        raise DataError(f"{path}: empty table (no header line)")
    seen = set()
    for i, name in enumerate(names, start=1):
        if not str(name).strip():
            raise DataError(f"{path}: column {i} of the header has no name")
        if name in seen:
            raise DataError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)


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
        return [{"name": name, sequence_column: seq} for name, seq in read_fasta_records(path)]
    return read_table(path)
