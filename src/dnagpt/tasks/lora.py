"""Low-rank adapters (LoRA, through peft) for fine-tuning the large configurations.

Adapters are injected into the transformer's linear layers in place, so the model
stays a :class:`~dnagpt.models.DNAGPT`; only the adapters and the heads train.
Saved weights have the adapters merged in (W + B A x alpha / r), so a fine-tuned
model loads like any other.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError

TARGETS = ["c_attn", "c_proj", "c_fc"]  # attention and MLP projections of every block
HEADS = ("mlm_head", "num_regression", "number_embedding")


def add_lora(model: nn.Module, rank: int, alpha: float) -> int:
    """Inject LoRA adapters; freeze everything else except the heads. Returns trainable parameters."""
    try:
        from peft import LoraConfig, inject_adapter_in_model  # optional: the lora extra
    except ImportError:
        raise ConfigError("LoRA needs peft: pip install peft") from None
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, target_modules=TARGETS, lora_dropout=0.0), model)
    for name, p in model.named_parameters():
        p.requires_grad = "lora_" in name or name.startswith(HEADS)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merged_state_dict(state: dict[str, torch.Tensor], rank: int, alpha: float) -> dict[str, torch.Tensor]:
    """The plain state dict of a LoRA-injected model: each adapter folded into its base weight."""
    scale = alpha / rank
    out = {}
    for key, value in state.items():
        if ".lora_" in key:
            continue
        if key.endswith(".base_layer.weight"):
            prefix = key[: -len(".base_layer.weight")]
            a = state[f"{prefix}.lora_A.default.weight"].float()
            b = state[f"{prefix}.lora_B.default.weight"].float()
            out[f"{prefix}.weight"] = (value.float() + (b @ a) * scale).to(value.dtype)
        else:
            out[key] = value
    return out
