"""Does the data pipeline keep up? Batches made per second against steps the model takes per second.

The trainer times, on its own thread, how long each step spends making its batches (sampling
windows from the memory-mapped genomes, tokenizing, masking) and logs that share of the step as
``data_share`` in ``metrics.jsonl``. This script pretrains each model family at its small shape
for a few dozen steps on the bundled corpus and turns those shares into one ratio per family:
model time per step / batch time per step, that is how many times faster batches are made than
the model consumes them. The goal (issue 16) is at least 10x at the small shape: then batching
costs under a tenth of a step.

Each family is also run with the trainer's prefetching thread (``train.prefetch``; by default on
a GPU only), alternating with inline runs, and the tokens/s of the two are compared.
A narrow ConvNet (2 blocks x 32) is added where the model is cheap enough for batching to
matter, as it did for the GPU pretraining (README, Benchmarks).

    python benchmarks/data_pipeline.py        # writes benchmarks/results/data_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from dnagpt.bench.harness import write_results
from dnagpt.device import describe_machine
from dnagpt.training.pretrain import run_pretraining
from dnagpt.training.pretrain_config import load_pretrain_config

RESULTS = Path(__file__).resolve().parent / "results"
# family -> settings on top of the demo recipe (its corpus, windows, batch of 16)
GPN_SHAPE = ["model.config='gpn-small'", "model.n_layer=12", "model.context_length=512"]  # gpn-small-multispecies
SHAPES = {
    "dnagpt": [],  # the demo: 4 x 128, 6-mers, 256 tokens
    "bert": ["model.config='bert-small'"],  # the demo's 4 x 128 on 6-mers, as bert-small-multispecies
    "gpn": [*GPN_SHAPE, "data.min_tokens=350", "data.max_tokens=500"],  # single bases
    # a model cheap enough for batching to be a real share of the step, as on a GPU
    "gpn-narrow": [*GPN_SHAPE, "model.n_layer=2", "model.d_model=32", "data.min_tokens=350", "data.max_tokens=500"],
}


def run(family: str, steps: int, out: Path, prefetch: bool) -> tuple[float, float, dict]:
    """Pretrain ``steps`` steps: the median logged batch share and the tokens/s between the first
    and the last log line (the first interval, warm-up, left out), and the model's shape."""
    overrides = [*SHAPES[family], f"train.max_steps={steps}", "train.log_every=5", "train.eval_every=0",
                 f"train.save_every={steps}", "eval.samples=16", "train.progress=false",
                 f"train.prefetch={str(prefetch).lower()}"]  # fmt: skip
    run_dir = out / f"{family}-{'prefetch' if prefetch else 'inline'}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_pretraining(load_pretrain_config("demo", overrides), run_dir)
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    first, last = train[0], train[-1]
    tokens = last["tokens_per_s"] * last["elapsed_s"] - first["tokens_per_s"] * first["elapsed_s"]
    rate = tokens / (last["elapsed_s"] - first["elapsed_s"])
    config = json.loads((run_dir / "config.json").read_text())["model_config"]
    shape = {k: config[k] for k in ("n_layer", "d_model", "context_length", "kmer", "vocab_size")}
    return statistics.median(r["data_share"] for r in train[1:]), rate, shape


def measure(family: str, steps: int, out: Path, repeats: int) -> dict:
    """Batching inline against the model's step, and the same runs with prefetching, alternated
    ``repeats`` times (medians), so that a warming page cache or a busy moment hits both alike."""
    inline, prefetched = [], []
    for _ in range(repeats):
        inline.append(run(family, steps, out, prefetch=False))
        prefetched.append(run(family, steps, out, prefetch=True))
    share = statistics.median(r[0] for r in inline)
    inline_rate = statistics.median(r[1] for r in inline)
    prefetch_rate = statistics.median(r[1] for r in prefetched)
    return {
        "shape": inline[0][2],
        "batch_share_of_step": share,
        "batches_faster_than_model": (1 - share) / share,
        "tokens_per_s": inline_rate,
        "prefetch": {
            "tokens_per_s": prefetch_rate,
            "speedup": prefetch_rate / inline_rate,
            "share_of_step_waiting_for_batches": statistics.median(r[0] for r in prefetched),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2, help="inline and prefetching runs, alternated")
    parser.add_argument("--families", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--out", type=Path, default=RESULTS / "data_pipeline.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = {family: measure(family, args.steps, Path(tmp), args.repeats) for family in args.families}
    result = {"steps": args.steps, "repeats": args.repeats, "batch_size": 16, "threads": torch.get_num_threads(),
              "machine": describe_machine(), "torch": torch.__version__,
              "goal": "batches made >= 10x faster than the model consumes them", **rows}  # fmt: skip
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
