"""Promoter datasets on a synthetic genome (no fetching): TSS windows at the right place on the right
strand, negatives far from every TSS and matched to the positives' GC content, classes balanced in
every split."""

from __future__ import annotations

import csv
import gzip
import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dnagpt.data.datasets.common import Genome, reverse_complement, write_dataset
from dnagpt.data.datasets.promoters import (
    CORE,
    GC_BINS,
    MIN_TSS_DISTANCE,
    PROM_300,
    far_from_tss,
    gc_bin,
    gc_fraction,
    pool_step,
    promoter_examples,
    tss_window,
)
from dnagpt.data.regions import SPLITS

LENGTH = 1_000_000  # 50 blocks of the held-out registry, so every split gets some


def _random_bases(rng: np.random.Generator, n: int, gc: float) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=n, p=p))


@pytest.fixture(scope="module")
def synthetic() -> tuple[Genome, list[tuple[int, str]]]:
    """A genome whose GC content drifts between 30 and 70 % every 5 kb, with 1 kb GC-rich (65-80 %)
    islands at the fake TSSs (as CpG-island promoters are), so a GC-blind draw of negatives would be
    easy to tell apart; and a stretch of N, which no window may use."""
    rng = np.random.default_rng(1)
    pieces = [_random_bases(rng, 5000, rng.uniform(0.3, 0.7)) for _ in range(LENGTH // 5000)]
    seq = list("".join(pieces))
    tss = []
    for i, centre in enumerate(range(10_000, LENGTH - 10_000, 9_000)):
        seq[centre - 500 : centre + 500] = _random_bases(rng, 1000, rng.uniform(0.65, 0.8))
        tss.append((centre, "+" if i % 2 else "-"))
    tss.append(tss[0])  # two transcripts sharing a TSS
    seq[500_000:520_000] = "N" * 20_000
    return Genome("synthetic/chr1", "".join(seq)), tss


def test_windows_sit_on_the_tss_and_read_on_the_transcripts_strand():
    rng = np.random.default_rng(0)
    genome = Genome("synthetic/chr1", _random_bases(rng, 2000, 0.5))
    up, down = CORE
    plus = tss_window(genome, 1000, "+", up, down)
    assert (plus.start, plus.end, plus.strand, plus.label) == (1000 - 34, 1000 + 36, "+", "1")
    assert len(plus.sequence) == 70 and plus.sequence == genome.seq[966:1036]
    assert plus.sequence[up] == genome.seq[1000]  # the TSS is position 0, after 34 upstream bases
    minus = tss_window(genome, 1000, "-", up, down)
    # upstream of a minus-strand transcript is to the right on the + strand
    assert (minus.start, minus.end, minus.strand) == (1000 - 35, 1000 + 35, "-")
    assert minus.sequence == reverse_complement(genome.seq[965:1035])
    assert minus.sequence[up] == reverse_complement(genome.seq[1000])
    assert minus.sequence[:up] == reverse_complement(genome.seq[1001:1035])  # -34..-1 read 5' to 3'
    up, down = PROM_300
    long = tss_window(genome, 1000, "-", up, down)
    assert (long.end - long.start, long.start, long.sequence[up]) == (300, 950, reverse_complement(genome.seq[1000]))
    assert tss_window(genome, 10, "+", up, down) is None  # runs off the sequence
    gappy = Genome("synthetic/chr1", "N" * 1000 + genome.seq[1000:])
    assert tss_window(gappy, 1030, "+", *CORE) is None  # more than 5 % N


def test_far_from_tss_agrees_with_brute_force():
    rng = np.random.default_rng(2)
    tss = np.sort(rng.integers(0, 50_000, 40))
    starts = rng.integers(0, 50_000, 2000)
    ends = starts + 300
    got = far_from_tss(tss, starts, ends, MIN_TSS_DISTANCE)
    want = [all(min(abs(t - b) for b in (s, e - 1)) >= MIN_TSS_DISTANCE and not s <= t < e for t in tss)
            for s, e in zip(starts, ends, strict=True)]  # fmt: skip
    assert got.tolist() == want


def test_gc_helpers():
    assert gc_fraction("GGCCAATT") == 0.5 and gc_fraction("GCNN") == 1.0 and gc_fraction("NN") == 0.0
    assert gc_bin(np.array([0.0, 0.049, 0.05, 0.999, 1.0]), bins=20).tolist() == [0, 0, 1, 19, 19]
    assert gc_bin(1.0).tolist() == GC_BINS - 1  # a window of pure G/C still has a bin
    assert (pool_step(70), pool_step(300), pool_step(1)) == (14, 75, 1)


@pytest.mark.parametrize("flank", [CORE, PROM_300])
def test_negatives_far_from_tss_gc_matched_and_balanced(synthetic, flank):
    genome, tss = synthetic
    examples = promoter_examples(genome, tss, [p for p, _ in tss], *flank, seed=0)
    positives = [e for e in examples if e.label == "1"]
    negatives = [e for e in examples if e.label == "0"]
    assert len({(e.start, e.strand) for e in positives}) == len(positives)  # the shared TSS gives one
    assert len(positives) > 40 and len(negatives) == len(positives)
    where = np.array(sorted(p for p, _ in tss))
    for e in negatives:
        assert np.abs(where - e.start).min() >= MIN_TSS_DISTANCE
        assert np.abs(where - (e.end - 1)).min() >= MIN_TSS_DISTANCE
        assert e.end - e.start == sum(flank) + 1 and e.strand in "+-" and "N" not in e.sequence
        plus = genome.seq[e.start : e.end]
        assert e.sequence == (plus if e.strand == "+" else reverse_complement(plus))
    assert {e.strand for e in negatives} == {"+", "-"}
    spans = sorted((e.start, e.end) for e in negatives)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))  # no overlap
    # every (split, GC bin) holds as many negatives as positives, so GC cannot tell them apart
    count = Counter((e.split, int(gc_bin(gc_fraction(e.sequence))), e.label) for e in examples)
    for (split, b, _), n in count.items():
        assert count[(split, b, "1")] == count[(split, b, "0")] == n
    pos_gc = np.mean([gc_fraction(e.sequence) for e in positives])
    neg_gc = np.mean([gc_fraction(e.sequence) for e in negatives])
    background = gc_fraction(genome.seq)
    assert pos_gc > background + 0.1  # the positives really are GC-rich ...
    assert abs(pos_gc - neg_gc) < 1 / GC_BINS  # ... and the negatives follow them


