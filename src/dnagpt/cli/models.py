"""Commands about models and the token language: ``info``, ``tokenize``, ``convert-official``.

Library modules that building the argument parser does not need are imported inside each command's
function, so that ``dnagpt --help`` does not load them.
"""

from __future__ import annotations

import argparse
import json

from .registry import command, positive_int


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


@command(
    "info",
    "list the pretrained models dnagpt knows by name (with their shapes), the named configurations, and "
    "the published formats it reads",
    _info_args,
    group="resources",
)
def _info(args: argparse.Namespace) -> int:
    from ..models import describe_config, describe_configs, load_config
    from ..models.hub import NAMED_MODELS, model_source, named_model_dir

    models = []
    for m in NAMED_MODELS.values():
        source = model_source(m.name)
        shape = None
        if not source.startswith("huggingface.co/"):  # on this machine: its own config.json tells its shape
            shape = describe_config(load_config(named_model_dir(m.name) / "config.json"))
        models.append({"name": m.name, "source": source, "description": m.description, "shape": shape})
    rows = describe_configs()
    if args.json:
        print(json.dumps({"models": models, "configurations": rows}, indent=2))
        return 0
    print("Pretrained models (load or fine-tune by name; those not in the package are fetched on first use):")
    for m in models:
        shape = m["shape"]
        size = ("shape known once fetched" if shape is None else
                f"{shape['family']}, {_shape_text(shape)}, {shape['parameters'] / 1e6:.2f}M parameters")  # fmt: skip
        print(f"  {m['name']:36s} {m['source']}\n  {'':36s} {m['description']}\n  {'':36s} {size}")
    print("\nConfigurations (shapes to pretrain or fine-tune from random weights):")
    print(f"{'name':15s} {'parameters':>12s} {'layers':>6s} {'heads':>5s} {'width':>5s} {'context':>7s} {'vocab':>6s}")
    for r in rows:
        print(
            f"{r['name']:15s} {r['parameters'] / 1e6:11.2f}M {r['layers']:6d} {r['heads'] or '-':>5} {r['width']:5d} "
            f"{r['context_tokens']:7d} {r['vocabulary']:6d}  {r['description']}"
        )
    print(
        "\nAlso readable: published DNAGPT .pth checkpoints (dnagpt convert-official), and directories of the "
        "gpn package (GPN, GPN-MSA) and of DNABERT-2 (config.json with its weights and tokenizer.json)."
    )
    return 0


def _shape_text(shape: dict) -> str:
    """``4 layers x 128 wide, 256 tokens`` (blocks for a ConvNet, which has no heads)."""
    unit = "layers" if shape["heads"] else "blocks"
    return f"{shape['layers']} {unit} x {shape['width']} wide, {shape['context_tokens']} tokens"


def _tokenize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="token-language text, e.g. '<R>ACGTACGTT<=><B>' (quote it in the shell)")
    p.add_argument("--k", type=int, default=6, help="k-mer length (default 6)")
    p.add_argument("--sixmers-only", action="store_true", help="6-mer-only vocabulary of the human model")


@command("tokenize", "show the token ids and pieces of a text in the DNAGPT token language", _tokenize_args)
def _tokenize(args: argparse.Namespace) -> int:
    from ..tokenizers import KmerTokenizer

    tok = KmerTokenizer(args.k, (args.k,) if args.sixmers_only else None)
    rows, canonical = tok.explain(args.text)
    for i, tid, piece in rows:
        print(f"{i}\t{tid}\t{piece}")
    print(f"# {len(rows)} tokens; canonical text: {canonical}")
    return 0


def _tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["train"], help="train: learn a BPE vocabulary from a corpus")
    p.add_argument("manifest", help='corpus manifest (TOML/YAML/JSON listing FASTA files and species), or "bundled"')
    p.add_argument("--vocab", type=positive_int, default=4096,
                   help="ids in all, the 34 reserved tokens and the five bases included (DNABERT-2: 4096)")  # fmt: skip
    p.add_argument("--out", required=True, help="folder for tokenizer.json (Hugging Face format) and its config")
    p.add_argument("--valid-fraction", type=float, default=0.1,
                   help="the last part of each record left out, as pretraining holds it out (default 0.1)")  # fmt: skip
    p.add_argument("--max-bases", type=positive_int, default=5_000_000,
                   help="at most this many bases per genome (default 5,000,000; held in memory)")  # fmt: skip


@command(
    "tokenizer",
    "learn a byte-pair (BPE) token vocabulary from a corpus, DNABERT-2 style",
    _tokenizer_args,
    group="train",
)
def _tokenizer(args: argparse.Namespace) -> int:
    from ..data.corpus import training_sequences
    from ..data.sources import cache_root
    from ..resources import BUNDLED_MANIFEST
    from ..tokenizers import train_bpe

    manifest = BUNDLED_MANIFEST if args.manifest == "bundled" else args.manifest
    sequences = training_sequences(manifest, cache_root() / "genomes", args.valid_fraction, args.max_bases)
    tok = train_bpe(sequences, args.vocab)
    where = tok.save_pretrained(args.out)
    print(f"{where}: {tok.vocab_size} ids, {tok.bases_per_token:.2f} bases per token on the training text")
    return 0


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="published checkpoint, e.g. dna_gpt0.1b_m.pth")
    p.add_argument("out_dir", help="directory to write model.safetensors, config.json, tokenizer.json")
    p.add_argument("--name", help="configuration (dna_gpt0.1b_h, dna_gpt0.1b_m, dna_gpt3b_m); inferred if omitted")


@command(
    "convert-official", "convert a published DNAGPT .pth checkpoint to safetensors", _convert_args, group="resources"
)
def _convert(args: argparse.Namespace) -> int:
    from ..models import convert_official

    model = convert_official(args.source, args.out_dir, name=args.name)
    print(f"wrote {args.out_dir} ({model.config.name}, {model.num_parameters() / 1e6:.1f}M parameters)")
    return 0
