"""GPN's own architectures, read from the directories that the ``gpn`` package's ``save_pretrained``
writes: the original ConvNet (``model_type`` "ConvNet", e.g. songlab/gpn-brassicales), the current
``GPN`` configuration with its three encoders (convnet, bytenet, roformer) and GPN-MSA's transformer
("GPNRoFormer", e.g. songlab/gpn-msa-sapiens), which reads the aligned bases of other species.

Module names equal the ``gpn`` package's state-dict keys, so its weights load as they are; every
key and shape is checked. Parity with the ``gpn`` package is tested in ``tests/test_gpn_original.py``.
In dependency order: configuration, the blocks of each convolutional encoder, model (the RoFormer
layer is in :mod:`.layers`).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..tokenizers import TokenLanguage
from ..tokenizers.foreign import BaseVocabulary
from ..validation import build, settings
from .base import ModelOutput, PretrainedModel
from .config import MAX_LAYERS, MAX_TOKENS, MAX_WIDTH, MODEL_TYPE, ModelConfig
from .family import ModelFamily
from .layers import RoFormerLayer, rotary_table

GPN_TYPES = ("ConvNet", "GPN", "GPNRoFormer")  # the model_type values of the gpn package's masked models
_SS_IDS = {"A": 3, "C": 4, "G": 5, "T": 6, "?": 2}  # the single-sequence vocabulary; "?": anything else ([UNK])
_MSA_IDS = {"-": 0, "A": 1, "C": 2, "G": 3, "T": 4, "?": 0}  # GPN-MSA's; an unknown base reads as a gap
MAX_KERNEL = 4096


@settings
class GPNOriginalConfig(ModelConfig):
    """A ``gpn`` package configuration in dnagpt's terms (``d_model`` is GPN's ``hidden_size``,
    ``n_layer`` its layer count); the rest keep GPN's names and meaning."""

    family: Literal["gpn-original"] = "gpn-original"  # type: ignore[assignment]
    model_type: Literal["ConvNet", "GPN", "GPNRoFormer"] = "GPN"
    vocab_size: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 7  # [PAD] [MASK] [UNK] a c g t (GPN-MSA: - A C G T ?)
    kmer: Annotated[int, Field(ge=1, le=12)] = 1
    context_length: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 512  # the window it was trained on
    n_layer: Annotated[int, Field(ge=1, le=MAX_LAYERS)] = 12
    d_model: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 768
    embedding: Literal["one_hot", "embedding"] = "one_hot"
    encoder: Literal["convnet", "bytenet", "roformer"] = "convnet"
    intermediate_size: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 2048
    first_kernel_size: Annotated[int, Field(ge=1, le=MAX_KERNEL)] = 9
    rest_kernel_size: Annotated[int, Field(ge=1, le=MAX_KERNEL)] = 5
    dilation_double_every: Annotated[int, Field(ge=1)] = 1
    dilation_max: Annotated[int, Field(ge=1)] = 9999
    dilation_cycle: Annotated[int, Field(ge=1)] = 8
    dilation_base: Annotated[int, Field(ge=1)] = 2
    depthwise: bool = False
    bias: bool = False  # Linear, Conv and LayerNorm outside the RoFormer layers carry a bias
    mlm_head_transform: bool = True
    slim: bool = False  # bytenet: blocks work at half width
    n_head: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 12  # roformer encoders
    roformer_eps: Annotated[float, Field(gt=0)] = 1e-12  # the RoFormer layers' LayerNorm eps
    # GPN-MSA: one-hot channels of the other species' bases
    n_aux_features: Annotated[int, Field(ge=0, le=MAX_WIDTH)] = 0
    aux_features_vocab_size: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 5

    foreign: ClassVar[bool] = True  # its config.json and tokenizer.json are the gpn package's, not dnagpt's
    # dnagpt's config.json keeps "model_type" for transformers' Auto classes ("dnagpt"); GPN's own goes here
    saved_keys: ClassVar[frozenset[str]] = frozenset({"gpn_model_type"})

    def to_dict(self) -> dict:
        """The fields as dnagpt's ``config.json`` holds them: GPN's model type as ``gpn_model_type``."""
        d = super().to_dict()
        d["gpn_model_type"], d["model_type"] = self.model_type, MODEL_TYPE
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "model configuration") -> GPNOriginalConfig:
        """Read :meth:`to_dict`'s fields (or those of an older dnagpt, whose ``model_type`` was GPN's)."""
        if isinstance(d, dict) and "gpn_model_type" in d:
            d = {**{k: v for k, v in d.items() if k != "gpn_model_type"}, "model_type": d["gpn_model_type"]}
        return super().from_dict(d, where)

    def __post_init__(self) -> None:  # GPN's vocabulary is its own, so the k-mer check does not apply
        if self.encoder == "roformer" and self.d_model % self.n_head:
            raise ConfigError(f"hidden_size ({self.d_model}) must be divisible by num_attention_heads ({self.n_head})")
        if self.vocab_size + self.n_aux_features > self.d_model:
            raise ConfigError(f"{self.vocab_size} tokens and {self.n_aux_features} alignment channels do not fit "
                              f"the one-hot embedding of width {self.d_model}")  # fmt: skip

    @property
    def mask_id(self) -> int:
        """The id of GPN's mask token ([MASK]; GPN-MSA's "?")."""
        return 5 if self.model_type == "GPNRoFormer" else 1

    def tokenizer(self) -> TokenLanguage:
        """The directory's tokenizer.json where it has one (the single-sequence models ship theirs), else
        the vocabulary the gpn package builds in code: GPN-MSA's "- A C G T ?" (an unknown base reads as a
        gap, "?" masks), or the single-sequence "[PAD] [MASK] [UNK] a c g t"."""
        if self.tokenizer_file is not None:
            return super().tokenizer()
        if self.model_type == "GPNRoFormer":
            return BaseVocabulary("GPN-MSA's bases", list("-ACGT?"), {b: i for i, b in enumerate("ACGT", 1)},
                                  unknown=0, pad=0, mask=5)  # fmt: skip
        return BaseVocabulary("GPN's bases", ["[PAD]", "[MASK]", "[UNK]", "a", "c", "g", "t"],
                              {b: i for i, b in enumerate("ACGT", 3)}, unknown=2, pad=0, mask=1)  # fmt: skip

    def encode_bases(self, bases: str) -> list[int]:
        """GPN's ids of ``bases`` (upper or lower case alike; N and anything else unknown): [PAD] 0,
        [MASK] 1, [UNK] 2, a 3, c 4, g 5, t 6 (the gpn package's tokenizer); GPN-MSA's: - A C G T ?"""
        table = _MSA_IDS if self.model_type == "GPNRoFormer" else _SS_IDS
        return [table.get(b, table["?"]) for b in bases.upper()]

    def dilation(self, layer: int) -> int:
        """The dilation of ``layer``'s convolution, as GPN schedules it."""
        step = (layer % self.dilation_cycle) // self.dilation_double_every
        return min(self.dilation_max, self.dilation_base**step)

    def kernel(self, layer: int) -> int:
        return self.first_kernel_size if layer == 0 else self.rest_kernel_size

    @classmethod
    def recognises(cls, data: dict) -> bool:
        """A ``config.json`` of the gpn package's masked models, by its ``model_type``."""
        return data.get("model_type") in GPN_TYPES

    @classmethod
    def from_foreign(cls, data: dict, where: str) -> GPNOriginalConfig:
        """The configuration a ``gpn`` package ``config.json`` describes; an option this reader does not
        know is an error naming it, so a newer gpn release cannot be read wrongly."""
        kind = data["model_type"]
        known_meta = {
            "model_type",
            "architectures",
            "dtype",
            "torch_dtype",
            "transformers_version",
            "_name_or_path",
            "initializer_range",
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "hidden_act",
            "regression_softplus",
            "pad_token_id",
            "tie_word_embeddings",
            "embedding_size",
            "type_vocab_size",
            "use_cache",
            "rotary_value",
            "group_tokens",
            "output_hidden_states",
            "return_dict",
            "chunk_size_feed_forward",
            "is_decoder",
            "add_cross_attention",
            "bos_token_id",
            "eos_token_id",
            "id2label",
            "label2id",
            "problem_type",
            "is_encoder_decoder",
            "output_attentions",
            "classification_head",
            "pos_weight",
        }  # fmt: skip  (training, or the classification head)
        renamed = {"hidden_size": "d_model", "num_hidden_layers": "n_layer", "n_layers": "n_layer",
                   "num_attention_heads": "n_head", "max_position_embeddings": "context_length",
                   "layer_norm_eps": "roformer_eps"}  # fmt: skip
        defaults: dict[str, Any] = {
            "ConvNet": dict(vocab_size=7, d_model=512, n_layer=25, embedding="one_hot", encoder="convnet",
                            dilation_max=32, dilation_cycle=6, bias=True, context_length=512),
            "GPN": dict(vocab_size=7, d_model=512, n_layer=25, context_length=1536),
            "GPNRoFormer": dict(vocab_size=6, d_model=768, n_layer=12, n_head=12, intermediate_size=3072,
                                encoder="roformer", context_length=1536),
        }[kind]  # fmt: skip
        fields: dict[str, Any] = {"model_type": kind, "name": data.get("_name_or_path") or kind, **defaults}
        for key, value in data.items():
            if key in known_meta:
                continue
            if kind == "ConvNet" and key == "kernel_size":
                fields["first_kernel_size"] = fields["rest_kernel_size"] = value
            elif key in renamed:
                fields[renamed[key]] = value
            else:
                fields[key] = value
        if data.get("hidden_act", "gelu") != "gelu":
            raise ConfigError(
                f"{where}: hidden_act = {data['hidden_act']!r}; GPN's models use 'gelu', the only one read"
            )
        if kind == "GPNRoFormer" and data.get("rotary_value"):
            raise ConfigError(f"{where}: rotary_value = true is not supported (GPN-MSA's models leave it false)")
        return build(cls, fields, where)


