"""Held-out evaluation of pretraining: what the model scores beside what composition alone scores.

The references are fitted on the training regions only: a k-mer unigram model (pooled over
species, and one per species) and order-k Markov models of bases (per species, k picked on the
held-out windows, which favours the baseline) for the next-token loss; each species' mean GC
fraction for the GC task; and a one-line dinucleotide rule for the order task (CpG decay leaves
more CA and TG than AC and GT on a strand read 5' to 3'). ``format_report`` prints the model
beside them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..data.corpus import Corpus, gc_fraction
from ..tokenizers import SPECIES_TOKENS, KmerTokenizer
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


_TO_ACGT = np.array([-1, 0, 2, 1, 3], dtype=np.int64)  # corpus codes N, A, G, C, T -> A=0, C=1, G=2, T=3 (N: -1)


def window_bases(tok: KmerTokenizer, kmer_ids) -> np.ndarray:
    """The bases (A=0, C=1, G=2, T=3, other -1) that a window's k-mer tokens spell, in reading order."""
    text = "".join(tok.piece(int(i)) for i in kmer_ids).upper()
    return np.array(["ACGT".find(c) for c in text], dtype=np.int64)


class MarkovReference:
    """Order-k Markov models of bases for k = 0 .. ``max_order``, one set per genome, counted on the
    training regions in both orientations (at most ``budget_bp`` bases per genome), with add-half
    smoothing. The first bases of a window are scored with the orders their context allows."""

    def __init__(self, corpus: Corpus, budget_bp: int, max_order: int = 8) -> None:
        self.max_order = max_order
        self.log_probs: list[list[np.ndarray]] = []
        for g, store in enumerate(corpus.stores):
            counts = [np.full((4**k, 4), 0.5) for k in range(max_order + 1)]
            budget = budget_bp
            for region in corpus.regions["train"]:
                if region.genome != g or budget <= 0:
                    continue
                length = min(region.length, budget)
                budget -= length
                bases = _TO_ACGT[store.fetch(region.record, region.start, region.start + length)]
                for seq in (bases, bases[::-1]):
                    for k in range(max_order + 1):
                        context, target = _contexts(seq, k)
                        counts[k] += np.bincount(context * 4 + target, minlength=4 ** (k + 1)).reshape(-1, 4)
            self.log_probs.append([np.log(c / c.sum(1, keepdims=True)) for c in counts])

    def nats(self, genome: int, bases: np.ndarray, order: int) -> tuple[float, int]:
        """Total cross-entropy (nats) of ``bases`` (A=0 .. T=3, N=-1) under the order-``order`` model of
        ``genome``, and how many bases were scored (not N, nor a base with an N among its context)."""
        tables = self.log_probs[genome]
        total, n = 0.0, 0
        for i in range(min(order, len(bases))):  # the first bases: as much context as the window gives
            context = bases[:i]
            if bases[i] < 0 or (context < 0).any():
                continue
            index = 0
            for b in context:
                index = index * 4 + int(b)
            total -= float(tables[i][index, bases[i]])
            n += 1
        context, target = _contexts(bases, order)
        return total - float(tables[order][context, target].sum()), n + len(target)


