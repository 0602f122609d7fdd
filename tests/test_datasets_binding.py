"""Binding datasets (ctcf-human, tf-human) on synthetic genomes: windows centred on peaks and summits,
background windows far from every peak and GC-matched, summits deduplicated, classes balanced."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from dnagpt.data.datasets.binding import (
    CTCF_TASK,
    DATASETS,
    MARGIN,
    TF_TASK,
    WIDTH,
    background_pool,
    binding_examples,
    centred_window,
    clear_of,
    dedup_summits,
    gc_bin_edges,
    gc_fraction,
    gc_matched,
)
from dnagpt.data.datasets.common import Genome, reverse_complement, write_dataset
from dnagpt.data.regions import BLOCK, SPLITS, parse_region, window_split
from dnagpt.tasks.spec import TaskSpec


def patchy_genome(rng: np.random.Generator, blocks: int = 40, name: str = "toy/chr1") -> Genome:
    """Random bases whose GC content changes every 5 kb (0.3 to 0.7), with a few runs of N."""
    parts = []
    for _ in range(blocks * BLOCK // 5000):
        gc = rng.choice([0.3, 0.4, 0.5, 0.6, 0.7])
        p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        parts.append("".join(rng.choice(list("ACGT"), size=5000, p=p)))
    seq = list("".join(parts))
    for start in rng.integers(0, len(seq) - 3000, size=5):
        seq[start : start + 3000] = "N" * 3000
    return Genome(name, "".join(seq))


def fake_peaks(genome: Genome, rng: np.random.Generator, n: int = 300) -> list[tuple[int, int]]:
    """Non-overlapping peaks 150 to 450 bp wide, mostly in GC-rich stretches (as real CTCF peaks are)."""
    peaks: list[tuple[int, int]] = []
    while len(peaks) < n:
        start = int(rng.integers(1000, len(genome.seq) - 2000))
        width = int(rng.integers(150, 450))
        if gc_fraction(genome.seq[start : start + width]) < 0.5 and rng.random() < 0.8:
            continue
        if all(start + width <= a or b <= start for a, b in peaks):
            peaks.append((start, start + width))
    return sorted(peaks)


def read_rows(out: Path) -> dict[str, list[dict]]:
    return {s: list(csv.DictReader(gzip.open(out / f"{s}.csv.gz", "rt"))) for s in SPLITS}


def test_centred_window_puts_the_centre_at_base_101_on_either_strand():
    rng = np.random.default_rng(1)
    genome = Genome("toy/chr1", "".join(rng.choice(list("ACGT"), size=5000)))
    e = centred_window(genome, 1234, "+", "1")
    assert (e.start, e.end) == (1234 - WIDTH // 2, 1234 + WIDTH // 2)
    assert e.sequence == genome.seq[1134:1334] and e.sequence[100] == genome.seq[1234]
    minus = centred_window(genome, 1234, "-", "1")
    assert minus.sequence == reverse_complement(e.sequence) and minus.region == e.region
    assert centred_window(genome, 50, "+", "1") is None  # runs off the sequence
    assert centred_window(Genome("toy/n", "N" * 5000), 1234, "+", "1") is None  # unknown bases


def test_dedup_summits_keeps_summits_at_least_min_gap_apart():
    assert dedup_summits([150, 0, 50, 99, 100, 250, 251, 1000, 1000], 100).tolist() == [0, 100, 250, 1000]
    rng = np.random.default_rng(2)
    summits = rng.integers(0, 100_000, size=3000)
    kept = dedup_summits(summits, 100)
    assert np.all(np.diff(kept) >= 100)
    for p in summits:  # every summit dropped lies within 100 bp of one kept (its window nearly repeats)
        assert np.min(np.abs(kept - p)) < 100


def test_clear_of_agrees_with_brute_force_distance():
    rng = np.random.default_rng(3)
    starts = rng.integers(0, 50_000, size=200)
    intervals = [
        (int(a), int(a) + int(w)) for a, w in zip(rng.integers(0, 50_000, 60), rng.integers(1, 400, 60), strict=True)
    ]

    def gap(s: int, a: int, b: int) -> int:  # bases between [s, s + WIDTH) and [a, b); 0 when they overlap
        return max(a - (s + WIDTH), s - b, 0)

    expected = [min(gap(int(s), a, b) for a, b in intervals) >= 300 for s in starts]
    assert clear_of(starts, WIDTH, intervals, 300).tolist() == expected
    assert clear_of(starts, WIDTH, [], 300).all()


def test_gc_matched_pairs_every_positive_with_background_of_its_split_and_gc_bin():
    rng = np.random.default_rng(4)
    genome = patchy_genome(rng)
    peaks = fake_peaks(genome, rng)
    positives = [e for a, b in peaks if (e := centred_window(genome, (a + b) // 2, "+", "1")) and e.split]
    pool = background_pool(genome, peaks, rng)
    kept, negatives = gc_matched(positives, pool, rng)
    assert len(kept) == len(negatives) > 0.9 * len(positives)
    edges = gc_bin_edges(np.array([gc_fraction(e.sequence) for e in positives]))

    def key(e):
        return e.split, int(np.searchsorted(edges, gc_fraction(e.sequence), side="right"))

    assert sorted(key(e) for e in kept) == sorted(key(e) for e in negatives)  # same count per split and bin
    gc_pos, gc_neg = (np.array([gc_fraction(e.sequence) for e in part]) for part in (kept, negatives))
    gc_pool = np.array([gc_fraction(e.sequence) for e in pool])
    assert gc_pos.mean() - gc_pool.mean() > 0.05  # the background at large is poorer in GC: matching matters
    assert abs(gc_pos.mean() - gc_neg.mean()) < 0.01
    assert np.abs(np.quantile(gc_pos, [0.1, 0.5, 0.9]) - np.quantile(gc_neg, [0.1, 0.5, 0.9])).max() < 0.03
    assert len({(e.start, e.end) for e in negatives}) == len(negatives)  # drawn without replacement


def test_gc_matched_drops_positives_the_background_cannot_match():
    rng = np.random.default_rng(5)
    genome = patchy_genome(rng)
    peaks = fake_peaks(genome, rng)
    positives = [e for a, b in peaks if (e := centred_window(genome, (a + b) // 2, "+", "1")) and e.split]
    poor = [e for e in background_pool(genome, peaks, rng) if gc_fraction(e.sequence) < 0.45]
    kept, negatives = gc_matched(positives, poor, rng)
    assert len(kept) == len(negatives) < len(positives)
    assert max(gc_fraction(e.sequence) for e in kept) < 0.5  # GC-rich positives found no partner


def test_binding_dataset_windows_margins_strands_and_balanced_splits(tmp_path):
    rng = np.random.default_rng(6)
    genome = patchy_genome(rng)
    peaks = fake_peaks(genome, rng)
    centres = {(a + b) // 2 for a, b in peaks}
    examples = binding_examples(genome, sorted(centres), peaks, seed=0)
    sizes = write_dataset(tmp_path, examples, CTCF_TASK, 0, per_class=3000)
    rows = read_rows(tmp_path)
    assert {s: len(r) for s, r in rows.items()} == sizes and all(sizes.values())
    strands = set()
    for split, part in rows.items():
        labels = [r["label"] for r in part]
        assert labels.count("1") == labels.count("0") > 0  # balanced inside every split
        for r in part:
            name, first, last = parse_region(r["region"])
            start, end = first - 1, last
            assert name == genome.name and end - start == WIDTH == len(r["sequence"])
            assert window_split(name, start, end) == split  # the registry's split, never straddling
            plus = genome.seq[start:end]
            assert r["sequence"] == (plus if r["strand"] == "+" else reverse_complement(plus))
            strands.add((r["label"], r["strand"]))
            if r["label"] == "1":
                assert start + WIDTH // 2 in centres  # centred on a peak's centre
            else:  # background keeps its margin from every peak
                assert all(max(a - end, start - b) >= MARGIN for a, b in peaks)
    assert strands == {("1", "+"), ("1", "-"), ("0", "+"), ("0", "-")}  # both classes on both strands
    gc = {lab: [gc_fraction(r["sequence"]) for p in rows.values() for r in p if r["label"] == lab] for lab in "01"}
    assert abs(np.mean(gc["1"]) - np.mean(gc["0"])) < 0.01


def test_background_for_summits_keeps_clear_of_summits_and_peaks(tmp_path):
    rng = np.random.default_rng(7)
    genome = patchy_genome(rng)
    peaks = fake_peaks(genome, rng, n=100)
    summits = sorted(int(p) for p in rng.integers(2000, len(genome.seq) - 2000, size=600))
    summits += [summits[0] + 30, summits[1] + 99]  # near-duplicates of other factors' summits
    kept = dedup_summits(summits).tolist()
    avoid = [(p, p + 1) for p in summits] + peaks
    examples = binding_examples(genome, kept, avoid, seed=1)
    write_dataset(tmp_path, examples, TF_TASK, 1, per_class=3000)
    rows = [r for part in read_rows(tmp_path).values() for r in part]
    positive_starts = [parse_region(r["region"])[1] - 1 for r in rows if r["label"] == "1"]
    assert len(set(positive_starts)) == len(positive_starts)
    assert all(s + WIDTH // 2 in kept for s in positive_starts)
    for r in rows:
        if r["label"] == "0":
            _, first, last = parse_region(r["region"])
            start, end = first - 1, last
            assert all(max(a - end, start - b) >= MARGIN for a, b in avoid)  # summit p is [p, p + 1)


def test_same_seed_same_examples_and_task_files_parse(tmp_path):
    rng = np.random.default_rng(8)
    genome = patchy_genome(rng, blocks=10)
    peaks = fake_peaks(genome, rng, n=80)
    centres = [(a + b) // 2 for a, b in peaks]
    assert binding_examples(genome, centres, peaks, seed=3) == binding_examples(genome, centres, peaks, seed=3)
    for text, name in ((CTCF_TASK, "ctcf_human"), (TF_TASK, "tf_human")):
        (tmp_path / "task.toml").write_text(text)
        spec = TaskSpec.load(tmp_path / "task.toml")
        assert spec.name == name and spec.labels == {"1": "A", "0": "N"} and spec.species == "<R>"
        assert "GC-matched" in text.splitlines()[0]
    assert set(DATASETS) == {"ctcf-human", "tf-human"} and all(callable(b) for _, b in DATASETS.values())


def test_no_bound_window_on_known_sequence_is_an_error():
    from dnagpt.errors import DataError

    with pytest.raises(DataError, match="no bound window"):
        binding_examples(Genome("toy/n", "N" * 50_000), [10_000], [(9_900, 10_100)], seed=0)
