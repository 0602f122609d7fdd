"""A GPN style network, in dependency order: convolution block, model.

Benegas et al.'s Genomic Pre-trained Network reads single nucleotides through residual
blocks, each a dilated convolution across positions (kernel 9, dilations doubling up to 32
and starting again) followed by a position-wise feed-forward network, and learns by
masked-nucleotide prediction; its zero-shot variant score is the log-likelihood ratio of
the alternative to the reference base at a masked position. The convolutions see both
sides, hold no weight per position, and read any length. Here it also carries the DNAGPT
number embedding and heads, so every task template works with it.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from ..validation import settings
from .base import ModelOutput, PretrainedModel
from .config import ModelConfig
from .family import ModelFamily
from .layers import MLP


@settings
class ConvConfig(ModelConfig):
    """Shape of a GPN style network: residual blocks of a dilated convolution across positions and a
    feed-forward network, over single nucleotides by default; no attention, so any length may be read."""

    family: Literal["gpn"] = "gpn"  # type: ignore[assignment]
    kmer: Annotated[int, Field(ge=1, le=12)] = 1
    kernel_size: Annotated[int, Field(ge=1)] = 9  # bases each convolution spans before dilation
    max_dilation: Annotated[int, Field(ge=1)] = 32  # dilations double from 1 up to this, then start again

    @classmethod
    def retired_fields(cls) -> frozenset[str]:
        """Attention settings that configurations written before the families had their own classes carry."""
        return frozenset({"n_head", "positions"})


def dilations(config: ConvConfig) -> list[int]:
    """The dilation of each block: 1, 2, 4, ... up to ``max_dilation``, then again from 1."""
    cycle = [2**i for i in range(int(math.log2(config.max_dilation)) + 1)]
    return [cycle[i % len(cycle)] for i in range(config.n_layer)]


class ConvBlock(nn.Module):
    """Pre-LayerNorm residual block: dilated convolution across positions, then a feed-forward network."""

    def __init__(self, config: ConvConfig, dilation: int) -> None:
        super().__init__()
        d = config.d_model
        self.ln_1 = nn.LayerNorm(d, eps=config.layer_norm_eps, bias=False)
        self.conv = nn.Conv1d(d, d, config.kernel_size, dilation=dilation, padding="same", bias=False)
        self.act = nn.GELU()
        self.ln_2 = nn.LayerNorm(d, eps=config.layer_norm_eps, bias=False)
        self.mlp = MLP(d, config.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        h = self.ln_1(x)
        if keep is not None:  # padding contributes nothing to its neighbours
            h = h * keep
        x = x + self.act(self.conv(h.transpose(1, 2)).transpose(1, 2))
        return x + self.mlp(self.ln_2(x))


class GPN(PretrainedModel):
    """Dilated ConvNet trunk + numerical embedding + token head + regression head.

    Example::

        model = GPN(get_config("gpn-tiny"))
        batch = model.tokenizer().batch_encode(["<R>ACGTACGTTTGA", "<R>ACG"])
        out = model(batch.input_ids, attention_mask=batch.attention_mask)
    """

    family = "gpn"
    causal = False

    def __init__(self, config: ConvConfig) -> None:
        super().__init__(config)
        d, eps = config.d_model, config.layer_norm_eps
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, d),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(ConvBlock(config, r) for r in dilations(config)),
                ln_f=nn.LayerNorm(d, eps=eps, bias=False),
            )
        )
        self.add_heads()
        self.init_weights(scale_residuals=False)

    @property
    def max_input_tokens(self) -> None:
        """Any length: the convolutions hold no weight per position (``context_length`` is the
        pretraining window only)."""
        return None

    def forward(
        self,
        input_ids: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        compute_heads: bool = True,
    ) -> ModelOutput:
        """Run the network. ``attention_mask`` ``[batch, length]`` (False on padding) zeroes padding
        before every convolution, so a padded batch gives each sequence what it gives alone."""
        emb = self.embed_tokens(input_ids, numbers, number_mask)
        keep = attention_mask.to(emb.dtype).unsqueeze(-1) if attention_mask is not None else None
        x = self.transformer.drop(emb)
        for block in self.transformer.h:
            x = block(x, keep)
        h = self.transformer.ln_f(x)
        out = ModelOutput(hidden_states=h)
        if compute_heads:
            out.logits, out.regression = self.token_logits(h), self.regression_output(h)
        return out


FAMILY = ModelFamily("gpn", ConvConfig, GPN, "GPN style ConvNet", shipped="gpn-small-multispecies")
