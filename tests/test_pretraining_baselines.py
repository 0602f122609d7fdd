"""The references that pretraining metrics are read against: order-k Markov models of bases and
the dinucleotide rule for the order task."""

from __future__ import annotations

import math

import numpy as np

from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.tokenizers import KmerTokenizer
from dnagpt.training.pretrain_eval import (
    MarkovReference,
    _contexts,
    bits_per_base,
    dinucleotide_order_rule,
    window_bases,
)


def test_contexts_and_scoring_by_hand():
    bases = np.array([0, 1, 2, -1, 3, 0])  # A C G N T A
    context, target = _contexts(bases, 1)
    assert context.tolist() == [0, 1, 3] and target.tolist() == [1, 2, 0]  # pairs across the N are skipped
    context, target = _contexts(np.array([0, 1, 2, 3]), 2)
    assert context.tolist() == [0 * 4 + 1, 1 * 4 + 2] and target.tolist() == [2, 3]
    markov = MarkovReference.__new__(MarkovReference)  # tables set by hand: order 0 uniform, order 1 "A -> C"
    markov.max_order = 1
    order1 = np.full((4, 4), 0.25)
    order1[0] = [0.01, 0.97, 0.01, 0.01]
    markov.log_probs = [[np.log(np.full((1, 4), 0.25)), np.log(order1)]]
    nats, n = markov.nats(0, np.array([0, 1, 0, 1]), order=1)  # A, then C|A, A|C, C|A
    assert n == 4 and math.isclose(nats, -(math.log(0.25) * 2 + math.log(0.97) * 2))
    assert math.isclose(bits_per_base(nats, n), nats / 4 / math.log(2))


def test_markov_models_and_the_order_rule_on_real_windows(tmp_path):
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), tmp_path, window_bp=600)
    markov = MarkovReference(corpus, budget_bp=200_000, max_order=4)
    rng = np.random.default_rng(0)
    bits = np.zeros(5)
    right = total = 0
    for _ in range(60):
        codes, g = corpus.sample_window(rng, "valid", 600)
        bases = np.array(["ACGT".find("NAGCT"[c]) for c in codes])
        for order in range(5):
            nats, n = markov.nats(g, bases, order)
            bits[order] += bits_per_base(nats, n) / 60
        right += dinucleotide_order_rule(bases) + (not dinucleotide_order_rule(bases[::-1]))
        total += 2
    assert 1.85 < bits[0] < 2.0 and bits[3] < bits[0] - 0.02  # context helps on held-out real DNA
    assert right / total > 0.75  # strands read 5' to 3' carry more CA/TG than AC/GT


def test_window_bases_reads_kmer_tokens():
    tok = KmerTokenizer(6)
    ids = [tok.token_id("ACGTAC"), tok.token_id("GGTTAA")]
    assert window_bases(tok, ids).tolist() == [0, 1, 2, 3, 0, 1, 2, 2, 3, 3, 0, 0]
