"""``species``: which species does this 300 bp stretch of genome come from?

The label of a window is the Latin name of the species whose genome it was cut from, and its answer
token is that species' instruction token of the tokenizer (:data:`~dnagpt.tokenizers.SPECIES_TOKENS`):

=========================  =====  =============================================================
label                      token  genome (source of :mod:`dnagpt.data.sources`)
=========================  =====  =============================================================
Homo sapiens               R      hg19 chr22, human rows of the primate alignment (hg19-chr22-primates)
Drosophila melanogaster    O      dm3 chr2R (augustus-genomes)
Caenorhabditis elegans     K      ce2 chrX (worm-chrX)
Arabidopsis thaliana       I      TAIR10 chr1 (arabidopsis-chr1)
Escherichia coli           Q      K-12 MG1655, whole genome (bacteria)
=========================  =====  =============================================================

These are the genomes of the pretraining corpus (:data:`~dnagpt.data.datasets.pretraining_corpus.CORPUS`),
read the same way, so every window's region names the sequence the corpus and the held-out registry
use. Windows are drawn uniformly at random among the non-overlapping 300 bp tiles of each 20 kb
block (tiles start at a random phase in every block, so no window straddles two blocks and no two
windows overlap); windows with more than 5 % unknown bases (N) are left out, and each window is read
on a strand drawn at random. The task file gives no species token before the sequence (that would
give the answer away); the model must tell the species from the bases alone. Classes are balanced
inside every split.

Yeast (Saccharomyces cerevisiae, chrI, 230 kb), the ninth genome of the corpus, is left out: its 12
blocks hold only 429 / 132 / 198 train / dev / test tiles, too few for the 1,800 / 450 / 750 per
class of the default dataset, and every other species would be cut down to yeast's size. Mouse and
cow (short pieces of mm10 and bosTau8) are not among the species asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...tokenizers import SPECIES_TOKENS
from ..regions import BLOCK, SPLITS
from ..sources import SOURCES, fetch
from .common import Example, Genome, reverse_complement, task_toml, write_dataset
from .pretraining_corpus import CORPUS, genome_pieces

WIDTH = 300  # bases per window
# species -> source of its genome in the pretraining corpus (the file pattern is CORPUS's)
SPECIES: dict[str, str] = {
    "Homo sapiens": "hg19-chr22-primates",
    "Drosophila melanogaster": "augustus-genomes",
    "Caenorhabditis elegans": "worm-chrX",
    "Arabidopsis thaliana": "arabidopsis-chr1",
    "Escherichia coli": "bacteria",
}
LABELS = {species: SPECIES_TOKENS[species] for species in SPECIES}  # label -> answer token

SPECIES_LABELS = (
    "label = the Latin name of the species whose genome the 300 bp window was cut from (answer = its species "
    "token): Homo sapiens (R, hg19 chr22), Drosophila melanogaster (O, dm3 chr2R), Caenorhabditis elegans "
    "(K, ce2 chrX), Arabidopsis thaliana (I, TAIR10 chr1), Escherichia coli (Q, K-12 MG1655); windows drawn "
    "uniformly at random from non-overlapping tiles, at most 5 % N, each read on a random strand; no species "
    "token in the prompt; yeast left out (chrI too short for every split)"
)

SPECIES_TASK = task_toml("species", "", f"Species of origin: {SPECIES_LABELS}.", LABELS)  # no species token

_TO_ACGTN = str.maketrans({c: "N" for c in "RYSWKMBDHVU"})  # IUPAC ambiguity codes count as unknown


def assemble(pieces: Iterable[tuple[str, int, str]]) -> list[Genome]:
    """One :class:`Genome` per sequence name of ``(SOURCE/SEQUENCE, 0-based offset, bases)`` pieces,
    with the pieces at their offsets and N between them (an alignment's gaps stay unknown)."""
    by_name: dict[str, list[tuple[int, str]]] = {}
    for name, offset, bases in pieces:
        by_name.setdefault(name, []).append((offset, bases))
    genomes = []
    for name in sorted(by_name):
        parts = by_name[name]
        seq = bytearray(b"N" * max(offset + len(bases) for offset, bases in parts))
        for offset, bases in parts:
            seq[offset : offset + len(bases)] = bases.upper().translate(_TO_ACGTN).encode()
        genomes.append(Genome(name, seq.decode()))
    return genomes


def tile_starts(length: int, rng: np.random.Generator, width: int = WIDTH, block: int = BLOCK) -> np.ndarray:
    """Starts of the non-overlapping ``width``-base tiles of a ``length``-base sequence: each block of
    ``block`` bases holds ``block // width`` tiles, shifted by a random phase of its own, so every base
    of a block can be covered and no tile straddles two blocks."""
    per_block = block // width
    spare = block - per_block * width  # bases of a block no tile covers, placed at random
    n_blocks = -(-length // block)
    phases = rng.integers(spare + 1, size=n_blocks)
    starts = (np.arange(n_blocks) * block + phases)[:, None] + width * np.arange(per_block)[None, :]
    starts = starts.ravel()
    return starts[starts + width <= length]


def species_windows(
    genomes: list[Genome], label: str, per_split: int, rng: np.random.Generator, width: int = WIDTH
) -> list[Example]:
    """Up to ``per_split`` windows of every split, drawn at random among the tiles of ``genomes``
    (:func:`tile_starts`) that have few enough N, each on a random strand, labelled ``label``."""
    tiles = [(g, int(s)) for g in genomes for s in tile_starts(len(g.seq), rng, width)]
    taken: dict[str, list[Example]] = {split: [] for split in SPLITS}
    for i in rng.permutation(len(tiles)):
        genome, start = tiles[i]
        bases = genome.window(start, start + width)
        if bases is None:
            continue
        e = Example(genome.name, start, start + width, "+", bases, label)
        if e.split is None or len(taken[e.split]) >= per_split:
            continue
        if rng.random() < 0.5:
            e = Example(genome.name, start, start + width, "-", reverse_complement(bases), label)
        taken[e.split].append(e)
        if all(len(v) >= per_split for v in taken.values()):
            break
    return [e for split in SPLITS for e in taken[split]]


def species_examples(genomes: dict[str, list[Genome]], per_split: int, seed: int) -> list[Example]:
    """Windows of every species (``label -> its genomes``), up to ``per_split`` of each split each."""
    rng = np.random.default_rng(seed)
    return [e for label in sorted(genomes) for e in species_windows(genomes[label], label, per_split, rng)]


def species_genomes(species: str) -> list[Genome]:
    """The genomes of ``species`` in the pretraining corpus, read from its fetched source."""
    source = SPECIES[species]
    patterns = [p for s, src, p in CORPUS if s == species and src == source]
    if len(patterns) != 1:
        raise DataError(f"species {species}: the pretraining corpus has {len(patterns)} files from source {source}")
    where = fetch(SOURCES[source])
    files = sorted(p for p in where.rglob("*") if p.is_file() and p.match(patterns[0]))
    if not files:
        raise DataError(f"source {source}: no file matches {patterns[0]}")
    return assemble(piece for path in files for piece in genome_pieces(source, path))


def build_species(out_dir: Path, per_class: int = 3000, seed: int = 0) -> dict[str, int]:
    """Species of origin of 300 bp windows: human, fly, worm, Arabidopsis and E. coli."""
    genomes = {species: species_genomes(species) for species in SPECIES}
    examples = species_examples(genomes, per_class, seed)  # more than any split keeps; write_dataset caps
    return write_dataset(out_dir, examples, SPECIES_TASK, seed, per_class=per_class)


DATASETS: dict[str, tuple[str, Callable[..., dict[str, int]]]] = {
    "species": (
        "species of origin of 300 bp windows: label = Latin name (human chr22, fly chr2R, worm chrX, "
        "Arabidopsis chr1, E. coli), answer = its species token",
        build_species,
    ),
}
