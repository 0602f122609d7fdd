"""Length extrapolation: how a model trained at context N predicts at 2N, 4N, ...

A model with rotary or ALiBi positions has no weight per position, so it can read
longer inputs than it was trained on; whether it still predicts well there is an
empirical question. :func:`loss_by_position` measures the next-token loss at every
position of held-out windows (the species token first, then the window's tokens),
so a curve that stays flat past N extrapolates and one that climbs does not. A model
with learned positions refuses inputs past N with a clear error, as everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import Corpus
from ..models import PretrainedModel
from .plots import pyplot, save_figure


@torch.no_grad()
def loss_by_position(model: PretrainedModel, corpus: Corpus, n_tokens: int, windows: int = 64, seed: int = 0,
                     batch_size: int = 8, device: str | torch.device = "cpu") -> np.ndarray:  # fmt: skip
    """Mean next-token cross-entropy (nats) at each position 1 .. ``n_tokens`` of ``windows`` held-out
    windows of ``n_tokens`` tokens drawn from the corpus's validation regions with ``seed``:
    ``[n_tokens]``, entry i the loss of predicting token i from the species token and tokens < i."""
    tok = model.tokenizer()
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(windows):
        codes, genome = corpus.sample_window(rng, "valid", int(n_tokens * tok.bases_per_token))
        ids = tok.encode_bases(codes)[:n_tokens]
        rows.append(np.concatenate([[tok.token_id(corpus.entries[genome].species)], ids]))
    ids = torch.as_tensor(np.stack(rows), dtype=torch.long, device=device)
    model = model.to(device).eval()
    total = torch.zeros(n_tokens, dtype=torch.float64, device=device)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        logits = model(chunk[:, :-1]).logits.float()
        nats = F.cross_entropy(logits.transpose(1, 2), chunk[:, 1:], reduction="none")  # [batch, n_tokens]
        total += nats.sum(0).double()
    return (total / len(ids)).cpu().numpy()


def extrapolation_figure(curves: dict[str, np.ndarray], trained_context: int, path: str | Path,
                         smooth: int = 16) -> Path:  # fmt: skip
    """Loss against position for each named model (a running mean over ``smooth`` positions), with the
    training context marked; written to ``path``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curve in curves.items():
        kernel = np.ones(min(smooth, len(curve))) / min(smooth, len(curve))
        ax.plot(np.arange(1, len(curve) + 1)[: len(curve) - len(kernel) + 1] + len(kernel) // 2,
                np.convolve(curve, kernel, mode="valid"), label=name)  # fmt: skip
    ax.axvline(trained_context, color="grey", linestyle="--", linewidth=1, label="training context")
    ax.set_xlabel("position (tokens)")
    ax.set_ylabel("next-token loss (nats)")
    ax.legend(fontsize=8)
    save_figure(fig, Path(path))
    return Path(path)
