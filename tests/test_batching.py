"""Inference in batches of similar length: answers come back in input order, equal to one at a time."""

import numpy as np
import pytest
import torch

from dnagpt import get_config
from dnagpt.data.batching import length_sorted_batches
from dnagpt.models import build_model
from dnagpt.representations import embed_sequences
from dnagpt.tasks.codec import TaskCodec
from dnagpt.tasks.predict import predict_examples
from dnagpt.tasks.spec import TaskSpec, build_examples

SEQUENCES = ["ACGT" * n + "GATTACA"[: n % 7] for n in (3, 40, 9, 1, 25, 12, 40)]  # mixed lengths, one repeated


def test_batches_are_a_permutation_longest_first():
    lengths = [5, 9, 1, 9, 3, 7, 2]
    batches = length_sorted_batches(lengths, 3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert flat[:2] == [1, 3]  # equal lengths keep their input order
    with pytest.raises(ValueError, match="at least 1"):
        length_sorted_batches(lengths, 0)


@pytest.mark.parametrize("config", ["dnagpt-tiny", "bert-tiny", "gpn-tiny"])
def test_embeddings_in_input_order_equal_one_at_a_time(config):
    torch.manual_seed(0)
    model = build_model(get_config(config)).eval()
    together = embed_sequences(model, SEQUENCES, species="human", batch_size=3)
    for i, s in enumerate(SEQUENCES):
        alone = embed_sequences(model, [s], species="human", batch_size=1)[0]
        assert np.abs(together[i] - alone).max() < 1e-4, (config, i)


@pytest.mark.parametrize("config", ["dnagpt-tiny", "bert-tiny"])
def test_predictions_in_input_order_equal_one_at_a_time(config):
    torch.manual_seed(0)
    model = build_model(get_config(config)).eval()
    spec = TaskSpec.from_dict({"name": "t", "template": "classification", "labels": {"1": "A", "0": "N"}})
    examples = build_examples(spec, [{"sequence": s, "label": str(i % 2)} for i, s in enumerate(SEQUENCES)], "t")
    codec = TaskCodec(spec, model.tokenizer(), model.max_input_tokens)
    together = predict_examples(codec, model, examples, batch_size=3)
    for i, e in enumerate(examples):
        alone = predict_examples(codec, model, [e], batch_size=1)[0]
        assert np.abs(together[i] - alone).max() < 1e-5, (config, i)


def test_an_unknown_precision_is_a_clear_error():
    from dnagpt.errors import ConfigError

    model = build_model(get_config("dnagpt-tiny")).eval()
    with pytest.raises(ConfigError, match="precision 'bf32' is not one of fp32, bf16, fp16, auto"):
        embed_sequences(model, SEQUENCES[:1], precision="bf32")
