"""One way to seed: every random number generator a run draws from, set from one integer."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's global and torch's generators (CPU and every GPU).

    Code that needs its own stream (data sampling, generation) takes a seeded
    ``np.random.default_rng`` or ``torch.Generator`` instead, so that it does not
    depend on what else has drawn numbers before it.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
