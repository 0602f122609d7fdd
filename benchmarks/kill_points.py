"""Kill -9 at random moments: does every resumed run continue bit-identically?

For pretraining (a tiny model with dropout 0.1) and fine-tuning, one uninterrupted run is the
reference; then each trial starts the same command, sends SIGKILL at a moment drawn uniformly
over the reference run's duration, resumes with --resume, and compares every logged training
loss with the reference. A kill that lands after the run has ended is counted apart (it tests
nothing). The test suite checks a few fixed kill points; this draws many random ones.

    python benchmarks/kill_points.py [--trials 10] [--seed 0]

Writes benchmarks/results/kill_points.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dnagpt.io import atomic_write_text

HERE = Path(__file__).resolve().parent
PRETRAIN = """
[model]
config = "dnagpt-tiny"
context_length = 64
dropout = 0.1
[data]
min_tokens = 30
max_tokens = 59
[train]
max_steps = 60
batch_size = 4
lr = 3e-3
warmup_steps = 2
log_every = 1
eval_every = 0
save_every = 3
precision = "fp32"
progress = false
tensorboard = false
[eval]
samples = 16
baseline_bp = 20000
"""
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MKL_DYNAMIC": "FALSE", "MKL_CBWR": "AUTO"}


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dnagpt.cli", *args], env=ENV, check=True, capture_output=True)
    return time.perf_counter() - start


def killed(args: list[str], after: float) -> bool:
    """Start the command, SIGKILL it ``after`` seconds later; True when it was still running."""
    proc = subprocess.Popen([sys.executable, "-m", "dnagpt.cli", *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        proc.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def losses(run_dir: Path) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]


def trials(name: str, command: list[str], work: Path, n: int, rng: random.Random) -> dict:
    duration = run([*command, "--out", str(work / f"{name}-reference")])
    reference = losses(work / f"{name}-reference")
    outcomes = []
    for i in range(n):
        out = work / f"{name}-{i}"
        moment = rng.uniform(0.0, duration)
        landed = killed([*command, "--out", str(out)], moment)
        if landed and not (out / "checkpoint.pt").exists():
            run([*command, "--out", str(out)])  # killed before its first checkpoint: nothing to resume
        else:
            run([*command, "--out", str(out), "--resume"])
        outcomes.append(dict(kill_after_s=round(moment, 2), landed=landed, identical=losses(out) == reference))
        print(name, outcomes[-1], flush=True)
    landed = [o for o in outcomes if o["landed"]]
    return dict(reference_seconds=round(duration, 1), trials=outcomes, kills_landed=len(landed),
                identical_continuations=sum(o["identical"] for o in landed))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "kill_points.json"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ENV["DNAGPT_CACHE"] = str(work / "cache")
        (work / "tiny.toml").write_text(PRETRAIN)
        pretrain = ["pretrain", str(work / "tiny.toml"), "--no-progress"]
        data = random.Random(0)
        rows = [f"{''.join(data.choice('ACGT') for _ in range(60))},{i % 2}" for i in range(96)]
        (work / "train.csv").write_text("sequence,label\n" + "\n".join(rows[:72]) + "\n")
        (work / "dev.csv").write_text("sequence,label\n" + "\n".join(rows[72:]) + "\n")
        (work / "task.json").write_text(json.dumps({"template": "classification", "species": "human",
                                                    "labels": {"1": "A", "0": "N"}}))  # fmt: skip
        finetune = ["finetune", "dnagpt-tiny", str(work / "task.json"), "--from-scratch", "--train",
                    str(work / "train.csv"), "--dev", str(work / "dev.csv"), "--epochs", "8", "--batch-size", "4",
                    "--lr", "1e-3", "--checkpoint-every", "3", "--patience", "0", "--no-progress"]  # fmt: skip
        result = dict(pretraining=trials("pretrain", pretrain, work, args.trials, rng),
                      finetuning=trials("finetune", finetune, work, args.trials, rng))  # fmt: skip
    atomic_write_text(args.out, json.dumps(result, indent=1))
    for name, r in result.items():
        print(f"{name}: {r['kills_landed']} kills landed, {r['identical_continuations']} identical continuations")


if __name__ == "__main__":
    main()
