"""Small file helpers shared by every writer in dnagpt.

Every file dnagpt writes goes through :func:`atomic_write` so that a run killed
mid-write never leaves a half-written checkpoint, table or report behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: its backport tomli, a dependency there
    import tomli as tomllib


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_gzip(path: str | Path, payload: bytes) -> None:
    """Gzip ``payload`` into ``path`` atomically and byte-reproducibly (no name or time stamp in the header)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(payload)

    atomic_write(path, write)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest_path(path: str | Path) -> Path:
    """Where the SHA-256 of ``path`` is kept: ``path.sha256`` beside it (``sha256sum`` format)."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_with_digest(path: str | Path, write: Callable[[Path], object]) -> None:
    """:func:`atomic_write` ``path`` and keep its SHA-256 beside it (see :func:`verify_digest`).

    The file and its digest are two renames, so a run killed between them must not leave a
    digest that disagrees with the file: the digest file first lists the new digest and the old
    one, then the file is replaced, then the digest file keeps only the new digest.
    """
    path = Path(path)
    recorded = digest_path(path)
    with atomic_path(path) as tmp:
        write(tmp)
        new = file_sha256(tmp)
        previous = _recorded_digests(recorded) if path.exists() else []
        atomic_write_text(recorded, "".join(f"{d}  {path.name}\n" for d in [new, *previous]))
    atomic_write_text(recorded, f"{new}  {path.name}\n")


def _recorded_digests(recorded: Path) -> list[str]:
    if not recorded.is_file():
        return []
    return [line.split()[0] for line in recorded.read_text().splitlines() if line.strip()]


def verify_digest(path: str | Path, error: type[Exception]) -> None:
    """Raise ``error`` when ``path`` no longer has the SHA-256 recorded beside it (a file damaged,
    truncated or changed since it was written). Files without a recorded digest pass."""
    recorded = digest_path(path)
    if not recorded.is_file():
        return
    actual = file_sha256(path)
    if actual not in _recorded_digests(recorded):
        raise error(
            f"{path}: its SHA-256 {actual[:16]}... does not match the one recorded in {recorded.name} when it was "
            "written; the file is damaged, truncated or was changed"
        )


@contextlib.contextmanager
def exclusive_directory(directory: str | Path, error: type[Exception]) -> Iterator[None]:
    """Hold ``directory/.lock`` while the block runs, so two live processes never write one run.

    The operating system drops the lock when its holder exits, however it dies, so a killed run
    never leaves a stale lock behind; a second writer gets ``error`` naming the holder's pid.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise error(
                f"{directory}: another process (pid {holder}) is still writing here; wait for it to finish "
                "or stop it (under torchrun stop its workers too), then run again"
            ) from None
        except OSError as e:  # some cluster file systems (Lustre, NFS mounts) offer no locks at all
            if e.errno not in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            warnings.warn(f"{directory}: this file system cannot lock files ({e.strerror}); make sure that "
                          "only one run writes this folder at a time", stacklevel=3)  # fmt: skip
            yield
            return
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(directory: str | Path) -> int:
    """Delete the temporary files that an interrupted :func:`atomic_path` left in ``directory``
    (call only where one process writes); returns how many were removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    stale = [p for p in directory.glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def read_structured(path: Path, what: str = "file", error: type[Exception] = ValueError) -> dict:
    """Parse a TOML, YAML (.yaml/.yml) or JSON file into a dict.

    A missing file or malformed text raises ``error`` naming the file and ``what`` it should be.
    """
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        return _parse_structured(path)
    except ValueError as e:
        detail = " ".join(str(e).split())  # parsers' messages span several lines
        raise error(f"{path}: cannot parse {what} ({detail})") from None


def _parse_structured(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = parse_toml(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # each parser has its own error type
        raise ValueError(str(e)) from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("expected a mapping of sections at the top level")
    return data


def parse_toml(text: str) -> dict:
    """Parse TOML text (``tomllib`` from Python 3.11, its backport ``tomli`` before)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(str(e)) from e
