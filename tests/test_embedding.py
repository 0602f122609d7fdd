"""Sequence embeddings: pooling, windows for long sequences, the embed command."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from dnagpt import DNAGPT, InvalidSequenceError, get_config
from dnagpt.data.fasta import read_fasta_records
from dnagpt.representations import embed_sequences


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DNAGPT(get_config("dnagpt-tiny", context_length=32)).eval()


def test_pooling_matches_hidden_states(model):
    seqs = ["ACGTACGTTTGACCAGGT", "GGGCCCAAATTT" * 3]
    tok = model.tokenizer()
    mean = embed_sequences(model, seqs, species="human")
    last = embed_sequences(model, seqs, species="human", pooling="last")
    for i, s in enumerate(seqs):
        ids = torch.tensor([tok.encode_sequence(s, species="human")])
        h = model(ids).hidden_states[0].detach()
        assert np.allclose(mean[i], h[1:].mean(0).numpy(), atol=1e-5)  # the species token is left out
        assert np.allclose(last[i], h[-1].numpy(), atol=1e-5)


def test_long_sequences_need_windows(model):
    long = "ACGT" * 60  # 40 tokens > 31 after the species token
    with pytest.raises(InvalidSequenceError, match="seq9: 40 tokens"):
        embed_sequences(model, [long], species="human", names=["seq9"])
    vec = embed_sequences(model, [long], species="human", windows=True)
    parts = embed_sequences(model, [long[: 31 * 6], long[31 * 6 :]], species="human")
    assert np.allclose(vec[0], parts.mean(0), atol=1e-5)


def test_embed_command_fasta_to_npy(model, tmp_path):
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "in.fa").write_text(">a\nacgtacgtac\nGGTTAA\n>b\nRYACGTTT\n")
    assert read_fasta_records(tmp_path / "in.fa") == [("a", "ACGTACGTACGGTTAA"), ("b", "NNACGTTT")]
    cmd = [sys.executable, "-m", "dnagpt.cli", "embed", str(tmp_path / "m"), str(tmp_path / "in.fa"),
           "--out", str(tmp_path / "e.npy"), "--species", "yeast"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    vectors = np.load(tmp_path / "e.npy")
    expected = embed_sequences(model, ["ACGTACGTACGGTTAA", "NNACGTTT"], species="yeast")
    assert vectors.shape == (2, 64) and np.allclose(vectors, expected, atol=1e-6)


def test_embed_command_parquet_out(model, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "t.csv").write_text("sequence,label\nACGTACGTAC,1\nGGGTTTAAAC,0\n")
    cmd = [sys.executable, "-m", "dnagpt.cli", "embed", str(tmp_path / "m"), str(tmp_path / "t.csv"),
           "--out", str(tmp_path / "e.parquet"), "--pooling", "last"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    table = pq.read_table(tmp_path / "e.parquet").to_pylist()
    assert [r["name"] for r in table] == ["t.csv, row 1", "t.csv, row 2"]
    expected = embed_sequences(model, ["ACGTACGTAC", "GGGTTTAAAC"], pooling="last")
    assert np.allclose(np.array([r["embedding"] for r in table]), expected, atol=1e-6)
