"""Pretrain the shipped DNAGPT shape on a GPU for a fixed wall-clock budget, then pack the model to travel.

The shipped ``dnagpt-small-multispecies`` was pretrained for 22 CPU minutes (2.2e14 model FLOPs).
This runs the same recipe (``pretrain demo`` on ``corpus-multispecies``, the paper's three tasks)
on a GPU at a larger batch for as many steps as fit in ``--seconds``: a short calibration run
measures the step rate first, so that the learning-rate schedule ends where the run ends instead
of being cut off by a timeout. The model comes back as two safetensors halves (files over 16 MiB
do not travel) that ``--join`` puts back together on the CPU side, where ``dnagpt bench`` scores it.

    # on the GPU machine (corpus built here with `dnagpt data build corpus-multispecies`, copied to .gpu/corpus)
    python benchmarks/gpu_pretrain.py --manifest .gpu/corpus/manifest.toml --seconds 330 --pack $OUT
    # back on the CPU side
    python benchmarks/gpu_pretrain.py --join FILES_DIR --out benchmarks/gpu_pretrain/model
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from safetensors.torch import load_file, save_file

META = ("config.json", "pretraining.json", "tokenizer.json", "MODEL_CARD.md")


def pretrain(run: Path, manifest: str, steps: int, batch: int, device: str, extra: list[str]) -> float:
    """Run ``dnagpt pretrain demo`` for ``steps`` steps into ``run``; return its wall time."""
    cmd = [sys.executable, "-m", "dnagpt.cli", "pretrain", "demo", "--out", str(run), "--device", device,
           "--no-progress", "--max-steps", str(steps), "--set", f"data.manifest={manifest}",
           "--set", f"train.batch_size={batch}", *extra]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def tokens_per_s(run: Path) -> float:
    """The median training rate the run logged (tokens per second)."""
    rates = [r["tokens_per_s"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
             if r.get("split") == "train" and "tokens_per_s" in r]  # fmt: skip
    rates = rates[2:] or rates  # the first steps include the warm-up
    return sorted(rates)[len(rates) // 2]


def pack(model_dir: Path, out: Path) -> None:
    """Split ``model.safetensors`` in two halves by tensor and tar the small files beside them."""
    state = load_file(model_dir / "model.safetensors")
    names = sorted(state)
    half = math.ceil(len(names) / 2)
    for i, part in enumerate((names[:half], names[half:]), 1):
        save_file({k: state[k].contiguous() for k in part}, out / f"model_part{i}.safetensors")
    with tarfile.open(out / "model_meta.tar", "w") as tar:
        for name in META:
            if (model_dir / name).is_file():
                tar.add(model_dir / name, arcname=name)


def join(files: Path, out: Path) -> None:
    """Put a packed model back together as a model directory."""
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for part in sorted(files.glob("model_part*.safetensors")):
        state |= load_file(part)
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    with tarfile.open(files / "model_meta.tar") as tar:
        tar.extractall(out, filter="data")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=".gpu/corpus/manifest.toml")
    parser.add_argument("--seconds", type=float, default=330, help="training budget of the main run")
    parser.add_argument("--batch", type=int, default=128, help="windows per step (the CPU recipe: 16)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--calibration-steps", type=int, default=200)
    parser.add_argument("--run", type=Path, default=Path("/tmp/gpu_pretrain"))
    parser.add_argument("--pack", type=Path, help="folder to put the packed model and logs in")
    parser.add_argument("--join", type=Path, help="(CPU side) folder of a packed model")
    parser.add_argument("--out", type=Path, help="(with --join) model directory to write")
    args = parser.parse_args()
    if args.join:
        join(args.join, args.out)
        return
    recipe = ["--set", f"train.lr={args.lr}", "--set", "train.warmup_steps=200", "--set", "train.log_every=50"]
    calibration = args.run.with_name(args.run.name + "_calibration")
    shutil.rmtree(calibration, ignore_errors=True)
    quiet = [
        "--set",
        "train.eval_every=100000",
        "--set",
        "eval.samples=16",
        "--set",
        "train.save_every=100000",
        "--set",
        f"train.log_every={max(1, args.calibration_steps // 10)}",
    ]
    pretrain(calibration, args.manifest, args.calibration_steps, args.batch, args.device, [*recipe, *quiet])
    rate = tokens_per_s(calibration)
    steps = int(args.seconds * rate / (args.batch * 213))  # windows average 213 tokens
    print(f"calibration: {rate:.0f} tokens/s at batch {args.batch}: {steps} steps fit {args.seconds:.0f} s", flush=True)
    shutil.rmtree(args.run, ignore_errors=True)
    seconds = pretrain(
        args.run,
        args.manifest,
        steps,
        args.batch,
        args.device,
        [*recipe, "--set", "train.eval_every=2000", "--set", "train.save_every=2000"],
    )
    print(f"pretraining: {steps} steps in {seconds:.0f} s", flush=True)
    if args.pack:
        args.pack.mkdir(parents=True, exist_ok=True)
        pack(args.run / "model", args.pack)
        for name in ("metrics.jsonl", "evaluation.json"):
            shutil.copy(args.run / name, args.pack / name)


if __name__ == "__main__":
    sys.exit(main())
