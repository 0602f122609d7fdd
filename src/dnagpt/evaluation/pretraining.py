"""Held-out evaluation of pretraining: what the model scores beside what composition alone scores.

The references are fitted on the training regions only: a k-mer unigram model
(pooled over species, and one per species) for the next-token loss, and each
species' mean GC fraction for the GC task. ``format_report`` prints the model
beside them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.corpus import Corpus, gc_fraction
from ..tokenizer import KmerTokenizer
from ..training.pretrain_samples import PretrainBatch


class UnigramReference:
    """k-mer unigram models fitted on the training regions (every frame, both orientations), and
    each genome's mean GC fraction; at most ``budget_bp`` bases per genome are counted."""

    def __init__(self, corpus: Corpus, tok: KmerTokenizer, budget_bp: int) -> None:
        k, vocab = tok.k, tok.vocab_size
        counts = np.ones((len(corpus.stores), vocab))  # add-one smoothing
        self.gc_by_genome: list[float] = []
        for g, store in enumerate(corpus.stores):
            budget, pieces = budget_bp, []
            for region in corpus.regions["train"]:
                if region.genome != g or budget <= 0:
                    continue
                length = min(region.length, budget)
                budget -= length
                codes = store.fetch(region.record, region.start, region.start + length)
                pieces.append(codes)
                for seq in (codes, codes[::-1]):
                    for frame in range(k):
                        usable = (len(seq) - frame) // k * k
                        ids = tok.encode_bases(np.ascontiguousarray(seq[frame : frame + usable]))
                        counts[g] += np.bincount(ids, minlength=vocab)
            self.gc_by_genome.append(gc_fraction(np.concatenate(pieces)) if pieces else 0.0)
        self.log_species = np.log(counts / counts.sum(1, keepdims=True))
        pooled = counts.sum(0) - (len(corpus.stores) - 1)  # keep a single +1 per id
        self.log_pooled = np.log(pooled / pooled.sum())

    def loss(self, batches: list[PretrainBatch], per_species: bool = False) -> float:
        """Mean next-k-mer cross-entropy (nats) of the unigram model on the k-mers of ``batches``."""
        total, n = 0.0, 0
        for b in batches:
            for row in range(b.input_ids.shape[0]):
                targets = b.kmer_ids(row).numpy()
                table = self.log_species[int(b.genome[row])] if per_species else self.log_pooled
                total -= float(table[targets].sum())
                n += len(targets)
        return total / n


def format_report(ev: dict, run_dir: str | Path) -> str:
    """The held-out evaluation as a short table, model beside its baselines."""
    gain = ev["unigram_loss"] - ev["next_token_loss"]
    lines = [
        f"Held-out evaluation: {ev['samples']} windows from regions never trained on ({run_dir}/holdout.json)",
        f"  next-token loss   {ev['next_token_loss']:.3f} nats (perplexity {ev['perplexity']:.0f})"
        f"   baseline: k-mer unigram {ev['unigram_loss']:.3f}, per-species unigram {ev['species_unigram_loss']:.3f}"
        f"   -> {abs(gain):.3f} nats {'below' if gain > 0 else 'ABOVE'} the unigram",
        f"  order accuracy    {ev['order_accuracy']:.3f}   baseline: chance {ev['order_chance']:.3f}",
        f"  GC content R2     {ev['gc_r2']:.3f}   baseline: species mean GC R2 {ev['gc_r2_species_mean']:.3f}",
        f"Model: {run_dir}/model   metrics: {run_dir}/metrics.jsonl   evaluation: {run_dir}/evaluation.json",
    ]
    return "\n".join(lines)
