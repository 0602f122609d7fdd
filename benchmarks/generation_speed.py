"""Generation throughput: batched sampling from the key/value cache against the published method.

The published inference code draws one sequence at a time and re-runs the whole prefix through
the model at every step. dnagpt draws a batch of sequences together and feeds only the newest
token, reusing cached keys and values. Both draw the same number of tokens per sequence (an
artificial haplotype of 1,000 SNPs is about 168 tokens) from the same model in the same run;
the figure is the ratio of tokens per second.

    python benchmarks/generation_speed.py [--model dnagpt-small-multispecies] [--tokens 168] [--batch 250]

writes benchmarks/results/generation_speed.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from dnagpt import DNAGPT
from dnagpt.generation import SamplingConfig, filter_logits, generate
from dnagpt.io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


@torch.no_grad()
def published_method(model: DNAGPT, prompt_ids: list[int], tokens: int, temperature: float, seed: int) -> list[int]:
    """One sequence, the whole prefix recomputed at every step, sampled with temperature."""
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    ids = list(prompt_ids)
    device = next(model.parameters()).device
    for _ in range(tokens):
        logits = model(torch.tensor([ids], device=device)).logits[0, -1].float() / temperature
        probs = torch.softmax(filter_logits(logits[None]), dim=-1)
        ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    return ids[len(prompt_ids) :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dnagpt-small-multispecies", help="shipped name or model directory")
    parser.add_argument("--tokens", type=int, default=168, help="new tokens per sequence")
    parser.add_argument("--batch", type=int, default=250, help="sequences drawn together with the cache")
    parser.add_argument("--single", type=int, default=4, help="sequences drawn one by one the published way")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = DNAGPT.from_pretrained(args.model).to(args.device).eval()
    tok = model.tokenizer()
    prompt = "<R>"
    # the cache path stops only when told to: no stop ids, so every sequence gets all its tokens
    cfg = SamplingConfig(max_new_tokens=args.tokens, temperature=0.8, num_samples=args.batch, stop_ids=(-1,), seed=0)
    generate(model, [prompt], SamplingConfig(max_new_tokens=4, num_samples=2, stop_ids=(-1,)), tok)  # warm-up
    start = time.perf_counter()
    batched = generate(model, [prompt], cfg, tok)
    cached_s = time.perf_counter() - start
    cached_tokens = sum(len(g.token_ids) for g in batched)
    start = time.perf_counter()
    single_tokens = sum(
        len(published_method(model, tok.encode(prompt).ids, args.tokens, 0.8, seed)) for seed in range(args.single)
    )
    single_s = time.perf_counter() - start
    result = {
        "device": str(args.device) if args.device == "cpu" else torch.cuda.get_device_name(),
        "machine": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "model": args.model,
        "tokens_per_sequence": args.tokens,
        "cached_batched": {"sequences": args.batch, "seconds": cached_s, "tokens_per_s": cached_tokens / cached_s},
        "published_method": {"sequences": args.single, "seconds": single_s, "tokens_per_s": single_tokens / single_s},
    }
    result["speedup"] = result["cached_batched"]["tokens_per_s"] / result["published_method"]["tokens_per_s"]
    RESULTS.mkdir(exist_ok=True)
    atomic_write_text(RESULTS / "generation_speed.json", json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
