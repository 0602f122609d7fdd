"""Batched sampling from the cache against the plain re-run-the-prefix loop."""

import pytest
import torch

from dnagpt import DNAGPT, ConfigError, get_config
from dnagpt.generation import SamplingConfig, filter_logits, generate


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DNAGPT(get_config("dnagpt-tiny")).eval()


def _greedy_without_cache(model, prompt, steps, stop):
    """One prompt at a time, the whole prefix recomputed at every step (the published method)."""
    tok = model.tokenizer()
    ids = tok.encode(prompt).ids
    new = []
    for _ in range(steps):
        nxt = int(model(torch.tensor([ids + new])).logits[0, -1].argmax())
        if nxt in stop:
            return new, True
        new.append(nxt)
    return new, False


@pytest.mark.parametrize("positions", ["learned", "rope", "alibi"])
def test_batched_cached_greedy_equals_one_by_one_full_recompute(positions):
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny", positions=positions)).eval()
    prompts = ["<R>ACGTACGTTTGACCA", "<S>GG", "<Q>ATGATGATGATGATGATGATGCCC"]  # left padding of 0-3 tokens
    cfg = SamplingConfig(max_new_tokens=12, temperature=0)
    tok = model.tokenizer()
    stop = {tok.pad_id, 0}
    for gen, prompt in zip(generate(model, prompts, cfg), prompts, strict=True):
        expected, stopped = _greedy_without_cache(model, prompt, 12, stop)
        assert gen.token_ids == expected and gen.stopped == stopped


def test_samples_are_seeded_and_stop_tokens_end_a_sequence(model):
    tok = model.tokenizer()
    cfg = SamplingConfig(max_new_tokens=20, temperature=1.5, num_samples=4, seed=7)
    a = generate(model, ["<R>ACGTAC", "<U>TTTT"], cfg)
    b = generate(model, ["<R>ACGTAC", "<U>TTTT"], cfg)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.prompt_index for g in a] == [0, 0, 0, 0, 1, 1, 1, 1]
    # make one frequent token a stop token: every sequence that drew it ends right before it
    common = max(range(tok.vocab_size), key=lambda t: sum(g.token_ids.count(t) for g in a))
    stopped = generate(model, ["<R>ACGTAC", "<U>TTTT"], SamplingConfig(20, 1.5, num_samples=4, seed=7,
                                                                      stop_ids=(common,)))  # fmt: skip
    for full, cut in zip(a, stopped, strict=True):
        if common in full.token_ids:
            assert cut.stopped and cut.token_ids == full.token_ids[: full.token_ids.index(common)]
        else:
            assert cut.token_ids == full.token_ids


def test_filters():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)[0, 2:]).all()
    assert torch.isfinite(filter_logits(logits, top_k=2)[0, :2]).all()
    probs = torch.softmax(logits, -1)[0]  # 0.644, 0.237, 0.087, 0.032
    kept = torch.isfinite(filter_logits(logits, top_p=0.9))[0].tolist()
    assert kept == [True, True, True, False] and probs[:2].sum() < 0.9 <= probs[:3].sum()
    assert torch.isfinite(filter_logits(logits, top_p=0.5))[0].tolist() == [True, False, False, False]


def test_too_long_is_a_clear_error(model):
    with pytest.raises(ConfigError, match="exceeds the model's context of 128"):
        generate(model, ["<R>ACGT"], SamplingConfig(max_new_tokens=200))


def test_allowed_tokens_restrict_every_step(model):
    tok = model.tokenizer()
    choices = [tok.token_id("ACGTAC"), tok.token_id("TTTTTT")]
    allowed = torch.zeros(5, model.config.vocab_size, dtype=torch.bool)
    allowed[:, choices] = True
    allowed[4] = False
    allowed[4, tok.pad_id] = True  # the last step may only stop
    cfg = SamplingConfig(max_new_tokens=8, temperature=1.5, num_samples=20, seed=1, allowed=allowed)
    for gen in generate(model, ["<R>"], cfg):
        assert gen.stopped and len(gen.token_ids) == 4 and set(gen.token_ids) <= set(choices)


def test_sampling_follows_the_probabilities_and_never_draws_a_zero():
    from dnagpt.generation import _choose

    probs = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0])
    logits = torch.log(probs).repeat(100_000, 1)
    draws = _choose(logits, SamplingConfig(temperature=1.0), torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=6) / len(draws)
    assert freq[[0, 2, 5]].sum() == 0
    assert torch.allclose(freq, probs, atol=0.01)
