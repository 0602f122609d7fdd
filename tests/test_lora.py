"""LoRA adapters: only adapters and heads train, and merged weights reproduce the adapted model."""

import pytest
import torch

from dnagpt import DNAGPT, get_config

pytest.importorskip("peft")

from dnagpt.tasks.lora import add_lora, merged_state_dict


def test_merged_weights_reproduce_the_adapted_model():
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    add_lora(model, rank=4, alpha=8.0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith(("mlm_head", "num_regression", "number_embedding"))
                             for n in trainable)  # fmt: skip
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.endswith("c_attn.base_layer.weight"))
    with torch.no_grad():  # adapters start as a no-op (B = 0); make them matter
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    ids = torch.randint(40, 19_564, (2, 20))
    adapted = model(ids).logits
    plain = DNAGPT(get_config("dnagpt-tiny"))
    plain.load_state_dict(merged_state_dict(model.state_dict(), rank=4, alpha=8.0), strict=True)
    assert torch.allclose(plain(ids).logits, adapted, atol=1e-4)
