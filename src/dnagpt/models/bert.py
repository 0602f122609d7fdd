"""A DNABERT-2 style encoder, in dependency order: GEGLU feed-forward, block, model.

Every position sees the whole input (bidirectional self-attention), positions are told by
ALiBi by default (no weight per position, so inputs may be longer than the context it was
trained on), and the feed-forward network is gated (GEGLU). It is pretrained by masked-token
prediction; fine-tuning reads a pooled or query position through the same token or
regression heads as DNAGPT, and numbers enter through the same numerical embedding, so
every task template works. Blocks are pre-LayerNorm (DNABERT-2 is post-LayerNorm like BERT):
the same choice as the decoder, stable at a laptop's learning rates.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..validation import settings
from .base import ModelOutput, PretrainedModel
from .config import AttentionConfig, Positions
from .family import ModelFamily
from .layers import SelfAttention, attention_bias


@settings
class EncoderConfig(AttentionConfig):
    """Shape of a DNABERT-2 style encoder: bidirectional attention (ALiBi positions by default),
    GEGLU feed-forward, a masked-token head; the DNAGPT number embedding and regression head too."""

    family: Literal["bert"] = "bert"  # type: ignore[assignment]
    positions: Positions = "alibi"


class GEGLU(nn.Module):
    """Gated feed-forward network: GELU(x W) * (x V), then back to the model width."""

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d_model, 2 * 4 * d_model, bias=False)  # gate and value in one product
        self.c_proj = nn.Linear(4 * d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = self.c_fc(x).chunk(2, dim=-1)
        return self.dropout(self.c_proj(F.gelu(gate) * value))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm block with bidirectional attention and a GEGLU feed-forward network."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=False)
        self.attn = SelfAttention(config.d_model, config.n_head, config.dropout, False, config.positions)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=False)
        self.mlp = GEGLU(config.d_model, config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, position_ids: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask, None, position_ids)[0]
        return x + self.mlp(self.ln_2(x))


class DNABERT(PretrainedModel):
    """Encoder trunk + numerical embedding + token head + regression head.

    Example::

        model = DNABERT(get_config("bert-tiny"))
        tok = model.tokenizer()
        batch = tok.batch_encode(["<R>ACGTACGTTTGA", "<R>ACG"])
        out = model(batch.input_ids, attention_mask=batch.attention_mask)  # padding masked
    """

    family = "bert"
    causal = False

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config)
        d, eps = config.d_model, config.layer_norm_eps
        layers = dict(
            wte=nn.Embedding(config.vocab_size, d),
            wpe=nn.Embedding(config.context_length, d),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(d, eps=eps, bias=False),
        )
        if config.positions != "learned":
            del layers["wpe"]
        self.transformer = nn.ModuleDict(layers)
        self.add_heads()
        self.init_weights()

    def forward(
        self,
        input_ids: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        compute_heads: bool = True,
    ) -> ModelOutput:
        """Run the encoder. ``attention_mask`` ``[batch, length]`` (False on padding) keeps padding
        out of every position's view; without it every position is read as real."""
        b, t = input_ids.shape
        if self.config.positions == "learned" and t > self.config.context_length:
            raise ConfigError(f"input reaches position {t - 1}, beyond the model's context of "
                              f"{self.config.context_length} tokens")  # fmt: skip
        emb = self.embed_tokens(input_ids, numbers, number_mask)
        if "wpe" in self.transformer:
            emb = emb + self.transformer.wpe(torch.arange(t, device=input_ids.device))[None]
        x = self.transformer.drop(emb)
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != (b, t):
                raise ConfigError(f"attention_mask must be [batch, {t}], got {tuple(attention_mask.shape)}")
            eye = torch.eye(t, dtype=torch.bool, device=input_ids.device)  # a padded query still sees itself
            mask = attention_mask.bool()[:, None, None, :] | eye[None, None]
        mask = attention_bias(self.transformer.h, t, t, mask, input_ids.device)
        for block in self.transformer.h:
            x = block(x, mask, None)
        h = self.transformer.ln_f(x)
        out = ModelOutput(hidden_states=h)
        if compute_heads:
            out.logits, out.regression = self.token_logits(h), self.regression_output(h)
        return out


FAMILY = ModelFamily("bert", EncoderConfig, DNABERT, "DNABERT-2 style encoder", shipped="bert-small-multispecies")
