"""Training throughput: each model family's pretraining step against its nearest Hugging Face peer.

Two shapes (``small``: 4 layers x 128 wide, context 256, batch 16; ``6x256``: 6 x 256, 8 heads,
context 512, batch 8), the same AdamW step with gradient clipping and the same precision (bf16
autocast where the machine supports it, as dnagpt's trainer picks) on both sides:

- dnagpt's decoder runs its full three-task pretraining loss on real windows of the bundled
  corpus; its peer, ``transformers``' GPT2LMHeadModel, runs its language-model loss on the same ids;
- dnagpt's DNABERT-2 style encoder (ALiBi, GEGLU) runs its masked-token loss on masked windows;
  its peer, BertForMaskedLM of the same depth, width and heads, runs its masked-LM loss on them;
- the GPN-style ConvNet (its own shape: 12 blocks x 128, 512 bases) has no Hugging Face peer; it
  is measured against itself compiled.

Each model is timed eager and under ``torch.compile`` (one lever; the loss stays outside the
compiled graph), the four alternating in rounds so that machine noise hits them alike.
Model-FLOPs utilisation is given against a matrix product timed in the same run, so the ratios
survive a noisy shared machine. On a GPU (``--device cuda``) the ``0.1b`` shape is the published
0.1B configuration (12 x 768, 12 heads, context 512) at batch 32.

    python benchmarks/train_throughput.py        # writes benchmarks/results/train_throughput.json
    python benchmarks/train_throughput.py --device cuda --shapes 0.1b --no-compile \
        --out benchmarks/results/train_throughput_gpu.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from dnagpt import get_config
from dnagpt.bench.harness import write_results
from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.device import autocast_dtype, describe_machine
from dnagpt.models import build_model
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.seeding import seed_everything
from dnagpt.training import fused_ce
from dnagpt.training.compute import train_flops_per_token
from dnagpt.training.masked_lm import MaskedLMTask, MaskedSampler
from dnagpt.training.objectives import pretrain_loss
from dnagpt.training.optimization import TrainConfig, build_optimizer
from dnagpt.training.pretrain_samples import EXTRA_TOKENS, PretrainSampler

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = {
    "small": dict(layers=4, width=128, heads=4, context=256, batch=16),
    "6x256": dict(layers=6, width=256, heads=8, context=512, batch=8),
    "0.1b": dict(layers=12, width=768, heads=12, context=512, batch=32),  # dna_gpt0.1b_m, for a GPU
}
GPN_SHAPE = dict(layers=12, width=128, heads=1, context=512, batch=16)  # gpn-small-multispecies


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops(dtype: torch.dtype | None, device: torch.device, repeats: int = 20) -> float:
    """Achieved FLOP/s of a square matrix product in the training precision (8,192 wide on a GPU)."""
    n = 8192 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def optimizer_step(model: nn.Module, loss_of: Callable[[], torch.Tensor], autocast) -> Callable[[], None]:
    """One training step (forward, backward, clip, AdamW) as a closure."""
    opt = build_optimizer(model, TrainConfig(lr=1e-4))  # the trainer's AdamW, for both sides

    def step() -> None:
        with autocast():
            loss = loss_of()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def bundled_corpus(corpus_dir: Path, window_bp: int) -> Corpus:
    """The bundled seven-species corpus, cut into windows of ``window_bp``."""
    return Corpus(read_manifest(BUNDLED_MANIFEST), corpus_dir, window_bp=window_bp)


def masked_task(tok, context: int, corpus_dir: Path) -> MaskedLMTask:
    """Masked-token pretraining on full-length windows (the species token plus ``context - 1`` tokens)."""
    max_tokens = context - 1
    sampler = MaskedSampler(bundled_corpus(corpus_dir, max_tokens * tok.k), tok, max_tokens, max_tokens, seed=0)
    return MaskedLMTask(sampler)


def decoder_pair(shape: dict, corpus_dir: Path, device: torch.device) -> tuple[dict, int]:
    """dnagpt's decoder and GPT-2: loss closures (eager and compiled) over one real batch."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = get_config("dnagpt-small", n_layer=shape["layers"], n_head=shape["heads"], d_model=shape["width"],
                     context_length=shape["context"])  # fmt: skip
    tok = cfg.tokenizer()
    max_tokens = shape["context"] - EXTRA_TOKENS  # full-length windows: both see the same tokens per batch
    corpus = bundled_corpus(corpus_dir, max_tokens * tok.k)
    batch = PretrainSampler(corpus, tok, max_tokens, max_tokens, seed=0).batch("train", range(shape["batch"]))
    batch.gc = (batch.gc - 0.42) / 0.08
    batch = batch.to(device)
    gpt2 = GPT2Config(vocab_size=cfg.vocab_size, n_positions=shape["context"], n_embd=shape["width"],
                      n_layer=shape["layers"], n_head=shape["heads"], resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, bos_token_id=None, eos_token_id=None)  # fmt: skip
    gpt2._attn_implementation = "sdpa"  # the same attention kernel as dnagpt
    ours, peer = build_model(cfg).to(device), GPT2LMHeadModel(gpt2).to(device)
    ids = batch.input_ids

    def loss_ours(model):
        return lambda: pretrain_loss(model, batch, tok.yes_id, tok.no_id, mse_weight=0.01).total

    def loss_peer(model):
        return lambda: model(input_ids=ids, labels=ids).loss

    return {"dnagpt": (ours, loss_ours), "hf_gpt2": (peer, loss_peer)}, ids.numel()


