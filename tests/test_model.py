"""The network: shapes, vectorised numbers, padding and the key/value cache."""

import pytest
import torch

from dnagpt import DNAGPT, ConfigError, get_config

torch.manual_seed(0)


@pytest.fixture(scope="module", params=["learned", "rope", "alibi"])
def model(request):
    """A tiny model with each way of telling attention the positions: every test runs on all three."""
    torch.manual_seed(0)
    m = DNAGPT(get_config("dnagpt-tiny", positions=request.param)).eval()
    # Random LayerNorm gains so that every parameter matters in the comparisons.
    with torch.no_grad():
        for _name, p in m.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return m


@pytest.fixture(scope="module")
def tok(model):
    return model.tokenizer()


def test_output_shapes(model, tok):
    b = tok.batch_encode(["<R>ACGTACGTTTGA<=><B>", "<U>ACG<+><M>0.3<=><M>"])
    out = model(b.input_ids, b.numbers, b.number_mask)
    assert out.logits.shape == (2, b.input_ids.shape[1], tok.vocab_size)
    assert out.regression.shape == b.input_ids.shape
    assert out.hidden_states.shape == (*b.input_ids.shape, 64)


def test_numbers_change_outputs_only_from_their_position_on(model, tok):
    a = tok.batch_encode(["<R>ACGTAC<+><M>0.1,0.2<=><M>"])
    b = tok.batch_encode(["<R>ACGTAC<+><M>0.1,5.0<=><M>"])
    oa = model(a.input_ids, a.numbers, a.number_mask).logits
    ob = model(b.input_ids, b.numbers, b.number_mask).logits
    pos = int(a.number_mask[0].nonzero()[1])
    assert torch.allclose(oa[0, :pos], ob[0, :pos])
    assert not torch.allclose(oa[0, pos:], ob[0, pos:])


def test_batched_numbers_equal_one_sample_at_a_time(model, tok):
    texts = ["<R>ACGTAC<+><M>0.1,0.2,0.3<=><M>", "<S>A<+><M>-2<=><M>", "<Q>ACGTACGTACGTAC<=><B>", "<M>7,8<=><M>"]
    batch = tok.batch_encode(texts)
    out = model(batch.input_ids, batch.numbers, batch.number_mask)
    for row, text in enumerate(texts):
        one = tok.batch_encode([text])
        alone = model(one.input_ids, one.numbers, one.number_mask)
        n = int(batch.lengths[row])
        assert torch.allclose(out.logits[row, :n], alone.logits[0], atol=1e-5)
        assert torch.allclose(out.regression[row, :n], alone.regression[0], atol=1e-5)


