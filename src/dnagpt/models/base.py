"""What every model family shares: its output, parameter count, tokenizer, and saving and loading
(safetensors + ``config.json`` naming the family + ``tokenizer.json``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..checkpoint import check_state_dict, read_checkpoint, write_checkpoint
from ..errors import CheckpointError
from .layers import KeyValue


@dataclass
class ModelOutput:
    """What a forward pass returns."""

    hidden_states: torch.Tensor  # [batch, length, d_model], after the final LayerNorm
    logits: torch.Tensor | None = None  # [batch, length, vocab]: token scores (next or masked token, answers)
    regression: torch.Tensor | None = None  # [batch, length]: the number predicted at each position
    past_key_values: list[KeyValue] | None = None  # per layer, for incremental decoding (causal models)


class PretrainedModel(nn.Module):
    """Base of every family: ``config`` holds the shape, and the subclass the network."""

    family: ClassVar[str] = ""  # the config's family this class builds
    causal: ClassVar[bool] = True  # False: every position sees the whole input (padding must be masked)

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config

    def num_parameters(self) -> int:
        """Number of parameters (embeddings and all heads included)."""
        return sum(p.numel() for p in self.parameters())

    def tokenizer(self):
        """The tokenizer matching this model's vocabulary."""
        return self.config.tokenizer()

    def save_pretrained(
        self,
        directory: str | Path,
        metadata: dict[str, str] | None = None,
        state_dict: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Write ``model.safetensors``, ``config.json`` and ``tokenizer.json`` to ``directory``.

        ``state_dict`` replaces the model's own, e.g. the gathered weights of a sharded model.
        """
        write_checkpoint(directory, self.config, state_dict or self.state_dict(), metadata)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        name: str | None = None,
        map_location: str | torch.device = "cpu",
        dtype: torch.dtype | None = torch.float32,
    ):
        """Load a model saved by :meth:`save_pretrained`, a shipped model by name
        (``dnagpt-small-multispecies``) or a published ``.pth`` file (then ``name`` picks the
        configuration, or it is inferred from the shapes). Every key and shape is checked first:
        a mismatch is an error listing all of them, never a silent skip. ``dtype`` casts the
        floating weights (None keeps the file's type). Called on this base class, it builds
        whichever family the saved configuration names."""
        from . import MODEL_FAMILIES

        config, state = read_checkpoint(path, name)
        family = getattr(config, "family", "dnagpt")
        target = MODEL_FAMILIES[family] if cls is PretrainedModel else cls
        if target.family != family:
            raise CheckpointError(f"{path}: holds a {family!r} model, not a {cls.family!r} one; load it with "
                                  "dnagpt.models.load_model (or that family's class)")  # fmt: skip
        with torch.device("meta"):  # shapes only; the file's tensors are assigned below
            model = target(config)
        check_state_dict({k: tuple(v.shape) for k, v in model.state_dict().items()}, state, config.name, path)
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        return model.to(map_location).eval()
