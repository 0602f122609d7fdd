"""Which device to run on: a name checked against the hardware that is there."""

from __future__ import annotations

import torch

from .errors import ConfigError


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