def _one_hot(ids: torch.Tensor, width: int, dtype: torch.dtype) -> torch.Tensor:
    return F.one_hot(ids.long(), width).to(dtype)


class ConvNetLayer(nn.Module):
    """The original ConvNet's block: ``x + LN(GELU(conv(x)))``, then ``x + LN(GELU(linear(x)))``."""

    def __init__(self, d: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(_Transpose(), nn.Conv1d(d, d, kernel, padding="same", dilation=dilation),
                                  _Transpose(), nn.GELU(), nn.LayerNorm(d))  # fmt: skip
        self.ffn = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        return x + self.ffn(x)


class _Transpose(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class GPNConvLayer(nn.Module):
    """GPN's convnet block: pre-LayerNorm convolution branch and feed-forward branch."""

    def __init__(self, cfg: GPNOriginalConfig, layer: int) -> None:
        super().__init__()
        d, b = cfg.d_model, cfg.bias
        groups = d if cfg.depthwise and layer > 0 else 1
        self.conv = nn.Sequential(
            nn.LayerNorm(d, bias=b), _Transpose(),
            nn.Conv1d(d, d, cfg.kernel(layer), padding="same", dilation=cfg.dilation(layer), groups=groups, bias=b),
            _Transpose(), nn.GELU(), nn.Linear(d, d, bias=b), nn.Dropout(0.0),
        )  # fmt: skip
        self.ffn = nn.Sequential(nn.LayerNorm(d, bias=b), nn.Linear(d, cfg.intermediate_size, bias=b), nn.GELU(),
                                 nn.Linear(cfg.intermediate_size, d, bias=b), nn.Dropout(0.0))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        return x + self.ffn(x)


class ByteNetLayer(nn.Module):
    """GPN's bytenet block: a bottleneck around one dilated convolution, added to the input."""

    def __init__(self, cfg: GPNOriginalConfig, layer: int) -> None:
        super().__init__()
        d, b = cfg.d_model, cfg.bias
        m = d // 2 if cfg.slim else d
        groups = m if cfg.depthwise and layer > 0 else 1
        self.layer = nn.Sequential(
            nn.LayerNorm(d, bias=b), nn.GELU(), nn.Linear(d, m, bias=b), nn.LayerNorm(m, bias=b), nn.GELU(),
            _Transpose(),
            nn.Conv1d(m, m, cfg.kernel(layer), padding="same", dilation=cfg.dilation(layer), groups=groups, bias=b),
            _Transpose(), nn.LayerNorm(m, bias=b), nn.GELU(), nn.Linear(m, d, bias=b),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer(x)


class GPNOriginal(PretrainedModel):
    """A model of the ``gpn`` package: embedding, encoder, masked-token head; ``forward`` returns the
    final hidden states and the token logits (GPN's vocabulary). GPN-MSA's ``aux_features``
    ``[batch, length, species]`` are the aligned bases of the other species (0 gap, 1-4 A C G T)."""

    family = "gpn-original"
    causal = False
    variant_scoring = "gpn"
    reading_frames = 1  # single bases

    def __init__(self, config: GPNOriginalConfig) -> None:
        super().__init__(config)
        cfg, d = config, config.d_model
        self.model = nn.Module()
        if cfg.embedding == "embedding":
            self.model.embeddings = nn.Module()
            self.model.embeddings.word_embeddings = nn.Embedding(cfg.vocab_size, d, padding_idx=0)
        if cfg.encoder == "convnet":
            block = ConvNetLayer if cfg.model_type == "ConvNet" else GPNConvLayer
            layers = [ConvNetLayer(d, cfg.kernel(i), cfg.dilation(i)) if block is ConvNetLayer
                      else GPNConvLayer(cfg, i) for i in range(cfg.n_layer)]  # fmt: skip
        elif cfg.encoder == "bytenet":
            layers = [ByteNetLayer(cfg, i) for i in range(cfg.n_layer)]
        else:
            layers = [RoFormerLayer(d, cfg.n_head, cfg.intermediate_size, cfg.roformer_eps) for _ in range(cfg.n_layer)]
        if cfg.model_type == "ConvNet":
            self.model.encoder = nn.ModuleList(layers)
        else:
            self.model.encoder = nn.Module()
            self.model.encoder.layer = nn.ModuleList(layers)
        if cfg.model_type == "GPN":
            self.model.ln_f = nn.LayerNorm(d, bias=cfg.bias)
        self.cls = nn.Module()
        if cfg.model_type == "ConvNet":
            self.cls.decoder = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, cfg.vocab_size))
        elif cfg.model_type == "GPN":
            if cfg.mlm_head_transform:
                self.cls.transform = nn.Sequential(nn.Linear(d, d, bias=cfg.bias), nn.GELU(),
                                                   nn.LayerNorm(d, bias=cfg.bias))  # fmt: skip
            self.cls.decoder = nn.Linear(d, cfg.vocab_size, bias=cfg.bias)
        else:
            self.cls.predictions = nn.Module()
            self.cls.predictions.transform = nn.Module()
            self.cls.predictions.transform.dense = nn.Linear(d, d)
            self.cls.predictions.transform.LayerNorm = nn.LayerNorm(d, eps=cfg.roformer_eps)
            self.cls.predictions.decoder = nn.Linear(d, cfg.vocab_size)
            self.cls.predictions.bias = nn.Parameter(torch.zeros(cfg.vocab_size))  # kept in files; unused

    @classmethod
    def adapt_state_dict(cls, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The rotary table is computed here, not read (a checkpoint may hold it, or garbage in its place)."""
        return {k: v for k, v in state.items() if not k.endswith("embed_positions.weight")}

    @property
    def aligned_species(self) -> int:
        return self.config.n_aux_features // self.config.aux_features_vocab_size

    @property
    def max_input_tokens(self) -> int | None:
        return self.config.context_length if self.config.encoder == "roformer" else None

    def embed(self, input_ids: torch.Tensor, aux_features: torch.Tensor | None = None) -> torch.Tensor:
        cfg, dtype = self.config, self.cls_dtype
        if cfg.embedding == "embedding":
            x = self.model.embeddings.word_embeddings(input_ids)
        else:
            x = _one_hot(input_ids, cfg.d_model, dtype)
        if cfg.n_aux_features:
            if aux_features is None:
                raise ConfigError(f"{cfg.name}: a GPN-MSA model reads the aligned bases of other species "
                                  "(aux_features) at every position")  # fmt: skip
            b, t, species = aux_features.shape
            if species * cfg.aux_features_vocab_size != cfg.n_aux_features:
                raise ConfigError(f"aux_features has {species} species; the model reads "
                                  f"{cfg.n_aux_features // cfg.aux_features_vocab_size}")  # fmt: skip
            aux = _one_hot(aux_features, cfg.aux_features_vocab_size, x.dtype).reshape(b, t, -1)
            x = torch.cat([x[..., : cfg.vocab_size], aux, x[..., cfg.vocab_size + cfg.n_aux_features :]], dim=-1)
        return x

    def padded_hidden_states(self, input_ids, lengths, numbers=None, number_mask=None,
                             aux_features=None) -> torch.Tensor:  # fmt: skip
        """Each row read alone at its own length: GPN's models take no padding mask, so padding would
        reach its neighbours through the convolutions. GPN-MSA reads ``aux_features`` beside the bases."""
        hidden = torch.zeros(*input_ids.shape, self.config.d_model, device=input_ids.device)
        for row, n in enumerate(lengths.tolist()):
            aux = None if aux_features is None else aux_features[row : row + 1, :n]
            out = self(input_ids[row : row + 1, :n], compute_heads=False, aux_features=aux)
            hidden[row, :n] = out.hidden_states[0].to(hidden.dtype)
        return hidden

    @property
    def cls_dtype(self) -> torch.dtype:
        return next(self.cls.parameters()).dtype

    def forward(
        self,
        input_ids: torch.Tensor,
        numbers: torch.Tensor | None = None,
        number_mask: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        compute_heads: bool = True,
        aux_features: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Hidden states and masked-token logits. GPN's models see no padding mask (as in the ``gpn``
        package): give windows of one length. ``numbers`` are not read (GPN has no number input)."""
        x = self.embed(input_ids, aux_features)
        layers = self.model.encoder if self.config.model_type == "ConvNet" else self.model.encoder.layer
        if self.config.encoder == "roformer":
            t = x.shape[1]
            if t > self.config.context_length:
                raise ConfigError(f"input of {t} positions is longer than the model's {self.config.context_length}")
            table = rotary_table(t, self.config.d_model // self.config.n_head).to(device=x.device, dtype=x.dtype)
            sin, cos = table.chunk(2, dim=1)
            for layer in layers:
                x = layer(x, sin, cos)
        else:
            for layer in layers:
                x = layer(x)
        if self.config.model_type == "GPN":
            x = self.model.ln_f(x)
        out = ModelOutput(hidden_states=x)
        if compute_heads:
            out.logits = self.token_logits(x)
        return out

    def token_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """GPN's masked-token head on hidden states of any shape ``[..., d_model]``."""
        kind = self.config.model_type
        if kind == "ConvNet":
            return self.cls.decoder(hidden)
        if kind == "GPN":
            return self.cls.decoder(self.cls.transform(hidden) if self.config.mlm_head_transform else hidden)
        p = self.cls.predictions
        return p.decoder(p.transform.LayerNorm(F.gelu(p.transform.dense(hidden))))

    def regression_output(self, hidden: torch.Tensor) -> torch.Tensor:
        raise ConfigError(f"{self.config.name}: GPN's models have no regression head")


FAMILY = ModelFamily("gpn-original", GPNOriginalConfig, GPNOriginal, "GPN (the gpn package's models)")
