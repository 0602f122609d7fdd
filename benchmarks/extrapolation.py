"""Length extrapolation: decoders trained at a context of N tokens, read at 2N and 4N.

Three DNAGPT decoders of the demo shape (4 layers x 128) differ only in how attention knows
positions: learned embeddings (as published), rotary (RoPE) and ALiBi. Each is pretrained with
the paper's three tasks for the same steps on the same windows (seed 0) of the multi-species
corpus (`dnagpt data build corpus-multispecies`) at N tokens, then its next-token loss is measured
at every position of 64 held-out windows of 4N tokens. Learned positions stop at N (past it the
model refuses the input); a flat curve past N extrapolates, a climbing one does not.

    python benchmarks/extrapolation.py [--steps 1500] [--context 128] [--runs runs/extrapolation]

Writes benchmarks/results/extrapolation.json and benchmarks/results/extrapolation.png. A killed run
continues where it stopped (each pretraining resumes from its checkpoint).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np

from dnagpt.bench.harness import write_results
from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.data.datasets import build_dataset
from dnagpt.data.sources import cache_root
from dnagpt.device import describe_machine
from dnagpt.evaluation.extrapolation import extrapolation_figure, loss_by_position
from dnagpt.models import load_model
from dnagpt.training.pretrain import run_pretraining
from dnagpt.training.pretrain_config import load_pretrain_config

HERE = Path(__file__).resolve().parent
POSITIONS = ("learned", "rope", "alibi")
EXTRA = 5  # the pretraining layout's task tokens around the window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="pretraining steps of each model")
    parser.add_argument("--context", type=int, default=128, help="N: the training context in tokens")
    parser.add_argument("--windows", type=int, default=64, help="held-out windows of 4N tokens")
    parser.add_argument("--runs", default="runs/extrapolation", help="where the three pretraining runs live")
    args = parser.parse_args()
    manifest = build_dataset("corpus-multispecies")[0] / "manifest.toml"
    n = args.context
    curves, summary, seconds = {}, {}, {}
    for positions in POSITIONS:
        run = Path(args.runs) / positions
        overrides = [f"data.manifest={manifest}", f"model.positions={positions}", f"model.context_length={n}",
                     f"data.max_tokens={n - EXTRA}", f"data.min_tokens={int(0.7 * (n - EXTRA))}",
                     f"train.max_steps={args.steps}", "train.eval_every=0", "train.progress=false",
                     "train.tensorboard=false"]  # fmt: skip
        began = time.perf_counter()
        if not (run / "model" / "model.safetensors").is_file():
            run_pretraining(load_pretrain_config("demo", overrides), run, resume=(run / "checkpoint.pt").is_file())
        seconds[positions] = time.perf_counter() - began
        model = load_model(run / "model")
        reach = n if positions == "learned" else 4 * n
        tok = model.tokenizer()
        window_bp = math.ceil(4 * n * tok.bases_per_token)
        corpus = Corpus(read_manifest(manifest), cache_root() / "genomes", window_bp=window_bp, valid_fraction=0.1)
        curve = loss_by_position(model, corpus, reach, windows=args.windows, seed=0)  # entry i: input position i
        curves[f"{positions} positions"] = curve
        bands = {"1..N": curve[:n], "N+1..2N": curve[n : 2 * n], "2N+1..4N": curve[2 * n :]}
        summary[positions] = {k: float(np.mean(v)) if len(v) else None for k, v in bands.items()}
        print(positions, {k: (round(v, 3) if v is not None else None) for k, v in summary[positions].items()})
    figure = extrapolation_figure(curves, n, HERE / "results" / "extrapolation.png")
    result = {
        "command": f"python benchmarks/extrapolation.py --steps {args.steps} --context {n} --windows {args.windows}",
        "context_tokens": n,
        "steps": args.steps,
        "mean_next_token_loss_nats": summary,
        "figure": figure.name,
        "pretraining_seconds_this_run": seconds,
        "machine": f"{describe_machine()}, {platform.system()}",
    }
    write_results(result, HERE / "results" / "extrapolation.json")


if __name__ == "__main__":
    main()
