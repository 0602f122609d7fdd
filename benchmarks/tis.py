"""Translation initiation sites (Arabidopsis, held-out chromosome blocks): does pretraining help?

Compares, on the same test windows:
  (a) the pretrained model (default: the README's demo run, runs/demo/model) fine-tuned,
  (b) the same architecture fine-tuned from random weights,
  (c) logistic regression on k-mer counts (k = 1..6), its L2 strength picked on dev.

    python benchmarks/tis.py [--pretrained runs/demo/model] [--epochs 5]
writes benchmarks/results/tis.json and prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dnagpt import DNAGPT
from dnagpt.evaluation.metrics import classification_metrics
from dnagpt.tasks.finetune import evaluate_examples, load_task_head, run_finetuning
from dnagpt.tasks.spec import TaskSpec, build_examples
from dnagpt.tasks.tables import read_table
from dnagpt.training.trainer import TrainConfig

DATA = Path(__file__).resolve().parents[1] / "src" / "dnagpt" / "datasets" / "tis_arabidopsis"
RESULTS = Path(__file__).resolve().parent / "results"


def kmer_features(sequences: list[str], ks=(1, 2, 3, 4, 5, 6)) -> np.ndarray:
    """Overlapping k-mer frequencies (each k normalised to sum to 1), concatenated."""
    lut = np.full(256, 4, dtype=np.int64)
    for i, b in enumerate(b"ACGT"):
        lut[b] = i
    blocks = []
    for k in ks:
        feats = np.zeros((len(sequences), 4**k))
        for row, s in enumerate(sequences):
            x = lut[np.frombuffer(s.encode(), dtype=np.uint8)]
            idx = np.zeros(len(x) - k + 1, dtype=np.int64)
            valid = np.ones(len(x) - k + 1, dtype=bool)
            for j in range(k):
                part = x[j : len(x) - k + 1 + j]
                valid &= part < 4
                idx = idx * 4 + np.minimum(part, 3)
            counts = np.bincount(idx[valid], minlength=4**k)
            feats[row] = counts / max(counts.sum(), 1)
        blocks.append(feats)
    return np.hstack(blocks)


def logistic_regression(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 400, lr: float = 0.05) -> np.ndarray:
    """Weights (bias last) of L2-regularised logistic regression, full-batch Adam on standardised features."""
    w = np.zeros(x.shape[1] + 1)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    xb = np.hstack([x, np.ones((len(x), 1))])
    for t in range(1, steps + 1):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) / len(y) + l2 * np.r_[w[:-1], 0.0]
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return w


def kmer_baseline(train, dev, test) -> dict:
    xs = [kmer_features([r["sequence"] for r in part]) for part in (train, dev, test)]
    ys = [np.array([int(r["label"]) for r in part]) for part in (train, dev, test)]
    mean, std = xs[0].mean(0), xs[0].std(0) + 1e-6
    xs = [(x - mean) / std for x in xs]
    best = None
    for l2 in (1e-1, 1e-2, 1e-3, 1e-4):
        w = logistic_regression(xs[0], ys[0], l2)
        dev_scores = np.hstack([xs[1], np.ones((len(xs[1]), 1))]) @ w
        acc = float(((dev_scores > 0) == ys[1]).mean())
        if best is None or acc > best[0]:
            best = (acc, l2, w)
    _, l2, w = best
    scores = np.hstack([xs[2], np.ones((len(xs[2]), 1))]) @ w
    return classification_metrics(ys[2], (scores > 0).astype(int), scores) | {"l2": l2}


def finetune(model: DNAGPT, spec, train, dev, test, out: Path, args) -> dict:
    cfg = TrainConfig(max_steps=1, batch_size=args.batch_size, grad_accum=1, lr=args.lr, warmup_steps=0,
                      seed=args.seed, eval_every=0, save_every=10_000, patience=args.patience, progress=False,
                      tensorboard=False, precision="auto")  # fmt: skip
    cfg.warmup_steps = max(1, len(train) // args.batch_size)  # one epoch, as in the paper
    start = time.perf_counter()
    run_finetuning(model, spec, train, dev, cfg, out, args.epochs, device="cpu")
    best = DNAGPT.from_pretrained(out / "best")
    head = load_task_head(out / "best", best)
    scores = evaluate_examples(head, best, test, torch.device("cpu"), contextlib.nullcontext())
    return scores | {"seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", default="runs/demo/model", help="pretrained model directory")
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/tis-benchmark"))
    parser.add_argument("--out", type=Path, default=RESULTS / "tis.json")
    args = parser.parse_args()
    spec = TaskSpec.load(DATA / "task.toml")
    tables = {s: read_table(DATA / f"{s}.csv.gz") for s in ("train", "dev", "test")}
    examples = {s: build_examples(spec, rows, f"{s}.csv.gz") for s, rows in tables.items()}
    results = {"data": {s: len(v) for s, v in examples.items()}}
    results["kmer_logistic_regression"] = kmer_baseline(tables["train"], tables["dev"], tables["test"])
    print("k-mer LR", json.dumps(results["kmer_logistic_regression"]), flush=True)
    pretrained = DNAGPT.from_pretrained(args.pretrained)
    torch.manual_seed(args.seed)
    scratch = DNAGPT(pretrained.config)
    for name, model in (("dnagpt_pretrained_finetuned", pretrained), ("dnagpt_from_scratch", scratch)):
        results[name] = finetune(model, spec, examples["train"], examples["dev"], examples["test"],
                                 args.work / name, args)  # fmt: skip
        print(name, json.dumps(results[name]), flush=True)
    results["settings"] = {k: str(v) for k, v in vars(args).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'model':32s} {'acc':>6s} {'f1':>6s} {'mcc':>6s} {'prec':>6s} {'recall':>6s} {'auroc':>6s}")
    for name in ("dnagpt_pretrained_finetuned", "dnagpt_from_scratch", "kmer_logistic_regression"):
        r = results[name]
        print(f"{name:32s} {r['accuracy']:6.3f} {r['f1']:6.3f} {r['mcc']:6.3f} {r['precision']:6.3f} "
              f"{r['recall']:6.3f} {r['auroc']:6.3f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