def test_left_padding_with_mask_equals_unpadded(model, tok):
    texts = ["<R>ACGTACGTACGTACGTAC", "<R>GG<+><M>0.5<=><M>"]
    batch = tok.batch_encode(texts, padding_side="left")
    out = model(batch.input_ids, batch.numbers, batch.number_mask, attention_mask=batch.attention_mask)
    for row, text in enumerate(texts):
        one = tok.batch_encode([text])
        alone = model(one.input_ids, one.numbers, one.number_mask)
        assert torch.allclose(out.logits[row, -1], alone.logits[0, -1], atol=1e-5)
        assert torch.allclose(out.regression[row, -1], alone.regression[0, -1], atol=1e-5)
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("padding", ["none", "left"])
def test_kv_cache_equals_full_forward(model, tok, padding):
    texts = ["<R>ACGTACGTACGTACGTAC", "<R>GG<+><M>0.5<=>"] if padding == "left" else ["<R>ACGTACGTTTTTACGTAC"]
    batch = tok.batch_encode(texts, padding_side="left")
    ids, mask = batch.input_ids, batch.attention_mask
    extra = torch.randint(40, tok.vocab_size, (ids.shape[0], 5))
    full_ids = torch.cat([ids, extra], dim=1)
    full_mask = torch.cat([mask, torch.ones_like(extra, dtype=torch.bool)], dim=1)
    # prompt in one call, then one token at a time from the cache
    out = model(ids, batch.numbers, batch.number_mask, attention_mask=mask, use_cache=True)
    cache, steps = out.past_key_values, [out.logits[:, -1]]
    for j in range(extra.shape[1]):
        cur_mask = full_mask[:, : ids.shape[1] + j + 1]
        out = model(extra[:, j : j + 1], attention_mask=cur_mask, past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        steps.append(out.logits[:, -1])
    numbers_full = torch.cat([batch.numbers, torch.zeros_like(extra, dtype=torch.float32)], 1)
    full = model(
        full_ids,
        numbers_full,
        torch.cat([batch.number_mask, torch.zeros_like(extra, dtype=torch.bool)], 1),
        attention_mask=full_mask,
    )
    expected = full.logits[:, ids.shape[1] - 1 :]
    assert torch.allclose(torch.stack(steps, 1), expected, atol=1e-5)


def test_cache_with_several_new_tokens_at_once(model, tok):
    ids = torch.tensor([tok.encode("<R>ACGTACGTACGTACGTACGTAAAAAACCCCCCGGGGGG").ids])
    full = model(ids).logits
    first = model(ids[:, :3], use_cache=True)
    rest = model(ids[:, 3:], past_key_values=first.past_key_values)
    assert torch.allclose(torch.cat([first.logits, rest.logits], 1), full, atol=1e-5)


def test_positions_beyond_context_are_an_error_only_for_learned_positions(model):
    ids = torch.randint(34, 100, (1, 300))
    if model.config.positions == "learned":
        with pytest.raises(ConfigError, match="beyond the model's context of 128"):
            model(ids)
        return
    out = model(ids)  # rotary and ALiBi positions read past the training context
    assert torch.isfinite(out.logits).all()
    assert "transformer.wpe.weight" not in model.state_dict()


def test_causal_whatever_the_positions(model):
    ids = torch.randint(34, 100, (1, 40))
    changed = ids.clone()
    changed[0, 30:] = torch.randint(34, 100, (10,))
    a, b = model(ids).hidden_states, model(changed).hidden_states
    assert torch.allclose(a[0, :30], b[0, :30], atol=1e-6) and not torch.allclose(a[0, 30:], b[0, 30:])


def test_alibi_slopes_are_the_published_sequence():
    from dnagpt.models.layers import alibi_slopes

    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0**-i for i in range(1, 9)]))
    six = alibi_slopes(6)  # not a power of two: the 4-head slopes, then every other 8-head slope
    assert torch.allclose(six, torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]))


def test_parameter_counts_of_the_paper_sizes():
    def count(name):
        with torch.device("meta"):
            return DNAGPT(get_config(name)).num_parameters()

    for name in ("dna_gpt0.1b_h", "dna_gpt0.1b_m", "DNAGPT-H", "DNAGPT-M", "DNAGPT-S-512"):
        assert 0.09e9 < count(name) < 0.13e9, name
    for name in ("dna_gpt3b_m", "DNAGPT-B-512"):
        assert 2.9e9 < count(name) < 3.3e9, name


def test_bad_configurations_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown configuration 'gpt5'"):
        get_config("gpt5")
    with pytest.raises(ConfigError, match="divisible"):
        get_config("dnagpt-tiny", n_head=3)
    with pytest.raises(ConfigError, match="must be even"):
        get_config("dnagpt-tiny", d_model=30, n_head=2, positions="rope")
    with pytest.raises(ConfigError, match="positions"):
        get_config("dnagpt-tiny", positions="sinusoidal")


def test_saved_and_loaded_with_its_positions(model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    again = DNAGPT.from_pretrained(tmp_path / "m")
    assert again.config.positions == model.config.positions
    ids = torch.randint(34, 100, (2, 20))
    assert torch.equal(again(ids).logits, model(ids).logits)
