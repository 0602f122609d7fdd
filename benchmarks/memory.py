"""Peak memory of the 0.1B configuration on the CPU: loaded, fine-tuned in full, fine-tuned with LoRA,
and generating.

Each case runs in a fresh process and reports that process's peak resident memory (what the
operating system had to give it, Python and PyTorch included), so the cases do not mix:

- ``loaded``: the model built (``dna_gpt0.1b_m``: 12 x 768, 1-6-mer vocabulary, 512 tokens), nothing run;
- ``finetune_full`` / ``finetune_lora``: ``dnagpt.tasks.finetune`` for 2 steps of batch 8 on real
  rows of the bundled Arabidopsis start-codon task (600 bp, about 105 tokens each), fp32 AdamW,
  checkpoints and the dev evaluation included; LoRA at rank 8 on the attention and MLP matrices;
- ``generate_b1`` / ``generate_b16``: 256 new tokens from ``<R>``, batch 1 and 16.

    python benchmarks/memory.py       # writes benchmarks/results/memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = "dna_gpt0.1b_m"
CASES = ["loaded", "finetune_full", "finetune_lora", "generate_b1", "generate_b16"]


def run_case(case: str) -> dict:
    """Run one case in this process; what it measured."""
    import torch

    from dnagpt import get_config
    from dnagpt.data.tables import read_table
    from dnagpt.device import peak_memory_mib
    from dnagpt.generation import SamplingConfig, generate
    from dnagpt.models import build_model
    from dnagpt.resources import BUNDLED_DATASETS
    from dnagpt.tasks.finetune import finetune
    from dnagpt.tasks.recipe import FinetuneConfig
    from dnagpt.tasks.spec import TaskData, TaskSpec, build_examples

    torch.manual_seed(0)
    model = build_model(get_config(CONFIG))
    out = {"parameters": model.num_parameters()}
    if case.startswith("finetune"):
        task = BUNDLED_DATASETS / "tis_arabidopsis"
        spec = TaskSpec.load(task / "task.toml")
        train = build_examples(spec, read_table(task / "train.csv.gz")[:16], "train")
        dev = build_examples(spec, read_table(task / "dev.csv.gz")[:8], "dev")
        cfg = FinetuneConfig(epochs=1, batch_size=8, lr=1e-4, lora_rank=8 if case.endswith("lora") else 0,
                             progress=False, tensorboard=False)  # fmt: skip
        with tempfile.TemporaryDirectory() as run:
            finetune(model, TaskData(spec, train, dev), cfg, run, device="cpu")
        out["trainable_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    elif case.startswith("generate"):
        batch = int(case.removeprefix("generate_b"))
        cfg = SamplingConfig(max_new_tokens=256, temperature=1.0, num_samples=batch, stop_ids=(), seed=0)
        out["tokens"] = sum(len(g.token_ids) for g in generate(model, ["<R>"], cfg))
    out["peak_rss_mib"] = peak_memory_mib()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)  # run one case and print its JSON
    parser.add_argument("--out", type=Path, default=RESULTS / "memory.json")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child)))
        return 0
    from dnagpt.bench.harness import write_results
    from dnagpt.device import describe_machine

    result: dict = {"config": CONFIG, "machine": describe_machine(), "precision": "fp32"}
    for case in args.cases:
        done = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{case} failed:\n{done.stderr[-2000:]}")
        result[case] = json.loads(done.stdout.strip().splitlines()[-1])
        print(case, result[case], flush=True)
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
