"""Settings of a pretraining run: the corpus and samples, the objective, the optimiser, the evaluation.

A config file (TOML, YAML or JSON) has one section per dataclass below, plus
``[model]`` (``config = "dnagpt-small"`` and any field of
:class:`~dnagpt.models.ModelConfig` to change). Settings left out keep the
defaults written here; ``--set section.key=value`` changes one from the command line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from ..errors import ConfigError, DNAGPTError
from ..io import parse_toml, read_structured
from ..models import ModelConfig, get_config, load_model
from ..resources import BUNDLED_CONFIGS
from ..validation import ResumeRules, build, settings
from .optimization import TRAIN_RESUME, TrainConfig


@settings
class DataConfig:
    manifest: str = "bundled"  # a manifest file, or "bundled" for the corpus shipped with dnagpt
    cache_dir: str = ""  # prepared genomes; default $DNAGPT_CACHE or ~/.cache/dnagpt
    valid_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1  # the last part of each record held out
    max_tokens: Annotated[int, Field(ge=0)] = 0  # longest window in k-mers; 0 = context - 5
    min_tokens: Annotated[int, Field(ge=0)] = 0  # shortest window in k-mers; 0 = 70 % of max_tokens
    reverse_prob: Annotated[float, Field(ge=0, le=1)] = 0.5  # sequence-order task: chance of reversing a window
    max_n_fraction: Annotated[float, Field(ge=0, le=1)] = 0.05  # windows with more N are redrawn (paper, Methods)
    # a multiple alignment (MAF) instead of the manifest: pretrain a GPN-MSA model on its reference genome,
    # reading the other species' aligned bases (training.aligned_masked_lm); windows of the model's context
    alignment: str = ""
    # regions never read, e.g. those an evaluation scores ("chr22:50,200,000-51,100,000"; alignment only)
    exclude: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.min_tokens and self.max_tokens and self.min_tokens > self.max_tokens:
            raise ConfigError(f"[data] min_tokens = {self.min_tokens} is above max_tokens = {self.max_tokens}")


@settings
class ObjectiveConfig:
    mse_weight: Annotated[float, Field(ge=0)] = 0.01  # lambda in loss = CE + lambda x MSE (paper, eq. 1)
    # GC targets are standardised with the training corpus' mean and standard deviation,
    # so that lambda weighs an error measured in standard deviations, not in raw fractions.
    standardize_gc: bool = True
    mask_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.15  # encoders: tokens chosen for masked prediction
    # encoders: training-loss weight of a chosen token of soft-masked (lower-case, repeat) bases, as GPN
    repeat_weight: Annotated[float, Field(ge=0, le=1)] = 0.1


@settings
class EvalConfig:
    samples: Annotated[int, Field(ge=1)] = 512  # held-out windows per evaluation
    baseline_bp: Annotated[int, Field(ge=1)] = 2_000_000  # bases per genome counted for the unigram baseline
    markov_order: Annotated[int, Field(ge=0, le=11)] = 8  # Markov baselines of orders 0 .. this (best one reported)


# What a resumed pretraining run may differ in, beyond the trainer's own settings.
PRETRAIN_RESUME = TRAIN_RESUME | ResumeRules(
    may_change=frozenset({"eval.samples"}),
    added_later={
        "model_config.positions": "learned",
        "model_config.model_type": "dnagpt",
        "model_config.tokenizer_file": None,
        "objective.repeat_weight": 1.0,
    },
    retired=frozenset({"model_config.n_head", "model_config.positions"}),  # not kept by the ConvNet's configuration
)


@settings
class PretrainConfig:
    model: dict[str, Any] = field(default_factory=lambda: {"config": "dnagpt-small"})
    data: DataConfig = field(default_factory=DataConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> PretrainConfig:
        """Check every section (types, ranges, unknown keys) and the model; errors name ``where``."""
        sections = {"data": DataConfig, "objective": ObjectiveConfig, "train": TrainConfig, "eval": EvalConfig}
        unknown = sorted(set(d) - set(sections) - {"model"})
        if unknown:
            raise ConfigError(f"{where}: unknown sections {', '.join(unknown)}; known: model, {', '.join(sections)}")
        model = d.get("model", {"config": "dnagpt-small"})
        if not isinstance(model, dict):
            raise ConfigError(f"{where}: [model] must be a table of settings, got {model!r}")
        kwargs: dict[str, Any] = {"model": dict(model)}
        for name, klass in sections.items():
            kwargs[name] = build(klass, d.get(name, {}), f"{where} [{name}]")
        cfg = cls(**kwargs)
        build_model_config(cfg, where)  # the model section is checked now, not when training starts
        return cfg

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
    section = data.get("data")
    manifest = section.get("manifest") if isinstance(section, dict) else None
    if isinstance(manifest, str) and manifest != "bundled" and not Path(manifest).is_absolute():
        try:
            section["manifest"] = str((path.parent / manifest).resolve())  # relative to the config file
        except (OSError, ValueError) as e:  # a NUL character, a loop of links
            raise ConfigError(f"{path} [data]: manifest = {manifest!r} is not a usable path ({e})") from None
    for item in overrides or []:
        apply_override(data, item)
    return PretrainConfig.from_dict(data, str(path))


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
    table = data.setdefault(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"override {item!r}: [{section}] is not a table of settings in the config")
    table[name] = value


def build_model_config(cfg: PretrainConfig, where: str = "config") -> ModelConfig:
    """The model configuration of ``[model]``: a named configuration with some fields changed, or,
    with ``init``, the configuration of the model whose weights pretraining continues from (any
    other field given must agree with it)."""
    fields = dict(cfg.model)
    init = fields.pop("init", None)
    if init is not None:
        return _initial_config(init, fields, where)
    name = fields.pop("config", "dnagpt-small")
    if not isinstance(name, str):
        raise ConfigError(f"{where} [model]: config must be a configuration name, got {name!r}")
    try:
        return get_config(name, **fields)
    except ConfigError as e:
        raise ConfigError(f"{where} [model]: {e}") from None


def _initial_config(init: Any, fields: dict[str, Any], where: str) -> ModelConfig:
    """The configuration of the model ``init`` names; a field of ``fields`` that differs from it is an
    error, since the weights fix the architecture (``config`` names a family and shape to start from,
    and is ignored)."""
    if not isinstance(init, str) or not init:
        raise ConfigError(f"{where} [model]: init must name a model directory, shipped model or .pth, got {init!r}")
    try:
        config = load_model(init).config
    except (DNAGPTError, OSError) as e:
        raise ConfigError(f"{where} [model]: init = {init!r}: {e}") from None
    fields.pop("config", None)
    known = config.to_dict()
    differ = [f"{k} = {v!r} (the model has {known.get(k)!r})" for k, v in fields.items() if known.get(k) != v]
    if differ:
        raise ConfigError(f"{where} [model]: init = {init!r} fixes the architecture, so these settings cannot "
                          f"change: {'; '.join(differ)}")  # fmt: skip
    return config
