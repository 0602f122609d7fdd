"""A linear probe on the frozen GPU-pretrained model against k-mer logistic regression, at the
low-data end of the bench's learning curves.

    python benchmarks/low_data/linear_probe.py 100 promoter-core-human ctcf-human tf-human

For each task and seeds 0-4 it draws the bench's training rows (the same draw as ``dnagpt bench
--max-train N``) and its dev and test splits, and fits the bench's logistic regression (L2 picked on
dev) on three feature sets: the model's mean-pooled hidden states, the 1- to 6-mer frequencies, and
both side by side. Prints test MCC, mean ± sd (figures in ``benchmarks/results/finetune_probe.md``).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from dnagpt.bench.config import BenchConfig
from dnagpt.bench.models import classical_inputs
from dnagpt.bench.runner import make_run
from dnagpt.bench.tasks import load_bench_task
from dnagpt.evaluation.classical import kmer_features, kmer_logistic_regression
from dnagpt.models import load_model
from dnagpt.representations import embed_sequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n_train", type=int, help="training rows drawn per seed")
    parser.add_argument("tasks", nargs="+", help="bench task names")
    parser.add_argument("--model", default="dnagpt-small-multispecies-gpu", help="shipped model name or directory")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.model).eval()
    cfg = BenchConfig(max_train=args.n_train)
    for name in args.tasks:
        task = load_bench_task(name)
        scores: dict[str, list[float]] = {"probe": [], "kmer": [], "probe+kmer": []}
        for seed in range(args.seeds):
            run = make_run(task, "linear-probe", seed, args.n_train, Path("unused"), cfg)
            sequences, labels = classical_inputs(run)
            hidden = [embed_sequences(model, s, batch_size=64, windows=True, precision="bf16") for s in sequences]
            kmers = [kmer_features(s) for s in sequences]
            both = [np.hstack([h, k]) for h, k in zip(hidden, kmers, strict=True)]
            for key, features in (("probe", hidden), ("kmer", kmers), ("probe+kmer", both)):
                scores[key].append(kmer_logistic_regression(*features, *labels)["mcc"])
        summary = {k: f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" for k, v in scores.items()}
        print(name, args.n_train, summary, flush=True)


if __name__ == "__main__":
    main()
