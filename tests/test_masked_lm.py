"""Masked-token pretraining of encoders: the masking rule, a run that learns, and an exact resume."""

import json

import numpy as np
import pytest

from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.models import load_model
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.tokenizers import KmerTokenizer
from dnagpt.training.masked_lm import MASK_TOKEN, MaskedSampler
from dnagpt.training.objectives import IGNORE
from dnagpt.training.pretrain import run_pretraining
from dnagpt.training.pretrain_config import load_pretrain_config
from test_pretrain import TINY, _train_losses


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DNAGPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_masking_rule(tmp_path):
    tok = KmerTokenizer(6)
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), tmp_path / "c", window_bp=600, valid_fraction=0.1)
    sampler = MaskedSampler(corpus, tok, 90, 100, mask_fraction=0.15, seed=3)
    chosen = masked = 0
    for i in range(200):
        ids, targets, _, weights = sampler.sample("train", i)
        assert (weights == 1).all()  # no repeat down-weighting asked for
        assert targets[0] == IGNORE  # the species token is never a target
        picked = targets != IGNORE
        assert round(0.15 * (len(ids) - 1)) == picked.sum()
        chosen += picked.sum()
        masked += (ids[picked] == tok.token_id(MASK_TOKEN)).sum()
        assert (ids[~picked] != tok.token_id(MASK_TOKEN)).all()
    assert 0.75 < masked / chosen < 0.85  # 80 % masked, the rest replaced or kept
    again, _, _, _ = sampler.sample("train", 7)
    assert np.array_equal(again, sampler.sample("train", 7)[0])  # a pure function of the index


@pytest.mark.parametrize("name", ["bert-tiny", "gpn-tiny"])
def test_encoder_pretrains_learns_beyond_composition_and_resumes_exactly(tmp_path, name):
    # single nucleotides (GPN's language): 39 ids, so 60 small steps are enough to see learning
    text = TINY.format(steps=60, accum=1).replace('config = "dnagpt-tiny"', f'config = "{name}"\nkmer = 1')
    text = text.replace("eval_every = 0", "eval_every = 60").replace("lr = 3e-3", "lr = 1e-2")
    (tmp_path / "bert.toml").write_text(text)
    cfg = load_pretrain_config(str(tmp_path / "bert.toml"))
    evaluation = run_pretraining(cfg, tmp_path / "a")
    assert load_model(tmp_path / "a" / "model").family == name.split("-")[0]
    losses = [loss for _, loss in _train_losses(tmp_path / "a")]
    assert np.mean(losses[-10:]) < losses[0] - 1.5  # from ln 39 = 3.7 nats towards the entropy of a base
    assert evaluation["masked_loss"] < evaluation["unigram_masked_loss"] + 0.1  # at least what composition gives
    run_pretraining(cfg, tmp_path / "b", stop_after=31)  # dies after step 31; last checkpoint: step 30
    run_pretraining(cfg, tmp_path / "b", resume=True)
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")
    assert json.loads((tmp_path / "b" / "evaluation.json").read_text()) == evaluation


def test_soft_masked_repeats_count_less_in_the_loss(tmp_path):
    rng = np.random.default_rng(0)
    bases = "".join(rng.choice(list("ACGT"), 6000))
    text = bases[:2000] + bases[2000:4000].lower() + bases[4000:]  # a 2 kbp "repeat" in the middle
    (tmp_path / "g.fa").write_text(">chr1\n" + "\n".join(text[i : i + 70] for i in range(0, 6000, 70)) + "\n")
    (tmp_path / "m.toml").write_text('[[genome]]\npath = "g.fa"\nspecies = "human"\n')
    corpus = Corpus(read_manifest(tmp_path / "m.toml"), tmp_path / "c", window_bp=600, valid_fraction=0.1)
    tok = KmerTokenizer(1)
    plain = MaskedSampler(corpus, tok, 500, 500, seed=1)
    weighted = MaskedSampler(corpus, tok, 500, 500, seed=1, repeat_weight=0.1)
    seen = set()
    for i in range(40):
        ids, _, _, weights = weighted.sample("train", i)
        assert np.array_equal(ids, plain.sample("train", i)[0])  # the same windows and masks either way
        rng = np.random.default_rng([1, 0, i, 7])  # the sampler's own draws for sample i
        rng.integers(500, 501)
        _, soft, _ = corpus.sample_window_softmask(rng, "train", 500)
        assert np.allclose(weights[1:], np.where(soft, 0.1, 1.0))  # single bases: inside the repeat or not
        seen |= set(soft.tolist())
    assert seen == {True, False}