def encoder_pair(shape: dict, corpus_dir: Path, device: torch.device) -> tuple[dict, int]:
    """dnagpt's DNABERT-2 style encoder and BertForMaskedLM: masked-token loss closures."""
    from transformers import BertConfig, BertForMaskedLM

    cfg = get_config("bert-small", n_layer=shape["layers"], n_head=shape["heads"], d_model=shape["width"],
                     context_length=shape["context"])  # fmt: skip
    tok = cfg.tokenizer()
    task = masked_task(tok, shape["context"], corpus_dir)
    batch = task.batch(range(shape["batch"])).to(device)
    bert = BertConfig(vocab_size=cfg.vocab_size, hidden_size=shape["width"], num_hidden_layers=shape["layers"],
                      num_attention_heads=shape["heads"], intermediate_size=4 * shape["width"],
                      max_position_embeddings=shape["context"], hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)  # fmt: skip
    bert._attn_implementation = "sdpa"
    ours, peer = build_model(cfg).to(device), BertForMaskedLM(bert).to(device)

    def loss_ours(model):
        return lambda: task.loss(model, batch)[0]

    def loss_peer(model):
        return lambda: model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                             labels=batch.targets).loss  # fmt: skip

    return {"dnagpt_bert": (ours, loss_ours), "hf_bert": (peer, loss_peer)}, int(batch.attention_mask.sum())


def convnet_alone(shape: dict, corpus_dir: Path, device: torch.device) -> tuple[dict, int]:
    """The GPN-style ConvNet at its own shape: masked-token loss closure."""
    cfg = get_config("gpn-small", n_layer=shape["layers"], d_model=shape["width"], context_length=shape["context"])
    tok = cfg.tokenizer()
    task = masked_task(tok, shape["context"], corpus_dir)
    batch = task.batch(range(shape["batch"])).to(device)

    def loss_ours(model):
        return lambda: task.loss(model, batch)[0]

    return {"dnagpt_gpn": (build_model(cfg).to(device), loss_ours)}, int(batch.attention_mask.sum())


def measure(models: dict, tokens: int, shape: dict, attention: bool, peak: float, steps: int, rounds: int,
            autocast, device: torch.device, compile_too: bool = True) -> dict:  # fmt: skip
    """Median step time of each model eager (and compiled), alternating in rounds."""
    steps_of = {}
    for name, (model, loss_of) in models.items():
        steps_of[name] = optimizer_step(model, loss_of(model), autocast)
        if compile_too:  # torch.compile of the module's forward; the loss and the optimiser stay eager
            steps_of[f"{name}+compile"] = optimizer_step(model, loss_of(torch.compile(model)), autocast)
    times: dict[str, list[float]] = {name: [] for name in steps_of}
    for step in steps_of.values():  # warm-up, including compilation
        for _ in range(3):
            step()
    for _ in range(rounds):
        for name, step in steps_of.items():
            for _ in range(steps):
                synchronize(device)
                start = time.perf_counter()
                step()
                synchronize(device)
                times[name].append(time.perf_counter() - start)
    rows = {}
    for name, t in times.items():
        model = models[name.removesuffix("+compile")][0]
        fpt = train_flops_per_token(model, shape["layers"], shape["context"], shape["width"], attention)
        med = statistics.median(t)
        rows[name] = {"median_step_s": med, "tokens_per_s": tokens / med, "model_flops_per_token": fpt,
                      "mfu_vs_matmul": tokens / med * fpt / peak}  # fmt: skip
    return {"shape": shape, "tokens_per_batch": tokens, **rows}


