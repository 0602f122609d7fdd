"""Masked-base pretraining on a multiple alignment, as GPN-MSA trains.

A sample is a window of the reference genome inside one alignment block: the reference's bases are
the input and, at every position, the other species' aligned bases are read beside them
(:mod:`dnagpt.data.alignment`). A fraction of the reference bases is chosen (``mask_fraction``,
15 %); 80 % of those are masked, 10 % replaced by a random base and 10 % kept, and the model must
give back the reference base. Half of the windows are read on the reverse strand. A chosen base
that the reference soft-masks (lower case: a repeat) counts ``repeat_weight`` in the training loss,
as for the other encoders. Blocks are split whole: every ``valid_every``-th block is held out for
evaluation (the last one where there are fewer), and blocks touching an excluded region (one an
evaluation uses) are never read.

Held out, the masked-base loss sits beside two baselines: the reference's base frequencies, and
copying the base that one other species carries there (the best species, with the confidence
that fits best): a model that cannot beat copying its closest relative learned nothing of its own.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.alignment import Alignment, Block, reverse_complement_columns
from ..errors import ConfigError
from .objectives import IGNORE

_SPLIT_CODE = {"train": 0, "valid": 1}
_REFERENCE_CODES = np.zeros(256, dtype=np.int64)  # GPN-MSA's ids: - A C G T; anything else reads as a gap
for _i, _base in enumerate("ACGT", start=1):
    _REFERENCE_CODES[ord(_base)] = _REFERENCE_CODES[ord(_base.lower())] = _i


@dataclass
class AlignedBatch:
    """Windows of the reference with the other species' aligned bases."""

    input_ids: torch.Tensor  # [B, W]: reference bases (0 gap, 1-4 A C G T), some masked or replaced
    aux_features: torch.Tensor  # [B, W, species]: the other species' bases (0 gap, 1-4)
    targets: torch.Tensor  # [B, W]: the reference base where chosen, IGNORE elsewhere
    weights: torch.Tensor  # [B, W]: each target's weight in the training loss (repeats down-weighted)

    def to(self, device: torch.device | str) -> AlignedBatch:
        fields = (self.input_ids, self.aux_features, self.targets, self.weights)
        return AlignedBatch(*(t.to(device) for t in fields))


