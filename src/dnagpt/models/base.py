"""What every model family shares: its output, parameter count, tokenizer, and saving and loading
(safetensors + ``config.json`` naming the family + ``tokenizer.json``)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from .checkpoint import check_state_dict, read_checkpoint, write_checkpoint
from .config import ModelConfig
from .family import family_of
from .layers import KeyValue, projection_head


@dataclass
class ModelOutput:
    """What a forward pass returns."""

    hidden_states: torch.Tensor  # [batch, length, d_model], after the final LayerNorm
    logits: torch.Tensor | None = None  # [batch, length, vocab]: token scores (next or masked token, answers)
    regression: torch.Tensor | None = None  # [batch, length]: the number predicted at each position
    past_key_values: list[KeyValue] | None = None  # per layer, for incremental decoding (causal models)


def _task_head(d_model: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh(), nn.Linear(d_model, outputs))


def _init_module(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)


class PretrainedModel(nn.Module):
    """Base of every family: ``config`` holds the shape, and the subclass the network. The class
    attributes say what the rest of the toolkit needs to know of the family: pretraining, task
    readouts, variant scoring and fine-tuning defaults ask them, never the family's name."""

    family: ClassVar[str] = ""  # the config's family this class builds
    # True: each position sees only those before it (next-token pretraining, generation, variant scores
    # from the likelihood of the sequence); False: every position sees the whole input (masked-token
    # pretraining, padding must be masked, variant scores from the masked position)
    causal: ClassVar[bool] = True
    # whether fine-tuning shrinks a small model's loaded weights by default (tasks.warm_start); measured
    # for the DNAGPT decoder only, so the other families keep their weights as loaded
    shrinks_by_default: ClassVar[bool] = False
    # how dnagpt vep scores it: "likelihood" (dnagpt's scores, by `causal`) or "gpn" (GPN's own procedure)
    variant_scoring: ClassVar[str] = "likelihood"
    # what a sequence-level task head reads by default (a vocabulary without answer tokens): "mean" of
    # the final hidden states, or the "first" position ([CLS], where the authors' fine-tuning pools)
    pooling: ClassVar[str] = "mean"

    @property
    def reading_frames(self) -> int:
        """Bases per token of a k-mer model (the frames a sequence can be read in); 1 otherwise."""
        return self.tokenizer().reading_frames

    @property
    def aligned_species(self) -> int:
        """How many other species' aligned bases the model reads beside each base (GPN-MSA); 0: none."""
        return 0

    @property
    def max_input_tokens(self) -> int | None:
        """The longest input a task may give the model (prompt and answer tokens included): its
        context, or None where any length goes."""
        return self.config.context_length

    @classmethod
    def adapt_state_dict(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A file's state dict as this class names it (families reading another library's files
        drop what they compute themselves)."""
        return state

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # where from_pretrained read the weights; None: random weights (fine-tuning shrinks only loaded ones)
        self.loaded_from: str | None = None
        if config.task_outputs:
            self.task_head = _task_head(config.d_model, config.task_outputs)

    # ------------------------------------------------- pieces every family builds the same way
    def add_heads(self) -> None:
        """The numerical embedding and the two heads (Linear -> SiLU -> LayerNorm -> Linear each):
        a number's value -> embedding, hidden -> token logits, hidden -> one number."""
        d, eps, vocab = self.config.d_model, self.config.layer_norm_eps, self.config.vocab_size
        self.number_embedding = projection_head(1, d, d, eps)
        self.mlm_head = projection_head(d, d, vocab, eps)
        self.num_regression = projection_head(d, d, 1, eps)

    def init_weights(self, scale_residuals: bool = True) -> None:
        """Normal(0, 0.02) linear and embedding weights, LayerNorm gains of one; with
        ``scale_residuals`` the residual projections (``c_proj``) shrink with depth, as in GPT-2."""
        self.apply(_init_module)
        if scale_residuals:
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer))

    def embed_tokens(
        self, input_ids: torch.Tensor, numbers: torch.Tensor | None = None, number_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Token embeddings, with a number's embedding where ``number_mask`` says one sits."""
        emb = self.transformer.wte(input_ids)
        if number_mask is not None and numbers is not None:
            # Every position goes through the number embedding and the mask picks: selecting the
            # number positions first would need their count on the host, a device sync per call.
            num_emb = self.number_embedding(numbers.to(emb.dtype).unsqueeze(-1)).to(emb.dtype)
            emb = torch.where(number_mask.unsqueeze(-1), num_emb, emb)
        return emb

    def token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Token head on hidden states of any shape ``[..., d_model]``."""
        return self.mlm_head(hidden)

    def regression_output(self, hidden: torch.Tensor) -> torch.Tensor:
        """Regression head: one number per hidden state ``[..., d_model] -> [...]``."""
        return self.num_regression(hidden).squeeze(-1)

    def tie_weights(self) -> None:
        """Make the parameters the family shares one parameter again after loading (none by default)."""

    def add_task_head(self, outputs: int) -> None:
        """Give the model a fresh sequence-level task head with ``outputs`` outputs (one per class, or
        one for a number), as Hugging Face's sequence classifiers have: dense, tanh, linear. Fine-tuning
        adds it where the vocabulary cannot write answers; it is saved and loaded with the model."""
        self.config = dataclasses.replace(self.config, task_outputs=outputs)
        head = _task_head(self.config.d_model, outputs)
        head.apply(_init_module)
        self.task_head = head.to(next(self.parameters()).device)

    def task_output(self, pooled: torch.Tensor) -> torch.Tensor:
        """The task head on pooled hidden states ``[..., d_model] -> [..., task_outputs]``."""
        return self.task_head(pooled)

    def padded_hidden_states(
        self,
        input_ids: torch.Tensor,
        lengths: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        aux_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states of a right-padded batch whose rows hold ``lengths`` real tokens. A
        causal model never lets padding reach earlier positions; any other is told where it is.
        ``aux_features`` (other species' aligned bases) are for the families that read them."""
        if aux_features is not None:
            raise ConfigError(f"{self.config.name}: a {self.family!r} model reads no aligned bases")
        if self.causal:
            return self(input_ids, numbers, number_mask, compute_heads=False).hidden_states
        real = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :] < lengths[:, None]
        return self(input_ids, numbers, number_mask, attention_mask=real, compute_heads=False).hidden_states

    # ------------------------------------------------------------------------- utilities
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
        config, state = read_checkpoint(path, name)
        target = family_of(config).model if cls is PretrainedModel else cls
        if target.family != config.family:
            raise CheckpointError(f"{path}: holds a {config.family!r} model, not a {cls.family!r} one; load it "
                                  "with dnagpt.models.load_model (or that family's class)")  # fmt: skip
        with torch.device("meta"):  # shapes only; the file's tensors are assigned below
            model = target(config)
        state = target.adapt_state_dict(state)
        check_state_dict({k: tuple(v.shape) for k, v in model.state_dict().items()}, state, config.name, path)
        if dtype is not None:
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        model.tie_weights()
        model.loaded_from = str(path)
        return model.to(map_location).eval()
