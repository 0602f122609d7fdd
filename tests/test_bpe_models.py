"""Models that read a BPE vocabulary (DNABERT-2's token language): configured by ``tokenizer_file``,
pretrained by masked tokens, saved with their own copy of the vocabulary, fine-tuned and scored."""

import json
import shutil

import numpy as np
import pytest
import torch

from dnagpt import get_config
from dnagpt.data.fasta import read_fasta_records
from dnagpt.errors import ConfigError
from dnagpt.models import build_model, load_model
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.tokenizers import BPETokenizer, train_bpe
from dnagpt.training.pretrain import run_pretraining
from dnagpt.training.pretrain_config import load_pretrain_config
from test_pretrain import TINY, _train_losses


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DNAGPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    """A 256-id BPE vocabulary learned from 200 kbp of the bundled human sequence."""
    path = next(BUNDLED_MANIFEST.parent.glob("human_*.fa.gz"))
    bases = "".join(seq for _, seq in read_fasta_records(path))[:200_000]
    return train_bpe([bases], vocab_size=256).save_pretrained(tmp_path_factory.mktemp("bpe"))


def test_config_reads_the_vocabulary_and_the_saved_model_keeps_a_copy(tmp_path, bpe_dir):
    vocab = shutil.copytree(bpe_dir, tmp_path / "vocab")
    config = get_config("bert-tiny", tokenizer_file=str(vocab))
    original = config.tokenizer()
    assert config.vocab_size == 256 and isinstance(original, BPETokenizer)
    torch.manual_seed(0)
    model = build_model(config).eval()
    model.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["tokenizer_file"] == "tokenizer.json"  # the model's own copy, not the training folder
    shutil.rmtree(vocab)  # the original vocabulary is gone: the saved model still reads
    again = load_model(tmp_path / "m")
    tok = again.tokenizer()
    ids = torch.tensor([tok.encode("<R>ACGTTGCAAGGCTTAGGCATTT").ids])
    torch.testing.assert_close(again(ids).logits, model(ids).logits)
    assert tok.to_dict() == original.to_dict()


def test_a_vocabulary_that_is_not_there_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no tokenizer file"):
        get_config("bert-tiny", tokenizer_file=str(tmp_path / "missing"))


def test_encoder_pretrains_on_bpe_tokens_and_resumes(tmp_path, bpe_dir):
    vocab = bpe_dir
    text = TINY.format(steps=40, accum=1).replace(
        'config = "dnagpt-tiny"', f'config = "bert-tiny"\ntokenizer_file = "{vocab}"'
    )
    text = text.replace("eval_every = 0", "eval_every = 40").replace("lr = 3e-3", "lr = 1e-2")
    (tmp_path / "bert.toml").write_text(text)
    cfg = load_pretrain_config(str(tmp_path / "bert.toml"))
    evaluation = run_pretraining(cfg, tmp_path / "a")
    model = load_model(tmp_path / "a" / "model")
    assert isinstance(model.tokenizer(), BPETokenizer) and model.config.vocab_size == 256
    losses = [loss for _, loss in _train_losses(tmp_path / "a")]
    assert np.mean(losses[-10:]) < losses[0] - 0.4  # from ln 256 = 5.5 nats down
    assert evaluation["masked_loss"] < np.log(256) - 0.3  # better than guessing among the 256 ids
    run_pretraining(cfg, tmp_path / "b", stop_after=21)
    run_pretraining(cfg, tmp_path / "b", resume=True)
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")


def test_decoder_pretraining_refuses_bpe_clearly(tmp_path, bpe_dir):
    text = TINY.format(steps=2, accum=1).replace(
        'config = "dnagpt-tiny"', f'config = "dnagpt-tiny"\ntokenizer_file = "{bpe_dir}"'
    )
    (tmp_path / "gpt.toml").write_text(text)
    with pytest.raises(ConfigError, match="k-mer tokens"):
        run_pretraining(load_pretrain_config(str(tmp_path / "gpt.toml")), tmp_path / "run")


def test_bpe_encoder_fine_tunes_and_scores_variants(tmp_path, bpe_dir):
    from dnagpt.data.fasta import prepare_fasta
    from dnagpt.tasks.finetune import finetune
    from dnagpt.tasks.recipe import FinetuneConfig
    from dnagpt.tasks.spec import TaskData
    from dnagpt.vep.scoring import score_variants
    from dnagpt.vep.variants import Reference, Variant
    from test_finetune import SPEC, _examples

    torch.manual_seed(0)
    model = build_model(get_config("bert-tiny", tokenizer_file=str(bpe_dir)))
    cfg = FinetuneConfig(epochs=8, lr=3e-3, batch_size=16, patience=0, readout="mean", progress=False,
                         tensorboard=False)  # fmt: skip
    result = finetune(
        model, TaskData(SPEC, _examples(160, 0), _examples(32, 1), _examples(64, 2)), cfg, tmp_path / "run"
    )
    assert result.test["accuracy"] > 0.75
    tuned = load_model(result.best_dir)
    assert isinstance(tuned.tokenizer(), BPETokenizer)

    rng = np.random.default_rng(0)
    chrom = "".join(rng.choice(list("ACGT"), 2000))
    (tmp_path / "g.fa").write_text(f">chr1\n{chrom}\n")
    reference = Reference(prepare_fasta(tmp_path / "g.fa", tmp_path / "cache"))
    other = {"A": "G", "C": "T", "G": "A", "T": "C"}
    variants = [Variant("chr1", p, chrom[p - 1], other[chrom[p - 1]]) for p in (5, 1000, 1998)]  # ends included
    scores = score_variants(tuned.eval(), reference, variants, 120, "human")
    assert np.isfinite(scores["masked_llr"]).all() and (scores["embedding_distance"] > 0).all()


def test_named_dnabert2_shape_reads_the_shipped_vocabulary():
    config = get_config("dnabert-2")
    assert (config.family, config.n_layer, config.d_model, config.vocab_size) == ("bert", 12, 768, 4096)
    assert isinstance(config.tokenizer(), BPETokenizer) and config.positions == "alibi"
    with torch.device("meta"):
        trunk = sum(p.numel() for n, p in build_model(config).named_parameters() if n.startswith("transformer."))
    assert 110e6 < trunk < 120e6  # DNABERT-2: about 117M
