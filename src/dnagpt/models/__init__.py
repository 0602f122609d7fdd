"""Model families: one module per network design, each registered once in :data:`FAMILIES`.

* ``dnagpt``: the DNAGPT decoder (GPT-2 style, numerical embedding, token and regression heads);
* ``bert``: a DNABERT-2 style encoder (bidirectional, ALiBi, GEGLU) with the same heads;
* ``gpn``: a GPN style dilated ConvNet over single nucleotides, with the same heads;
* ``gpn-original``: the ``gpn`` package's own models (ConvNet, GPN, GPN-MSA), read from its directories;
* ``dnabert2``: DNABERT-2's published encoder, read from the authors' directory.

A family module holds its configuration class, its network and a ``FAMILY`` record; adding a
family is that module plus one line below. :func:`load_model` reads a saved model of any
family; the shared pieces (configuration fields, attention, heads, saving and loading) are in
:mod:`.config`, :mod:`.layers`, :mod:`.base` and :mod:`.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import bert, dnabert2, dnagpt, gpn, gpn_original
from .base import ModelOutput, PretrainedModel
from .bert import DNABERT, EncoderConfig
from .config import AttentionConfig, ModelConfig
from .dnagpt import DNAGPT, DNAGPTConfig, convert_official
from .family import FAMILIES, ModelFamily, config_from_dict, family_of, get_family, load_config, register_family
from .gpn import GPN, ConvConfig
from .layers import KeyValue
from .named import config_description, config_names, get_config

# the registry: one entry per family module
for _family in (dnagpt.FAMILY, bert.FAMILY, gpn.FAMILY, gpn_original.FAMILY, dnabert2.FAMILY):
    register_family(_family)


def build_model(config: ModelConfig) -> PretrainedModel:
    """A model with random weights of the family ``config`` names."""
    return family_of(config).model(config)


def load_model(path: str | Path, **options) -> PretrainedModel:
    """A saved model of whichever family its ``config.json`` names (options as ``from_pretrained``)."""
    return PretrainedModel.from_pretrained(path, **options)


def describe_config(cfg: ModelConfig) -> dict:
    """A configuration's family, shape and parameter count (embeddings and heads included), counted
    on the meta device so that nothing is allocated."""
    with torch.device("meta"):
        n = build_model(cfg).num_parameters()
    return dict(family=cfg.family, parameters=n, layers=cfg.n_layer, heads=getattr(cfg, "n_head", None),
                width=cfg.d_model, context_tokens=cfg.context_length, vocabulary=cfg.vocab_size)  # fmt: skip


def describe_configs() -> list[dict]:
    """Every named configuration with its shape and parameter count (see :func:`describe_config`)."""
    return [dict(name=name, **describe_config(get_config(name)), description=config_description(name))
            for name in config_names()]  # fmt: skip


__all__ = ["DNABERT", "DNAGPT", "FAMILIES", "GPN", "AttentionConfig", "ConvConfig", "DNAGPTConfig", "EncoderConfig",
           "KeyValue", "ModelConfig", "ModelFamily", "ModelOutput", "PretrainedModel", "build_model",
           "config_description", "config_from_dict", "config_names", "convert_official", "describe_config",
           "describe_configs", "family_of", "get_config", "get_family", "load_config", "load_model",
           "register_family"]  # fmt: skip
