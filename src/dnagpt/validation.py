"""One way to check settings: every config class is a pydantic dataclass.

Fields are checked against their types and constraints when an object is built,
unknown keys are refused, and non-finite numbers are refused. :func:`build`
turns whatever is wrong into one :class:`~dnagpt.errors.ConfigError` line that
names where the settings came from, each offending key, its value and what is
allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass as _pydantic_dataclass

from .errors import ConfigError

T = TypeVar("T")

_CHECKED = ConfigDict(extra="forbid", allow_inf_nan=False, arbitrary_types_allowed=True)


def settings(cls: type[T] | None = None, *, frozen: bool = False):
    """Class decorator: a dataclass whose fields are checked when it is built (see module doc)."""

    def wrap(klass: type[T]) -> type[T]:
        return _pydantic_dataclass(klass, config=_CHECKED, frozen=frozen)  # type: ignore[return-value]

    return wrap if cls is None else wrap(cls)


def build(cls: type[T], values: Any, where: str, aliases: Mapping[str, str] | None = None) -> T:
    """``cls(**values)``, or a :class:`ConfigError` naming ``where`` and every problem.

    ``aliases`` names fields as the user wrote them, e.g. ``{"n_snps": "--snps"}`` for a command's options.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {type(values).__name__} {values!r}")
    try:
        return cls(**values)
    except ValidationError as e:
        raise ConfigError(describe(e, where, cls, aliases)) from None


def describe(
    error: ValidationError, where: str, cls: type | None = None, aliases: Mapping[str, str] | None = None
) -> str:
    """One line: each problem of a pydantic ``ValidationError`` as ``key = value: what is wrong``."""
    known = sorted(f.name for f in dataclasses.fields(cls)) if cls and dataclasses.is_dataclass(cls) else []
    problems = []
    for err in error.errors():
        parts = [str(part) for part in err["loc"]]
        if parts and aliases and parts[0] in aliases:
            parts[0] = aliases[parts[0]]
        key = ".".join(parts)
        if err["type"] == "unexpected_keyword_argument":
            hint = f" (known: {', '.join(known)})" if known else ""
            problems.append(f"unknown setting {key!r}{hint}")
        elif err["type"] in ("missing_argument", "missing"):
            problems.append(f"{key}: missing value")
        elif err["type"] == "value_error":  # a check of the class itself (several fields together)
            reason = str(err.get("ctx", {}).get("error", err["msg"]))
            problems.append(f"{key}: {reason}" if key else reason)
        else:
            problems.append(f"{key} = {err['input']!r}: {err['msg'][0].lower()}{err['msg'][1:]}")
    return f"{where}: " + "; ".join(problems)
