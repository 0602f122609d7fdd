"""Labelled datasets and corpora built from fetched sources (``dnagpt data build NAME``).

One module per family of tasks; each adds its builders to :data:`DATASETS` here. Every dataset
puts its examples in the split of their block in the held-out registry
(:mod:`dnagpt.data.regions`), balances its classes inside every split, and writes
``train/dev/test.csv.gz`` (with each window's ``region``) and ``task.toml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from ...io import remove_stale_temporaries
from ..sources import cache_root
from .pretraining_corpus import build_corpus_multispecies
from .signals import build_pas_aataaa_human, build_pas_all_human, build_tis_arabidopsis, build_tis_human
from .variants import build_af_human


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is (one line, with how its labels are defined) and the function that builds it."""

    description: str
    build: Callable[[Path], dict[str, int]]
    kind: str = "task"  # "task" (labelled) or "corpus" (pretraining)


DATASETS: dict[str, DatasetInfo] = {
    "tis-arabidopsis": DatasetInfo(
        "translation initiation sites, Arabidopsis TAIR10 chr1: annotated start codons vs other ATGs, 600 bp",
        build_tis_arabidopsis,
    ),
    "tis-human": DatasetInfo(
        "translation initiation sites, human hg19 chr22: GENCODE start codons vs other ATGs, 600 bp", build_tis_human
    ),
    "pas-aataaa-human": DatasetInfo(
        "polyadenylation signals, human chr22: AATAAA within 40 bp of a transcript end vs AATAAA elsewhere, 600 bp",
        build_pas_aataaa_human,
    ),
    "pas-all-human": DatasetInfo(
        "polyadenylation signals, human chr22: 12 hexamer variants near transcript ends vs elsewhere, 600 bp",
        build_pas_all_human,
    ),
    "af-human": DatasetInfo(
        "regression with numbers: African allele frequency of 1000 Genomes chr22 SNPs from 600 bp and the "
        "EUR/ASN/AMR frequencies",
        build_af_human,
    ),
    "corpus-multispecies": DatasetInfo(
        "pretraining corpus: human, mouse, cow, fly, worm, Arabidopsis, E. coli, yeast (about 80 Mbp; "
        "dev/test blocks cut out)",
        build_corpus_multispecies,
        kind="corpus",
    ),
}


def build_dataset(name: str, out: str | Path | None = None) -> tuple[Path, dict[str, int]]:
    """Build dataset ``name`` (see :data:`DATASETS`) into ``out`` (default: CACHE/datasets/NAME);
    returns where it is and the size of each part."""
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    where = Path(out) if out else cache_root() / "datasets" / name
    remove_stale_temporaries(where)  # left by an earlier build that was killed mid-write
    return where, DATASETS[name].build(where)
