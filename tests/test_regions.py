"""The held-out registry: one fixed rule puts every block of every genome in train, dev or test;
corpora keep only training blocks, datasets keep windows inside one block."""

from __future__ import annotations

import itertools
import random

import pytest

from dnagpt.data.regions import (
    BLOCK,
    block_split,
    cut_to_training,
    format_region,
    overlapping,
    parse_region,
    training_parts,
    window_split,
)
from dnagpt.errors import DataError


def test_blocks_fall_into_the_three_splits_in_the_stated_proportions():
    splits = [block_split("src/chr1", b) for b in range(20_000)]
    for name, share in (("train", 0.60), ("dev", 0.15), ("test", 0.25)):
        assert abs(splits.count(name) / len(splits) - share) < 0.015
    assert splits == [block_split("src/chr1", b) for b in range(20_000)]  # a fixed rule, not a draw
    assert splits != [block_split("src/chr2", b) for b in range(20_000)]  # each sequence its own


def test_windows_take_their_blocks_split_and_straddlers_are_dropped():
    assert window_split("s/c", 5, 5 + 600) == block_split("s/c", 0)
    assert window_split("s/c", BLOCK - 300, BLOCK + 300) is None
    assert window_split("s/c", 3 * BLOCK, 4 * BLOCK) == block_split("s/c", 3)
    with pytest.raises(DataError):
        window_split("s/c", 10, 10)


def test_corpus_cut_keeps_exactly_the_training_blocks():
    rng = random.Random(0)
    bases = "".join(rng.choice("ACGT") for _ in range(30 * BLOCK + 1234))
    offset = 7 * BLOCK + 555
    records = cut_to_training([("s/c", offset, bases)], min_length=1)
    kept = set()
    for name, seq in records:
        chrom, start, end = parse_region(name)
        assert chrom == "s/c" and seq == bases[start - 1 - offset : end - offset]
        kept |= set(range(start - 1, end))
    for position in range(offset, offset + len(bases), 997):
        assert (position in kept) == (block_split("s/c", position // BLOCK) == "train")
    parts = training_parts("s/c", offset, offset + len(bases))
    assert all(b[0] > a[1] for a, b in itertools.pairwise(parts))  # neighbouring training blocks are merged


def test_overlap_search_agrees_with_brute_force():
    rng = random.Random(1)

    def some(n):
        out = []
        for _ in range(n):
            start = rng.randrange(1, 10_000)
            out.append(format_region(rng.choice(["a/x", "a/y"]), start, start + rng.randrange(1, 500)))
        return out

    regions, others = some(300), some(200)
    expected = set()
    for r in regions:
        for o in others:
            (c1, s1, e1), (c2, s2, e2) = parse_region(r), parse_region(o)
            if c1 == c2 and s1 <= e2 and s2 <= e1:
                expected.add((r, o))
    assert set(overlapping(regions, others)) == expected and expected


def test_bundled_corpus_holds_no_dev_or_test_window_of_the_shipped_dataset():
    """The leakage check of the benchmark, on the files that ship: no window of the bundled
    dataset's dev or test split shares a base with any record of the bundled pretraining corpus,
    and every bundled corpus record lies in training blocks."""
    from dnagpt.data.corpus import read_manifest
    from dnagpt.data.fasta import read_fasta_records
    from dnagpt.data.tables import read_table
    from dnagpt.resources import BUNDLED_DATASETS, BUNDLED_MANIFEST

    corpus = []
    for entry in read_manifest(BUNDLED_MANIFEST):
        for name, seq in read_fasta_records(entry.path):
            chrom, start, end = parse_region(name)
            assert end - start + 1 == len(seq) and training_parts(chrom, start - 1, end) == [(start - 1, end)]
            corpus.append(name)
    held_out = []
    for split in ("dev", "test"):
        for row in read_table(BUNDLED_DATASETS / "tis_arabidopsis" / f"{split}.csv.gz"):
            chrom, start, end = parse_region(row["region"])
            assert window_split(chrom, start - 1, end) == split
            held_out.append(row["region"])
    assert len(held_out) > 1000 and corpus
    assert any(r.startswith("arabidopsis-chr1/") for r in corpus)  # the same genome is in both
    assert overlapping(held_out, corpus) == []
