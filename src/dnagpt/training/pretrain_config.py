"""Settings of a pretraining run: the corpus and samples, the objective, the optimiser, the evaluation.

A config file (TOML, YAML or JSON) has one section per dataclass below, plus
``[model]`` (``config = "dnagpt-small"`` and any field of
:class:`~dnagpt.config.DNAGPTConfig` to change). Settings left out keep the
defaults written here; ``--set section.key=value`` changes one from the command line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DNAGPTConfig, get_config
from ..errors import ConfigError
from ..io import parse_toml, read_structured
from ..resources import BUNDLED_CONFIGS
from .trainer import TrainConfig


@dataclass
class DataConfig:
    manifest: str = "bundled"  # a manifest file, or "bundled" for the corpus shipped with dnagpt
    cache_dir: str = ""  # prepared genomes; default $DNAGPT_CACHE or ~/.cache/dnagpt
    valid_fraction: float = 0.1  # the last part of each record held out for validation
    max_tokens: int = 0  # longest window in k-mers; 0 = context - 5
    min_tokens: int = 0  # shortest window in k-mers; 0 = 70 % of max_tokens
    reverse_prob: float = 0.5  # sequence-order task: chance of reversing a window
    max_n_fraction: float = 0.05  # windows with more N are redrawn (paper, Methods)


@dataclass
class ObjectiveConfig:
    mse_weight: float = 0.01  # lambda in loss = CE + lambda x MSE (paper, eq. 1)
    # GC targets are standardised with the training corpus' mean and standard deviation,
    # so that lambda weighs an error measured in standard deviations, not in raw fractions.
    standardize_gc: bool = True


@dataclass
class EvalConfig:
    samples: int = 512  # held-out windows per evaluation
    baseline_bp: int = 2_000_000  # bases per genome counted for the k-mer unigram baseline


@dataclass
class PretrainConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"config": "dnagpt-small"})
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        sections = {"data": DataConfig, "objective": ObjectiveConfig, "train": TrainConfig, "eval": EvalConfig}
        unknown = sorted(set(d) - set(sections) - {"model"})
        if unknown:
            raise ConfigError(f"unknown config sections: {', '.join(unknown)}")
        kwargs: dict[str, Any] = {"model": dict(d.get("model", {"config": "dnagpt-small"}))}
        for name, klass in sections.items():
            values = d.get(name, {})
            known = {f.name for f in dataclasses.fields(klass)}
            bad = sorted(set(values) - known)
            if bad:
                raise ConfigError(f"unknown settings in [{name}]: {', '.join(bad)}; known: {', '.join(sorted(known))}")
            kwargs[name] = klass(**values)
        return cls(**kwargs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_pretrain_config(source: str, overrides: list[str] | None = None) -> PretrainConfig:
    """Read a TOML/YAML/JSON config (or a bundled one by name, e.g. "demo") and apply
    ``section.key=value`` overrides (values parsed as TOML literals, else strings)."""
    path = Path(source)
    if not path.exists():
        bundled = BUNDLED_CONFIGS / f"pretrain-{source}.toml"
        if not bundled.exists():
            names = sorted(p.stem.removeprefix("pretrain-") for p in BUNDLED_CONFIGS.glob("pretrain-*.toml"))
            raise ConfigError(f"{source}: no such config file, nor a bundled config (bundled: {', '.join(names)})")
        path = bundled
    data = read_structured(path, "config", ConfigError)
    manifest = data.get("data", {}).get("manifest")
    if manifest and manifest != "bundled" and not Path(manifest).is_absolute():
        data["data"]["manifest"] = str((path.parent / manifest).resolve())
    for item in overrides or []:
        apply_override(data, item)
    return PretrainConfig.from_dict(data)


def apply_override(data: dict, item: str) -> None:
    """Set ``section.key`` in ``data`` from ``section.key=value``; the value is read as a TOML
    literal (``3e-4``, ``true``, ``[0.9, 0.98]``), else kept as a string."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise ConfigError(f"override {item!r} must look like section.key=value (e.g. train.lr=3e-4)")
    key, raw = item.split("=", 1)
    section, name = key.strip().split(".", 1)
    try:
        value = parse_toml(f"v = {raw}")["v"]
    except ValueError:
        value = raw
    data.setdefault(section, {})[name] = value


def build_model_config(cfg: PretrainConfig) -> DNAGPTConfig:
    """The model configuration of ``[model]``: a named configuration with some fields changed."""
    fields = dict(cfg.model)
    name = fields.pop("config", "dnagpt-small")
    return get_config(name, **fields)
