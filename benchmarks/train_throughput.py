"""Training throughput: dnagpt's pretraining step against Hugging Face GPT-2, same shapes.

Both models get the same width, depth, heads, context, vocabulary and batch, the
same AdamW step with gradient clipping, and the same precision (bf16 autocast
where the machine supports it, as dnagpt's trainer picks). dnagpt runs its full
three-task pretraining loss on real windows of the bundled corpus; GPT-2 runs
its language-model loss on the same token ids. Model-FLOPs utilisation is given
against a matrix product timed in the same run, so the ratio survives a noisy
shared machine.

    python benchmarks/train_throughput.py            # writes benchmarks/results/train_throughput.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from dnagpt import DNAGPT, get_config
from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.evaluation.harness import write_results
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.seeding import seed_everything
from dnagpt.training.objectives import pretrain_loss
from dnagpt.training.optimization import autocast_dtype, parameter_groups
from dnagpt.training.pretrain_samples import EXTRA_TOKENS, PretrainSampler

RESULTS = Path(__file__).resolve().parent / "results"


def matmul_flops(dtype: torch.dtype | None, n: int = 1024, repeats: int = 20) -> float:
    """Achieved FLOP/s of an n x n matrix product in the training precision."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def train_flops_per_token(layers: int, width: int, context: int, head_matmul_params: int) -> float:
    """6 x (matrix parameters touched per token) + attention scores (forward and backward)."""
    block = 12 * width * width
    return 6 * (layers * block + head_matmul_params) + 12 * layers * context * width


def time_steps(step, steps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="alternate the two models this many times")
    parser.add_argument("--out", type=Path, default=RESULTS / "train_throughput.json")
    args = parser.parse_args()
    from transformers import GPT2Config, GPT2LMHeadModel

    seed_everything(0)
    cfg = get_config("dnagpt-small", n_layer=args.layers, n_head=args.heads, d_model=args.width,
                     context_length=args.context)  # fmt: skip
    tok = cfg.tokenizer()
    max_tokens = args.context - EXTRA_TOKENS
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), Path("/tmp/dnagpt-bench-cache"), window_bp=max_tokens * tok.k)
    # Full-length windows: both models see the same number of real tokens per batch.
    sampler = PretrainSampler(corpus, tok, max_tokens, max_tokens, seed=0)
    batch = sampler.batch("train", range(args.batch))
    batch.gc = (batch.gc - 0.42) / 0.08
    amp = autocast_dtype("auto", torch.device("cpu"))

    ours = DNAGPT(cfg)
    opt_ours = torch.optim.AdamW(parameter_groups(ours, 0.1), lr=1e-4, betas=(0.9, 0.98))

    gpt2_cfg = GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=args.context,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=None,
        eos_token_id=None,
    )
    gpt2_cfg._attn_implementation = "sdpa"  # the same attention kernel as dnagpt
    hf = GPT2LMHeadModel(gpt2_cfg)
    opt_hf = torch.optim.AdamW(parameter_groups(hf, 0.1), lr=1e-4, betas=(0.9, 0.98))
    ids = batch.input_ids

    def autocast():
        return torch.autocast("cpu", dtype=amp) if amp is not None else torch.autocast("cpu", enabled=False)

    def step_ours() -> None:
        with autocast():
            loss = pretrain_loss(ours, batch, tok.yes_id, tok.no_id, mse_weight=0.01).total
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ours.parameters(), 1.0)
        opt_ours.step()
        opt_ours.zero_grad(set_to_none=True)

    def step_hf() -> None:
        with autocast():
            loss = hf(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
        opt_hf.step()
        opt_hf.zero_grad(set_to_none=True)

    times_ours, times_hf = [], []
    for _ in range(args.rounds):  # alternate so that machine noise hits both alike
        times_ours += time_steps(step_ours, args.steps, warmup=2)
        times_hf += time_steps(step_hf, args.steps, warmup=2)
    peak = matmul_flops(amp)
    tokens = ids.numel()
    d, v = args.width, cfg.vocab_size
    # dnagpt's token head is Linear(D,D) + LayerNorm + Linear(D,V); GPT-2's is the tied Linear(D,V).
    fpt_ours = train_flops_per_token(args.layers, d, args.context, d * d + d * v)
    fpt_hf = train_flops_per_token(args.layers, d, args.context, d * v)
    rows = {}
    for name, times, fpt in (("dnagpt", times_ours, fpt_ours), ("hf_gpt2", times_hf, fpt_hf)):
        med = statistics.median(times)
        rows[name] = {
            "median_step_s": med,
            "tokens_per_s": tokens / med,
            "model_flops_per_token": fpt,
            "mfu_vs_matmul": tokens / med * fpt / peak,
        }
    result = {
        "shapes": vars(args) | {"out": str(args.out), "vocab": v},
        "precision": str(amp).replace("torch.", "") if amp is not None else "fp32",
        "matmul_flops_per_s": peak,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        **rows,
        "speed_ratio_dnagpt_over_hf": rows["dnagpt"]["tokens_per_s"] / rows["hf_gpt2"]["tokens_per_s"],
    }
    write_results(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
