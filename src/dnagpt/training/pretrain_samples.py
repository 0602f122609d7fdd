"""Pretraining samples: the three tasks of the paper (section 3.1) in one token layout.

Every sample is one genome window of random length, written as::

    <species>  t1 t2 ... tn  <=>  <B>  answer  <M>
       |        \\_ k-mers _/         |            |
       |   next-token prediction      |            regression head -> GC fraction of t1..tn
       species token                  token head -> A (original order) or N (reversed)

* Next-token prediction: the species token predicts t1, t1 predicts t2, ...,
  t(n-1) predicts tn (cross-entropy).
* Sequence order: with probability 0.5 the window's bases are reversed before
  tokenising; at ``<B>`` the token head must answer ``A`` (original order) or ``N``
  (reversed) (cross-entropy).
* GC content: the window is a random sub-segment of random length; at ``<M>`` the
  regression head must output its GC fraction, (G + C) / (A + C + G + T) (MSE).

Window lengths are whole numbers of k-mers, uniform between ``min_tokens`` and
``max_tokens``. Sample ``i`` of a split is a pure function of ``(seed, split, i)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data.corpus import Corpus, gc_fraction
from ..tokenizers import KmerTokenizer
from .objectives import IGNORE

EXTRA_TOKENS = 5  # species, <=>, <B>, answer, <M>
_SPLIT_CODE = {"train": 0, "valid": 1}


@dataclass
class PretrainBatch:
    """A right-padded batch of pretraining samples."""

    input_ids: torch.Tensor  # [B, T]
    targets: torch.Tensor  # [B, T]: next k-mer, or the order answer at <B>; IGNORE elsewhere
    order_index: torch.Tensor  # [B]: position of <B>
    order_label: torch.Tensor  # [B]: 1 = original order, 0 = reversed
    gc_index: torch.Tensor  # [B]: position of <M>
    gc: torch.Tensor  # [B]: GC fraction of the window
    genome: torch.Tensor  # [B]: index of the genome in the corpus
    n_sequence_tokens: int  # k-mer targets in the batch

    def kmer_ids(self, row: int) -> torch.Tensor:
        """The k-mers t1..tn of one sample (they sit between the species token and ``<=>``)."""
        return self.input_ids[row, 1 : int(self.order_index[row]) - 1]

    def to(self, device: torch.device | str) -> PretrainBatch:
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()}
        return PretrainBatch(**moved)


class PretrainSampler:
    """Builds pretraining samples from a :class:`Corpus`."""

    def __init__(
        self,
        corpus: Corpus,
        tokenizer: KmerTokenizer,
        min_tokens: int,
        max_tokens: int,
        reverse_prob: float = 0.5,
        seed: int = 0,
    ) -> None:
        if not 1 <= min_tokens <= max_tokens:
            raise ValueError(f"need 1 <= min_tokens <= max_tokens, got {min_tokens}, {max_tokens}")
        self.corpus = corpus
        self.tok = tokenizer
        self.min_tokens = min_tokens
        self.max_tokens = max_tokens
        self.reverse_prob = reverse_prob
        self.seed = seed
        self.species_ids = [tokenizer.token_id(s) for s in corpus.species_tokens()]

    def sample(self, split: str, index: int) -> tuple[list[int], int, float, int]:
        """``(token ids, order label, GC fraction, genome)`` of sample ``index`` of ``split``."""
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[split], index])
        n_tokens = int(rng.integers(self.min_tokens, self.max_tokens + 1))
        codes, genome = self.corpus.sample_window(rng, split, n_tokens * self.tok.k)
        forward = bool(rng.random() >= self.reverse_prob)
        if not forward:
            codes = codes[::-1]
        tok = self.tok
        answer = tok.yes_id if forward else tok.no_id
        ids = [self.species_ids[genome], *tok.encode_bases(codes).tolist()]
        ids += [tok.output_id, tok.binary_id, answer, tok.number_id]
        return ids, int(forward), gc_fraction(codes), genome

    def batch(self, split: str, indices: list[int] | range) -> PretrainBatch:
        """Collate samples ``indices`` of ``split`` into a right-padded batch."""
        samples = [self.sample(split, i) for i in indices]
        width = max(len(s[0]) for s in samples)
        n = len(samples)
        ids = torch.full((n, width), self.tok.pad_id, dtype=torch.long)
        targets = torch.full((n, width), IGNORE, dtype=torch.long)
        order_index = torch.empty(n, dtype=torch.long)
        n_seq = 0
        for row, (sample_ids, _, _, _) in enumerate(samples):
            length = len(sample_ids)
            ids[row, :length] = torch.as_tensor(sample_ids)
            kmers = length - EXTRA_TOKENS  # t1..tn
            # species..t(n-1) predict t1..tn
            targets[row, :kmers] = ids[row, 1 : kmers + 1]
            order_index[row] = length - 3  # <B>
            targets[row, length - 3] = sample_ids[-2]  # the answer
            n_seq += kmers
        return PretrainBatch(
            input_ids=ids,
            targets=targets,
            order_index=order_index,
            order_label=torch.tensor([s[1] for s in samples]),
            gc_index=torch.tensor([len(s[0]) - 1 for s in samples]),
            gc=torch.tensor([s[2] for s in samples], dtype=torch.float32),
            genome=torch.tensor([s[3] for s in samples]),
            n_sequence_tokens=n_seq,
        )

    def gc_stats(self, n_windows: int = 2000) -> tuple[float, float]:
        """Mean and standard deviation of GC fractions of ``n_windows`` full-length training windows
        (a fixed draw), used to standardise the GC targets."""
        rng = np.random.default_rng(12345)
        corpus = self.corpus
        values = [gc_fraction(corpus.sample_window(rng, "train", corpus.window_bp)[0]) for _ in range(n_windows)]
        return float(np.mean(values)), float(max(np.std(values), 1e-3))
