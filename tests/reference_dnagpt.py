"""A plain re-statement of the published DNAGPT format, for testing only.

Written from ../shared/reference/official-dnagpt-format.md, deliberately naive:
dict look-ups for tokens, explicit loops over heads, hand-written LayerNorm,
GELU(tanh) and SiLU, and numbers spliced into the embedding sequence sample by
sample, the way the published code does it. dnagpt's vectorised model must
agree with it to float32 rounding.
"""

from __future__ import annotations

import itertools
import math
import re

import torch

RESERVED = "0 1 2 3 4 5 6 7 8 9 + - * / = & | ! M B P R I K L O Q S U V W Y X Z".split()


def reference_vocab(dynamic: bool) -> dict[str, int]:
    pieces = [f"<{t}>" for t in RESERVED]
    for k in range(1 if dynamic else 6, 7):
        pieces += ["".join(p) for p in itertools.product("NAGCT", repeat=k)]
    return {p: i for i, p in enumerate(pieces)}


def reference_tokenize(text: str, vocab: dict[str, int]) -> list[int]:
    """Split on < and >, reserved tokens whole, other runs in 6-base chunks, unknown -> 0."""
    ids = []
    for part in re.split(r"[<>]", text):
        if not part:
            continue
        if f"<{part}>" in vocab:
            ids.append(vocab[f"<{part}>"])
        else:
            ids += [vocab.get(part[i : i + 6], 0) for i in range(0, len(part), 6)]
    return ids


def random_official_state(
    vocab: int, context: int, layers: int, width: int, seed: int = 0, scale: float = 0.05
) -> dict[str, torch.Tensor]:
    """Random weights under the documented key names and shapes."""
    g = torch.Generator().manual_seed(seed)

    def w(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    def ln(d: int) -> torch.Tensor:
        return 1.0 + torch.randn(d, generator=g) * 0.1

    d = width
    state = {"transformer.wte.weight": w(vocab, d), "transformer.wpe.weight": w(context, d)}
    for i in range(layers):
        p = f"transformer.h.{i}."
        state |= {
            p + "ln_1.weight": ln(d),
            p + "attn.c_attn.weight": w(3 * d, d),
            p + "attn.c_proj.weight": w(d, d),
            p + "ln_2.weight": ln(d),
            p + "mlp.c_fc.weight": w(4 * d, d),
            p + "mlp.c_proj.weight": w(d, 4 * d),
        }
    state["transformer.ln_f.weight"] = ln(d)
    for head, out in (("number_embedding", d), ("mlm_head", vocab), ("num_regression", 1)):
        state[f"{head}.0.weight"] = w(d, 1 if head == "number_embedding" else d)
        state[f"{head}.2.weight"] = ln(d)
        state[f"{head}.3.weight"] = w(out, d)
    return state


def _layer_norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * weight


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _silu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def _head(state: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    x = x @ state[f"{name}.0.weight"].T
    x = _layer_norm(_silu(x), state[f"{name}.2.weight"])
    return x @ state[f"{name}.3.weight"].T


def reference_forward(
    state: dict[str, torch.Tensor],
    n_head: int,
    token_ids: list[int],
    numbers: list[float] | None = None,
    insert_numbers_after: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``[T, V]`` and regression outputs ``[T]`` for one sample (float64).

    With numbers, their embeddings are spliced in after token ``insert_numbers_after``
    (as the published code does for ``<+><M>``), before position embeddings are added.
    """
    s = {k: v.double() for k, v in state.items()}
    x = s["transformer.wte.weight"][torch.tensor(token_ids)]
    if numbers:
        nums = torch.tensor(numbers, dtype=torch.float64).unsqueeze(-1)
        num_emb = _head(s, "number_embedding", nums)
        cut = insert_numbers_after + 1
        x = torch.cat([x[:cut], num_emb, x[cut:]])
    t, d = x.shape
    x = x + s["transformer.wpe.weight"][:t]
    layers = len([k for k in s if k.endswith("ln_1.weight")])
    hd = d // n_head
    for i in range(layers):
        p = f"transformer.h.{i}."
        h = _layer_norm(x, s[p + "ln_1.weight"])
        qkv = h @ s[p + "attn.c_attn.weight"].T
        q, k, v = qkv[:, :d], qkv[:, d : 2 * d], qkv[:, 2 * d :]
        heads = []
        for j in range(n_head):
            qj, kj, vj = (z[:, j * hd : (j + 1) * hd] for z in (q, k, v))
            scores = qj @ kj.T / math.sqrt(hd)
            causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
            scores = scores.masked_fill(causal, float("-inf"))
            heads.append(torch.softmax(scores, dim=-1) @ vj)
        x = x + torch.cat(heads, dim=-1) @ s[p + "attn.c_proj.weight"].T
        h = _layer_norm(x, s[p + "ln_2.weight"])
        x = x + _gelu_tanh(h @ s[p + "mlp.c_fc.weight"].T) @ s[p + "mlp.c_proj.weight"].T
    x = _layer_norm(x, s["transformer.ln_f.weight"])
    return _head(s, "mlm_head", x), _head(s, "num_regression", x).squeeze(-1)
