"""DNABERT-2's published encoder (zhihan1996/DNABERT-2-117M), read from its directory without running
the Python it ships: the model of its ``bert_layers.py`` (MosaicML's Mosaic BERT), computed densely.

A post-LayerNorm BERT without position embeddings: word and token-type embeddings, LayerNorm;
per layer, attention from one packed query/key/value projection with ALiBi biases (a slope per
head, symmetric in distance) and padding masked by -10000, then a gated-GELU feed-forward network
(one projection to twice the inner width, GELU on the first half times the second); the masked-LM
head transforms (dense, GELU, LayerNorm) and decodes with the word embeddings' matrix. Hidden
states at padded positions are zero, as the reference re-pads its packed rows with zeros.
Parity with the reference code is tested in ``tests/test_dnabert2.py``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..validation import build, settings
from .base import ModelOutput, PretrainedModel
from .config import MAX_LAYERS, MAX_TOKENS, MAX_WIDTH, ModelConfig
from .family import ModelFamily
from .layers import alibi_slopes


@settings
class DNABERT2Config(ModelConfig):
    """A DNABERT-2 ``config.json`` in dnagpt's terms (``d_model`` is ``hidden_size``)."""

    family: Literal["dnabert2"] = "dnabert2"  # type: ignore[assignment]
    # bounds far above the published model's (see config.MAX_LAYERS): the network is built before its
    # weights are checked
    vocab_size: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 4096
    context_length: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 512  # alibi_starting_size: ALiBi grows past it
    n_layer: Annotated[int, Field(ge=1, le=MAX_LAYERS)] = 12
    d_model: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 768
    n_head: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 12
    intermediate_size: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 3072
    type_vocab_size: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 2
    layer_norm_eps: Annotated[float, Field(gt=0)] = 1e-12

    foreign: ClassVar[bool] = True  # the authors' config.json and tokenizer.json

    def __post_init__(self) -> None:  # its BPE vocabulary is the file's, not dnagpt's token language
        if self.d_model % self.n_head:
            raise ConfigError(f"hidden_size ({self.d_model}) must be divisible by num_attention_heads ({self.n_head})")

    @classmethod
    def recognises(cls, data: dict) -> bool:
        """A DNABERT-2 config.json: ALiBi's ``alibi_starting_size`` or an ``auto_map`` into ``bert_layers``."""
        auto_map = data.get("auto_map")
        classes = auto_map.values() if isinstance(auto_map, dict) else ()
        return "alibi_starting_size" in data or any("bert_layers" in str(v) for v in classes)

    @classmethod
    def from_foreign(cls, data: dict, where: str) -> DNABERT2Config:
        """The configuration of the authors' ``config.json``; a field that would change the computation
        and that this reader does not know is an error naming it."""
        ignored = {"architectures", "auto_map", "model_type", "transformers_version", "torch_dtype", "dtype",
                   "_name_or_path", "initializer_range", "hidden_dropout_prob", "attention_probs_dropout_prob",
                   "classifier_dropout", "gradient_checkpointing", "use_cache", "pad_token_id", "is_decoder",
                   "max_position_embeddings", "position_embedding_type", "num_labels", "id2label", "label2id",
                   "problem_type", "bos_token_id", "eos_token_id"}  # fmt: skip
        renamed = {"hidden_size": "d_model", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                   "alibi_starting_size": "context_length"}  # fmt: skip
        if data.get("hidden_act", "gelu") != "gelu":
            raise ConfigError(f"{where}: hidden_act = {data['hidden_act']!r}; DNABERT-2 uses 'gelu', the only one read")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ConfigError(f"{where}: position_embedding_type = {data['position_embedding_type']!r} is not "
                              "DNABERT-2's (which uses ALiBi and no position embeddings)")  # fmt: skip
        fields = {"name": data.get("_name_or_path") or "DNABERT-2"}
        for key, value in data.items():
            if key in ignored or key == "hidden_act":
                continue
            fields[renamed.get(key, key)] = value
        return build(cls, fields, where)


