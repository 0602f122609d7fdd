"""Commands about models and the token language: ``info``, ``tokenize``, ``convert-official``."""

from __future__ import annotations

import argparse
import json

from .registry import command


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


@command("info", "list the named model configurations with their sizes", _info_args)
def _info(args: argparse.Namespace) -> int:
    from ..config import describe_configs

    rows = describe_configs()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':15s} {'parameters':>12s} {'layers':>6s} {'heads':>5s} {'width':>5s} {'context':>7s} {'vocab':>6s}")
    for r in rows:
        print(
            f"{r['name']:15s} {r['parameters'] / 1e6:11.2f}M {r['layers']:6d} {r['heads']:5d} {r['width']:5d} "
            f"{r['context_tokens']:7d} {r['vocabulary']:6d}  {r['description']}"
        )
    return 0


def _tokenize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="token-language text, e.g. '<R>ACGTACGTT<=><B>' (quote it in the shell)")
    p.add_argument("--k", type=int, default=6, help="k-mer length (default 6)")
    p.add_argument("--sixmers-only", action="store_true", help="6-mer-only vocabulary of the human model")


@command("tokenize", "show the token ids and pieces of a text in the DNAGPT token language", _tokenize_args)
def _tokenize(args: argparse.Namespace) -> int:
    from ..tokenizer import KmerTokenizer

    tok = KmerTokenizer(args.k, (args.k,) if args.sixmers_only else None)
    rows, canonical = tok.explain(args.text)
    for i, tid, piece in rows:
        print(f"{i}\t{tid}\t{piece}")
    print(f"# {len(rows)} tokens; canonical text: {canonical}")
    return 0


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="published checkpoint, e.g. dna_gpt0.1b_m.pth")
    p.add_argument("out_dir", help="directory to write model.safetensors, config.json, tokenizer.json")
    p.add_argument("--name", help="configuration (dna_gpt0.1b_h, dna_gpt0.1b_m, dna_gpt3b_m); inferred if omitted")


@command("convert-official", "convert a published DNAGPT .pth checkpoint to safetensors", _convert_args)
def _convert(args: argparse.Namespace) -> int:
    from ..model import convert_official

    model = convert_official(args.source, args.out_dir, name=args.name)
    print(f"wrote {args.out_dir} ({model.config.name}, {model.num_parameters() / 1e6:.1f}M parameters)")
    return 0
