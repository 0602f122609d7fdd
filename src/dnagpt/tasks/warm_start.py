"""Warm start: how much a loaded model's weights are shrunk before fine-tuning.

"Shrink and perturb" (Ash & Adams 2020): every weight matrix of a loaded model is multiplied
by a factor below one and gets a little Gaussian noise, so that weights pretraining left large
can move again while keeping the direction of what pretraining learnt. The defaults are the
rule the bench measured; the figures are in docs/findings.md ("Warm start").
"""

from __future__ import annotations

import torch

from ..models import PretrainedModel

DEFAULT_SHRINK = 0.2  # the factor for a small model of a family that shrinks by default
# a shrunk model needs optimiser steps to regrow what it needs: shorter runs keep the weights as loaded
MIN_SHRINK_STEPS = 50
SHRINK_NOISE = 0.01  # sd of the noise added after shrinking: half the sd of the initial weights (0.02)
SMALL_MODEL_PARAMETERS = 20_000_000  # below this a model is "small" (also for the learning rate)


def default_shrink(model: PretrainedModel, lora_rank: int = 0, steps: int | None = None) -> float:
    """How much :func:`shrink_and_perturb` shrinks ``model`` before fine-tuning by default:
    :data:`DEFAULT_SHRINK` for a small model (under 20M parameters) of a family that shrinks by
    default (``model.shrinks_by_default``: the DNAGPT decoder, where it was measured), fully
    fine-tuned for at least :data:`MIN_SHRINK_STEPS` optimiser ``steps`` (None: long enough);
    otherwise 1, the weights as loaded (larger models, LoRA, which freezes the weights, and the
    families where it was not measured)."""
    small = model.num_parameters() < SMALL_MODEL_PARAMETERS
    long_enough = steps is None or steps >= MIN_SHRINK_STEPS
    return DEFAULT_SHRINK if model.shrinks_by_default and small and not lora_rank and long_enough else 1.0


def shrink_and_perturb(model: torch.nn.Module, shrink: float, seed: int, noise: float = SHRINK_NOISE) -> None:
    """Multiply every weight matrix of ``model`` (embeddings, attention, MLPs, heads) by ``shrink``
    and add Gaussian noise of sd ``noise`` (drawn from ``seed``), in place; gains and biases stay."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim >= 2:
                draw = torch.randn(p.shape, generator=generator, dtype=torch.float32) * noise
                p.mul_(shrink).add_(draw.to(device=p.device, dtype=p.dtype))
