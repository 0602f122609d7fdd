"""Weights: our safetensors format, and the published .pth files against a re-statement."""

import pickle

import pytest
import torch

from dnagpt import DNAGPT, CheckpointError, get_config
from dnagpt.models import convert_official
from reference_dnagpt import random_official_state, reference_forward, reference_tokenize, reference_vocab

SEQ = "ATTCTGAAATAAAGCCTTGACGTTAGGCATCCATTGCAAATAAACGGTTAAC"


def _published(tmp_path, name, layout, seed=0):
    cfg = get_config(name)
    state = random_official_state(cfg.vocab_size, cfg.context_length, cfg.n_layer, cfg.d_model, seed=seed)
    path = tmp_path / f"{name}.pth"
    torch.save({"model": state, "epoch": 3} if layout == "wrapped" else state, path)
    return cfg, state, path


@pytest.mark.parametrize("layout", ["bare", "wrapped"])
def test_converted_tiny_checkpoint_reproduces_reference(tmp_path, layout):
    cfg, state, path = _published(tmp_path, "dnagpt-tiny", layout)
    model = convert_official(path, tmp_path / "converted", name="dnagpt-tiny")
    again = DNAGPT.from_pretrained(tmp_path / "converted")
    tok = again.tokenizer()
    text = "<R>" + SEQ
    ids = tok.encode(text).ids
    assert ids == reference_tokenize(text, reference_vocab(dynamic=True))
    ref_logits, _ = reference_forward(state, cfg.n_head, ids)
    with torch.no_grad():
        for m in (model, again):
            ours = m(torch.tensor([ids])).logits[0].double()
            assert (ours - ref_logits).abs().max() < 1e-4


@pytest.mark.parametrize("name,dynamic", [("dna_gpt0.1b_m", True), ("dna_gpt0.1b_h", False)])
@torch.no_grad()
def test_published_size_checkpoints_reproduce_reference(tmp_path, name, dynamic):
    """Full-size 0.1B layouts: generation logits, the classification answer, the regression output."""
    cfg, state, path = _published(tmp_path, name, "wrapped", seed=1)
    model = DNAGPT.from_pretrained(path)  # configuration inferred from the shapes
    assert model.config.name == name
    tok = model.tokenizer()
    vocab = reference_vocab(dynamic)

    # generation prompt: logits at every position
    text = "<R>" + SEQ
    ids = tok.encode(text).ids
    assert ids == reference_tokenize(text, vocab)
    ref_logits, _ = reference_forward(state, cfg.n_head, ids)
    ours = model(torch.tensor([ids])).logits[0].double()
    max_diff = (ours - ref_logits).abs().max().item()
    assert max_diff < 1e-3 * ref_logits.abs().max().item(), max_diff
    assert torch.equal(ours.argmax(-1), ref_logits.argmax(-1))

    # classification prompt: the arg-max answer token at the last position
    text = "<R>" + SEQ + "<=><R>"
    ids = tok.encode(text).ids
    ref_logits, _ = reference_forward(state, cfg.n_head, ids)
    assert int(model(torch.tensor([ids])).logits[0, -1].argmax()) == int(ref_logits[-1].argmax())

    # regression prompt: sequence <+><M> eight numbers <=><M>, read at the last position
    numbers = [0.31, -1.2, 2.5, 0.0, 7.75, -0.05, 1.0, 3.3]
    enc = tok.encode("<R>" + SEQ + "<+><M>" + ",".join(map(str, numbers)) + "<=><M>")
    plain = reference_tokenize("<R>" + SEQ + "<+><M><=><M>", vocab)
    _, ref_reg = reference_forward(state, cfg.n_head, plain, numbers, insert_numbers_after=len(plain) - 3)
    batch = tok.batch_encode([enc])
    ours_reg = model(batch.input_ids, batch.numbers, batch.number_mask).regression[0, -1].item()
    assert abs(ours_reg - ref_reg[-1].item()) < 1e-4 * max(1.0, abs(ref_reg[-1].item()))


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny")).eval()
    model.save_pretrained(tmp_path / "m")
    files = ["config.json", "model.safetensors", "model.safetensors.sha256", "tokenizer.json", "tokenizer_config.json"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == files
    again = DNAGPT.from_pretrained(tmp_path / "m")
    ids = torch.randint(0, 19_564, (2, 30))
    assert torch.equal(model(ids).logits, again(ids).logits)


def test_tampered_weights_are_refused(tmp_path):
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit pattern flipped in the last weight: still a valid safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: its SHA-256 .* does not match"):
        DNAGPT.from_pretrained(tmp_path / "m")


def test_mismatched_weights_list_every_problem(tmp_path):
    _cfg, state, _ = _published(tmp_path, "dnagpt-tiny", "bare")
    del state["transformer.h.1.ln_2.weight"]
    state["transformer.wpe.weight"] = torch.zeros(64, 64)
    state["lm_head.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as err:
        DNAGPT.from_pretrained(tmp_path / "bad.pth", name="dnagpt-tiny")
    msg = str(err.value)
    assert "3 problems" in msg
    assert "missing: transformer.h.1.ln_2.weight" in msg
    assert "unexpected: lm_head.weight" in msg
    assert "shape of transformer.wpe.weight: file [64, 64], model [128, 64]" in msg


def test_truncated_files_are_clear_errors(tmp_path):
    _, _, path = _published(tmp_path, "dnagpt-tiny", "bare")
    data = path.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        DNAGPT.from_pretrained(tmp_path / "cut.pth", name="dnagpt-tiny")
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"SHA-256 .* damaged, truncated"):
        DNAGPT.from_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors.sha256").unlink()  # without its digest: the reader's own check
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        DNAGPT.from_pretrained(tmp_path / "m")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {"x": torch.zeros(1)}, "hook": _Payload()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError, match="weights_only=True") as err:
        DNAGPT.from_pretrained(path, name="dnagpt-tiny")
    assert "weights_only` set to `False`" not in str(err.value)  # never pass on advice to load unsafely


def test_unknown_shapes_ask_for_a_name(tmp_path):
    state = random_official_state(19_564, 100, 1, 32)
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match="cannot tell the configuration"):
        DNAGPT.from_pretrained(tmp_path / "odd.pth")
