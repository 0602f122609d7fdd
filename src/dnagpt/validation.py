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
from dataclasses import dataclass, field
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
    unknown: list[str] = []  # every unknown key goes into one problem, which lists the known settings once
    slot = 0  # where that problem stands among the others: where the first unknown key was met
    for err in error.errors():
        parts = [str(part) for part in err["loc"]]
        if parts and aliases and parts[0] in aliases:
            parts[0] = aliases[parts[0]]
        key = ".".join(parts)
        if err["type"] == "unexpected_keyword_argument":
            if not unknown:
                slot = len(problems)
                problems.append("")  # filled in below, once every unknown key is known
            unknown.append(key)
        elif err["type"] in ("missing_argument", "missing"):
            problems.append(f"{key}: missing value")
        elif err["type"] == "value_error":  # a check of the class itself (several fields together)
            reason = str(err.get("ctx", {}).get("error", err["msg"]))
            problems.append(f"{key}: {reason}" if key else reason)
        else:
            problems.append(f"{key} = {err['input']!r}: {err['msg'][0].lower()}{err['msg'][1:]}")
    if unknown:
        hint = f" (known: {', '.join(known)})" if known else ""
        keys = ", ".join(repr(k) for k in unknown)
        problems[slot] = f"unknown setting{'s' if len(unknown) > 1 else ''} {keys}{hint}"
    return f"{where}: " + "; ".join(problems)


@dataclass(frozen=True)
class ResumeRules:
    """What a kind of run lets differ when it is resumed; each kind of run states its own, beside its
    settings. Keys are dotted paths into the saved settings (``train.max_steps``)."""

    presentation: frozenset[str] = frozenset()  # change what is shown or when work is done, never a result
    # may change when the user says so (--allow-change KEY): the run stays sound, e.g. a longer run
    may_change: frozenset[str] = frozenset()
    # settings that runs of an older dnagpt did not record, with the value those runs used: such a run
    # resumes as long as the setting keeps that value
    added_later: Mapping[str, Any] = field(default_factory=dict)
    # settings that older runs recorded and dnagpt no longer has: their absence is no change
    retired: frozenset[str] = frozenset()

    def __or__(self, other: ResumeRules) -> ResumeRules:
        return ResumeRules(self.presentation | other.presentation, self.may_change | other.may_change,
                           {**self.added_later, **other.added_later}, self.retired | other.retired)  # fmt: skip


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def setting_changes(
    saved: dict, now: dict, rules: ResumeRules = ResumeRules(), allow: Collection[str] = ()
) -> list[str]:
    """The settings that differ between a run's saved settings and the ones given to resume it, as
    ``key: old -> new``, leaving out what ``rules`` lets differ and the changes ``allow`` names (of
    those ``rules`` permits)."""
    old, new = _flatten(saved), _flatten(now)
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key, rules.added_later.get(key)), new.get(key)
        if before == after or key in rules.presentation or (key not in new and key in rules.retired):
            continue
        if key in allow and key in rules.may_change:
            continue
        how = "allow it with --allow-change" if key in rules.may_change else "fixed for the life of a run"
        changes.append(f"{key}: {before!r} -> {after!r} ({how})")
    return changes


def read_recorded_settings(path: Path, what: str) -> dict | None:
    """The settings a ``what`` (run, bench, study) recorded in the JSON file ``path``, or None where
    there is no such file; a file that is not a JSON object is a :class:`ConfigError`."""
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e}); cannot tell the {what}'s settings") from None
    if not isinstance(recorded, dict):
        raise ConfigError(f"{path}: expected the {what}'s settings, got {type(recorded).__name__}")
    return recorded


def check_resume(path: Path, now: dict, rules: ResumeRules = ResumeRules(), allow: Collection[str] = (),
                 ignore: Collection[str] = ()) -> None:  # fmt: skip
    """Refuse to resume a run whose settings recorded in ``path`` (JSON) differ from ``now`` beyond
    what ``rules`` and ``allow`` let differ; top-level keys in ``ignore`` (values the run computes
    itself) are not compared."""
    saved = read_recorded_settings(path, "run")
    if saved is None:
        return
    saved = {k: v for k, v in saved.items() if k not in ignore}
    now = {k: v for k, v in json.loads(json.dumps(now)).items() if k not in ignore}
    changes = setting_changes(saved, now, rules, allow)
    if changes:
        raise ConfigError(
            f"{path.parent}: the run was started with other settings ({'; '.join(changes)}); resume with the "
            "same settings or start a new run in another directory"
        )
