"""Copy a finished pretraining run's model into models/NAME with a model card: the folder to upload as the
Hugging Face Hub repository dnagpt/NAME (add NAME to dnagpt.models.hub.NAMED_MODELS; the one bundled model
lives in src/dnagpt/resources/pretrained instead).

python scripts/ship_pretrained.py runs/multispecies-small dnagpt-small-multispecies
python scripts/ship_pretrained.py runs/gpn-small-multispecies gpn-small-multispecies   # encoders too

The pretraining command that made the run is given as the card's last lines (--command).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dnagpt import DNAGPT
from dnagpt.models import load_model

ROOT = Path(__file__).resolve().parents[1] / "models"


def main(run: Path, name: str, command: str = "") -> None:
    config = json.loads((run / "config.json").read_text())
    if config["model_config"].get("family", "dnagpt") != "dnagpt":
        return ship_encoder(run, name, config, command)
    ev = json.loads((run / "evaluation.json").read_text())
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    out = ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    for f in ("model.safetensors", "model.safetensors.sha256", "config.json", "tokenizer.json", "pretraining.json"):
        shutil.copy(run / "model" / f, out / f)
    model = DNAGPT.from_pretrained(out)
    mc, tc, data = config["model_config"], config["train"], config["data"]
    gc = config["gc_standardization"]
    facts = [
        ("parameters", f"{model.num_parameters():,} ({mc['n_layer']} layers, {mc['n_head']} heads, "
                       f"width {mc['d_model']})"),
        ("context", f"{mc['context_length']} tokens ({(mc['context_length'] - 5) * 6:,} bp of sequence)"),
        ("vocabulary", f"{mc['vocab_size']:,} (34 reserved tokens + every 1- to 6-mer: the published ids)"),
        ("corpus", "`dnagpt data build corpus-multispecies`: 100 Mbp of human (hg19 chr22, chr3/4/5 pieces), mouse, "
                   "cow, fly chr2R, worm chrX, Arabidopsis chr1, E. coli, yeast chrI, sampled by length; the last "
                   f"{data['valid_fraction']:.0%} of every record held out"),
        ("training", f"{tc['max_steps']:,} steps x {tc['batch_size']} windows of {data['min_tokens']}-"
                     f"{data['max_tokens']} 6-mers; AdamW lr {tc['lr']}, warm-up {tc['warmup_steps']}, cosine to "
                     f"{tc['min_lr_ratio']}x; weight decay {tc['weight_decay']}; bf16 autocast; seed {tc['seed']}"),
        ("loss", f"CE(next token) + CE(order) + {config['objective']['mse_weight']} x MSE(GC standardised with "
                 f"mean {gc['mean']:.4f}, sd {gc['std']:.4f})"),
        ("hardware", f"2 CPU cores, about {train[-1]['tokens_per_s']:,.0f} tokens/s"),
    ]  # fmt: skip
    table = "\n".join(f"| {k} | {v} |" for k, v in facts)
    baseline = f"k-mer unigram {ev['unigram_loss']:.3f}; per-species unigram {ev['species_unigram_loss']:.3f}"
    card = f"""# {name}

A small DNAGPT pretrained on real multi-species sequence with the paper's three tasks
(next 6-mer, sequence order, GC content). Load it with
`DNAGPT.from_pretrained("{name}")`; fine-tune it with
`dnagpt finetune {name} TASK.toml --train ...`.

| | |
| --- | --- |
{table}

Held-out evaluation ({ev["samples"]} windows from the held-out regions):

| task | model | baseline |
| --- | ---: | ---: |
| next 6-mer loss (nats) | {ev["next_token_loss"]:.3f} | {baseline} |
| sequence order accuracy | {ev["order_accuracy"]:.3f} | chance {ev["order_chance"]:.3f} |
| GC content R2 | {ev["gc_r2"]:.3f} | species mean {ev["gc_r2_species_mean"]:.3f} |

