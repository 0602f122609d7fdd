"""The DNABERT-2 style encoder family: bidirectional, padding kept out, saved and loaded by its
family, fine-tuned through the same tasks as the decoder."""

import pytest
import torch

from dnagpt import get_config
from dnagpt.errors import CheckpointError, ConfigError
from dnagpt.models import DNABERT, DNAGPT, build_model, load_model
from dnagpt.tasks.finetune import FinetuneConfig, finetune, starting_model
from test_finetune import SPEC, _examples


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return build_model(get_config("bert-tiny")).eval()


def test_every_position_sees_the_whole_input(encoder):
    ids = torch.randint(34, 100, (1, 40))
    changed = ids.clone()
    changed[0, 30:] = torch.randint(34, 100, (10,))
    a, b = encoder(ids).hidden_states, encoder(changed).hidden_states
    assert not torch.allclose(a[0, :30], b[0, :30])  # unlike the decoder, later tokens change earlier states


def test_padding_is_kept_out_with_the_attention_mask(encoder):
    tok = encoder.tokenizer()
    batch = tok.batch_encode(["<R>ACGTACGTTTGAACGTAC<+><M>0.5", "<R>ACG"])
    out = encoder(batch.input_ids, batch.numbers, batch.number_mask, attention_mask=batch.attention_mask)
    alone = encoder(tok.batch_encode(["<R>ACG"]).input_ids)
    torch.testing.assert_close(out.hidden_states[1, :2], alone.hidden_states[0])
    assert torch.isfinite(out.logits).all()
    assert "transformer.wpe.weight" not in encoder.state_dict()  # ALiBi: no weight per position
    assert encoder(torch.randint(34, 100, (1, 300))).hidden_states.shape == (1, 300, 64)  # past its context


def test_saved_family_is_loaded_by_the_registry_and_refused_by_the_other_class(encoder, tmp_path):
    encoder.save_pretrained(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert isinstance(again, DNABERT) and again.config.family == "bert"
    ids = torch.randint(34, 100, (2, 20))
    assert torch.equal(again(ids).logits, encoder(ids).logits)
    with pytest.raises(CheckpointError, match="holds a 'bert' model"):
        DNAGPT.from_pretrained(tmp_path / "m")
    assert isinstance(load_model(tmp_path / "m"), DNABERT) and not isinstance(build_model(get_config("dnagpt-tiny")),
                                                                              DNABERT)  # fmt: skip


def test_encoder_fine_tunes_on_a_classification_task(tmp_path):
    model = starting_model("bert-tiny", from_scratch=True, seed=0)
    assert isinstance(model, DNABERT)
    cfg = FinetuneConfig(epochs=8, lr=3e-3, batch_size=16, patience=0, readout="mean", progress=False,
                         tensorboard=False)  # fmt: skip
    result = finetune(model, SPEC, _examples(160, 0), _examples(32, 1), cfg, tmp_path / "run", test=_examples(64, 2))
    assert result.test["accuracy"] > 0.75
    assert isinstance(load_model(result.best_dir), DNABERT)


def test_an_encoder_cannot_learn_to_generate(tmp_path):
    from dnagpt.tasks.spec import TaskSpec

    spec = TaskSpec.from_dict({"name": "gen", "template": "generation"})
    with pytest.raises(ConfigError, match="cannot"):
        finetune(build_model(get_config("bert-tiny")), spec, [], [], FinetuneConfig(progress=False), tmp_path)
