"""What training a model costs: model FLOPs per token, and the totals of a finished pretraining run.

The FLOPs follow the usual accounting (Kaplan et al. 2020): 6 multiply-adds per weight of every
matrix product or convolution a token passes through (2 forward, 4 backward), plus the attention
scores; embedding lookups cost nothing. The totals let runs of different families be compared by
compute rather than by steps.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from ..models.layers import SelfAttention


def train_flops_per_token(model: nn.Module, layers: int, context: int, width: int, attention: bool) -> float:
    """6 x (weights of every matrix product and convolution touched per token) + attention scores.

    A token head tied to the embedding counts as a product; ``attention`` False for a ConvNet.
    """
    matmul = 0
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d) or type(module).__name__ == "Conv1D":  # HF GPT-2's Conv1D
            matmul += module.weight.numel()
    return 6 * matmul + (12 * layers * context * width if attention else 0)


def pretraining_compute(run_dir: Path, model: nn.Module) -> dict:
    """Steps, tokens, bases, FLOPs and seconds of the pretraining run in ``run_dir``.

    Reads the run's ``config.json`` and ``metrics.jsonl``; ``model`` is the model it trains (a copy on
    the ``meta`` device will do). Windows are drawn between ``data.min_tokens`` and ``data.max_tokens``,
    so tokens are counted at their midpoint; seconds are tokens over the median logged throughput.
    """
    config = json.loads((run_dir / "config.json").read_text())
    shape, train, data = config["model_config"], config["train"], config["data"]
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = sorted(r["tokens_per_s"] for r in logged if r.get("split") == "train" and "tokens_per_s" in r)
    steps = max((r["step"] for r in logged if "step" in r), default=0)
    windows = train["batch_size"] * train["grad_accum"]
    window = (data["min_tokens"] + data["max_tokens"]) / 2
    tokens = round(steps * windows * window)
    attention = any(isinstance(m, SelfAttention) for m in model.modules())
    per_token = train_flops_per_token(model, shape["n_layer"], round(window), shape["d_model"], attention)
    bases_per_token = shape["kmer"] if not shape.get("tokenizer_file") else None  # BPE: varies by token
    return {
        "steps": steps,
        "windows_per_step": windows,
        "tokens": tokens,
        "bases": round(tokens * bases_per_token) if bases_per_token else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops": per_token * tokens,
        "seconds": tokens / rates[len(rates) // 2] if rates else None,
    }
