"""The seeded weights of the DNABERT-2 parity fixtures, made the same way by the fixture script
(scripts/make_dnabert2_fixtures.py, with the authors' code) and by tests/test_dnabert2.py (with
dnagpt's), so that the fixtures hold inputs and outputs only, not 100 MB of weights."""

from __future__ import annotations

import numpy as np

SEED = 2024


def seeded_weights(shapes: dict[str, tuple[int, ...]], seed: int = SEED) -> dict[str, np.ndarray]:
    """A value for every key: matrices N(0, 0.05), LayerNorm gains 1 + N(0, 0.1), biases N(0, 0.1);
    each key drawn from its own stream, so the order of keys does not matter. The masked-LM decoder
    shares the word embeddings' matrix."""
    out = {}
    for key in sorted(shapes):
        if key == "cls.predictions.decoder.weight":
            continue
        rng = np.random.default_rng([seed, *key.encode()])
        draw = rng.standard_normal(shapes[key]).astype(np.float32)
        gain = key.endswith(("LayerNorm.weight", "layernorm.weight"))
        out[key] = 1 + 0.1 * draw if gain else (0.05 * draw if len(shapes[key]) > 1 else 0.1 * draw)
    if "cls.predictions.decoder.weight" in shapes:
        out["cls.predictions.decoder.weight"] = out["bert.embeddings.word_embeddings.weight"]
    return out