Limits: a toy next to the paper's 0.1B-3B models; 100 Mbp from eight species, no
zebrafish; reproduce with `dnagpt data build corpus-multispecies` and
`dnagpt pretrain demo --set data.manifest=CACHE/datasets/corpus-multispecies/manifest.toml \\
--max-steps {tc["max_steps"]}`.
"""
    (out / "MODEL_CARD.md").write_text(card)
    print(card)


def ship_encoder(run: Path, name: str, config: dict, command: str) -> None:
    """A masked-LM encoder (GPN or DNABERT-2 style): weights, and a card with its held-out masked loss."""
    ev = json.loads((run / "evaluation.json").read_text())
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    out = ROOT / name
    out.mkdir(parents=True, exist_ok=True)
    for f in ("model.safetensors", "model.safetensors.sha256", "config.json", "tokenizer.json", "pretraining.json",
              "tokenizer_config.json"):  # fmt: skip
        if (run / "model" / f).exists():  # tokenizer_config.json: BPE vocabularies only
            shutil.copy(run / "model" / f, out / f)
    model = load_model(out)
    mc, tc, data = config["model_config"], config["train"], config["data"]
    unit = "bases" if mc["kmer"] == 1 else f"{mc['kmer']}-mers"
    what = {"gpn": "a GPN-style dilated ConvNet over single bases", "bert": "a DNABERT-2-style encoder (ALiBi, GEGLU)"}
    facts = [
        ("family", f"{mc['family']}: {what[mc['family']]}"),
        ("parameters", f"{model.num_parameters():,} ({mc['n_layer']} blocks, width {mc['d_model']})"),
        ("context", f"{mc['context_length']} tokens ({unit})"),
        ("corpus", "`dnagpt data build corpus-multispecies` (as dnagpt-small-multispecies); the last "
                   f"{data['valid_fraction']:.0%} of every record held out"),
        ("training", f"masked-token prediction ({config['objective']['mask_fraction']:.0%} of tokens; 80/10/10); "
                     f"{tc['max_steps']:,} steps x {tc['batch_size']} windows of {data['min_tokens']}-"
                     f"{data['max_tokens']} {unit}; AdamW lr {tc['lr']}, warm-up {tc['warmup_steps']}, cosine to "
                     f"{tc['min_lr_ratio']}x; weight decay {tc['weight_decay']}; bf16 autocast; seed {tc['seed']}"),
        ("hardware", f"2 CPU cores shared with other jobs (last logged {train[-1]['tokens_per_s']:,.0f} tokens/s)"),
    ]  # fmt: skip
    if mc.get("tokenizer_file"):
        facts.insert(3, ("vocabulary", f"BPE, {mc['vocab_size']:,} ids (its tokenizer.json ships beside the weights)"))
    table = "\n".join(f"| {k} | {v} |" for k, v in facts)
    card = f"""# {name}

{what[mc["family"]][0].upper() + what[mc["family"]][1:]}, pretrained by masked-token prediction on real
multi-species sequence. Load it with `dnagpt.models.load_model("{name}")`; score variants
with `dnagpt vep {name} VCF --genome FASTA --out scores.parquet`; fine-tune it with
`dnagpt finetune {name} TASK.toml --readout mean --train ...`.

| | |
| --- | --- |
{table}

Held-out masked-token loss ({ev["masked_tokens"]:,} masked tokens of unseen windows):
{ev["masked_loss"]:.3f} nats (accuracy {ev["masked_accuracy"]:.3f}), against
{ev["unigram_masked_loss"]:.3f} for guessing from each species' token frequencies (counted over 16
training windows per held-out one: what composition alone gives).

Limits: a toy next to the published models (GPN: 25 x 512, DNABERT-2: 117M), trained
for under an hour on 2 CPU cores. Reproduce with `dnagpt data build corpus-multispecies` and
`{command or "dnagpt pretrain demo ..."}`.
"""
    (out / "MODEL_CARD.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], " ".join(sys.argv[3:]))
