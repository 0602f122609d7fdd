"""Losses: next-token cross-entropy, and the pretraining loss CE + order CE + lambda x GC MSE (paper section 3.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from ..models import PretrainedModel
from .fused_ce import linear_cross_entropy

IGNORE = -100  # a target with this value adds nothing to a cross-entropy (PyTorch's ignore_index)


class PretrainTargets(Protocol):
    """What the pretraining loss reads from a batch (``pretrain_samples.PretrainBatch`` has it)."""

    input_ids: torch.Tensor  # [B, T]
    targets: torch.Tensor  # [B, T]: next k-mer, or the order answer at <B>; IGNORE elsewhere
    order_index: torch.Tensor  # [B]: where the order answer is read
    order_label: torch.Tensor  # [B]: 1 if the window kept its order
    gc_index: torch.Tensor  # [B]: where the GC fraction is read
    gc: torch.Tensor  # [B]: the (standardised) GC fraction


@dataclass
class PretrainLoss:
    """The total loss and each term apart (the terms are detached, for logging)."""

    total: torch.Tensor
    next_token: torch.Tensor  # mean CE over k-mer targets
    order: torch.Tensor  # mean CE of the order answer
    gc_mse: torch.Tensor  # mean squared error of the GC fraction
    order_correct: torch.Tensor  # how many order answers were right (arg-max over A vs N)
    gc_pred: torch.Tensor  # predicted GC fractions [B]


def next_token_loss(model: PretrainedModel, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the token head against ``targets`` (``IGNORE`` where no target).

    The token head is MLP -> Linear(d_model, vocab); its last product and the loss are fused.
    """
    keep = targets != IGNORE
    features = model.mlm_head[:-1](hidden[keep])
    return linear_cross_entropy(features, model.mlm_head[-1].weight, targets[keep])


def pretrain_loss(
    model: PretrainedModel, batch: PretrainTargets, yes_id: int, no_id: int, mse_weight: float
) -> PretrainLoss:
    """Loss = CE(next token) + CE(order) + ``mse_weight`` x MSE(GC).

    The two cross-entropies are averaged over their own targets and added, so the
    one order answer per sample is not drowned by hundreds of k-mer targets.
    """
    hidden = model(batch.input_ids, compute_heads=False).hidden_states
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    is_order = torch.zeros_like(batch.targets, dtype=torch.bool)
    is_order[rows, batch.order_index] = True
    next_token = next_token_loss(model, hidden, batch.targets.masked_fill(is_order, IGNORE))

    order_logits = model.token_logits(hidden[rows, batch.order_index]).float()
    order_target = batch.targets[rows, batch.order_index]
    order = F.cross_entropy(order_logits, order_target)
    pair = order_logits[:, [no_id, yes_id]]
    order_correct = (pair.argmax(-1) == batch.order_label).sum()

    gc_pred = model.regression_output(hidden[rows, batch.gc_index]).float()
    gc_mse = F.mse_loss(gc_pred, batch.gc)
    total = next_token + order + mse_weight * gc_mse
    return PretrainLoss(total, next_token.detach(), order.detach(), gc_mse.detach(), order_correct, gc_pred.detach())
