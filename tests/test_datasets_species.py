"""The species dataset on synthetic genomes: labels follow the genome a window was cut from, windows
tile each block without overlap, classes are balanced, and the answers are the species tokens."""

from __future__ import annotations

import csv
import gzip
import itertools

import numpy as np

from dnagpt.data.datasets.common import MAX_N_FRACTION, Genome, reverse_complement, write_dataset
from dnagpt.data.datasets.pretraining_corpus import CORPUS
from dnagpt.data.datasets.species import (
    DATASETS,
    LABELS,
    SPECIES,
    SPECIES_TASK,
    WIDTH,
    assemble,
    species_examples,
    species_windows,
    tile_starts,
)
from dnagpt.data.regions import BLOCK, SPLITS, parse_region, window_split
from dnagpt.tasks.codec import TaskCodec
from dnagpt.tasks.spec import TaskSpec
from dnagpt.tokenizers import SPECIES_TOKENS, KmerTokenizer


def random_genome(name: str, length: int, gc: float, rng: np.random.Generator) -> Genome:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return Genome(name, "".join(rng.choice(list("ACGT"), size=length, p=p)))


def test_assemble_places_pieces_at_their_offsets_with_unknown_gaps():
    pieces = [("maf/chr22", 10, "acgt"), ("maf/chr22", 0, "GGR"), ("fa/chrX", 0, "TTAA")]
    fa, maf = assemble(pieces)
    assert (fa.name, fa.seq) == ("fa/chrX", "TTAA")
    assert maf.name == "maf/chr22" and maf.seq == "GGN" + "N" * 7 + "ACGT"  # upper case, IUPAC -> N


def test_tiles_cover_each_block_without_overlap_or_straddling():
    rng = np.random.default_rng(0)
    length = 7 * BLOCK + 4321
    starts = tile_starts(length, rng)
    assert np.all(np.diff(starts) >= WIDTH) and starts[0] >= 0 and starts[-1] + WIDTH <= length
    assert all(s // BLOCK == (s + WIDTH - 1) // BLOCK for s in starts.tolist())
    per_block = np.bincount(starts // BLOCK)
    assert per_block[:7].tolist() == [BLOCK // WIDTH] * 7 and per_block[7] <= 4321 // WIDTH
    assert len({s % BLOCK for s in starts.tolist() if s % BLOCK < WIDTH}) > 1  # phases differ between blocks


def test_species_windows_stop_at_per_split_and_skip_unknown_bases():
    rng = np.random.default_rng(1)
    g = random_genome("src/chr1", 30 * BLOCK, 0.4, rng)
    seq = list(g.seq)
    seq[: 10 * BLOCK] = "N" * (10 * BLOCK)  # a third of the chromosome unknown
    g = Genome(g.name, "".join(seq))
    windows = species_windows([g], "Homo sapiens", 25, rng)
    counts = {s: sum(e.split == s for e in windows) for s in SPLITS}
    assert all(0 < c <= 25 for c in counts.values())
    assert all(e.start >= 10 * BLOCK - WIDTH and e.sequence.count("N") <= MAX_N_FRACTION * WIDTH for e in windows)


def test_species_dataset_labels_follow_the_genome_of_each_window(tmp_path):
    rng = np.random.default_rng(2)
    genomes = {
        "Homo sapiens": [random_genome("hg/chr22", 40 * BLOCK, 0.42, rng)],
        "Escherichia coli": [random_genome("bac/K12", 30 * BLOCK, 0.51, rng)],
        "Caenorhabditis elegans": [random_genome("worm/chrX", 20 * BLOCK, 0.35, rng),
                                   random_genome("worm/chrV", 20 * BLOCK, 0.35, rng)],
    }  # fmt: skip
    by_name = {g.name: (label, g) for label, gs in genomes.items() for g in gs}
    examples = species_examples(genomes, per_split=400, seed=0)
    sizes = write_dataset(tmp_path, examples, SPECIES_TASK, 0, per_class=3000)
    rows = {s: list(csv.DictReader(gzip.open(tmp_path / f"{s}.csv.gz", "rt"))) for s in SPLITS}
    assert {s: len(r) for s, r in rows.items()} == sizes and all(sizes.values())
    seen = set()
    for split, part in rows.items():
        counts = {label: sum(r["label"] == label for r in part) for label in genomes}
        assert len(set(counts.values())) == 1 and min(counts.values()) > 0  # balanced inside every split
        for r in part:
            name, first, last = parse_region(r["region"])
            start, end = first - 1, last
            label, genome = by_name[name]
            assert r["label"] == label  # the species whose genome the window was cut from
            assert end - start == WIDTH and window_split(name, start, end) == split
            plus = genome.seq[start:end]
            assert r["sequence"] == (plus if r["strand"] == "+" else reverse_complement(plus))
            seen.add((name, start))
    starts = sorted(seen)  # no two windows overlap
    assert all(a[0] != b[0] or b[1] - a[1] >= WIDTH for a, b in itertools.pairwise(starts))
    strands = {r["strand"] for part in rows.values() for r in part}
    assert strands == {"+", "-"}
    again = species_examples(genomes, per_split=400, seed=0)
    assert again == examples  # the same seed draws the same windows


def test_answers_are_the_species_tokens_and_the_prompt_names_no_species(tmp_path):
    assert LABELS == {species: SPECIES_TOKENS[species] for species in SPECIES}
    assert "Saccharomyces cerevisiae" not in LABELS  # yeast chrI is too short for every split
    (tmp_path / "task.toml").write_text(SPECIES_TASK)
    spec = TaskSpec.load(tmp_path / "task.toml")
    assert spec.labels == LABELS and spec.species == ""  # a species token would give the answer away
    assert spec.text("ACGT").startswith("ACGT")
    codec = TaskCodec(spec, KmerTokenizer(), context=256)
    assert len(set(codec.label_ids)) == len(LABELS)
    assert all(label in SPECIES_TASK.splitlines()[0] for label in LABELS)
    assert set(DATASETS) == {"species"} and callable(DATASETS["species"][1])


def test_every_species_is_read_from_its_pretraining_corpus_source():
    for species, source in SPECIES.items():
        assert sum(s == species and src == source for s, src, _ in CORPUS) == 1
