"""How many directions do a model's hidden states use? Pretrained against random weights.

A model that learned only composition squeezes every position into the few directions that
predict k-mer frequencies; fine-tuning must then grow the rest back. This measures, on held-out
real windows (the bundled task's dev split), the effective rank (exp of the entropy of the
normalised singular values, Roy & Vetterli 2007) of the centred hidden states: over every token,
over mean-pooled sequences and over last positions; and the RMS of the weight matrices.
Each model beside a copy of its shape with random weights.

    python benchmarks/representation_rank.py                    # the shipped models
    python benchmarks/representation_rank.py --models runs/x/model --out runs/x/rank.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from dnagpt.bench.harness import write_results
from dnagpt.data.tables import read_table
from dnagpt.models import PretrainedModel, build_model, load_model
from dnagpt.models.hub import NAMED_MODELS
from dnagpt.resources import BUNDLED_DATASETS
from dnagpt.tokenizers import species_token

RESULTS = Path(__file__).resolve().parent / "results"


def effective_rank(rows: torch.Tensor) -> float:
    """exp(entropy) of the singular-value distribution of the centred ``[n, d]`` rows."""
    centred = rows.float() - rows.float().mean(0, keepdim=True)
    s = torch.linalg.svdvals(centred)
    p = s / s.sum()
    return float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))


@torch.no_grad()
def describe(model: PretrainedModel, sequences: list[str]) -> dict:
    """Effective ranks of the hidden states and the weights' RMS, for one model."""
    model.eval()
    tok = model.tokenizer()
    batch = tok.batch_encode([species_token("Arabidopsis thaliana") + s for s in sequences])
    keep = batch.attention_mask
    hidden = model(batch.input_ids, attention_mask=None if model.causal else keep, compute_heads=False).hidden_states
    mean = (hidden * keep.unsqueeze(-1)).sum(1) / keep.sum(1, keepdim=True)
    last = hidden[torch.arange(hidden.shape[0]), batch.lengths - 1]
    matrices = [w for w in model.state_dict().values() if w.dim() == 2]
    return {
        "width": model.config.d_model,
        "rank_tokens": effective_rank(hidden[keep]),
        "rank_mean_pooled": effective_rank(mean),
        "rank_last_position": effective_rank(last),
        "weight_rms": float(torch.cat([w.float().flatten() for w in matrices]).pow(2).mean().sqrt()),
    }


def held_out_sequences(n: int = 64) -> list[str]:
    """The first ``n`` dev windows of the bundled task (600 bp, Arabidopsis): never trained on."""
    return [r["sequence"] for r in read_table(BUNDLED_DATASETS / "tis_arabidopsis" / "dev.csv.gz")[:n]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped = sorted(NAMED_MODELS)
    parser.add_argument("--models", nargs="+", default=shipped, help="shipped names or directories")
    parser.add_argument("--sequences", type=int, default=64, help="dev windows of the bundled task to read")
    parser.add_argument("--out", type=Path, default=RESULTS / "representation_rank.json")
    args = parser.parse_args()
    sequences = held_out_sequences(args.sequences)
    torch.manual_seed(0)
    result = {"sequences": len(sequences), "data": "tis_arabidopsis dev split (600 bp, Arabidopsis)"}
    for name in args.models:
        model = load_model(name)
        result[str(name)] = {"pretrained": describe(model, sequences),
                             "random_weights": describe(build_model(model.config), sequences)}  # fmt: skip
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
