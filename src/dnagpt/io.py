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
import logging
import os
import shlex
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from .errors import DNAGPTError

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
    # a damaged digest file reads as text anyway: its digest then does not match, which is the error to give
    return [line.split()[0] for line in recorded.read_text(errors="replace").splitlines() if line.strip()]


# Set to 1 (also true/yes/on), a file read through verify_digest that has no recorded digest is refused
# instead of read with a warning; `dnagpt --verify` (any command) sets it for its own run and children.
VERIFY_ENV = "DNAGPT_VERIFY"
_log = logging.getLogger("dnagpt.io")
_warned_unchecked: set[str] = set()  # files already warned about in this process: one warning each


def digests_required() -> bool:
    """Whether files without a recorded digest are refused (``DNAGPT_VERIFY`` set, e.g. by ``--verify``)."""
    return os.environ.get(VERIFY_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@contextlib.contextmanager
def requiring_digests(required: bool = True) -> Iterator[None]:
    """Refuse (``required``) or allow with a warning files without a recorded digest while the block
    runs. It sets ``DNAGPT_VERIFY`` rather than a module flag so that worker processes started
    meanwhile (torchrun, data loaders) inherit the choice; the previous value comes back after."""
    before = os.environ.get(VERIFY_ENV)
    os.environ[VERIFY_ENV] = "1" if required else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(VERIFY_ENV, None)
        else:
            os.environ[VERIFY_ENV] = before


def _record_instruction(path: Path) -> str:
    """The command that records ``path``'s digest in the format :func:`verify_digest` reads: ``sha256sum``'s
    own, run beside the file so that ``sha256sum -c`` checks it too."""
    recorded = digest_path(path)
    return f"(cd {shlex.quote(str(path.parent))} && sha256sum {shlex.quote(path.name)} > {shlex.quote(recorded.name)})"


def warn_unverified(path: str | Path) -> None:
    """Log, once per file and process, that ``path`` was read without a digest to check it against."""
    path = Path(path)
    key = str(path.resolve())
    if key in _warned_unchecked:
        return
    _warned_unchecked.add(key)
    _log.warning(
        "%s has no %s to check it against, so damage or changes to it go unnoticed; once you trust the "
        "file, record its digest: %s (--verify or %s=1 refuses files without one)",
        path, digest_path(path).name, _record_instruction(path), VERIFY_ENV,
    )  # fmt: skip


def verify_digest(path: str | Path, error: type[Exception], strict: bool | None = None, warn: bool = True) -> bool:
    """Raise ``error`` when ``path`` no longer has the SHA-256 recorded beside it (a file damaged,
    truncated or changed since it was written); True when the digest was checked.

    A file without a recorded digest (another library's, or one whose ``.sha256`` was lost) is
    refused when ``strict`` (default: :func:`digests_required`); otherwise it passes, with a warning
    once per file unless ``warn`` is False (then the caller warns with :func:`warn_unverified` once the
    file has been read, so that a file refused for another reason gets one message, not two).
    """
    path = Path(path)
    recorded = digest_path(path)
    if not recorded.is_file():
        if digests_required() if strict is None else strict:
            raise error(
                f"{path}: no {recorded.name} beside it to check it against, and verification was asked for "
                f"(--verify or {VERIFY_ENV}=1); once you trust the file, record its digest: "
                f"{_record_instruction(path)}"
            )
        if warn:
            warn_unverified(path)
        return False
    actual = file_sha256(path)
    if actual not in _recorded_digests(recorded):
        raise error(
            f"{path}: its SHA-256 {actual[:16]}... does not match the one recorded in {recorded.name} when it was "
            "written; the file is damaged, truncated or was changed"
        )
    return True


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
    if path.is_dir():
        raise error(f"{path}: a directory, not a {what} (give the file itself)")
    if not path.is_file():
        raise error(f"{path}: no such {what}")
    try:
        data = _parse_structured(path)
    except ValueError as e:
        detail = " ".join(str(e).split())  # parsers' messages span several lines
        raise error(f"{path}: cannot parse {what} ({detail})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):  # parsed well, but not settings: say what it holds instead
        raise error(f"{path}: a {what} must hold a table of settings at the top level (a JSON object, or TOML / "
                    f"YAML keys), but this one holds {json_kind(data)}")  # fmt: skip
    return data


def json_kind(value: object) -> str:
    """What a parsed JSON / TOML / YAML value is, in the file's own terms: ``a list``, ``a number`` ..."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    kinds = {dict: "a table (JSON object)", list: "a list", str: "a string", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _parse_structured(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:  # a binary file given by mistake
        raise ValueError(f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        if path.suffix == ".toml":
            return parse_toml(text)
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as e:  # each parser has its own error type
        raise ValueError(str(e)) from e


def parse_toml(text: str) -> dict:
    """Parse TOML text (``tomllib`` from Python 3.11, its backport ``tomli`` before)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(str(e)) from e


@contextlib.contextmanager
def untouched_on_refusal(folder: str | Path, keep_if: str | None = None) -> Iterator[None]:
    """On an error of the user's input (:class:`~dnagpt.errors.DNAGPTError`), remove what was made in
    ``folder`` since entering (``folder`` itself if it was made then), so that a refused run leaves
    it as it found it; unless a file named ``keep_if`` lies below it (work worth resuming)."""
    folder = Path(folder)
    existed = folder.is_dir()
    before = set(folder.iterdir()) if existed else set()
    try:
        yield
    except DNAGPTError:
        if folder.is_dir() and not (keep_if and any(folder.rglob(keep_if))):
            for made in set(folder.iterdir()) - before:
                shutil.rmtree(made) if made.is_dir() else made.unlink()
            if not existed:
                folder.rmdir()
        raise
