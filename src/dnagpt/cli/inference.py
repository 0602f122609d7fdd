"""Using a model directly: ``dnagpt generate``, ``dnagpt embed``, ``dnagpt attention``.

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..device import resolve_device
from ..errors import ConfigError, DataError, DNAGPTError
from .registry import (
    add_batch_size_argument,
    add_device_argument,
    add_precision_argument,
    add_progress_argument,
    command,
)


def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory (dnagpt format), shipped model name or a published .pth file")
    p.add_argument("--prompt", action="append", default=[], help="prompt text, e.g. '<R>ATGGCG' (repeatable)")
    p.add_argument("--prompts-file", help="file with one prompt per line")
    p.add_argument("--num-samples", type=int, default=1, help="sequences per prompt (default 1)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="new tokens per sequence, at most (default 128)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy; higher = more diverse (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold (1 = off)")
    p.add_argument("--stop", action="append", default=[],
                   help="stop token, e.g. '<Z>' (default: a fine-tuned generation task's stop, else <P> and "
                        "unknown)")  # fmt: skip
    p.add_argument("--seed", type=int, help="random seed, for reproducible samples")
    p.add_argument("--out", help="FASTA file to write (default: print to the terminal)")
    add_batch_size_argument(p, 64, "sequences generated together")
    add_precision_argument(p)
    add_device_argument(p, "auto")


@command(
    "generate", "generate DNA from prompts with a DNAGPT model (batched, key/value cache), FASTA out", _generate_args
)
def _generate(args: argparse.Namespace) -> int:
    from ..generation import SamplingConfig, generate, generations_fasta
    from ..io import atomic_write_text
    from ..models import DNAGPT
    from ..tasks.codec import task_stop_symbols
    from ..validation import build

    prompts = list(args.prompt)
    from_file = _read_prompts(Path(args.prompts_file)) if args.prompts_file else []
    prompts += [prompt for _, prompt in from_file]
    if not prompts:
        raise ConfigError("give at least one --prompt or a --prompts-file")
    names = ("max_new_tokens", "temperature", "top_k", "top_p", "num_samples", "seed")
    sampling = {name: getattr(args, name) for name in names}
    build(SamplingConfig, sampling, "dnagpt generate", {n: "--" + n.replace("_", "-") for n in names})
    model = DNAGPT.from_pretrained(args.model, map_location=resolve_device(args.device))
    tok = model.tokenizer()
    for line, prompt in from_file:  # a bad prompt is named by its line, before any generating
        try:
            tok.encode(prompt)
        except DNAGPTError as e:
            raise DataError(f"{args.prompts_file}, line {line}: {e}") from None
    stop_ids = []
    for symbol in args.stop or task_stop_symbols(args.model):
        try:
            stop_ids.append(tok.token_id(symbol))
        except DNAGPTError as e:
            raise ConfigError(f"--stop {symbol!r} is not a token of this model ({e})") from None
    stop = tuple(stop_ids) or None
    cfg = SamplingConfig(**sampling, stop_ids=stop)
    generations = generate(model, prompts, cfg, tok, batch_size=args.batch_size, precision=args.precision)
    text = generations_fasta(generations, tok)
    if args.out:
        atomic_write_text(Path(args.out), text)
        print(f"wrote {len(generations)} sequences to {args.out}")
    else:
        print(text, end="")
    return 0


def _read_prompts(path: Path) -> list[tuple[int, str]]:
    """The prompts of a ``--prompts-file`` with their line numbers (blank lines skipped); a file that
    is missing, not text or holds no prompt is an error naming it."""
    if path.is_dir():
        raise DataError(f"{path}: a directory, not a prompts file (one prompt per line)")
    if not path.is_file():
        raise DataError(f"{path}: no such prompts file (--prompts-file)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file of prompts (byte {e.start}: {e.reason})") from None
    prompts = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not prompts:
        raise DataError(f"{path}: no prompts (every line is blank); write one prompt per line, e.g. <R>ATGGCG")
    return prompts


def _embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory, shipped model name or published .pth")
    p.add_argument("input", help="FASTA file, or a table (.csv/.tsv/.parquet) with a sequence column; for a "
                   "GPN-MSA model, a BED file of regions of its --alignment")  # fmt: skip
    p.add_argument("--out", required=True, help="output: .npy (matrix, rows in input order) or .parquet")
    p.add_argument("--column", default="sequence", help="sequence column of a table (default: sequence)")
    p.add_argument("--species", help="species token or name put before each sequence, e.g. human")
    p.add_argument("--pooling", choices=["mean", "last"], default="mean", help="mean of tokens, or last token")
    p.add_argument("--windows", action="store_true", help="average context-sized windows of long sequences")
    add_batch_size_argument(p, 16)
    add_precision_argument(p)
    p.add_argument("--alignment", metavar="MAF", help="multiple alignment (MAF) a GPN-MSA model reads the BED "
                   "regions from: the reference's bases and the other species' aligned bases")  # fmt: skip
    add_device_argument(p, "auto")
    add_progress_argument(p)


@command("embed", "write one embedding per sequence (mean or last-token pooling) to .npy or parquet", _embed_args)
def _embed(args: argparse.Namespace) -> int:
    from ..representations import embed_file

    n, size = embed_file(args.model, args.input, args.out, args.column, args.species, args.pooling,
                         args.batch_size, args.windows, args.precision, args.device, args.alignment,
                         progress=not args.no_progress)  # fmt: skip
    print(f"wrote {n} embeddings of size {size} to {args.out}")
    return 0


def _attention_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory, shipped model name or published .pth")
    p.add_argument("sequence", nargs="?", help="a DNA sequence (or use --fasta)")
    p.add_argument("--fasta", help="FASTA file; its first record is drawn")
    p.add_argument("--species", help="species token or name put before the sequence, e.g. human")
    p.add_argument("--out", required=True, help="PNG file: one heat map per layer, heads averaged")


@command("attention", "draw the per-layer attention maps of one sequence as a PNG (paper Fig. 3e, S1)", _attention_args)
def _attention(args: argparse.Namespace) -> int:
    from ..data.fasta import read_fasta_records
    from ..representations import attention_figure

    sequence, name = args.sequence, "sequence"
    if args.fasta:
        name, sequence = read_fasta_records(Path(args.fasta))[0]
    elif not sequence:
        raise ConfigError("give a sequence or --fasta FILE")
    layers, tokens = attention_figure(args.model, sequence, args.out, args.species, name)
    print(f"wrote {layers} attention maps of {tokens} x {tokens} tokens to {args.out}")
    return 0
