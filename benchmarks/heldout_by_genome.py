"""Held-out next-token loss of shipped DNAGPT models on every genome of their corpus, beside the
best order-k Markov model of that genome.

Pretraining evaluates 512 windows drawn across the whole corpus, in proportion to each genome's
held-out length, so a genome with a few kb held out (mouse and cow in ``corpus-multispecies``)
may draw none. Here every genome gets its own windows: for each ``[[genome]]`` of the manifest a
one-genome corpus is built (the same held-out regions: the last 10 % of every record), and the
models and the Markov models (fitted on that genome's training regions, order picked on these
windows, which favours the baseline) score the same ``--samples`` windows. A genome with little
held out is scored on overlapping windows of the same few kb: ``heldout_bp`` says how much.

    python benchmarks/heldout_by_genome.py   # -> benchmarks/results/heldout_by_genome.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import torch

from dnagpt import DNAGPT
from dnagpt.bench.harness import write_results
from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.data.sources import cache_root
from dnagpt.errors import DataError
from dnagpt.models.checkpoint import resolve_model_path
from dnagpt.training.pretrain import PretrainTask
from dnagpt.training.pretrain_config import load_pretrain_config
from dnagpt.training.pretrain_samples import PretrainSampler

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ["dnagpt-small-multispecies", "dnagpt-small-multispecies-gpu"]


def one_genome_manifest(manifest: Path, index: int, folder: Path) -> Path:
    """A manifest holding only genome ``index`` of ``manifest`` (its file by absolute path)."""
    entry = read_manifest(manifest)[index]
    path = folder / f"genome{index}.toml"
    path.write_text(f'[[genome]]\npath = "{entry.path.resolve()}"\nspecies = "{entry.species}"\n')
    return path


def gc_scale(name: str) -> tuple[float, float]:
    """The GC standardisation a model (shipped name or directory) was pretrained with (its ``pretraining.json``)."""
    scale = json.loads((resolve_model_path(name) / "pretraining.json").read_text())["gc_standardization"]
    return scale["mean"], scale["std"]


def evaluate_genome(
    manifest: Path, models: dict[str, DNAGPT], scales: dict[str, tuple[float, float]], samples: int
) -> dict:
    """Every model's and the Markov model's bits per base on ``samples`` held-out windows."""
    cfg = load_pretrain_config("demo", [f"data.manifest={manifest}", f"eval.samples={samples}"])
    some = next(iter(models.values()))
    tok = some.config.tokenizer()
    corpus = Corpus(read_manifest(manifest), cache_root() / "genomes", window_bp=cfg.data.max_tokens * tok.k)
    sampler = PretrainSampler(corpus, tok, cfg.data.min_tokens, cfg.data.max_tokens, cfg.data.reverse_prob, seed=0)
    task = PretrainTask(sampler, cfg)
    heldout_bp = sum(r.length for r in corpus.regions["valid"])
    row: dict = {"file": corpus.entries[0].path.name, "species": corpus.entries[0].species, "heldout_bp": heldout_bp}
    for name, model in models.items():
        task.gc_mean, task.gc_std = scales[name]  # the model's own GC scale
        with torch.no_grad():
            result = task.evaluate(model, torch.device("cpu"), torch.autocast("cpu", enabled=False))
        (species,) = result["species"].values()
        row[name] = species["model_bits_per_base"]
        row["markov_bits_per_base"], row["markov_order"] = species["markov_bits_per_base"], species["markov_order"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--manifest",
        type=Path,
        default=cache_root() / "datasets/corpus-multispecies/manifest.toml",
        help="the corpus the models were pretrained on (dnagpt data build corpus-multispecies)",
    )
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--samples", type=int, default=256, help="held-out windows per genome")
    parser.add_argument("--out", type=Path, default=RESULTS / "heldout_by_genome.json")
    args = parser.parse_args()
    if not args.manifest.is_file():
        print(f"{args.manifest}: no such manifest; run `dnagpt data build corpus-multispecies` first", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    models = {name: DNAGPT.from_pretrained(name).eval() for name in args.models}
    scales = {name: gc_scale(name) for name in args.models}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(len(read_manifest(args.manifest))):
            try:
                row = evaluate_genome(one_genome_manifest(args.manifest, i, Path(tmp)), models, scales, args.samples)
            except DataError as e:  # e.g. no held-out region long enough for a window
                row = {"genome": i, "skipped": str(e)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    scored = [r for r in rows if "skipped" not in r]
    beats = {m: sum(bool(r[m] < r["markov_bits_per_base"]) for r in scored) for m in args.models}
    write_results({"samples_per_genome": args.samples, "genomes": rows, "genomes_scored": len(scored),
                   "model_below_markov": beats,
                   "mean_gap_bits": {m: math.fsum(r[m] - r["markov_bits_per_base"] for r in scored) / len(scored)
                                     for m in args.models}}, args.out)  # fmt: skip
    for m, n in beats.items():
        print(f"{m}: below the best Markov model on {n} of {len(scored)} genomes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