def _contexts(bases: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every position i >= k with bases i-k .. i all known: the index of its k preceding bases
    (base i-k the most significant digit, base i-1 the least) and the base at i."""
    n = len(bases) - k
    if n <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    context = np.zeros(n, dtype=np.int64)
    for j in range(k + 1):
        part = bases[j : j + n]
        valid &= part >= 0
        if j < k:
            context = context * 4 + np.maximum(part, 0)
    target = bases[k : k + n]
    return context[valid], target[valid]


def dinucleotide_order_rule(bases: np.ndarray) -> bool:
    """True ("read in its original order") when the window has more CA + TG than AC + GT steps."""
    pairs = bases[:-1] * 4 + bases[1:]
    valid = (bases[:-1] >= 0) & (bases[1:] >= 0)
    counts = np.bincount(pairs[valid], minlength=16)
    ca_tg = counts[1 * 4 + 0] + counts[3 * 4 + 2]
    ac_gt = counts[0 * 4 + 1] + counts[2 * 4 + 3]
    return bool(ca_tg >= ac_gt)


def bits_per_base(nats: float, bases: int) -> float:
    """Cross-entropy per base in bits."""
    return nats / bases / math.log(2) if bases else math.nan


def format_report(ev: dict, run_dir: str | Path) -> str:
    """The held-out evaluation as a short table, model beside its baselines."""
    if "copy_relative_loss" in ev:  # GPN-MSA's pretraining on an alignment
        gain = ev["copy_relative_loss"] - ev["masked_loss"]
        return "\n".join([
            f"Held-out evaluation: {ev['masked_tokens']} masked bases in held-out alignment blocks",
            f"  masked-base loss {ev['masked_loss']:.3f} nats, accuracy {ev['masked_accuracy']:.3f}   baselines: "
            f"base frequencies {ev['unigram_masked_loss']:.3f}; copying the closest relative "
            f"{ev['copy_relative_loss']:.3f} (accuracy {ev['copy_relative_accuracy']:.3f})   -> {abs(gain):.3f} nats "
            f"{'below' if gain > 0 else 'ABOVE'} copying",
            f"Model: {run_dir}/model   metrics: {run_dir}/metrics.jsonl   evaluation: {run_dir}/evaluation.json",
        ])  # fmt: skip
    if "masked_loss" in ev:  # an encoder's masked-token pretraining
        gain = ev["unigram_masked_loss"] - ev["masked_loss"]
        return "\n".join([
            f"Held-out evaluation: {ev['masked_tokens']} masked tokens in unseen windows ({run_dir}/holdout.json)",
            f"  masked-token loss {ev['masked_loss']:.3f} nats, accuracy {ev['masked_accuracy']:.3f}   baseline: "
            f"per-species token frequencies {ev['unigram_masked_loss']:.3f}   -> {abs(gain):.3f} nats "
            f"{'below' if gain > 0 else 'ABOVE (nothing beyond composition)'}",
            f"Model: {run_dir}/model   metrics: {run_dir}/metrics.jsonl   evaluation: {run_dir}/evaluation.json",
        ])  # fmt: skip
    gain = ev["unigram_loss"] - ev["next_token_loss"]
    lines = [
        f"Held-out evaluation: {ev['samples']} windows from regions never trained on ({run_dir}/holdout.json)",
        f"  next-token loss   {ev['next_token_loss']:.3f} nats (perplexity {ev['perplexity']:.0f})"
        f"   baseline: k-mer unigram {ev['unigram_loss']:.3f}, per-species unigram {ev['species_unigram_loss']:.3f}"
        f"   -> {abs(gain):.3f} nats {'below' if gain > 0 else 'ABOVE'} the unigram",
        f"  order accuracy    {ev['order_accuracy']:.3f}   baseline: chance {ev['order_chance']:.3f}, "
        f"dinucleotide rule (CA+TG > AC+GT) {ev['order_rule_accuracy']:.3f}"
        + ("" if ev["order_accuracy"] > ev["order_rule_accuracy"] else "   -> nothing beyond the dinucleotide rule"),
        f"  GC content R2     {ev['gc_r2']:.3f}   baseline: species mean GC R2 {ev['gc_r2_species_mean']:.3f}"
        + ("" if ev["gc_r2"] > ev["gc_r2_species_mean"] else "   -> nothing beyond the species' mean GC"),
        "  bits per base, model vs the best order-k Markov model of bases (k picked on these windows):",
    ]
    names = {f"<{letter}>": latin for latin, letter in SPECIES_TOKENS.items()}
    for species, sp in ev.get("species", {}).items():
        verdict = "below" if sp["model_bits_per_base"] < sp["markov_bits_per_base"] else "ABOVE"
        name = names.get(species, species)
        lines.append(f"    {name:26s} model {sp['model_bits_per_base']:.3f}   Markov (k={sp['markov_order']}) "
                     f"{sp['markov_bits_per_base']:.3f}   -> {verdict} the Markov model")  # fmt: skip
    lines.append(f"Model: {run_dir}/model   metrics: {run_dir}/metrics.jsonl   evaluation: {run_dir}/evaluation.json")
    return "\n".join(lines)
