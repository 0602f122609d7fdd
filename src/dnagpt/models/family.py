"""The registry of model families: one :class:`ModelFamily` per network design.

A family is one module under :mod:`dnagpt.models` holding its configuration class, its network
(a :class:`~dnagpt.models.base.PretrainedModel`) and a ``FAMILY`` record; ``dnagpt.models``
registers each with one line. Everything else asks the registry or the model, never a name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..errors import ConfigError
from .config import ModelConfig


@dataclass(frozen=True)
class ModelFamily:
    """One network design and what the rest of the toolkit needs to know of it beyond its model
    class (which itself says whether it is causal, how far it reads and how it scores variants)."""

    name: str  # the value of ``family`` in its config.json
    config: type[ModelConfig]  # its configuration class
    model: type[nn.Module]  # its network, a dnagpt.models.PretrainedModel (which imports this registry)
    title: str  # a few words for tables and help, e.g. "DNABERT-2 style encoder"
    shipped: str | None = None  # the pretrained model dnagpt ships for it, which the bench fine-tunes
    # its models run in a bench that names none, starting from the bench's --pretrained model (of this
    # family) instead of the shipped one; the other families' run when named, within a CPU budget
    bench_default: bool = False


FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to :data:`FAMILIES` (a family of that name is replaced)."""
    FAMILIES[family.name] = family
    return family


def get_family(name: object, where: str = "model configuration") -> ModelFamily:
    """The registered family called ``name``, or a :class:`ConfigError` naming ``where`` and the known ones."""
    if not isinstance(name, str) or name not in FAMILIES:
        raise ConfigError(f"{where}: unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of(config: ModelConfig) -> ModelFamily:
    """The family a configuration belongs to."""
    return get_family(config.family, f"configuration {config.name!r}")


def config_from_dict(data: object, where: str = "model configuration") -> ModelConfig:
    """The configuration ``data`` describes, of the family it names (``dnagpt`` where it names none,
    as files of the first dnagpt versions do)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table of model settings, got {type(data).__name__}")
    if _foreign(data):  # another library's file: the family that recognises it reads it
        family = next(f for f in FAMILIES.values() if f.config.recognises(data))
        return family.config.from_foreign(data, where)
    return get_family(data.get("family", "dnagpt"), where).config.from_dict(data, where)


def _foreign(data: dict) -> bool:
    """Whether ``data`` is another library's configuration that a registered family reads."""
    return "family" not in data and any(family.config.recognises(data) for family in FAMILIES.values())


def load_config(path: str | Path) -> ModelConfig:
    """The configuration saved at ``path`` (a ``config.json``), of the family it names."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    if isinstance(data, dict) and isinstance(data.get("tokenizer_file"), str):  # a saved model names its own copy
        data["tokenizer_file"] = str(Path(path).parent / data["tokenizer_file"])
    elif isinstance(data, dict) and _foreign(data) and (Path(path).parent / "tokenizer.json").is_file():
        data["tokenizer_file"] = str(Path(path).parent / "tokenizer.json")  # another library's, beside its config
    return config_from_dict(data, str(path))
