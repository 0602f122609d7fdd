"""The encoder families (DNABERT-2 style transformer, GPN style ConvNet): bidirectional, padding kept
out, saved and loaded by family, fine-tuned through the same tasks as the decoder."""

import pytest
import torch

from dnagpt import get_config
from dnagpt.errors import CheckpointError, ConfigError
from dnagpt.models import DNABERT, DNAGPT, GPN, build_model, load_model
from dnagpt.tasks.finetune import finetune, starting_model
from dnagpt.tasks.recipe import FinetuneConfig
from dnagpt.tasks.spec import TaskData
from test_finetune import SPEC, _examples


@pytest.fixture(scope="module", params=["bert-tiny", "gpn-tiny"])
def encoder(request):
    torch.manual_seed(0)
    return build_model(get_config(request.param)).eval()


def test_every_position_sees_the_whole_input(encoder):
    vocab = encoder.tokenizer().vocab_size
    ids = torch.randint(34, vocab, (1, 40))
    changed = ids.clone()
    changed[0, 30:] = torch.randint(34, vocab, (10,))
    a, b = encoder(ids).hidden_states, encoder(changed).hidden_states
    assert not torch.allclose(a[0, :30], b[0, :30])  # unlike the decoder, later tokens change earlier states


def test_padding_is_kept_out_with_the_attention_mask(encoder):
    tok = encoder.tokenizer()
    batch = tok.batch_encode(["<R>ACGTACGTTTGAACGTAC<+><M>0.5", "<R>ACG"])
    out = encoder(batch.input_ids, batch.numbers, batch.number_mask, attention_mask=batch.attention_mask)
    alone = encoder(tok.batch_encode(["<R>ACG"]).input_ids)
    n = int(batch.lengths[1])
    torch.testing.assert_close(out.hidden_states[1, :n], alone.hidden_states[0])
    assert torch.isfinite(out.logits).all()
    assert "transformer.wpe.weight" not in encoder.state_dict()  # ALiBi or convolutions: no weight per position
    long = torch.randint(34, tok.vocab_size, (1, 600))
    assert encoder(long).hidden_states.shape == (1, 600, 64)  # past its context


def test_saved_family_is_loaded_by_the_registry_and_refused_by_the_other_class(encoder, tmp_path):
    encoder.save_pretrained(tmp_path / "m")
    again = load_model(tmp_path / "m")
    assert type(again) is type(encoder) and again.config.family == encoder.config.family
    ids = torch.randint(34, encoder.tokenizer().vocab_size, (2, 20))
    assert torch.equal(again(ids).logits, encoder(ids).logits)
    with pytest.raises(CheckpointError, match=f"holds a '{encoder.config.family}' model"):
        DNAGPT.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize("name,family", [("bert-tiny", DNABERT), ("gpn-tiny", GPN)])
def test_encoder_fine_tunes_on_a_classification_task(tmp_path, name, family):
    model = starting_model(name, from_scratch=True, seed=0)
    assert isinstance(model, family)
    cfg = FinetuneConfig(epochs=8, lr=3e-3, batch_size=16, patience=0, readout="mean", progress=False,
                         tensorboard=False)  # fmt: skip
    result = finetune(
        model, TaskData(SPEC, _examples(160, 0), _examples(32, 1), _examples(64, 2)), cfg, tmp_path / "run"
    )
    assert result.test["accuracy"] > 0.75
    assert isinstance(load_model(result.best_dir), family)


def test_a_convnet_fine_tunes_on_inputs_longer_than_its_pretraining_window(tmp_path):
    """Convolutions hold no weight per position, so a GPN reads a task's 60 bp through a 32-token
    window it was built with; learned positions cannot, and say so before any work."""
    from dnagpt.errors import DataError
    from dnagpt.tasks.codec import load_task_codec
    from dnagpt.tasks.predict import predict_examples

    cfg = FinetuneConfig(epochs=1, lr=3e-3, batch_size=16, patience=0, readout="mean", progress=False,
                         tensorboard=False)  # fmt: skip
    gpn = build_model(get_config("gpn-tiny", context_length=32))
    assert gpn.max_input_tokens is None
    result = finetune(gpn, TaskData(SPEC, _examples(32, 0), _examples(16, 1), _examples(16, 2)), cfg, tmp_path / "gpn")
    assert result.test["accuracy"] >= 0.0
    best = load_model(result.best_dir)
    preds = predict_examples(load_task_codec(result.best_dir, best), best, _examples(4, 3), windows=True)
    assert preds.shape[0] == 4  # one prediction per example, each read whole
    decoder = build_model(get_config("dnagpt-tiny", context_length=8))
    with pytest.raises(DataError, match="more than the model's context of 8"):
        finetune(decoder, TaskData(SPEC, _examples(32, 0), _examples(16, 1)), cfg, tmp_path / "dnagpt")


def test_an_encoder_reads_the_mean_unless_the_task_needs_its_answer_position(tmp_path):
    from dnagpt.tasks.codec import default_readout, load_task_codec
    from dnagpt.tasks.spec import TaskSpec

    numbers = TaskSpec.from_dict({"name": "af", "template": "mixed_regression", "number_columns": ["a", "b"]})
    several = TaskSpec.from_dict({"name": "ml", "template": "multilabel", "label_columns": ["x", "y"],
                                  "labels": {"0": "N", "1": "A"}})  # fmt: skip
    assert default_readout(causal=False, spec=SPEC) == "mean"
    assert default_readout(causal=True, spec=SPEC) == "answer"  # the paper's, for the decoder
    assert default_readout(causal=False, spec=numbers) == default_readout(False, several) == "answer"
    cfg = FinetuneConfig(epochs=1, batch_size=16, progress=False, tensorboard=False)
    result = finetune(
        build_model(get_config("bert-tiny")), TaskData(SPEC, _examples(32, 0), _examples(16, 1)), cfg, tmp_path / "run"
    )
    assert load_task_codec(result.best_dir, load_model(result.best_dir)).readout == "mean"  # kept for predict
    asked = FinetuneConfig(epochs=1, batch_size=16, readout="answer", progress=False, tensorboard=False)
    result = finetune(
        build_model(get_config("bert-tiny")),
        TaskData(SPEC, _examples(32, 0), _examples(16, 1)),
        asked,
        tmp_path / "asked",
    )
    assert load_task_codec(result.best_dir, load_model(result.best_dir)).readout == "answer"


def test_an_encoder_cannot_learn_to_generate(tmp_path):
    from dnagpt.tasks.spec import TaskSpec

    spec = TaskSpec.from_dict({"name": "gen", "template": "generation"})
    with pytest.raises(ConfigError, match="cannot"):
        finetune(build_model(get_config("bert-tiny")), TaskData(spec, [], []), FinetuneConfig(progress=False), tmp_path)


def test_embeddings_of_an_encoder_do_not_depend_on_the_batch(encoder):
    from dnagpt.representations import embed_sequences

    seqs = ["ACGTTGCAAGGCTTAACCGGTTAAGCTAGCTAGGCTTACGATCG", "GATTACA"]
    together = embed_sequences(encoder, seqs, species="human", batch_size=2)
    alone = embed_sequences(encoder, seqs[1:], species="human", batch_size=1)
    assert together.shape == (2, 64)
    assert abs(together[1] - alone[0]).max() < 1e-5