def test_written_dataset_is_balanced_in_every_split_and_deterministic(synthetic, tmp_path):
    genome, tss = synthetic
    sizes = {}
    for run in ("a", "b"):
        examples = promoter_examples(genome, tss, [p for p, _ in tss], *PROM_300, seed=3)
        sizes[run] = write_dataset(tmp_path / run, examples, "# task\n", seed=3)
    assert sizes["a"] == sizes["b"] and all(sizes["a"].values())
    for split in SPLITS:
        a, b = (tmp_path / run / f"{split}.csv.gz" for run in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()
        rows = list(csv.DictReader(gzip.open(a, "rt")))
        labels = Counter(r["label"] for r in rows)
        assert labels["1"] == labels["0"] == len(rows) // 2
        assert all(len(r["sequence"]) == 300 for r in rows)


def test_another_seed_draws_other_negatives(synthetic):
    genome, tss = synthetic
    first, second = (
        {
            (e.start, e.strand)
            for e in promoter_examples(genome, tss, [p for p, _ in tss], *CORE, seed=s)
            if e.label == "0"
        }
        for s in (0, 1)
    )
    assert first != second


def test_module_lists_its_datasets():
    from dnagpt.data.datasets import promoters

    assert set(promoters.DATASETS) == {"promoter-core-human", "promoter-300-human", "promoter-arabidopsis"}
    for description, build in promoters.DATASETS.values():
        assert "2 kb" in description and "GC-matched" in description and callable(build)
    assert Path(promoters.__file__).name == "promoters.py"
