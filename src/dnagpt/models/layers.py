"""Pieces every model family shares: self-attention with its position schemes, the MLP,
and the projection head.

Positions can be told to attention in three ways (``positions`` in a model's config):

* ``learned``: an embedding per position added to the input (GPT-2, DNAGPT as published);
  the model refuses inputs longer than its context;
* ``rope``: queries and keys rotated by their position (rotary embeddings, Su et al. 2021);
* ``alibi``: a penalty on attention scores growing with the distance between query and key,
  one slope per head (Press et al. 2022; DNABERT-2).

The last two carry no per-position weights, so a model may read inputs longer than it
was trained on. The post-LayerNorm RoFormer layer (rotary positions on interleaved channel pairs)
is the one GPN's roformer encoders and GPN-MSA use.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Positions = Literal["learned", "rope", "alibi"]
POSITIONS: tuple[str, ...] = ("learned", "rope", "alibi")
KeyValue = tuple[torch.Tensor, torch.Tensor]  # (keys, values), each [batch, heads, length, head_dim]
ROPE_BASE = 10_000.0


def alibi_slopes(n_head: int) -> torch.Tensor:
    """The ALiBi slope of each head: a geometric sequence from 2^(-8/n) down, for n a power of
    two; otherwise those of the next lower power of two, then every other slope of the next higher."""

    def powers(n: int) -> list[float]:
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]

    lower = 2 ** math.floor(math.log2(n_head))
    slopes = powers(lower)
    if lower < n_head:
        slopes += powers(2 * lower)[0::2][: n_head - lower]
    return torch.tensor(slopes, dtype=torch.float32)


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x`` ``[batch, heads, length, head_dim]`` at ``positions``
    ``[batch or 1, length]``: each pair of channels (i, i + head_dim / 2) turns by
    ``position * ROPE_BASE^(-2i / head_dim)``."""
    half = x.shape[-1] // 2
    freq = ROPE_BASE ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angle = positions.to(torch.float32)[:, None, :, None] * freq  # [batch, 1, length, half]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection; causal or bidirectional, with
    rotary or ALiBi positions when asked."""

    def __init__(self, d_model: int, n_head: int, dropout: float, causal: bool = True,
                 positions: Positions = "learned") -> None:  # fmt: skip
        super().__init__()
        self.n_head, self.d_model, self.causal, self.positions = n_head, d_model, causal, positions
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)  # q, k, v in this order
        self.c_proj = nn.Linear(d_model, d_model, bias=False)
        self.resid_dropout = nn.Dropout(dropout)
        self.dropout = dropout
        self._slopes: dict[torch.device, torch.Tensor] = {}  # ALiBi slopes per device (not weights: never saved)

    def query_key_value(self, x: torch.Tensor, position_ids: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """q, k, v ``[batch, heads, length, head_dim]``, q and k rotated under ``rope``."""
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        if self.positions == "rope":
            if position_ids is None:
                position_ids = torch.arange(t, device=x.device)[None, :]
            position_ids = position_ids.reshape(-1, t)  # [t] -> [1, t]
            q, k = rotate(q, position_ids), rotate(k, position_ids)
        return q, k, v

    def score_bias(self, t: int, total: int, mask: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
        """What SDPA adds to the scores: None (plain causal or full attention), the boolean
        ``mask``, or under ``alibi`` a float bias ``[1 or batch, heads, t, total]`` with the
        disallowed keys at -inf. ALiBi distances are counted in columns, which equals counting
        real tokens under right or left padding (padding is masked); packed sequences with
        restarting positions are not supported."""
        if self.positions != "alibi":
            return mask
        q_pos = torch.arange(total - t, total, device=device)[:, None]
        k_pos = torch.arange(total, device=device)[None, :]
        if device not in self._slopes:
            self._slopes[device] = alibi_slopes(self.n_head).to(device)
        bias = -(q_pos - k_pos).abs().to(torch.float32) * self._slopes[device][:, None, None]  # [heads, t, total]
        allowed = mask if mask is not None else ((k_pos <= q_pos) if self.causal else None)
        if allowed is not None:
            bias = torch.where(allowed, bias, float("-inf"))  # broadcast: [heads or batch x heads, t, total]
        return bias.unsqueeze(0) if bias.dim() == 3 else bias

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        past: KeyValue | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, KeyValue]:
        """``mask`` is a boolean ``[batch, 1, q, k]`` (True = may attend), None for the plain
        pattern (causal, or everything for a bidirectional model), or the float bias of
        :func:`attention_bias`."""
        b, t, d = x.shape
        q, k, v = self.query_key_value(x, position_ids)
        if past is not None:
            k = torch.cat((past[0], k), dim=2)
            v = torch.cat((past[1], v), dim=2)
        p = self.dropout if self.training else 0.0
        # a float mask is a bias its model already built once for every layer (see attention_bias)
        bias = mask if mask is not None and mask.is_floating_point() else self.score_bias(t, k.shape[2], mask, x.device)
        if bias is None:
            # Without a cache the plain causal mask applies; one new query may see every key.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal and past is None and t > 1)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype) if bias.is_floating_point()
                                               else bias, dropout_p=p)  # fmt: skip
        y = y.transpose(1, 2).contiguous().view(b, t, d)
        return self.resid_dropout(self.c_proj(y)), (k, v)

    def decode(self, x: torch.Tensor, cache: KeyValue, column: int, allowed: torch.Tensor | None,
               position_ids: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """One new token per row, ``x`` ``[batch, 1, d]``, against a preallocated cache.

        ``cache`` holds keys and values ``[batch, heads, capacity, head_dim]``; the new key and value
        are written in place at ``column``, and the query attends to columns ``0..column`` of them,
        where ``allowed`` (bool ``[batch, 1, 1, capacity]``) is True; None: all of them. Nothing is
        copied: a cache grown by concatenation would be copied whole at every step."""
        b, t, d = x.shape
        q, k, v = self.query_key_value(x, position_ids)
        keys, values = cache
        keys[:, :, column] = k[:, :, 0]
        values[:, :, column] = v[:, :, 0]
        keys, values = keys[:, :, : column + 1], values[:, :, : column + 1]
        bias = self.score_bias(1, column + 1, allowed[..., : column + 1] if allowed is not None else None, x.device)
        if bias is not None and bias.is_floating_point():
            bias = bias.to(q.dtype)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))

    @torch.no_grad()
    def weights(self, x: torch.Tensor, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Attention weights of one sequence ``x`` ``[1, T, d]``, averaged over heads: ``[T, T]``."""
        q, k, _ = self.query_key_value(x, position_ids)
        t = q.shape[2]
        scores = q[0] @ k[0].transpose(1, 2) / math.sqrt(q.shape[-1])  # [heads, T, T]
        bias = self.score_bias(t, t, None, x.device)
        if bias is not None:
            scores = scores + bias[0]
        elif self.causal:
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            scores = scores.masked_fill(~causal, float("-inf"))
        return torch.softmax(scores, dim=-1).mean(0)


