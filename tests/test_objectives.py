"""The pretraining loss and its fused linear cross-entropy."""

import pytest
import torch
import torch.nn.functional as F

from dnagpt import DNAGPT, get_config
from dnagpt.training import fused_ce
from dnagpt.training.fused_ce import linear_cross_entropy


@pytest.mark.parametrize("n", [1, 255, 256, 700])
def test_fused_cross_entropy_equals_plain_in_float32(n, monkeypatch):
    torch.manual_seed(n)
    x = torch.randn(n, 32, requires_grad=True)
    w = (torch.randn(500, 32) * 0.3).requires_grad_()
    y = torch.randint(0, 500, (n,))
    fused = linear_cross_entropy(x, w, y)
    (gx, gw) = torch.autograd.grad(fused * 3.0, (x, w))
    plain = F.cross_entropy(x @ w.T, y)
    (px, pw) = torch.autograd.grad(plain * 3.0, (x, w))
    assert torch.allclose(fused, plain, atol=1e-6)
    assert torch.allclose(gx, px, atol=1e-6) and torch.allclose(gw, pw, atol=1e-6)


def test_fused_cross_entropy_under_bf16_autocast_is_close():
    torch.manual_seed(0)
    x = torch.randn(300, 64, requires_grad=True)
    w = (torch.randn(1000, 64) * 0.1).requires_grad_()
    y = torch.randint(0, 1000, (300,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused = linear_cross_entropy(x, w, y)
        plain = F.cross_entropy(x @ w.T, y)
    assert abs(fused.item() - plain.item()) < 2e-2
    fused.backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(w.grad).all()


def test_pretraining_loss_terms_match_their_definitions():
    from dnagpt.data.corpus import Corpus, read_manifest
    from dnagpt.resources import BUNDLED_MANIFEST
    from dnagpt.training.objectives import IGNORE, pretrain_loss
    from dnagpt.training.pretrain_samples import PretrainSampler

    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    tok = model.tokenizer()
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), "/tmp/dnagpt-test-cache", window_bp=60 * 6)
    batch = PretrainSampler(corpus, tok, 30, 60, seed=1).batch("train", range(6))
    out = pretrain_loss(model, batch, tok.yes_id, tok.no_id, mse_weight=0.5)
    logits = model(batch.input_ids).logits
    rows = torch.arange(6)
    targets = batch.targets.clone()
    targets[rows, batch.order_index] = IGNORE
    expected_ntp = F.cross_entropy(logits.reshape(-1, tok.vocab_size), targets.reshape(-1), ignore_index=IGNORE)
    expected_order = F.cross_entropy(logits[rows, batch.order_index], batch.targets[rows, batch.order_index])
    gc = model(batch.input_ids).regression[rows, batch.gc_index]
    expected_mse = F.mse_loss(gc, batch.gc)
    assert torch.allclose(out.next_token, expected_ntp, atol=1e-5)
    assert torch.allclose(out.order, expected_order, atol=1e-5)
    assert torch.allclose(out.gc_mse, expected_mse, atol=1e-6)
    assert torch.allclose(out.total, expected_ntp + expected_order + 0.5 * expected_mse, atol=1e-5)


def test_chunk_size_does_not_change_the_result(monkeypatch):
    torch.manual_seed(1)
    x, w, y = torch.randn(90, 16), torch.randn(50, 16), torch.randint(0, 50, (90,))
    x.requires_grad_()
    a = linear_cross_entropy(x, w.requires_grad_(), y)
    monkeypatch.setattr(fused_ce, "CHUNK_TOKENS", 7)
    b = linear_cross_entropy(x, w, y)
    assert torch.allclose(a, b, atol=1e-6)


def test_chunks_are_small_on_a_cpu_and_large_on_a_gpu():
    assert fused_ce.chunk_tokens(torch.device("cpu"), 19_564) == fused_ce.CHUNK_TOKENS
    gpu = fused_ce.chunk_tokens(torch.device("cuda"), 19_564)
    assert gpu * 19_564 * 4 <= fused_ce.GPU_CHUNK_BYTES < (gpu + 1) * 19_564 * 4  # 1 GiB of fp32 logits
    assert fused_ce.chunk_tokens(torch.device("cuda"), 10**8) == fused_ce.CHUNK_TOKENS  # never below the CPU's