class DNABERT2Layer(nn.Module):
    """Post-LayerNorm layer: ALiBi attention from a packed projection, then a gated-GELU network."""

    def __init__(self, cfg: DNABERT2Config) -> None:
        super().__init__()
        d, eps = cfg.d_model, cfg.layer_norm_eps
        self.heads, self.inner = cfg.n_head, cfg.intermediate_size
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.Wqkv = nn.Linear(d, 3 * d)
        self.attention.output = nn.Module()
        self.attention.output.dense, self.attention.output.LayerNorm = nn.Linear(d, d), nn.LayerNorm(d, eps=eps)
        self.mlp = nn.Module()
        self.mlp.gated_layers = nn.Linear(d, 2 * cfg.intermediate_size, bias=False)
        self.mlp.wo = nn.Linear(cfg.intermediate_size, d)
        self.mlp.layernorm = nn.LayerNorm(d, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.attention.self.Wqkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(b, t, d)
        x = self.attention.output.LayerNorm(x + self.attention.output.dense(context))
        gated, value = self.mlp.gated_layers(x).split(self.inner, dim=-1)
        return self.mlp.layernorm(x + self.mlp.wo(F.gelu(gated) * value))


class DNABERT2(PretrainedModel):
    """DNABERT-2's encoder and masked-LM head. ``forward`` returns hidden states (zero at padding)
    and token logits over its BPE vocabulary; ``attention_mask`` is False (or 0) on padding."""

    family = "dnabert2"
    causal = False
    pooling = "first"  # the authors' sequence classifier reads [CLS] (through a pooler)

    def __init__(self, config: DNABERT2Config) -> None:
        super().__init__(config)
        cfg, d = config, config.d_model
        self.bert = nn.Module()
        self.bert.embeddings = nn.Module()
        self.bert.embeddings.word_embeddings = nn.Embedding(cfg.vocab_size, d)
        self.bert.embeddings.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, d)
        self.bert.embeddings.LayerNorm = nn.LayerNorm(d, eps=cfg.layer_norm_eps)
        self.bert.encoder = nn.Module()
        self.bert.encoder.layer = nn.ModuleList(DNABERT2Layer(cfg) for _ in range(cfg.n_layer))
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        self.cls.predictions.transform = nn.Module()
        self.cls.predictions.transform.dense = nn.Linear(d, d)
        self.cls.predictions.transform.LayerNorm = nn.LayerNorm(d, eps=1e-12)  # fixed in the reference head
        self.cls.predictions.decoder = nn.Linear(d, cfg.vocab_size)
        self.tie_weights()

    def tie_weights(self) -> None:
        """The masked-LM decoder reads with the word embeddings' matrix, one parameter, as in the authors' model."""
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    @classmethod
    def adapt_state_dict(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The decoder shares the word embeddings' matrix (a file may hold it once); the pooler, which
        the masked-LM model does not use, is left out."""
        state = {k: v for k, v in state.items() if not k.startswith("bert.pooler.")}
        if "cls.predictions.decoder.weight" not in state and "bert.embeddings.word_embeddings.weight" in state:
            state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
        return state

    @property
    def max_input_tokens(self) -> None:
        return None  # ALiBi: no weight per position

    def forward(
        self,
        input_ids: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        compute_heads: bool = True,
        token_type_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Hidden states and masked-LM logits. DNABERT-2 reads no numbers."""
        b, t = input_ids.shape
        emb = self.bert.embeddings
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = emb.LayerNorm(emb.word_embeddings(input_ids) + emb.token_type_embeddings(types))
        keep = (
            torch.ones(b, t, dtype=torch.bool, device=input_ids.device)
            if attention_mask is None
            else attention_mask.bool()
        )
        positions = torch.arange(t, device=input_ids.device)
        distance = (positions[None, :] - positions[:, None]).abs().to(x.dtype)
        slopes = alibi_slopes(self.config.n_head).to(device=x.device, dtype=x.dtype)
        bias = -slopes[:, None, None] * distance[None] + (~keep).to(x.dtype)[:, None, None, :] * -10000.0
        for layer in self.bert.encoder.layer:
            x = layer(x, bias)
        x = x * keep[..., None].to(x.dtype)  # the reference re-pads its packed rows with zeros
        out = ModelOutput(hidden_states=x)
        if compute_heads:
            out.logits = self.token_logits(x)
        return out

    def token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The masked-LM head on hidden states of any shape ``[..., d_model]``."""
        p = self.cls.predictions
        return p.decoder(p.transform.LayerNorm(F.gelu(p.transform.dense(hidden))))

    def regression_output(self, hidden: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"{self.config.name}: DNABERT-2's published model has no regression head")


FAMILY = ModelFamily("dnabert2", DNABERT2Config, DNABERT2, "DNABERT-2 (the authors' published encoder)")
