"""Generation throughput: `dnagpt generate` against `transformers`' `generate`, same shape, same run.

Sampling 200 new tokens per sequence (temperature 0.8, no top-k or top-p, no stop token, so
every sequence gets all of them) from the prompt ``<R>`` at batch 1, 4 and 64. Compared:

- ``hf_generate``: GPT2LMHeadModel of the shipped model's shape (4 x 128, 4 heads, vocabulary
  19,564, context 256) with ``generate(do_sample=True)`` and its cache;
- ``dnagpt``: :func:`dnagpt.generation.generate` on the shipped model (a fixed-size key/value
  cache written in place);
- ``dnagpt_compiled``: a lever measured and not kept: the same with the one-token step under
  ``torch.compile(dynamic=True)`` (one graph for every cache length; its one-off compilation is
  timed apart and left out of the rate);
- ``dnagpt_growing_cache``: the loop dnagpt had before, whose cache grew by concatenation at
  every step (the lever's figure);
- ``published_method`` (batch 1 only, 2 sequences): one sequence at a time, the whole prefix re-run
  at every step, as in the authors' released code.

Variants alternate over rounds so that machine noise hits them alike; the rate is the median.

    python benchmarks/generation_speed.py        # writes benchmarks/results/generation_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from dnagpt import DNAGPT
from dnagpt.bench.harness import write_results
from dnagpt.device import describe_machine
from dnagpt.generation import SamplingConfig, _choose, generate

RESULTS = Path(__file__).resolve().parent / "results"
TEMPERATURE = 0.8


@torch.no_grad()
def growing_cache(model: DNAGPT, prompt_ids: list[int], batch: int, tokens: int, cfg: SamplingConfig) -> None:
    """The former loop: the cache returned by the model, concatenated onto at every step."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([prompt_ids] * batch)
    out = model(ids, use_cache=True)
    for _ in range(tokens):
        next_ids = _choose(out.logits[:, -1].float(), cfg, generator)
        out = model(next_ids[:, None], past_key_values=out.past_key_values, use_cache=True)


@torch.no_grad()
def published_method(model: DNAGPT, prompt_ids: list[int], tokens: int, cfg: SamplingConfig) -> None:
    """One sequence, the whole prefix re-run at every step."""
    generator = torch.Generator().manual_seed(0)
    ids = list(prompt_ids)
    for _ in range(tokens):
        logits = model(torch.tensor([ids])).logits[:, -1].float()
        ids.append(int(_choose(logits, cfg, generator)))


def contenders(model: DNAGPT, hf, prompt: list[int], batch: int, n: int) -> dict:
    """Each way of drawing ``batch`` sequences of ``n`` new tokens, as a callable."""
    tok = model.tokenizer()
    cfg = SamplingConfig(max_new_tokens=n, temperature=TEMPERATURE, num_samples=batch, stop_ids=(), seed=0)
    ids = torch.tensor([prompt] * batch)
    compiled_step = torch.compile(model.decode_step, dynamic=True)

    def compiled_generate() -> None:
        model.decode_step = compiled_step  # on this instance only, for this call
        try:
            generate(model, ["<R>"], cfg, tok)
        finally:
            del model.decode_step

    runs = {
        "hf_generate": lambda: hf.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=True,
                                           temperature=TEMPERATURE, top_k=0, pad_token_id=0),
        "dnagpt": lambda: generate(model, ["<R>"], cfg, tok),
        "dnagpt_compiled": compiled_generate,
        "dnagpt_growing_cache": lambda: growing_cache(model, prompt, batch, n, cfg),
    }  # fmt: skip
    if batch == 1:
        runs["published_method"] = lambda: published_method(model, prompt, n, cfg)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dnagpt-small-multispecies", help="shipped name or model directory")
    parser.add_argument("--tokens", type=int, default=200, help="new tokens per sequence")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 64])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "generation_speed.json")
    args = parser.parse_args()
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.set_grad_enabled(False)
    model = DNAGPT.from_pretrained(args.model).eval()
    c = model.config
    prompt = model.tokenizer().encode("<R>").ids
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=c.vocab_size, n_positions=c.context_length, n_embd=c.d_model,
                                    n_layer=c.n_layer, n_head=c.n_head, bos_token_id=None,
                                    eos_token_id=None)).eval()  # fmt: skip
    n = args.tokens
    result: dict = {"machine": describe_machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "model": args.model, "new_tokens": n, "temperature": TEMPERATURE,
                    "rounds": args.rounds}  # fmt: skip
    for batch in args.batches:
        runs = contenders(model, hf, prompt, batch, n)
        start = time.perf_counter()
        runs["dnagpt_compiled"]()  # compiles for this batch's shapes
        first_call_s = time.perf_counter() - start
        for run in runs.values():  # warm-up
            run()
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - start)
        rate = {name: batch * n / statistics.median(s) for name, s in seconds.items()}
        result[f"batch_{batch}"] = {
            "tokens_per_s": rate,
            "compiled_first_call_s": first_call_s,
            "dnagpt_over_hf": rate["dnagpt"] / rate["hf_generate"],
            "dnagpt_compiled_over_hf": rate["dnagpt_compiled"] / rate["hf_generate"],
            "fixed_cache_over_growing_cache": rate["dnagpt"] / rate["dnagpt_growing_cache"],
        }
        print(batch, {k: round(v, 2) for k, v in result[f"batch_{batch}"].items() if k != "tokens_per_s"}, flush=True)
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
