"""Model families: one module per network design, found by name in :data:`MODEL_FAMILIES`.

* ``dnagpt``: the DNAGPT decoder (GPT-2 style, numerical embedding, token and regression heads);
* ``bert``: a DNABERT-2 style encoder (bidirectional, ALiBi, GEGLU) with the same heads;
* ``gpn``: a GPN style dilated ConvNet over single nucleotides, with the same heads.

:func:`load_model` reads a saved model of any family; the shared pieces (attention with its
position schemes, heads, saving and loading) are in :mod:`.layers` and :mod:`.base`.
"""

from __future__ import annotations

from pathlib import Path

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


__all__ = ["DNABERT", "DNAGPT", "GPN", "MODEL_FAMILIES", "DNAGPTOutput", "KeyValue", "ModelOutput", "PretrainedModel",
           "build_model", "convert_official", "load_model"]  # fmt: skip
