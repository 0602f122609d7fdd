"""The pretrained models dnagpt names: each loads by name (the bundled one from the package, the others
from the checkout's models folder or the Hub) and works on sequence it never trained on."""

import json

import numpy as np
import pytest
import torch

from dnagpt import DNAGPT
from dnagpt.data.fasta import read_fasta_records
from dnagpt.data.regions import parse_region
from dnagpt.evaluation.metrics import r_squared
from dnagpt.models.checkpoint import resolve_model_path
from dnagpt.models.hub import checkout_models
from dnagpt.resources import BUNDLED_MANIFEST

NAME = "dnagpt-small-multispecies"
pytestmark = pytest.mark.skipif(not (checkout_models() / NAME).is_dir(), reason="not a checkout with its models")


@torch.no_grad()
# pretrained on a CPU, on a GPU, and on a GPU then a CPU
@pytest.mark.parametrize("name", [NAME, "dnagpt-small-multispecies-gpu", "dnagpt-small-multispecies-continued"])
def test_shipped_model_reads_held_out_yeast(name):
    model = DNAGPT.from_pretrained(name)
    folder = resolve_model_path(name)
    card = json.loads((folder / "pretraining.json").read_text())
    assert (folder / "MODEL_CARD.md").exists()
    assert (folder / "model.safetensors").stat().st_size < 50 * 2**20
    tok = model.tokenizer()
    mean, sd = card["gc_standardization"]["mean"], card["gc_standardization"]["std"]
    # yeast chrI's last 10 % (from 207,197 on) was held out of the model's pretraining (data.valid_fraction
    # = 0.1); the bundled corpus's last yeast piece lies there
    name, tail = read_fasta_records(BUNDLED_MANIFEST.parent / "yeast_sacCer_R64_chrI.fa.gz")[-1]
    assert parse_region(name)[1] > 0.9 * 230_218
    rng = np.random.default_rng(0)
    gc_true, gc_pred, order_right = [], [], 0
    for i in range(40):
        start = int(rng.integers(0, len(tail) - 1200))
        window = tail[start : start + 1200]
        forward = i % 2 == 0
        bases = window if forward else window[::-1]
        ids = [*tok.encode_sequence(bases, species="yeast"), tok.output_id, tok.binary_id]
        out = model(torch.tensor([ids]))
        order_right += int((out.logits[0, -1, tok.yes_id] > out.logits[0, -1, tok.no_id]).item() == forward)
        answer = tok.yes_id if forward else tok.no_id
        full = model(torch.tensor([[*ids, answer, tok.number_id]]))
        gc_pred.append(float(full.regression[0, -1]) * sd + mean)
        gc_true.append(sum(b in "GC" for b in window.upper()) / len(window))
    assert order_right / 40 > 0.7  # chance is 0.5
    assert r_squared(np.array(gc_true), np.array(gc_pred)) > 0.5


@torch.no_grad()
def test_shipped_gpn_predicts_masked_held_out_bases_beyond_composition():
    """The shipped single-base ConvNet guesses masked bases of held-out yeast better than the
    window's own base frequencies would (a bar that composition alone cannot pass)."""
    from dnagpt.models import load_model
    from dnagpt.training.masked_lm import MASK_TOKEN

    model = load_model("gpn-small-multispecies")
    tok = model.tokenizer()
    _, tail = read_fasta_records(BUNDLED_MANIFEST.parent / "yeast_sacCer_R64_chrI.fa.gz")[-1]
    rng = np.random.default_rng(1)
    model_nats, composition_nats, count = 0.0, 0.0, 0
    for _ in range(30):
        start = int(rng.integers(0, len(tail) - 500))
        window = tail[start : start + 500].upper()
        ids = torch.tensor([[tok.species_id("yeast"), *tok.encode_bases(window)]])
        hidden = ids.clone()
        picked = rng.choice(np.arange(1, ids.shape[1]), size=60, replace=False)
        hidden[0, picked] = tok.token_id(MASK_TOKEN)
        log_probs = torch.log_softmax(model(hidden).logits[0, picked].float(), dim=-1)
        model_nats -= float(log_probs[torch.arange(len(picked)), ids[0, picked]].sum())
        counts = {b: window.count(b) + 1 for b in "ACGT"}
        total = sum(counts.values())
        composition_nats -= sum(np.log(counts[window[i - 1]] / total) for i in picked)
        count += len(picked)
    assert model_nats / count < composition_nats / count - 0.01  # measured: 1.336 against 1.360 nats


@torch.no_grad()
def test_shipped_bert_predicts_masked_held_out_6mers_beyond_composition():
    """The shipped DNABERT-2 style encoder guesses masked 6-mers of held-out yeast (the last 10 % of
    chrI, held out in pretraining) better than the 6-mer frequencies of the first 90 % do."""
    from dnagpt.models import load_model
    from dnagpt.training.masked_lm import MASK_TOKEN

    model = load_model("bert-small-multispecies")
    tok = model.tokenizer()
    seq = "".join(s for _, s in read_fasta_records(BUNDLED_MANIFEST.parent / "yeast_sacCer_R64_chrI.fa.gz")).upper()
    head, tail = seq[: int(len(seq) * 0.9)], seq[int(len(seq) * 0.9) :]
    counts = np.zeros(tok.vocab_size)
    for frame in range(6):
        np.add.at(counts, tok.encode_bases(head[frame:]), 1)
    frequency = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
    rng = np.random.default_rng(1)
    model_nats, composition_nats, count = 0.0, 0.0, 0
    for _ in range(30):
        start = int(rng.integers(0, len(tail) - 1500))
        ids = torch.tensor([[tok.species_id("yeast"), *tok.encode_bases(tail[start : start + 1500])]])
        hidden = ids.clone()
        picked = rng.choice(np.arange(1, ids.shape[1]), size=37, replace=False)
        hidden[0, picked] = tok.token_id(MASK_TOKEN)
        log_probs = torch.log_softmax(model(hidden).logits[0, picked].float(), dim=-1)
        model_nats -= float(log_probs[torch.arange(len(picked)), ids[0, picked]].sum())
        composition_nats -= float(np.log(frequency[ids[0, picked].numpy()]).sum())
        count += len(picked)
    assert model_nats / count < composition_nats / count - 0.03  # measured: 8.145 against 8.221 nats
