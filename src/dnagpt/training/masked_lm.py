"""Masked-token pretraining for encoders (DNABERT-2, GPN): hide some tokens, predict them from both sides.

Every sample is a corpus window written as ``<species> t1 t2 ... tn``. A fraction of the
tokens t1..tn (``mask_fraction``, 15 % by default) is chosen; of those, 80 % are replaced by
the mask token ``<X>``, 10 % by a random base token and 10 % kept, and the token head must give
back the original (cross-entropy on the chosen positions only). As GPN does, a chosen token
made of soft-masked (lower-case: repeat) bases counts ``repeat_weight`` in the training loss
(0.1 by default; in proportion to its soft-masked bases), so that the many copies of repeats
do not dominate what the model learns; held-out losses weigh every token the same. Sample ``i``
of a split is a pure function of ``(seed, split, i)``, so a resumed run draws the same data.

Held out, the masked-token loss sits beside the loss of guessing from each species' token
frequencies (the unigram baseline): a model that does not beat it learned only composition.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import Corpus
from ..tokenizers import TokenLanguage
from ..tokenizers.vocabulary import MASK
from .objectives import IGNORE, next_token_loss

MASK_TOKEN = f"<{MASK}>"  # a spare reserved token of the DNAGPT language
_SPLIT_CODE = {"train": 0, "valid": 1}
_BASELINE_INDEX = 10**12  # training windows drawn for the composition baseline start here
_BASELINE_WINDOWS = 16  # per held-out window (8,192 for the usual 512): a 6-mer vocabulary's frequencies per species
_LETTERS = bytes.maketrans(bytes(range(5)), b"NAGCT")  # corpus base codes -> bases


@dataclass
class MaskedBatch:
    """A right-padded batch of masked windows."""

    input_ids: torch.Tensor  # [B, T], some tokens masked or replaced
    attention_mask: torch.Tensor  # [B, T], False on padding
    targets: torch.Tensor  # [B, T]: the original token where chosen, IGNORE elsewhere
    genome: torch.Tensor  # [B]
    weights: torch.Tensor  # [B, T]: each target's weight in the training loss (repeats down-weighted)

    def to(self, device: torch.device | str) -> MaskedBatch:
        fields = (self.input_ids, self.attention_mask, self.targets, self.genome, self.weights)
        return MaskedBatch(*(t.to(device) for t in fields))


class MaskedSampler:
    """Masked windows from a :class:`Corpus`."""

    def __init__(self, corpus: Corpus, tok: TokenLanguage, min_tokens: int, max_tokens: int,
                 mask_fraction: float = 0.15, seed: int = 0, repeat_weight: float = 1.0) -> None:  # fmt: skip
        if not 1 <= min_tokens <= max_tokens:
            raise ValueError(f"need 1 <= min_tokens <= max_tokens, got {min_tokens}, {max_tokens}")
        self.corpus, self.tok = corpus, tok
        self.min_tokens, self.max_tokens = min_tokens, max_tokens
        self.mask_fraction, self.seed, self.repeat_weight = mask_fraction, seed, repeat_weight
        self.mask_id = tok.token_id(MASK_TOKEN)
        self.species_ids = [tok.token_id(s) for s in corpus.species_tokens()]
        # bases in each token (reserved tokens, e.g. the unknown id of a 6-mer-only tail, count one)
        first = tok.first_base_id
        self._bases = np.array([len(tok.piece(i)) if i >= first else 1 for i in range(tok.vocab_size)])

    def _rng(self, split: str, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLIT_CODE[split], index, 7])

    def _window(
        self, rng: np.random.Generator, split: str, soft_masked: bool
    ) -> tuple[np.ndarray, int, np.ndarray | None]:
        """``(<species> t1..tn ids, genome, soft-masked bases or None)`` of one window drawn with ``rng``."""
        n_tokens = int(rng.integers(self.min_tokens, self.max_tokens + 1))
        length = int(np.ceil(n_tokens * self.tok.bases_per_token))
        if soft_masked:
            codes, soft, genome = self.corpus.sample_window_softmask(rng, split, length)
        else:
            (codes, genome), soft = self.corpus.sample_window(rng, split, length), None
        tokens = self.tok.encode_bases(codes.tobytes().translate(_LETTERS))[:n_tokens]
        return np.concatenate([[self.species_ids[genome]], tokens]).astype(np.int64), genome, soft

    def tokens(self, split: str, index: int) -> tuple[np.ndarray, int]:
        """``(ids before masking, genome)`` of sample ``index`` of ``split``."""
        ids, genome, _ = self._window(self._rng(split, index), split, soft_masked=False)
        return ids, genome

    def sample(self, split: str, index: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
        """``(input ids, targets, genome, target weights)`` of sample ``index`` of ``split``."""
        rng = self._rng(split, index)
        ids, genome, soft = self._window(rng, split, soft_masked=self.repeat_weight != 1.0)
        tokens = ids[1:]
        weights = np.ones(len(ids), dtype=np.float32)
        if soft is not None:  # a token's weight falls in proportion to its soft-masked bases
            ends = np.cumsum(self._bases[tokens])
            soft_bases = np.concatenate([[0], np.cumsum(soft)])[np.minimum(ends, len(soft))]
            fraction = np.diff(np.concatenate([[0], soft_bases])) / self._bases[tokens]
            weights[1:] = 1.0 - (1.0 - self.repeat_weight) * fraction
        targets = np.full(len(ids), IGNORE, dtype=np.int64)
        n_chosen = max(1, round(self.mask_fraction * len(tokens)))
        chosen = 1 + rng.choice(len(tokens), n_chosen, replace=False)  # never the species token
        targets[chosen] = ids[chosen]
        how = rng.random(n_chosen)
        ids[chosen[how < 0.8]] = self.mask_id
        swapped = chosen[(how >= 0.8) & (how < 0.9)]
        ids[swapped] = rng.integers(self.tok.first_base_id, self.tok.vocab_size, len(swapped))
        return ids, targets, genome, weights

    def batch(self, split: str, indices) -> MaskedBatch:
        samples = [self.sample(split, i) for i in indices]
        width = max(len(s[0]) for s in samples)
        ids = torch.full((len(samples), width), self.tok.pad_id, dtype=torch.long)
        targets = torch.full((len(samples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(samples), width), dtype=torch.bool)
        weights = torch.zeros((len(samples), width), dtype=torch.float32)
        for row, (x, y, _, w) in enumerate(samples):
            ids[row, : len(x)], targets[row, : len(y)] = torch.as_tensor(x), torch.as_tensor(y)
            mask[row, : len(x)], weights[row, : len(w)] = True, torch.as_tensor(w)
        return MaskedBatch(ids, mask, targets, torch.tensor([s[2] for s in samples]), weights)


class MaskedLMTask:
    """The trainer's task for masked-token pretraining (see :class:`~dnagpt.training.trainer.TrainingTask`)."""

    selection_metric = None
    higher_is_better = True

    def __init__(self, sampler: MaskedSampler, eval_samples: int = 512, eval_batch: int = 16) -> None:
        self.sampler = sampler
        self.eval_samples, self.eval_batch = eval_samples, eval_batch
        self._eval: list[MaskedBatch] | None = None
        self._counts: dict[int, np.ndarray] | None = None

    def batch(self, indices: range) -> MaskedBatch:
        return self.sampler.batch("train", indices)

    def tokens(self, batch: MaskedBatch) -> int:
        return int(batch.attention_mask.sum())

    def export_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return state

    def loss(self, model, batch: MaskedBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        hidden = model(batch.input_ids, attention_mask=batch.attention_mask, compute_heads=False).hidden_states
        if self.sampler.repeat_weight == 1.0:
            loss = next_token_loss(model, hidden, batch.targets)  # the same fused head and cross-entropy
        else:  # weighted mean over the chosen tokens (a sixth or so of the positions: no fusing needed)
            keep = batch.targets != IGNORE
            each = F.cross_entropy(model.token_logits(hidden[keep]).float(), batch.targets[keep], reduction="none")
            weights = batch.weights[keep]
            loss = (each * weights).sum() / weights.sum().clamp(min=1e-6)
        return loss, {"loss": loss.detach()}

    def _training_token_counts(self) -> dict[int, np.ndarray]:
        """Each genome's token counts over 16 training windows per held-out one (drawn once), for
        the composition baseline: what a model could learn from the training data's k-mer or
        piece frequencies alone."""
        if self._counts is None:
            vocab = self.sampler.tok.vocab_size
            self._counts = {g: np.zeros(vocab) for g in range(len(self.sampler.species_ids))}
            for i in range(_BASELINE_WINDOWS * self.eval_samples):
                ids, genome = self.sampler.tokens("train", _BASELINE_INDEX + i)
                np.add.at(self._counts[genome], ids[1:], 1)  # the species token is not counted
        return self._counts

    @torch.no_grad()
    def evaluate(self, model, device: torch.device, autocast: contextlib.AbstractContextManager) -> dict:
        """Held-out masked-token loss (nats per masked token) and accuracy, beside the loss of
        guessing each masked token from its genome's token frequencies in training windows."""
        if self._eval is None:
            n, bs = self.eval_samples, self.eval_batch
            self._eval = [self.sampler.batch("valid", range(i, min(i + bs, n))) for i in range(0, n, bs)]
        nats, right, count = 0.0, 0, 0
        truths: list[tuple[int, np.ndarray]] = []
        for cpu_batch in self._eval:
            batch = cpu_batch.to(device)
            with autocast:
                hidden = model(batch.input_ids, attention_mask=batch.attention_mask, compute_heads=False).hidden_states
            keep = batch.targets != IGNORE
            logits = model.token_logits(hidden[keep]).float()
            nats += float(torch.nn.functional.cross_entropy(logits, batch.targets[keep], reduction="sum"))
            right += int((logits.argmax(-1) == batch.targets[keep]).sum())
            count += int(keep.sum())
            for row in range(cpu_batch.targets.shape[0]):
                truths.append(
                    (int(cpu_batch.genome[row]), cpu_batch.targets[row][cpu_batch.targets[row] != IGNORE].numpy())
                )
        counts = self._training_token_counts()
        unigram = 0.0  # composition alone: each genome's token frequencies in training windows (add-half)
        for g, y in truths:
            p = (counts[g] + 0.5) / (counts[g].sum() + 0.5 * len(counts[g]))
            unigram -= float(np.log(p[y]).sum())
        return {"masked_loss": nats / max(count, 1), "masked_accuracy": right / max(count, 1),
                "unigram_masked_loss": unigram / max(count, 1), "masked_tokens": count}  # fmt: skip