class AlignedSampler:
    """Masked windows drawn from the blocks of an :class:`~dnagpt.data.alignment.Alignment`."""

    def __init__(self, alignment: Alignment, window: int, mask_id: int, mask_fraction: float = 0.15, seed: int = 0,
                 repeat_weight: float = 1.0, exclude: tuple[tuple[str, int, int], ...] = (),
                 valid_every: int = 10) -> None:  # fmt: skip
        """``exclude``: ``(chromosome, start, end)`` regions (0-based, end exclusive) never read."""
        self.alignment, self.window, self.mask_id = alignment, window, mask_id
        self.mask_fraction, self.seed, self.repeat_weight = mask_fraction, seed, repeat_weight
        self.blocks: dict[str, list[Block]] = {"train": [], "valid": []}
        self.excluded_bases = 0
        for chrom, blocks in alignment.blocks.items():
            for number, block in enumerate(blocks):
                if any(_same(chrom, c) and block.start < e and s < block.end for c, s, e in exclude):
                    self.excluded_bases += len(block.codes)
                    continue
                held_out = number % valid_every == valid_every - 1 or (len(blocks) < valid_every and
                                                                        number == len(blocks) - 1)  # fmt: skip
                self.blocks["valid" if held_out else "train"].append(block)
        for split, blocks in self.blocks.items():
            if not blocks:
                raise ConfigError(f"{alignment.path}: no alignment block left for {split} windows")
        self._ends = {split: np.cumsum([len(b.codes) for b in blocks]) for split, blocks in self.blocks.items()}

    def bases(self, split: str) -> int:
        """Reference bases in the blocks of ``split``."""
        return int(self._ends[split][-1])

    def sample(self, split: str, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(input ids, aligned bases, targets, weights)`` of sample ``index`` of ``split``: a pure
        function of the seed, the split and the index."""
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[split], index, 11])
        at = int(rng.integers(self.bases(split)))  # a base drawn uniformly; its block holds the window
        number = int(np.searchsorted(self._ends[split], at, side="right"))
        block = self.blocks[split][number]
        centre = at - (int(self._ends[split][number]) - len(block.codes))
        start = min(max(0, centre - self.window // 2), max(0, len(block.codes) - self.window))
        end = min(len(block.codes), start + self.window)
        ids = np.zeros(self.window, dtype=np.int64)
        aux = np.zeros((self.window, len(self.alignment.species)), dtype=np.uint8)
        soft = np.zeros(self.window, dtype=bool)
        raw = np.frombuffer(block.bases[start:end], dtype=np.uint8)
        ids[: end - start], aux[: end - start] = _REFERENCE_CODES[raw], block.codes[start:end]
        soft[: end - start] = (raw >= ord("a")) & (raw <= ord("z"))
        if rng.random() < 0.5:  # the reverse strand: reversed and complemented, padding kept at the end
            n = end - start
            ids[:n] = np.where(ids[:n] > 0, 5 - ids[:n], 0)[::-1]
            aux[:n], soft[:n] = reverse_complement_columns(aux[:n]), soft[:n][::-1]
        targets = np.full(self.window, IGNORE, dtype=np.int64)
        known = np.flatnonzero(ids > 0)
        weights = np.where(soft, self.repeat_weight, 1.0).astype(np.float32)
        if len(known):
            chosen = rng.choice(known, max(1, round(self.mask_fraction * len(known))), replace=False)
            targets[chosen] = ids[chosen]
            how = rng.random(len(chosen))
            ids[chosen[how < 0.8]] = self.mask_id
            swapped = chosen[(how >= 0.8) & (how < 0.9)]
            ids[swapped] = rng.integers(1, 5, len(swapped))
        return ids, aux, targets, weights

    def batch(self, split: str, indices) -> AlignedBatch:
        samples = [self.sample(split, i) for i in indices]
        return AlignedBatch(*(torch.from_numpy(np.stack(column)) for column in zip(*samples, strict=True)))


def _same(a: str, b: str) -> bool:
    return a.removeprefix("chr") == b.removeprefix("chr")


class AlignedMaskedLMTask:
    """The trainer's task for GPN-MSA pretraining (see :class:`~dnagpt.training.trainer.TrainingTask`)."""

    selection_metric = None
    higher_is_better = True

    def __init__(self, sampler: AlignedSampler, eval_samples: int = 512, eval_batch: int = 32) -> None:
        self.sampler = sampler
        self.eval_samples, self.eval_batch = eval_samples, eval_batch
        self._eval: list[AlignedBatch] | None = None

    def batch(self, indices: range) -> AlignedBatch:
        return self.sampler.batch("train", indices)

    def tokens(self, batch: AlignedBatch) -> int:
        return int(batch.input_ids.numel())

    def export_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return state

    def loss(self, model, batch: AlignedBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        hidden = model(batch.input_ids, aux_features=batch.aux_features, compute_heads=False).hidden_states
        keep = batch.targets != IGNORE
        each = F.cross_entropy(model.token_logits(hidden[keep]).float(), batch.targets[keep], reduction="none")
        weights = batch.weights[keep]
        loss = (each * weights).sum() / weights.sum().clamp(min=1e-6)
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, model, device: torch.device, autocast: contextlib.AbstractContextManager) -> dict:
        """Held-out masked-base loss (nats per masked base) and accuracy, beside the base-frequency
        baseline and the best copy-a-relative baseline (see the module docstring)."""
        if self._eval is None:
            n, bs = self.eval_samples, self.eval_batch
            self._eval = [self.sampler.batch("valid", range(i, min(i + bs, n))) for i in range(0, n, bs)]
        nats, right, count = 0.0, 0, 0
        truth, aligned = [], []
        for cpu_batch in self._eval:
            batch = cpu_batch.to(device)
            with autocast:
                hidden = model(batch.input_ids, aux_features=batch.aux_features, compute_heads=False).hidden_states
            keep = batch.targets != IGNORE
            logits = model.token_logits(hidden[keep]).float()
            nats += float(F.cross_entropy(logits, batch.targets[keep], reduction="sum"))
            right += int((logits.argmax(-1) == batch.targets[keep]).sum())
            count += int(keep.sum())
            cpu_keep = cpu_batch.targets != IGNORE
            truth.append(cpu_batch.targets[cpu_keep].numpy())
            aligned.append(cpu_batch.aux_features[cpu_keep].numpy())
        y, columns = np.concatenate(truth), np.concatenate(aligned)
        frequencies = np.bincount(y, minlength=5)[1:5] + 0.5
        unigram = -float(np.log(frequencies[y - 1] / frequencies.sum()).mean())
        copy_accuracy = max(float((columns[:, j] == y).mean()) for j in range(columns.shape[1]))
        q = min(max(copy_accuracy, 1e-6), 1 - 1e-6)  # the relative's base with probability q, the rest shared
        copy_loss = -(copy_accuracy * math.log(q) + (1 - copy_accuracy) * math.log((1 - q) / 3))
        return {"masked_loss": nats / max(count, 1), "masked_accuracy": right / max(count, 1),
                "unigram_masked_loss": unigram, "copy_relative_loss": copy_loss,
                "copy_relative_accuracy": copy_accuracy, "masked_tokens": count}  # fmt: skip