def attention_bias(blocks: nn.ModuleList, t: int, total: int, mask: torch.Tensor | None,
                   device: torch.device) -> torch.Tensor | None:  # fmt: skip
    """What every layer's attention adds to its scores, built once per forward pass: the ALiBi bias
    (the same in every layer) as a float tensor, else ``mask`` unchanged. Under autocast the bias is
    cast to the autocast dtype here, once, rather than by every layer (a [batch, heads, t, t] copy)."""
    first = blocks[0].attn if len(blocks) else None
    if first is None or first.positions != "alibi":
        return mask
    bias = first.score_bias(t, total, mask, device)
    if bias is not None and torch.is_autocast_enabled(device.type):
        bias = bias.to(torch.get_autocast_dtype(device.type))
    return bias


class MLP(nn.Module):
    """Position-wise feed-forward network, 4x wide, tanh-GELU."""

    def __init__(self, d_model: int, dropout: float) -> None:
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model, bias=False)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * d_model, d_model, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


def projection_head(d_in: int, d_model: int, d_out: int, eps: float) -> nn.Sequential:
    """Linear -> SiLU -> LayerNorm -> Linear: the shape of all three DNAGPT heads."""
    return nn.Sequential(
        nn.Linear(d_in, d_model, bias=False),
        nn.SiLU(),
        nn.LayerNorm(d_model, eps=eps, bias=False),
        nn.Linear(d_model, d_out, bias=False),
    )


def rotary_table(positions: int, head_dim: int) -> torch.Tensor:
    """RoFormer's sinusoidal table ``[positions, head_dim]``: sines in the first half, cosines in the
    second, angle ``p / 10000^(2i / head_dim)``; computed, never read from a checkpoint."""
    p = torch.arange(positions, dtype=torch.float64)[:, None]
    i = torch.arange(head_dim // 2, dtype=torch.float64)[None, :]
    angle = p / torch.pow(10000.0, 2 * i / head_dim)
    return torch.cat([angle.sin(), angle.cos()], dim=1).float()


def _rotate(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
    """Turn interleaved channel pairs (2i, 2i+1) of ``x`` ``[B, H, L, d]`` by the table's angles."""
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)


class RoFormerLayer(nn.Module):
    """A post-LayerNorm transformer layer with rotary positions on queries and keys (RoFormer)."""

    def __init__(self, d: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query, self.attention.self.key = nn.Linear(d, d), nn.Linear(d, d)
        self.attention.self.value = nn.Linear(d, d)
        self.attention.output = nn.Module()
        self.attention.output.dense, self.attention.output.LayerNorm = nn.Linear(d, d), nn.LayerNorm(d, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, intermediate)
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(intermediate, d), nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        attn = self.attention.self

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        q, k = _rotate(heads(attn.query(x)), sin, cos), _rotate(heads(attn.key(x)), sin, cos)
        context = F.scaled_dot_product_attention(q, k, heads(attn.value(x))).transpose(1, 2).reshape(b, t, d)
        x = self.attention.output.LayerNorm(x + self.attention.output.dense(context))
        hidden = F.gelu(self.intermediate.dense(x))
        return self.output.LayerNorm(x + self.output.dense(hidden))
