"""Model families: one module per network design, found by name in :data:`MODEL_FAMILIES`.

* ``dnagpt``: the DNAGPT decoder (GPT-2 style, numerical embedding, token and regression heads);
* ``bert``: a DNABERT-2 style encoder (bidirectional, ALiBi, GEGLU) with the same heads;
* ``gpn``: a GPN style dilated ConvNet over single nucleotides, with the same heads.

:func:`load_model` reads a saved model of any family; the shared pieces (attention with its
position schemes, heads, saving and loading) are in :mod:`.layers` and :mod:`.base`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import config_description, config_names, get_config
from .base import ModelOutput, PretrainedModel
from .bert import DNABERT
from .dnagpt import DNAGPT, DNAGPTOutput, convert_official
from .gpn import GPN
from .layers import KeyValue

MODEL_FAMILIES: dict[str, type[PretrainedModel]] = {"dnagpt": DNAGPT, "bert": DNABERT, "gpn": GPN}


def build_model(config) -> PretrainedModel:
    """A model with random weights of the family ``config`` names."""
    return MODEL_FAMILIES[getattr(config, "family", "dnagpt")](config)


def load_model(path: str | Path, **options) -> PretrainedModel:
    """A saved model of whichever family its ``config.json`` names (options as ``from_pretrained``)."""
    return PretrainedModel.from_pretrained(path, **options)


def describe_configs() -> list[dict]:
    """Every named configuration with its shape and parameter count (embeddings and heads included),
    counted on the meta device so that nothing is allocated."""
    rows = []
    for name in config_names():
        cfg = get_config(name)
        with torch.device("meta"):
            n = build_model(cfg).num_parameters()
        rows.append(
            dict(
                name=name,
                parameters=n,
                layers=cfg.n_layer,
                heads=cfg.n_head,
                width=cfg.d_model,
                context_tokens=cfg.context_length,
                vocabulary=cfg.vocab_size,
                description=config_description(name),
            )
        )
    return rows


__all__ = ["DNABERT", "DNAGPT", "GPN", "MODEL_FAMILIES", "DNAGPTOutput", "KeyValue", "ModelOutput", "PretrainedModel",
           "build_model", "convert_official", "describe_configs", "load_model"]  # fmt: skip
