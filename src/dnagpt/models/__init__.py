"""Model families: one module per network design, found by name in :data:`MODEL_FAMILIES`.

* ``dnagpt``: the DNAGPT decoder (GPT-2 style, numerical embedding, token and regression heads).
"""

from __future__ import annotations

from .dnagpt import DNAGPT, DNAGPTOutput, convert_official
from .layers import KeyValue

MODEL_FAMILIES: dict[str, type] = {"dnagpt": DNAGPT}

__all__ = ["DNAGPT", "MODEL_FAMILIES", "DNAGPTOutput", "KeyValue", "convert_official"]
