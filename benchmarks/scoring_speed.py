"""Scoring throughput: `predict` and `embed` against a plain loop over the same model, and bf16 against fp32.

Real inputs of mixed length, as a user's table of peaks or promoters would be: 512 pieces of 100
to 1,500 bp from random places of the bundled human chromosome 3 slice. The classifier is the shipped
DNAGPT fine-tuned for one epoch on the bundled Arabidopsis start-codon task (so its probabilities
are a trained model's, not a random head's). For each of `predict` and `embed` the same run
times:

- a plain loop: batches in input order (padding to the longest of each batch), fp32;
- dnagpt: batches of similar length (``dnagpt.data.batching``), fp32;
- dnagpt in bf16 autocast, with how far its answers lie from fp32's (largest absolute difference
  of a probability, share of changed calls; smallest cosine similarity of an embedding).

The timings alternate over rounds so that machine noise hits every variant alike.

    python benchmarks/scoring_speed.py     # writes benchmarks/results/scoring_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dnagpt.bench.harness import write_results
from dnagpt.data.fasta import read_fasta_records
from dnagpt.data.tables import read_table
from dnagpt.device import autocast_dtype, describe_machine, precision_context
from dnagpt.models import load_model
from dnagpt.representations import embed_sequences
from dnagpt.resources import BUNDLED_DATASETS, BUNDLED_MANIFEST
from dnagpt.tasks.codec import TaskCodec
from dnagpt.tasks.finetune import finetune
from dnagpt.tasks.predict import predict_examples
from dnagpt.tasks.recipe import FinetuneConfig
from dnagpt.tasks.spec import TaskData, TaskSpec, build_examples

RESULTS = Path(__file__).resolve().parent / "results"
CPU = torch.device("cpu")


def mixed_length_pieces(n: int, seed: int = 0) -> list[str]:
    """``n`` pieces of 100-1,500 bp at random places of the bundled human slice (N-free ones only)."""
    _, sequence = read_fasta_records(BUNDLED_MANIFEST.parent / "human_hg19_chr3_42M.fa.gz")[0]
    rng = np.random.default_rng(seed)
    pieces = []
    while len(pieces) < n:
        length = int(rng.integers(100, 1501))
        start = int(rng.integers(0, len(sequence) - length))
        piece = sequence[start : start + length].upper()
        if "N" not in piece:
            pieces.append(piece)
    return pieces


def tuned_classifier(work: Path):
    """The shipped DNAGPT fine-tuned one epoch on the bundled task; its codec."""
    task = BUNDLED_DATASETS / "tis_arabidopsis"
    spec = TaskSpec.load(task / "task.toml")
    train = build_examples(spec, read_table(task / "train.csv.gz")[:512], "train")
    dev = build_examples(spec, read_table(task / "dev.csv.gz")[:128], "dev")
    model = load_model("dnagpt-small-multispecies")
    cfg = FinetuneConfig(epochs=1, lr=1e-3, batch_size=16, progress=False, tensorboard=False)
    finetune(model, TaskData(spec, train, dev), cfg, work, device="cpu")
    return model.eval(), TaskCodec(spec, model.tokenizer(), model.max_input_tokens)


@torch.no_grad()
def plain_predict(codec, model, examples, batch_size: int) -> np.ndarray:
    """Consecutive batches in input order, fp32."""
    return np.concatenate([codec.predict(model, codec.batch(examples[i : i + batch_size])).float().numpy()
                           for i in range(0, len(examples), batch_size)])  # fmt: skip


@torch.no_grad()
def plain_embed(model, sequences: list[str], batch_size: int) -> np.ndarray:
    """Consecutive batches in input order, fp32, mean over each sequence's tokens (species token left out)."""
    tok = model.tokenizer()
    out = []
    for i in range(0, len(sequences), batch_size):
        rows = [tok.encode_sequence(s, species="human") for s in sequences[i : i + batch_size]]
        lengths = torch.tensor([len(r) for r in rows])
        ids = torch.full((len(rows), int(lengths.max())), tok.pad_id, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, : len(r)] = torch.tensor(r)
        hidden = model.padded_hidden_states(ids, lengths).float()
        keep = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]) & (torch.arange(ids.shape[1])[None, :] >= 1)
        out.append(((hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)).numpy())
    return np.concatenate(out)


