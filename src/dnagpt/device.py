"""Which device to run on (a name checked against the hardware that is there) and in what precision."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform
from pathlib import Path
from typing import Literal, get_args

import torch

from .errors import ConfigError

Precision = Literal["fp32", "bf16", "fp16", "auto"]  # auto: bf16 where the processor or GPU supports it
PRECISIONS: tuple[str, ...] = get_args(Precision)


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` (the GPU of this process if there is one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``;
    a GPU that is not there is a :class:`ConfigError`, not a failure halfway through the work."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for, but no GPU is visible; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} GPU(s) are visible")
    elif device.type != "cpu":
        raise ConfigError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting on a device (None: full fp32)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "fp16":
        return torch.float16
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _cpu_has_bf16() else None


@functools.cache  # asked at every batch through precision_context; the processor does not change
def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_bf16", "amx_bf16"))


def describe_machine() -> str:
    """The processor by name, with its bf16 matrix instructions, for benchmark results files: the
    same step ran 1.9x faster on an Intel CPU with AMX than on an AMD EPYC with AVX-512 BF16 only."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "")
    units = [f for f in ("amx_bf16", "avx512_bf16") if f in info.split()]
    return f"{name or platform.machine()} ({', '.join(units) or 'no bf16 units'})"


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """A context that runs the model in ``precision`` (``fp32``, ``bf16``, ``fp16`` or ``auto``) on ``device``."""
    dtype = autocast_dtype(precision, device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory() -> bool:
    """Keep the memory torch frees on the CPU in this process, for the next batch to reuse, instead
    of handing it back to the system after every batch (glibc's malloc, on Linux; elsewhere nothing
    changes). Scoring makes the same few-megabyte buffers batch after batch; handed back, each is
    faulted in again a page at a time, which costs system time that grows with the machine's load.
    The process's peak memory is unchanged. Returns whether the setting took."""
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # another C library (musl)
        return False
    # blocks up to 32 MiB (glibc's largest) come from the heap, and the heap's top is kept
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))


def peak_memory_mib() -> float:
    """This process's peak resident memory in MiB: what the system gave it, Python and its libraries
    included. Linux's ``VmHWM``, not ``ru_maxrss``, which a process started by another carries over
    from it (the parent's memory at the fork counts as the child's); ``ru_maxrss`` elsewhere."""
    status = Path("/proc/self/status")
    if status.is_file():
        line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024  # kB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if platform.system() == "Darwin" else peak / 1024  # bytes on macOS, KiB elsewhere
