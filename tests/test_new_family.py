"""A model family is one module plus one registry line: a fourth family, defined here and
registered from this file, goes through fine-tuning, ``dnagpt embed`` and ``dnagpt vep`` untouched."""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from dnagpt.cli import main
from dnagpt.models import FAMILIES, ModelConfig, ModelFamily, ModelOutput, PretrainedModel, load_model
from dnagpt.models.family import register_family
from dnagpt.tasks.finetune import finetune
from dnagpt.tasks.recipe import FinetuneConfig
from dnagpt.tasks.spec import TaskData, TaskSpec, build_examples
from dnagpt.validation import settings


@settings
class MixerConfig(ModelConfig):
    """Single bases, each position mixed with the mean of the whole window: a masked model."""

    family: Literal["mixer"] = "mixer"  # type: ignore[assignment]
    kmer: int = 1


class Mixer(PretrainedModel):
    family = "mixer"
    causal = False

    def __init__(self, config: MixerConfig) -> None:
        super().__init__(config)
        d = config.d_model
        self.transformer = nn.ModuleDict(dict(wte=nn.Embedding(config.vocab_size, d), mix=nn.Linear(2 * d, d),
                                              ln_f=nn.LayerNorm(d)))  # fmt: skip
        self.add_heads()
        self.init_weights()

    @property
    def max_input_tokens(self) -> None:
        return None

    def forward(self, input_ids, numbers=None, number_mask=None, attention_mask=None, compute_heads=True):
        x = self.embed_tokens(input_ids, numbers, number_mask)
        keep = torch.ones_like(input_ids, dtype=x.dtype) if attention_mask is None else attention_mask.to(x.dtype)
        mean = (x * keep[..., None]).sum(1, keepdim=True) / keep.sum(1, keepdim=True)[..., None].clamp(min=1)
        h = self.transformer.ln_f(x + torch.tanh(self.transformer.mix(torch.cat([x, mean.expand_as(x)], -1))))
        out = ModelOutput(hidden_states=h)
        if compute_heads:
            out.logits, out.regression = self.token_logits(h), self.regression_output(h)
        return out


@pytest.fixture()
def mixer_family():
    register_family(ModelFamily("mixer", MixerConfig, Mixer, "test mixer"))  # the one registry line
    yield
    FAMILIES.pop("mixer")


def _gc_examples(spec: TaskSpec, n: int, seed: int):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rich = i % 2
        bases = "GC" * 3 + "AT" if rich else "AT" * 3 + "GC"
        rows.append({"sequence": "".join(rng.choice(bases) for _ in range(40)), "label": str(rich)})
    return build_examples(spec, rows, "gc table")


def test_a_family_registered_from_outside_fine_tunes_embeds_and_scores_variants(mixer_family, tmp_path):
    torch.manual_seed(0)
    config = MixerConfig(vocab_size=39, context_length=64, n_layer=1, d_model=32, name="mixer-test")
    spec = TaskSpec.from_dict({"name": "gc", "template": "classification", "labels": {"1": "A", "0": "N"}})
    data = TaskData(spec, _gc_examples(spec, 64, 0), _gc_examples(spec, 32, 1), _gc_examples(spec, 32, 2))
    cfg = FinetuneConfig(epochs=10, lr=1e-2, batch_size=16, patience=0, progress=False, tensorboard=False)
    result = finetune(Mixer(config), data, cfg, tmp_path / "run")
    assert result.test["accuracy"] > 0.75  # GC-rich against AT-rich is easy for any model that learns
    kept = load_model(result.best_dir)  # config.json names the family; the registry builds it
    assert isinstance(kept, Mixer) and kept.config == config

    fasta = tmp_path / "seqs.fa"
    fasta.write_text(">a\nACGTACGTGGCC\n>b\nTTTTAAAACC\n")
    assert main(["embed", str(result.best_dir), str(fasta), "--out", str(tmp_path / "emb.npy")]) == 0
    assert np.load(tmp_path / "emb.npy").shape == (2, 32)

    rng = random.Random(1)
    chromosome = "".join(rng.choice("ACGT") for _ in range(600))
    (tmp_path / "genome.fa").write_text(f">chr1\n{chromosome}\n")
    alt = "A" if chromosome[299] != "A" else "C"
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\t"
                                    f"FILTER\tINFO\nchr1\t300\t.\t{chromosome[299]}\t{alt}\t.\t.\t.\n")  # fmt: skip
    out = tmp_path / "scores.parquet"
    args = ["vep", str(result.best_dir), str(tmp_path / "v.vcf"), "--genome", str(tmp_path / "genome.fa"),
            "--out", str(out), "--window", "48", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    scores = pq.read_table(out).to_pylist()
    assert len(scores) == 1 and np.isfinite(scores[0]["masked_llr"])  # a masked model: the masked-position score
