"""Attention maps and report pictures."""

import subprocess
import sys

import pytest
import torch

from dnagpt import DNAGPT, get_config
from dnagpt.evaluation.metrics import classification_metrics
from dnagpt.evaluation.plots import confusion_matrix_png, scatter_png


def test_attention_maps_are_causal_distributions():
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny")).eval()
    ids = torch.tensor([model.tokenizer().encode_sequence("ACGTTTGACCAGGTACCA" * 4, species="human")])
    maps = model.attention_maps(ids)
    t = ids.shape[1]
    assert maps.shape == (2, t, t)
    assert torch.allclose(maps.sum(-1), torch.ones(2, t), atol=1e-5)
    assert torch.all(maps.triu(diagonal=1) == 0)
    # layer 1 by hand: softmax(q k^T / sqrt(d)) of the first block, averaged over heads
    block = model.transformer.h[0]
    x = block.ln_1(model.embed(ids))[0]
    q, k, _ = block.attn.c_attn(x).split(64, dim=-1)
    q, k = q.view(t, 2, 32).transpose(0, 1), k.view(t, 2, 32).transpose(0, 1)
    scores = (q @ k.transpose(1, 2) / 32**0.5).masked_fill(~torch.ones(t, t, dtype=torch.bool).tril(), -torch.inf)
    assert torch.allclose(maps[0], torch.softmax(scores, -1).mean(0).detach(), atol=1e-5)


def test_pictures_are_written(tmp_path):
    truth, predicted = [1, 0, 1, 1], [1, 0, 0, 1]
    confusion_matrix_png(truth, predicted, ["no", "yes"], tmp_path / "c.png", classification_metrics(truth, predicted))
    confusion_matrix_png([0, 1, 2], [0, 2, 2], ["donor", "acceptor", "neither"], tmp_path / "c3.png")
    scatter_png([1, 2, 3], [1.1, 1.9, 3.2], tmp_path / "s.png", {"r2": 0.9, "pearson": 0.95})
    for name in ("c.png", "s.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_attention_command(tmp_path):
    torch.manual_seed(0)
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    (tmp_path / "s.fa").write_text(">tis\n" + "ACGTTTGACCAGGTACCA" * 5 + "\n")
    cmd = [sys.executable, "-m", "dnagpt.cli", "attention", str(tmp_path / "m"), "--fasta", str(tmp_path / "s.fa"),
           "--species", "human", "--out", str(tmp_path / "a.png")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "2 attention maps of 16 x 16 tokens" in out.stdout and (tmp_path / "a.png").exists()


def test_without_matplotlib_a_figure_command_says_what_to_install(monkeypatch):
    import importlib.util

    from dnagpt.errors import ConfigError
    from dnagpt.evaluation import plots

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert not plots.can_draw()
    with pytest.raises(ConfigError, match=r"pip install 'dnagpt\[plots\]'"):
        plots.pyplot()
