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
from ..io import json_kind
from .config import MODEL_TYPE, ModelConfig


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
    # a family that reads another library's directories (its config class is ``foreign``): which ones, in
    # a few words, e.g. "GPN's (model_type ConvNet, GPN or GPNRoFormer)"; the message for a directory
    # dnagpt cannot read lists these (the title stands in where a family gives none)
    reads: str = ""


FAMILIES: dict[str, ModelFamily] = {}


def register_family(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to :data:`FAMILIES` (a family of that name is replaced)."""
    FAMILIES[family.name] = family
    return family


def get_family(name: object, where: str = "model configuration") -> ModelFamily:
    """The registered family called ``name``, or a :class:`ConfigError` naming ``where`` and the known ones."""
    if not isinstance(name, str):
        raise ConfigError(f"{where}: family = {name!r}: expected the name of a model family, one of "
                          f"{', '.join(FAMILIES)}")  # fmt: skip
    if name not in FAMILIES:
        raise ConfigError(f"{where}: unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of(config: ModelConfig) -> ModelFamily:
    """The family a configuration belongs to."""
    return get_family(config.family, f"configuration {config.name!r}")


def config_from_dict(data: object, where: str = "model configuration") -> ModelConfig:
    """The configuration ``data`` describes, of the family it names (``dnagpt`` where it names none,
    as files of the first dnagpt versions do)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a JSON object (a table of model settings such as \"family\" and "
                          f"\"n_layer\"), but it holds {json_kind(data)}")  # fmt: skip
    if _foreign(data):  # another library's file: the family that recognises it reads it
        family = next(f for f in FAMILIES.values() if f.config.recognises(data))
        return family.config.from_foreign(data, where)
    if "family" not in data and _written_elsewhere(data):  # one sentence, not one per key dnagpt does not know
        raise ConfigError(_unreadable(data, where))
    return get_family(data.get("family", "dnagpt"), where).config.from_dict(data, where)


def _foreign(data: dict) -> bool:
    """Whether ``data`` is another library's configuration that a registered family reads."""
    return "family" not in data and any(family.config.recognises(data) for family in FAMILIES.values())


def _written_elsewhere(data: dict) -> bool:
    """Whether ``data`` (no family recognises it) is another library's configuration: a ``model_type``
    other than dnagpt's, or the keys ``transformers`` writes into every config.json and dnagpt never does."""
    model_type = data.get("model_type", MODEL_TYPE)
    return model_type != MODEL_TYPE or "transformers_version" in data or "architectures" in data


def readable_formats() -> str:
    """What dnagpt reads, for messages: its own directories and each foreign-reading family's."""
    foreign = [f.reads or f.title for f in FAMILIES.values() if f.config.foreign]
    return ", ".join(["dnagpt's own model directories", *foreign[:-1]]) + (f" and {foreign[-1]}" if foreign else "")


def _unreadable(data: dict, where: str) -> str:
    """The message for another library's configuration that no family reads: what it holds, what
    dnagpt reads instead."""
    subject = str(Path(where).parent) if Path(where).name == "config.json" else where
    model_type, architectures = data.get("model_type"), data.get("architectures")
    if isinstance(architectures, list) and architectures:
        what = f"a {' / '.join(map(str, architectures))}"
    else:
        what = f"a {model_type} model" if model_type else "another library's model"
    details = [f"model_type {model_type!r}" if model_type else "no model_type"]
    if "transformers_version" in data:
        details.append(f"written by transformers {data['transformers_version']}")
    return (f"{subject} holds {what} ({', '.join(details)}), which dnagpt cannot read; it reads "
            f"{readable_formats()}; load this one with the library that wrote it")  # fmt: skip


def load_config(path: str | Path) -> ModelConfig:
    """The configuration saved at ``path`` (a ``config.json``), of the family it names."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, huge integers
        raise ConfigError(f"{path}: not valid JSON ({e})") from e
    if isinstance(data, dict) and isinstance(data.get("tokenizer_file"), str):  # a saved model names its own copy
        data["tokenizer_file"] = str(Path(path).parent / data["tokenizer_file"])
    elif isinstance(data, dict) and _foreign(data) and (Path(path).parent / "tokenizer.json").is_file():
        data["tokenizer_file"] = str(Path(path).parent / "tokenizer.json")  # another library's, beside its config
    return config_from_dict(data, str(path))
