"""One embedding per sequence, from the final hidden states.

``mean`` pooling averages the hidden states of the sequence's tokens; ``last``
takes the last token's (what a causal model has read the whole sequence by).
Sequences longer than the context raise an error, unless ``windows=True``: then
they are cut into context-sized windows whose embeddings are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .errors import InvalidSequenceError
from .model import DNAGPT
from .tokenizer import normalise_bases


@torch.no_grad()
def embed_sequences(
    model: DNAGPT,
    sequences: Sequence[str],
    species: str | None = None,
    pooling: str = "mean",
    batch_size: int = 16,
    windows: bool = False,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """``[len(sequences), d_model]`` float32 embeddings of plain DNA sequences."""
    if pooling not in ("mean", "last"):
        raise ValueError(f"pooling must be 'mean' or 'last', got {pooling!r}")
    tok = model.tokenizer()
    prefix = [tok.species_id(species)] if species else []
    room = model.config.context_length - len(prefix)
    pieces: list[list[int]] = []  # token ids of each window
    owner: list[int] = []
    for i, seq in enumerate(sequences):
        label = names[i] if names else f"sequence {i + 1}"
        try:
            ids = tok.encode_bases(normalise_bases("".join(seq.split()))).tolist()
        except InvalidSequenceError as e:
            raise InvalidSequenceError(f"{label}: {e}", e.position) from None
        if not ids:
            raise InvalidSequenceError(f"{label}: empty sequence")
        if len(ids) > room and not windows:
            raise InvalidSequenceError(
                f"{label}: {len(ids)} tokens ({len(seq)} bp) exceed the context of {room} tokens; "
                "pass windows=True (--windows) to average over context-sized windows"
            )
        for start in range(0, len(ids), room):
            pieces.append(prefix + ids[start : start + room])
            owner.append(i)
    device = next(model.parameters()).device
    model.eval()
    vectors = []
    for b in range(0, len(pieces), batch_size):
        chunk = pieces[b : b + batch_size]
        lengths = torch.tensor([len(p) for p in chunk], device=device)
        ids = torch.full((len(chunk), int(lengths.max())), tok.pad_id, dtype=torch.long, device=device)
        for row, p in enumerate(chunk):
            ids[row, : len(p)] = torch.tensor(p, device=device)
        hidden = model(ids, compute_heads=False).hidden_states.float()
        if pooling == "last":
            vectors.append(hidden[torch.arange(len(chunk), device=device), lengths - 1])
        else:
            positions = torch.arange(ids.shape[1], device=device)[None, :]
            keep = (positions < lengths[:, None]) & (positions >= len(prefix))
            vectors.append((hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True))
    per_window = torch.cat(vectors).cpu().numpy()
    owners = np.array(owner)
    return np.stack([per_window[owners == i].mean(0) for i in range(len(sequences))]).astype(np.float32)
