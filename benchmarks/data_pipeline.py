"""Does the data pipeline keep up? Batches made per second against steps the model takes per second.

The trainer times, on its own thread, how long each step spends making its batches (sampling
windows from the memory-mapped genomes, tokenizing, masking) and logs that share of the step as
``data_share`` in ``metrics.jsonl``. This script pretrains each model family at its small shape
for a few dozen steps on the bundled corpus and turns those shares into one ratio per family:
model time per step / batch time per step, that is how many times faster batches are made than
the model consumes them. The goal (issue 16) is at least 10x at the small shape: then batching
costs under a tenth of a step, and a prefetching thread could win back at most that.

    python benchmarks/data_pipeline.py        # writes benchmarks/results/data_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from dnagpt.evaluation.harness import write_results
from dnagpt.training.pretrain import run_pretraining
from dnagpt.training.pretrain_config import load_pretrain_config

RESULTS = Path(__file__).resolve().parent / "results"
# family -> settings on top of the demo recipe (its corpus, windows, batch of 16)
GPN_SHAPE = ["model.config='gpn-small'", "model.n_layer=12", "model.context_length=512"]  # gpn-small-multispecies
SHAPES = {
    "dnagpt": [],  # the demo: 4 x 128, 6-mers, 256 tokens
    "bert": ["model.config='bert-small'"],  # the demo's 4 x 128 on 6-mers, as bert-small-multispecies
    "gpn": [*GPN_SHAPE, "data.min_tokens=350", "data.max_tokens=500"],  # single bases
}


def measure(family: str, steps: int, out: Path) -> dict:
    """Pretrain ``steps`` steps; the medians of the logged shares (the first interval is warm-up)."""
    overrides = [*SHAPES[family], f"train.max_steps={steps}", "train.log_every=5", "train.eval_every=0",
                 f"train.save_every={steps}", "eval.samples=16", "train.progress=false"]  # fmt: skip
    run_pretraining(load_pretrain_config("demo", overrides), out / family)
    records = [json.loads(x) for x in (out / family / "metrics.jsonl").read_text().splitlines()]
    shares = [r["data_share"] for r in records if r["split"] == "train"][1:]
    share = statistics.median(shares)
    config = json.loads((out / family / "config.json").read_text())["model_config"]
    return {
        "shape": {k: config[k] for k in ("n_layer", "d_model", "context_length", "kmer", "vocab_size")},
        "batch_share_of_step": share,
        "batches_faster_than_model": (1 - share) / share,
        "tokens_per_s": statistics.median(r["tokens_per_s"] for r in records if r["split"] == "train"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--families", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--out", type=Path, default=RESULTS / "data_pipeline.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {family: measure(family, args.steps, Path(tmp)) for family in args.families}
    result = {"steps": args.steps, "batch_size": 16, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "goal": "batches made >= 10x faster than the model consumes them", **rows}  # fmt: skip
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