def ratio(rows: dict, ours: str, peer: str) -> float:
    return rows[ours]["tokens_per_s"] / rows[peer]["tokens_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["small", "6x256"], choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternate the models this many times")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-compile", action="store_true", help="time eager steps only (compiling takes minutes)")
    parser.add_argument(
        "--families", nargs="+", default=["decoder", "encoder", "convnet"], choices=["decoder", "encoder", "convnet"]
    )
    parser.add_argument(
        "--ce-chunk",
        type=int,
        default=0,
        help="tokens per chunk of the fused cross-entropy (0: dnagpt's choice for the device)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "train_throughput.json")
    args = parser.parse_args()
    seed_everything(0)
    if args.ce_chunk:  # a lever to measure: the same chunk on every device
        fused_ce.chunk_tokens = lambda device, vocab_size: args.ce_chunk
    device = torch.device(args.device)
    amp = autocast_dtype("auto", device)

    def autocast():
        return torch.autocast(device.type, dtype=amp) if amp is not None else torch.autocast(device.type, enabled=False)

    peak = matmul_flops(amp, device)
    corpus_dir = Path("/tmp/dnagpt-bench-cache")
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    result: dict = {"precision": str(amp).replace("torch.", "") if amp is not None else "fp32",
                    "matmul_flops_per_s": peak, "threads": torch.get_num_threads(), "gpu": gpu,
                    "machine": describe_machine(), "torch": torch.__version__,
                    "transformers": importlib.metadata.version("transformers"),  # the peers' speed depends on it
                    "steps": args.steps, "rounds": args.rounds, "ce_chunk": args.ce_chunk}  # fmt: skip
    compile_too = not args.no_compile
    ratios = {}
    for name in args.shapes:
        shape = SHAPES[name]
        for family, build in (("decoder", decoder_pair), ("encoder", encoder_pair)):
            if family not in args.families:
                continue
            models, tokens = build(shape, corpus_dir, device)
            rows = measure(models, tokens, shape, True, peak, args.steps, args.rounds, autocast, device, compile_too)
            result[f"{family}@{name}"] = rows
            ours, peer = list(models)
            ratios[f"{family}@{name}: eager / {peer} eager"] = ratio(rows, ours, peer)
            if compile_too:
                ratios[f"{family}@{name}: compiled / {peer} eager"] = ratio(rows, f"{ours}+compile", peer)
                ratios[f"{family}@{name}: compiled / {peer} compiled"] = ratio(
                    rows, f"{ours}+compile", f"{peer}+compile"
                )
            print(f"{family}@{name}", {k: round(v, 3) for k, v in ratios.items() if k.startswith(family + "@" + name)},
                  {m: f"{r['tokens_per_s']:.0f} tok/s, MFU {r['mfu_vs_matmul']:.2f}" for m, r in rows.items()
                   if isinstance(r, dict) and "tokens_per_s" in r}, flush=True)  # fmt: skip
            del models
    if "convnet" in args.families:
        models, tokens = convnet_alone(GPN_SHAPE, corpus_dir, device)
        rows = measure(models, tokens, GPN_SHAPE, False, peak, args.steps, args.rounds, autocast, device, compile_too)
        result["convnet@gpn-small"] = rows
        if compile_too:
            ratios["convnet@gpn-small: compiled / eager"] = ratio(rows, "dnagpt_gpn+compile", "dnagpt_gpn")
    result["ratios"] = ratios
    write_results(result, args.out)
    for k, v in ratios.items():
        print(f"{v:5.2f}x  {k}")


if __name__ == "__main__":
    sys.exit(main())
