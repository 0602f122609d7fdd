"""Write the DNABERT-2 parity fixtures with the authors' own model code (not run by CI).

    python scripts/make_dnabert2_fixtures.py REF_DIR [--out tests/fixtures/dnabert2]

REF_DIR holds a copy of the files of the published directory zhihan1996/DNABERT-2-117M:
bert_layers.py, bert_padding.py, configuration_bert.py (flash_attn_triton.py is not needed: triton is
blocked, so the reference runs its plain PyTorch attention). The fixtures were made from the copy in
the GitHub repository ashal-ali/CS224N_DNABERT2 at commit d064dece8a8b41d9fb8729fbe3435278786931f1,
which carries the Hugging Face repository's own history (bert_layers.py sha256 317ad7e9...edcf9), in an
environment with torch 2.13.0, transformers 5.25 and einops.

The model has the published width (768), heads (12), inner width (3072) and vocabulary (4096) and two
layers; its weights come from tests/dnabert2_weights.py (seeded), so the fixtures hold inputs and
outputs only: a padded batch of two rows and the shorter row alone, their masked-LM logits and last
hidden states in float32, and the row alone's also in float64 (free of the float32 rounding, which differs
between machines' matrix kernels by about 1e-5 at these logits' scale).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from dnabert2_weights import SEED, seeded_weights

CONFIG = {  # config.json of zhihan1996/DNABERT-2-117M, two layers instead of twelve
    "alibi_starting_size": 512, "attention_probs_dropout_prob": 0.0, "classifier_dropout": None,
    "auto_map": {"AutoConfig": "configuration_bert.BertConfig", "AutoModel": "bert_layers.BertModel",
                 "AutoModelForMaskedLM": "bert_layers.BertForMaskedLM",
                 "AutoModelForSequenceClassification": "bert_layers.BertForSequenceClassification"},
    "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768,
    "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
    "num_attention_heads": 12, "num_hidden_layers": 2, "position_embedding_type": "absolute",
    "torch_dtype": "float32", "transformers_version": "4.28.0", "type_vocab_size": 2, "use_cache": True,
    "vocab_size": 4096,
}  # fmt: skip
PAD, CLS, SEP = 3, 1, 2  # the published tokenizer's [PAD], [CLS], [SEP]


def load_reference(folder: Path):
    """The reference files as a package (they import each other relatively), triton blocked."""
    sys.modules["triton"] = None  # type: ignore[assignment]
    package = types.ModuleType("dnabert2_reference")
    package.__path__ = [str(folder)]  # type: ignore[attr-defined]
    sys.modules["dnabert2_reference"] = package
    config = importlib.import_module("dnabert2_reference.configuration_bert")
    layers = importlib.import_module("dnabert2_reference.bert_layers")
    assert layers.flash_attn_qkvpacked_func is None, "the reference must run its PyTorch attention"
    return config, layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="folder with the published bert_layers.py and companions")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/fixtures/dnabert2")
    args = parser.parse_args()
    config_module, layers = load_reference(args.reference)
    config = config_module.BertConfig(**CONFIG, is_decoder=False, pad_token_id=0)
    model = layers.BertForMaskedLM(config).eval()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    weights = seeded_weights(shapes)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    rng = np.random.default_rng(SEED)
    lengths, width = (37, 23), 40
    ids = np.full((2, width), PAD, dtype=np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = [CLS, *rng.integers(5, 4096, n - 2), SEP]
    mask = (np.arange(width)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    outputs = {}
    for suffix, dtype in (("", torch.float32), ("64", torch.float64)):  # fp64: the exact value, on any machine
        model.to(dtype)
        with torch.no_grad():
            batch = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
            alone = model(input_ids=torch.from_numpy(ids[1:, : lengths[1]]))
        outputs |= {f"alone_logits{suffix}": alone.logits.numpy(), f"alone_hidden{suffix}": alone.hidden_states.numpy()}
        if not suffix:  # the padded batch in float32 only, to keep the file small
            outputs |= {"logits": batch.logits.numpy(), "hidden": batch.hidden_states.numpy()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    np.savez_compressed(args.out / "fixtures.npz", input_ids=ids, attention_mask=mask, **outputs)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(args.reference.glob("*.py"))}  # fmt: skip
    meta = {"reference": "ashal-ali/CS224N_DNABERT2 @ d064dece8a8b41d9fb8729fbe3435278786931f1",
            "reference_sha256": digests, "torch": torch.__version__, "seed": SEED, "layers": 2}  # fmt: skip
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {args.out}: logits {tuple(batch.logits.shape)}")


if __name__ == "__main__":
    main()
