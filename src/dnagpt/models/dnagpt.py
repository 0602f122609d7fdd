"""The DNAGPT network, in dependency order: block, output, model (attention, MLP and heads
are shared with the other families, in :mod:`.layers`).

A GPT-2 style decoder (pre-LayerNorm, no biases, tanh-GELU MLP, learned absolute
positions as published; rotary or ALiBi positions as options) with the two additions of
the paper (Fig. 1c-d):

* a numerical embedding: a number in the input takes one position, and its
  embedding is ``number_embedding(value)`` instead of a token embedding;
* two heads on the shared trunk: ``mlm_head`` gives token logits (next token and
  classification answers), ``num_regression`` gives one number per position.

Module names equal the published state-dict keys, so their weights load as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..io import file_sha256
from ..validation import settings
from .base import ModelOutput, PretrainedModel
from .config import AttentionConfig
from .family import ModelFamily
from .layers import MLP, KeyValue, SelfAttention, attention_bias


@settings
class DNAGPTConfig(AttentionConfig):
    """Shape of a DNAGPT decoder (GPT-2 style, no biases); the defaults are the published 0.1B model's."""

    family: Literal["dnagpt"] = "dnagpt"  # type: ignore[assignment]


class Block(nn.Module):
    """Pre-LayerNorm transformer block."""

    def __init__(self, config: DNAGPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=False)
        self.attn = SelfAttention(config.d_model, config.n_head, config.dropout, True, config.positions)
        self.ln_2 = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=False)
        self.mlp = MLP(config.d_model, config.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, past: KeyValue | None = None, position_ids=None
    ) -> tuple[torch.Tensor, KeyValue]:
        a, kv = self.attn(self.ln_1(x), mask, past, position_ids)
        x = x + a
        return x + self.mlp(self.ln_2(x)), kv

    def decode(self, x: torch.Tensor, cache: KeyValue, column: int, allowed: torch.Tensor | None,
               position_ids: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """One new token per row against a preallocated cache (see :meth:`SelfAttention.decode`)."""
        x = x + self.attn.decode(self.ln_1(x), cache, column, allowed, position_ids)
        return x + self.mlp(self.ln_2(x))


class DNAGPT(PretrainedModel):
    """DNAGPT: GPT trunk + numerical embedding + token head + regression head.

    Example::

        model = DNAGPT(get_config("dnagpt-tiny"))
        tok = model.config.tokenizer()
        batch = tok.batch_encode(["<R>ACGTACGTTTGA<=><B>"])
        out = model(batch.input_ids, batch.numbers, batch.number_mask)
        out.logits[0, -1].argmax()  # the answer token
    """

    family = "dnagpt"
    causal = True
    shrinks_by_default = True

    def __init__(self, config: DNAGPTConfig) -> None:
        super().__init__(config)
        d, eps = config.d_model, config.layer_norm_eps
        layers = dict(
            wte=nn.Embedding(config.vocab_size, d),
            wpe=nn.Embedding(config.context_length, d),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
            ln_f=nn.LayerNorm(d, eps=eps, bias=False),
        )
        if config.positions != "learned":  # rotary and ALiBi positions live inside attention
            del layers["wpe"]
        self.transformer = nn.ModuleDict(layers)
        self.add_heads()  # number_embedding, mlm_head (token logits), num_regression
        self.init_weights()

    # ---------------------------------------------------------------- pieces
    def embed(
        self,
        input_ids: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token (or number) embeddings plus position embeddings, ``[batch, length, d_model]``."""
        emb = self.embed_tokens(input_ids, numbers, number_mask)
        if "wpe" in self.transformer:
            if position_ids is None:
                position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
            emb = emb + self.transformer.wpe(position_ids)
        return self.transformer.drop(emb)

    # --------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: list[KeyValue] | None = None,
        use_cache: bool = False,
        compute_heads: bool = True,
    ) -> ModelOutput:
        """Run the model.

        Args:
            input_ids: ``[batch, length]`` token ids.
            numbers, number_mask: values and positions of numbers (see :class:`TokenBatch`).
            attention_mask: ``[batch, past + length]`` bool, False on padding. Needed only
                for left padding; right padding is harmless under causal attention.
            position_ids: explicit positions; by default counted over real tokens.
            past_key_values: the cache returned by an earlier call (incremental decoding).
            use_cache: return the updated cache.
            compute_heads: False returns hidden states only (read heads at chosen positions
                with :meth:`token_logits` / :meth:`regression_output`).
        """
        b, t = input_ids.shape
        past_len = past_key_values[0][0].shape[2] if past_key_values else 0
        # Checked from shapes alone: counted positions never exceed past_len + t - 1, and reading a
        # tensor's values here would cost a device-to-host sync at every generation step.
        if self.config.positions == "learned" and past_len + t > self.config.context_length:
            raise ConfigError(
                f"input reaches position {past_len + t - 1}, beyond the model's context of "
                f"{self.config.context_length} tokens"
            )
        mask = None
        if attention_mask is not None:
            if attention_mask.shape != (b, past_len + t):
                raise ConfigError(f"attention_mask must be [batch, {past_len + t}], got {tuple(attention_mask.shape)}")
            mask = _attention_mask(attention_mask, t, past_len)
            if position_ids is None:
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past_len:]
        elif past_len and t > 1:
            mask = _attention_mask(torch.ones(b, past_len + t, dtype=torch.bool, device=input_ids.device), t, past_len)
        if position_ids is None:
            position_ids = torch.arange(past_len, past_len + t, device=input_ids.device).unsqueeze(0)
        x = self.embed(input_ids, numbers, number_mask, position_ids)
        mask = attention_bias(self.transformer.h, t, past_len + t, mask, input_ids.device)
        cache: list[KeyValue] = []
        for i, block in enumerate(self.transformer.h):
            x, kv = block(x, mask, past_key_values[i] if past_key_values else None, position_ids)
            if use_cache:
                cache.append(kv)
        h = self.transformer.ln_f(x)
        out = ModelOutput(hidden_states=h, past_key_values=cache if use_cache else None)
        if compute_heads:
            out.logits = self.token_logits(h)
            out.regression = self.regression_output(h)
        return out

    def decode_step(self, input_ids: torch.Tensor, position_ids: torch.Tensor, cache: list[KeyValue],
                    column: int, allowed: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """Next-token logits ``[batch, vocab]`` for one new token per row, ``input_ids`` ``[batch, 1]``
        at ``position_ids`` ``[batch, 1]``, written into the preallocated ``cache`` (one pair of
        ``[batch, heads, capacity, head_dim]`` per layer) at ``column``; ``allowed`` (bool
        ``[batch, 1, 1, capacity]``, None: every column so far) are the columns each row may attend
        to. What :func:`dnagpt.generation.generate` runs at every step."""
        x = self.embed(input_ids, position_ids=position_ids)
        for block, layer_cache in zip(self.transformer.h, cache, strict=True):
            x = block.decode(x, layer_cache, column, allowed, position_ids)
        return self.token_logits(self.transformer.ln_f(x[:, -1]))

    @torch.no_grad()
    def attention_maps(self, input_ids: torch.Tensor, numbers=None, number_mask=None) -> torch.Tensor:
        """Causal attention weights of every layer, averaged over heads: ``[layers, T, T]``
        for a single sequence (``input_ids`` of shape ``[1, T]``). For pictures (paper Fig. 3e, S1)."""
        inputs: list[torch.Tensor] = []
        hooks = [b.attn.register_forward_pre_hook(lambda _m, args: inputs.append(args[0])) for b in self.transformer.h]
        try:
            self(input_ids, numbers, number_mask, compute_heads=False)
        finally:
            for h in hooks:
                h.remove()
        return torch.stack([block.attn.weights(x) for block, x in zip(self.transformer.h, inputs, strict=True)])


FAMILY = ModelFamily("dnagpt", DNAGPTConfig, DNAGPT, "DNAGPT decoder", shipped="dnagpt-small-multispecies-continued",
                     bench_default=True)  # fmt: skip


def convert_official(source: str | Path, out_dir: str | Path, name: str | None = None) -> DNAGPT:
    """Convert a published ``.pth`` checkpoint into dnagpt's safetensors directory."""
    model = DNAGPT.from_pretrained(source, name=name)
    model.save_pretrained(out_dir, metadata={"converted_from": Path(source).name, "source_sha256": file_sha256(source)})
    return model


def _attention_mask(key_valid: torch.Tensor, t: int, past_len: int) -> torch.Tensor:
    """Boolean ``[batch, 1, t, past_len + t]`` mask: causal and not onto padding.

    Each query may always see itself, so a padded query row is never empty
    (an empty row would give NaN, and NaN spreads through later layers).
    """
    total = past_len + t
    q_pos = torch.arange(past_len, total, device=key_valid.device).unsqueeze(1)
    k_pos = torch.arange(total, device=key_valid.device).unsqueeze(0)
    causal = (k_pos <= q_pos).unsqueeze(0).unsqueeze(0)
    return (causal & key_valid[:, None, None, :]) | (k_pos == q_pos)
