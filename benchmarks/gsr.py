"""Genomic signal recognition (paper section 4, Tables S2/S3): does pretraining help, and by how much?

For each dataset built by `dnagpt data build` (human TIS, human PAS AATAAA, human PAS all variants
from hg19 chr22 + GENCODE; Arabidopsis TIS from TAIR10 chr1) it scores on the same test windows:
  (a) the shipped pretrained model (dnagpt-small-multispecies) fine-tuned,
  (b) the same architecture fine-tuned from random weights,
  (c) logistic regression on 1..6-mer frequencies (L2 picked on dev),
  (d) a small CNN on one-hot DNA (3 conv blocks, global max pool; best dev epoch kept).

    python benchmarks/gsr.py [--datasets tis-human ...] [--epochs 5] [--pretrained NAME|DIR]

Writes benchmarks/results/gsr.json (after every model, so a killed run resumes where it stopped)
and benchmarks/gsr.md (the report, with the paper's figures beside ours).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from dnagpt.bench.harness import add_finetuning_arguments, finetune_on_tables
from dnagpt.data.datasets import DATASETS
from dnagpt.evaluation.classical import cnn_classifier, kmer_features, kmer_logistic_regression
from dnagpt.io import atomic_write_text
from dnagpt.tasks.finetune import starting_model
from dnagpt.tasks.spec import TaskSpec, load_task_dataset

HERE = Path(__file__).resolve().parent
MODELS = {
    "dnagpt_pretrained_finetuned": "DNAGPT pretrained, fine-tuned",
    "dnagpt_from_scratch": "DNAGPT from scratch",
    "kmer_logistic_regression": "k-mer logistic regression",
    "cnn": "small CNN",
}
# The paper's Tables S2 (DNAGPT-M) and S3 (DNAGPT-S-512): accuracy, F1, MCC, precision, recall in %.
PAPER = {
    "pas-aataaa-human": {"DNAGPT-M": (91.51, 91.51, 82.99, 91.52, 91.47),
                         "DNAGPT-S-512": (92.74, 92.74, 85.49, 92.75, 92.74)},
    "pas-all-human": {"DNAGPT-M": (90.63, 90.64, 81.28, 90.64, 90.64),
                      "DNAGPT-S-512": (92.05, 92.04, 84.11, 92.07, 92.04)},
    "tis-human": {"DNAGPT-M": (97.46, 97.46, 94.92, 97.47, 97.46),
                  "DNAGPT-S-512": (97.91, 97.91, 95.83, 97.92, 97.95)},
}  # fmt: skip
METRICS = ("accuracy", "f1", "mcc", "precision", "recall")


def run_model(name: str, spec: TaskSpec, tables: dict, work: Path, args) -> dict:
    sequences = {s: [r[spec.sequence_column] for r in rows] for s, rows in tables.items()}
    labels = {s: [int(r[spec.label_column]) for r in rows] for s, rows in tables.items()}
    start = time.perf_counter()
    if name == "kmer_logistic_regression":
        feats = [kmer_features(sequences[s]) for s in ("train", "dev", "test")]
        result = kmer_logistic_regression(*feats, labels["train"], labels["dev"], labels["test"])
    elif name == "cnn":
        result = cnn_classifier(*(sequences[s] for s in ("train", "dev", "test")),
                                labels["train"], labels["dev"], labels["test"], seed=args.seed)  # fmt: skip
    else:
        model = starting_model(args.pretrained, from_scratch=name == "dnagpt_from_scratch", seed=args.seed)
        return finetune_on_tables(model, spec, tables, work / name, args)
    return result | {"seconds": time.perf_counter() - start}


def report(results: dict, args) -> str:
    """The markdown report: our four models per dataset, then the paper's rows for the same task."""
    lines = [
        "# Genomic signal recognition: DNAGPT against baselines",
        "",
        "Regenerate with `python benchmarks/gsr.py` (figures in `benchmarks/results/gsr.json`).",
        f"Pretrained model: `{args.pretrained}`; fine-tuning {args.epochs:g} epochs, learning rate "
        f"{' or '.join(f'{x:g}' for x in args.lrs)} (picked on dev MCC, column lr), batch "
        f"{args.batch_size}, AdamW with one warm-up epoch then cosine, best dev MCC kept, seed {args.seed}, CPU.",
        "The k-mer logistic regression picks its L2 strength on dev; the CNN keeps its best dev epoch.",
        "All figures are on the test split (whole chromosome blocks that no training window overlaps), in %.",
        "`s.e.` is the binomial standard error of the accuracy on that test set.",
        "",
    ]
    for dataset, entry in results["datasets"].items():
        sizes = entry["sizes"]
        lines += [f"## {dataset}", "", f"{DATASETS[dataset].description}; train {sizes['train']}, dev {sizes['dev']}, "
                  f"test {sizes['test']} windows (classes balanced before the block split).", ""]  # fmt: skip
        lines += ["| model | acc | s.e. | F1 | MCC | precision | recall | AUROC | lr | seconds |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for key, label in MODELS.items():
            if key not in entry:
                continue
            r = entry[key]
            se = 100 * math.sqrt(r["accuracy"] * (1 - r["accuracy"]) / sizes["test"])
            cells = " | ".join(f"{100 * r[m]:.2f}" for m in METRICS)
            lr = f"{r['lr']:g}" if "lr" in r else "–"
            lines.append(f"| {label} | {cells.replace(' | ', f' | {se:.2f} | ', 1)} | {100 * r['auroc']:.2f} "
                         f"| {lr} | {r['seconds']:.0f} |")  # fmt: skip
        for paper_model, values in PAPER.get(dataset, {}).items():
            cells = " | ".join(f"{v:.2f}" for v in values)
            lines.append(f"| paper, {paper_model} (different data, see below) | "
                         f"{cells.replace(' | ', ' | – | ', 1)} | – | – | – |")  # fmt: skip
        lines.append("")
    lines += [
        "## How these data differ from the paper's",
        "",
        "- The paper follows DeepGSR on cDNA-supported sites of whole genomes (human: 20,933 PAS and "
        "28,244 TIS positives). Here only hg19 chr22 is installable (the human rows of a primate alignment, "
        "about 21.6 Mbp), with GENCODE hg19 annotation, so the human sets have a few hundred positives: "
        "test sets of 150-300 windows, where one standard error of accuracy is 2-4 points.",
        "- Positives: GENCODE start codons (TIS); for PAS, the hexamer nearest a GENCODE transcript end, "
        "within 40 bp upstream of it. Negatives: the same motif on either strand at least 300 bp from any "
        "annotated site (DeepGSR samples negatives with its own rules). 300 bp each side, the motif removed.",
        "- Splits are by 500 kb chromosome blocks (6 : 1.5 : 2.5), stricter than a random split: no test "
        "window overlaps a training window.",
        "- The paper's models have 0.1-3 billion parameters, 512-token contexts and pretraining on "
        "10-200 Gbp; the shipped model has 5.9 M parameters pretrained on 100 Mbp for 26 CPU minutes.",
        "- The paper has no Arabidopsis TIS; it is here because a whole plant chromosome is installable.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["tis-human", "pas-aataaa-human", "pas-all-human",
                                                          "tis-arabidopsis"])  # fmt: skip
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    add_finetuning_arguments(parser)
    parser.add_argument("--work", type=Path, default=Path("runs/gsr-benchmark"))
    parser.add_argument("--fresh", action="store_true", help="ignore finished results in the results file")
    args = parser.parse_args()
    results_file = HERE / "results" / "gsr.json"
    results = {"datasets": {}}
    if results_file.is_file() and not args.fresh:
        results = json.loads(results_file.read_text())
    for dataset in args.datasets:
        spec, tables = load_task_dataset(dataset, args.data)
        entry = results["datasets"].setdefault(dataset, {})
        entry["sizes"] = {s: len(rows) for s, rows in tables.items()}
        for name in args.models:
            if name in entry:
                continue  # finished in an earlier run
            entry[name] = run_model(name, spec, tables, args.work / dataset, args)
            print(dataset, name, json.dumps({m: round(entry[name][m], 4) for m in METRICS}), flush=True)
            results["settings"] = {k: str(v) for k, v in vars(args).items()}
            atomic_write_text(results_file, json.dumps(results, indent=2) + "\n")
    results["datasets"] = {d: results["datasets"][d] for d in args.datasets if d in results["datasets"]} | {
        d: v for d, v in results["datasets"].items() if d not in args.datasets
    }
    atomic_write_text(results_file, json.dumps(results, indent=2) + "\n")
    atomic_write_text(HERE / "gsr.md", report(results, args))
    print(f"wrote {HERE / 'gsr.md'}")


if __name__ == "__main__":
    sys.exit(main())