def timed(runs: dict, rounds: int) -> tuple[dict, dict]:
    """Median seconds of each callable over ``rounds`` alternating rounds, and its last answer."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    answers = {}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            answers[name] = run()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in seconds.items()}, answers


def speeds(seconds: dict[str, float], answers: dict[str, np.ndarray], bases: int) -> dict:
    """Rates of the three variants, the two speed-ups over the plain loop, and how far the bucketed
    fp32 answers lie from the plain loop's."""
    plain = seconds["plain_loop_fp32"]
    return {"seconds": seconds, "bases_per_s": {k: bases / v for k, v in seconds.items()},
            "speedup_bucketed_fp32_vs_plain": plain / seconds["dnagpt_fp32"],
            "speedup_bucketed_bf16_vs_plain": plain / seconds["dnagpt_bf16"],
            "fp32_bucketed_vs_plain_max_abs_difference":
                float(np.abs(answers["plain_loop_fp32"] - answers["dnagpt_fp32"]).max())}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "scoring_speed.json")
    args = parser.parse_args()
    torch.manual_seed(0)
    pieces = mixed_length_pieces(args.sequences)
    with tempfile.TemporaryDirectory() as work:
        model, codec = tuned_classifier(Path(work))
    examples = build_examples(codec.spec, [{"sequence": s} for s in pieces], "pieces", need_labels=False)
    b = args.batch_size
    bf16 = precision_context("bf16", CPU)
    predict_s, predicted = timed({
        "plain_loop_fp32": lambda: plain_predict(codec, model, examples, b),
        "dnagpt_fp32": lambda: predict_examples(codec, model, examples, batch_size=b),
        "dnagpt_bf16": lambda: predict_examples(codec, model, examples, autocast=bf16, batch_size=b),
    }, args.rounds)  # fmt: skip
    embed_s, embedded = timed({
        "plain_loop_fp32": lambda: plain_embed(model, pieces, b),
        "dnagpt_fp32": lambda: embed_sequences(model, pieces, species="human", batch_size=b),
        "dnagpt_bf16": lambda: embed_sequences(model, pieces, species="human", batch_size=b, precision="bf16"),
    }, args.rounds)  # fmt: skip
    fp32, half = predicted["dnagpt_fp32"], predicted["dnagpt_bf16"]
    e32, e16 = embedded["dnagpt_fp32"], embedded["dnagpt_bf16"]
    cosine = (e32 * e16).sum(1) / (np.linalg.norm(e32, axis=1) * np.linalg.norm(e16, axis=1))
    bases = sum(len(p) for p in pieces)
    result = {
        "machine": describe_machine(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "bf16_supported_natively": autocast_dtype("auto", CPU) == torch.bfloat16,
        "model": "dnagpt-small-multispecies, fine-tuned 1 epoch on tis_arabidopsis (512 rows)",
        "inputs": f"{len(pieces)} pieces of 100-1,500 bp of human chr3 (bundled), {bases:,} bp",
        "batch_size": b, "rounds": args.rounds,
        "predict": speeds(predict_s, predicted, bases) | {
            "bf16_vs_fp32_max_abs_probability_difference": float(np.abs(half - fp32).max()),
            "bf16_vs_fp32_changed_calls": float((half.argmax(-1) != fp32.argmax(-1)).mean()),
        },
        "embed": speeds(embed_s, embedded, bases) | {
            "bf16_vs_fp32_min_cosine": float(cosine.min()),
            "bf16_vs_fp32_mean_cosine": float(cosine.mean()),
        },
    }  # fmt: skip
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
