"""Tables in: CSV, TSV (plain or gzipped) and parquet, as lists of row dicts.

The GUE / DNABERT-2 layout (``sequence,label``) reads unchanged. A parquet null reads as None; an
empty CSV cell as "". A settings file (TOML, JSON, YAML) or a directory given where a table is
expected is refused by name rather than read as a one-column CSV.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ..errors import DataError
from .fasta import read_fasta_records

FASTA_SUFFIXES = (".fa", ".fasta", ".fna")
TABLE_KINDS = ".csv, .tsv (either optionally gzipped) or .parquet"
SETTINGS_SUFFIXES = {".toml": "TOML", ".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}


def _check_table_path(path: Path, kinds: str = TABLE_KINDS) -> None:
    """Refuse, by what it is, a path that cannot be a table: missing, a directory, a settings file
    (``finetune MODEL task.toml --train task.toml``) or, where ``kinds`` has no FASTA, a FASTA file."""
    name = path.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if path.is_dir():
        raise DataError(f"{path}: a directory, not a file; give a table file: {kinds}")
    if not path.is_file():
        raise DataError(f"{path}: no such {'FASTA file' if name.endswith(FASTA_SUFFIXES) else 'table'}")
    if suffix in SETTINGS_SUFFIXES:
        raise DataError(f"{path}: looks like a {SETTINGS_SUFFIXES[suffix]} settings file (a task file?), not a "
                        f"table; tables are {kinds}")  # fmt: skip
    if name.endswith(FASTA_SUFFIXES) and "FASTA" not in kinds:
        raise DataError(f"{path}: a FASTA file, not a table; here a table is read ({kinds}) with the sequences "
                        "in a column")  # fmt: skip


def read_table(path: str | Path) -> list[dict]:
    """Rows of a ``.csv``, ``.tsv`` (optionally ``.gz``) or ``.parquet`` file."""
    path = Path(path)
    _check_table_path(path)
    name = path.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        try:
            table = pq.read_table(path)
            names = table.column_names  # names and cells are decoded as UTF-8 here, not when read
            rows = table.to_pylist()
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: a column name or text cell is not UTF-8 text ({e})") from None
        except Exception as e:  # pyarrow raises its own error types for every kind of damage
            raise DataError(f"{path}: not a readable parquet file ({str(e).splitlines()[0]})") from None
        _check_header(path, names)
        return rows
    delimiter = "\t" if name.endswith((".tsv", ".txt")) else ","
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    rows: list[dict] = []
    line = 1
    try:  # read as a stream: a large table is held once, as its rows, not also as bytes and text
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            _check_header(path, reader.fieldnames or [])
            for i, row in enumerate(reader, start=1):
                line = reader.line_num
                if None in row or any(v is None for v in row.values()):
                    raise DataError(f"{path}, row {i}: {len(reader.fieldnames or [])} columns expected")
                rows.append(row)
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text table (near line {line + 1}: {e})") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: truncated or corrupt gzip file ({e})") from None
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


def read_rows(path: str | Path, sequence_column: str = "sequence") -> list[dict]:
    """Rows of a table, or of a FASTA file (one row per record: ``name`` and the sequence column).

    Where a table has ``sequence_column``, every row's cell must hold text: an empty or missing
    (null) cell is an error naming the file, row and column, not a sequence read as "" or "None".
    """
    path = Path(path)
    _check_table_path(path, ".csv, .tsv (either optionally gzipped), .parquet, or FASTA (.fa, .fasta, .fna)")
    if path.name.lower().removesuffix(".gz").endswith(FASTA_SUFFIXES):
        return [{"name": name, sequence_column: seq} for name, seq in read_fasta_records(path)]
    rows = read_table(path)
    if rows and sequence_column in rows[0]:
        for i, row in enumerate(rows, start=1):
            _check_sequence_cell(path, i, sequence_column, row[sequence_column])
    return rows


def _check_sequence_cell(path: Path, row: int, column: str, value: object) -> None:
    """A sequence cell holds text with something in it (what the text may hold is the reader's to check)."""
    where = f"{path}, row {row}, column {column}"
    if value is None:
        raise DataError(f"{where}: empty sequence (the cell is missing: null); give every row a sequence "
                        "or remove the row")  # fmt: skip
    if not isinstance(value, str):  # e.g. a parquet column of numbers
        raise DataError(f"{where}: {value!r} is not a DNA sequence (the column holds {type(value).__name__} values)")
    if not value.strip():
        raise DataError(f"{where}: empty sequence (the cell is empty); give every row a sequence or remove the row")
