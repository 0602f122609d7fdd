"""One way to check settings: every config class is a pydantic dataclass.

Fields are checked against their types and constraints when an object is built,
unknown keys are refused, and non-finite numbers are refused. :func:`build`
turns whatever is wrong into one :class:`~dnagpt.errors.ConfigError` line that
names where the settings came from, each offending key, its value and what is
allowed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from pathlib import Path
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


# Settings that change what is shown or when work is done, never a result: they may differ when a run
# is resumed.
PRESENTATION = frozenset({"train.progress", "train.tensorboard", "train.log_every", "train.prefetch",
                          "recipe.progress", "recipe.tensorboard"})  # fmt: skip
# Settings a resumed run may change when the user says so (--allow-change KEY): the run stays sound,
# e.g. a longer run (max_steps; its cosine then bends from that step on). Everything else is fixed.
MAY_CHANGE_ON_RESUME = frozenset({"train.max_steps", "train.eval_every", "train.save_every", "train.patience",
                                  "train.compile", "eval.samples", "recipe.epochs", "recipe.patience",
                                  "recipe.checkpoint_every"})  # fmt: skip
# Settings that runs started by an older dnagpt did not record, with the value those runs used: such a
# run resumes as long as the setting keeps that value.
ADDED_LATER = {"train.compile": False, "recipe.readout": "answer", "readout": "answer",
               "model_config.positions": "learned", "model_config.model_type": "dnagpt",
               "model_config.tokenizer_file": None, "objective.repeat_weight": 1.0,
               "recipe.frame_shift": False, "frame_shift": False, "recipe.shrink": 1.0,
               "shrink": 1.0}  # fmt: skip


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def setting_changes(saved: dict, now: dict, allow: Collection[str] = ()) -> list[str]:
    """The settings that differ between a run's saved settings and the ones given to resume it, as
    ``key: old -> new``, leaving out presentation and the changes ``allow`` names (of those permitted)."""
    old, new = _flatten(saved), _flatten(now)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, ADDED_LATER.get(key)), new.get(key)
        if before == after or key in PRESENTATION:
            continue
        if key in allow and key in MAY_CHANGE_ON_RESUME:
            continue
        how = "allow it with --allow-change" if key in MAY_CHANGE_ON_RESUME else "fixed for the life of a run"
        changes.append(f"{key}: {before!r} -> {after!r} ({how})")
    return changes


def check_resume(path: Path, now: dict, allow: Collection[str] = (), ignore: Collection[str] = ()) -> None:
    """Refuse to resume a run whose settings recorded in ``path`` (JSON) differ from ``now``;
    top-level keys in ``ignore`` (values the run computes itself) are not compared."""
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e}); cannot tell the run's settings") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: expected the run's settings, got {saved!r}")
    saved = {k: v for k, v in saved.items() if k not in ignore}
    now = {k: v for k, v in json.loads(json.dumps(now)).items() if k not in ignore}
    changes = setting_changes(saved, now, allow)
    if changes:
        raise ConfigError(
            f"{path.parent}: the run was started with other settings ({'; '.join(changes)}); resume with the "
            "same settings or start a new run in another directory"
        )
