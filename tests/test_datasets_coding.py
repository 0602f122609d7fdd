"""Coding vs non-coding windows on a synthetic genome: coding windows inside one CDS on its strand and kept once,
non-coding windows clear of every CDS and exon, GC matched and classes balanced inside every split (no fetching)."""

import csv
import gzip
from collections import Counter

import numpy as np

from dnagpt.data.datasets.coding import (
    GC_BINS,
    STRIDE,
    WIDTH,
    coding_dataset,
    coding_windows,
    gc_bin,
    gc_matched,
    merge_intervals,
    noncoding_windows,
    overlaps_any,
)
from dnagpt.data.datasets.common import Example, Genome, reverse_complement
from dnagpt.data.regions import BLOCK, SPLITS, parse_region, window_split


def _patchy_genome(length: int, seed: int = 0) -> Genome:
    """Random bases whose GC content changes every 2 kb (25 % to 75 %), so that every GC bin has windows."""
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(length // 2000):
        gc = rng.uniform(0.25, 0.75)
        pieces.append("".join(rng.choice(list("ACGT"), size=2000, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])))
    return Genome("toy/chr1", "".join(pieces))


def test_interval_overlap():
    starts, ends = merge_intervals([(50, 60), (10, 20), (15, 30), (30, 40)])
    assert starts.tolist() == [10, 50] and ends.tolist() == [40, 60]
    where = np.array([0, 1, 39, 40, 45, 59, 60])
    assert overlaps_any(starts, ends, where, 10).tolist() == [False, True, True, False, True, True, False]
    assert not overlaps_any(*merge_intervals([]), where, 10).any()


def test_coding_windows_lie_inside_one_cds_on_its_strand_and_are_kept_once():
    genome = _patchy_genome(20_000)
    # two transcripts share a CDS segment, a third one ends it earlier; one segment is on the - strand
    cds = [(1000, 1750, "+"), (1000, 1750, "+"), (950, 1650, "+"), (5020, 5400, "-"), (7000, 7250, "+")]
    windows = coding_windows(genome, cds)
    assert [(e.start, e.strand) for e in windows] == [(s, "+") for s in range(1000, 1500, STRIDE)] + [(5100, "-")]
    for e in windows:
        assert e.label == "1" and e.end - e.start == WIDTH and e.start % STRIDE == 0
        assert any(a <= e.start and e.end <= b and s == e.strand for a, b, s in cds)
        plus = genome.seq[e.start : e.end]
        assert e.sequence == (plus if e.strand == "+" else reverse_complement(plus))


def test_noncoding_windows_overlap_nothing():
    genome = _patchy_genome(20_000)
    occupied = [(1000, 1300), (4000, 9000), (8500, 12000)]
    windows = noncoding_windows(genome, occupied, np.random.default_rng(0))
    starts = {e.start for e in windows}
    assert {700, 1300, 3700, 12000} <= starts and not {800, 1200, 3800, 11800} & starts  # touching is not overlapping
    for e in windows:
        assert e.label == "0" and all(e.end <= a or b <= e.start for a, b in occupied)
        plus = genome.seq[e.start : e.end]
        assert e.sequence == (plus if e.strand == "+" else reverse_complement(plus))
    assert {e.strand for e in windows} == {"+", "-"}


def test_gc_bins_and_matching():
    assert gc_bin("A" * 100) == 0 and gc_bin("G" * 100) == GC_BINS - 1 and gc_bin("ACGT" * 25) == GC_BINS // 2
    assert gc_bin("GC" + "N" * 8) == GC_BINS - 1  # N left out

    def ex(start, gc, label):
        return Example("toy/chr1", start, start + 100, "+", "G" * gc + "A" * (100 - gc), label)

    positives = [ex(i * 100, 60, "1") for i in range(10)] + [ex(1000 + i * 100, 90, "1") for i in range(4)]
    candidates = [ex(5000 + i * 100, 60, "0") for i in range(30)] + [ex(9000, 91, "0"), ex(9100, 10, "0")]
    out = gc_matched(positives, candidates, {s: 100 for s in SPLITS}, np.random.default_rng(0))
    assert Counter((gc_bin(e.sequence), e.label) for e in out) == {(12, "1"): 10, (12, "0"): 10, (18, "1"): 1,
                                                                  (18, "0"): 1}  # fmt: skip


def test_dataset_is_gc_matched_and_balanced_in_every_split(tmp_path):
    genome = _patchy_genome(40 * BLOCK)
    rng = np.random.default_rng(1)
    cds, exons = [], []
    for start in range(3_000, 40 * BLOCK - 5_000, 7_000):
        strand = str(rng.choice(["+", "-"]))
        cds += [(start, start + 900, strand), (start + 2000, start + 2300, strand)]
        exons += [(start - 200, start + 900), (start + 2000, start + 2600)]  # UTRs around the CDS
    sizes = coding_dataset(genome, cds, exons, tmp_path, 'template = "classification"\n', 10_000, 0)
    rows = {s: list(csv.DictReader(gzip.open(tmp_path / f"{s}.csv.gz", "rt"))) for s in SPLITS}
    assert {s: len(r) for s, r in rows.items()} == sizes and all(sizes.values())
    for split, part in rows.items():
        bins = Counter((gc_bin(r["sequence"]), r["label"]) for r in part)
        assert all(bins[b, "1"] == bins[b, "0"] for b in range(GC_BINS))  # so also balanced
        for r in part:
            _, start, end = parse_region(r["region"])
            start -= 1
            assert window_split("toy/chr1", start, end) == split
            if r["label"] == "1":
                assert any(a <= start and end <= b and s == r["strand"] for a, b, s in cds)
            else:
                assert all(end <= a or b <= start for a, b in exons + [(a, b) for a, b, _ in cds])
