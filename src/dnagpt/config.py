"""Model configuration and the named configurations.

A configuration fixes the shape of the network and of its token language; the
weights live elsewhere (see :mod:`dnagpt.checkpoint`). The named configurations
are the published checkpoints, the paper's four variants (Fig. 2c, Fig. S3) and
small ones that train on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from .errors import ConfigError
from .resources import BUNDLED_TOKENIZERS
from .tokenizers import KmerTokenizer, TokenLanguage, load_tokenizer
from .validation import build, settings

MODEL_TYPE = "dnagpt"  # written as "model_type" in config.json: transformers' Auto classes key on it


@settings
class DNAGPTConfig:
    """Shape of a DNAGPT model (a GPT-2 style decoder without biases)."""

    family: Literal["dnagpt"] = "dnagpt"  # the model family (dnagpt.models.MODEL_FAMILIES) this configures
    vocab_size: Annotated[int, Field(ge=1)] = 19_564  # reserved tokens + k-mers; 34 + all 1..6-mers over NAGCT
    context_length: Annotated[int, Field(ge=1)] = 512  # positions, in tokens (numbers and instruction tokens count)
    n_layer: Annotated[int, Field(ge=1)] = 12  # transformer blocks
    n_head: Annotated[int, Field(ge=1)] = 12  # attention heads per block
    d_model: Annotated[int, Field(ge=1)] = 768  # width of the residual stream
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # the published models train without dropout
    layer_norm_eps: Annotated[float, Field(gt=0)] = 1e-5
    kmer: Annotated[int, Field(ge=1, le=12)] = 6  # bases per sequence token
    kmer_sizes: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None  # k-mer lengths; None = 1..kmer
    # how attention knows positions: "learned" embeddings (published; inputs capped at context_length),
    # "rope" (rotary) or "alibi" (distance penalty); the last two may read inputs past context_length
    positions: Literal["learned", "rope", "alibi"] = "learned"
    name: str = "custom"  # a label only; shapes come from the fields above
    # a BPE vocabulary (a folder of `dnagpt tokenizer train`, or its tokenizer.json) instead of the
    # k-mers above; a saved model keeps its own copy, named "tokenizer.json" in its config.json
    tokenizer_file: str | None = None

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ConfigError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.positions == "rope" and (self.d_model // self.n_head) % 2:
            raise ConfigError(f"rotary positions turn pairs of channels: d_model / n_head "
                              f"({self.d_model // self.n_head}) must be even")  # fmt: skip
        tokens = self.tokenizer().vocab_size
        if tokens != self.vocab_size:
            which = (f"the BPE vocabulary {self.tokenizer_file}" if self.tokenizer_file
                     else f"the k-mer vocabulary (k={self.kmer}, sizes={self.kmer_sizes})")  # fmt: skip
            raise ConfigError(f"vocab_size {self.vocab_size} does not match {which} of {tokens} tokens")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    def tokenizer(self) -> TokenLanguage:
        """The tokenizer whose ids this model reads: k-mers, or the BPE vocabulary of ``tokenizer_file``."""
        if self.tokenizer_file is None:
            return KmerTokenizer(self.kmer, self.kmer_sizes)
        return _read_tokenizer(self.tokenizer_file)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["kmer_sizes"] = list(self.kmer_sizes) if self.kmer_sizes is not None else None
        return {"model_type": MODEL_TYPE, **d}

    @classmethod
    def from_dict(cls, d: dict, where: str = "model configuration"):
        if isinstance(d, dict) and d.get("model_type") == MODEL_TYPE:
            d = {k: v for k, v in d.items() if k != "model_type"}
        return build(cls, d, where)

    def save(self, path: str | Path) -> None:
        from .io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path):
        """The configuration saved at ``path``, of the family it names (this class's when it names none)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from e
        family = data.get("family", "dnagpt") if isinstance(data, dict) else None
        if family not in CONFIGS:
            raise ConfigError(f"{path}: unknown model family {family!r}; known: {', '.join(CONFIGS)}")
        if isinstance(data.get("tokenizer_file"), str):  # a saved model names the copy beside it
            data["tokenizer_file"] = str(Path(path).parent / data["tokenizer_file"])
        return CONFIGS[family].from_dict(data, str(path))


@settings
class EncoderConfig(DNAGPTConfig):
    """Shape of a DNABERT-2 style encoder: bidirectional attention (ALiBi positions by default),
    GEGLU feed-forward, a masked-token head; the DNAGPT number embedding and regression head too."""

    family: Literal["bert"] = "bert"  # type: ignore[assignment]
    positions: Literal["learned", "rope", "alibi"] = "alibi"


@settings
class ConvConfig(DNAGPTConfig):
    """Shape of a GPN style network: residual blocks of a dilated convolution across positions and a
    feed-forward network, single nucleotides by default; no attention, so n_head and positions are
    unused, and any length may be read."""

    family: Literal["gpn"] = "gpn"  # type: ignore[assignment]
    kmer: Annotated[int, Field(ge=1, le=12)] = 1
    kernel_size: Annotated[int, Field(ge=1)] = 9  # bases each convolution spans before dilation
    max_dilation: Annotated[int, Field(ge=1)] = 32  # dilations double from 1 up to this, then start again


CONFIGS: dict[str, type[DNAGPTConfig]] = {"dnagpt": DNAGPTConfig, "bert": EncoderConfig, "gpn": ConvConfig}


def _read_tokenizer(path: str) -> TokenLanguage:
    """The tokenizer at ``path``, read once while the file stays unchanged."""
    file = Path(path) / "tokenizer.json" if Path(path).is_dir() else Path(path)
    try:
        stamp = file.stat().st_mtime_ns
    except OSError:
        raise ConfigError(f"{path}: no tokenizer file (give a folder of `dnagpt tokenizer train` or its "
                          "tokenizer.json)") from None  # fmt: skip
    return _read_tokenizer_once(str(file.resolve()), stamp)


@functools.lru_cache(maxsize=8)
def _read_tokenizer_once(path: str, stamp: int) -> TokenLanguage:
    return load_tokenizer(path)


def _vocab(kmer_sizes: tuple[int, ...] | None, k: int = 6, tokenizer_file: str | None = None) -> int:
    if tokenizer_file is not None:
        return _read_tokenizer(tokenizer_file).vocab_size
    return KmerTokenizer(k, kmer_sizes).vocab_size


_SIX_ONLY = (6,)
_BPE_4096 = str(BUNDLED_TOKENIZERS / "bpe-4096")

# name -> (description, fields). Vocabulary sizes follow from k-mer sizes.
_NAMED: dict[str, tuple[str, dict]] = {
    # The three published checkpoints (official-dnagpt-format.md).
    "dna_gpt0.1b_h": (
        "published 0.1B human model, 6-mer vocabulary, 4096 tokens",
        dict(context_length=4096, n_layer=12, n_head=12, d_model=768, kmer_sizes=_SIX_ONLY),
    ),
    "dna_gpt0.1b_m": (
        "published 0.1B multi-organism model, 1..6-mer vocabulary, 512 tokens",
        dict(context_length=512, n_layer=12, n_head=12, d_model=768),
    ),
    "dna_gpt3b_m": (
        "published 3B multi-organism model, 512 tokens",
        dict(context_length=512, n_layer=60, n_head=64, d_model=2048),
    ),
    # The paper's four variants (Fig. 2c, Fig. S3).
    "DNAGPT-H": (
        "paper: human genomes, 4096 tokens (24,576 bp)",
        dict(context_length=4096, n_layer=12, n_head=12, d_model=768, kmer_sizes=_SIX_ONLY),
    ),
    "DNAGPT-M": (
        "paper: 9 species, 4096 tokens (24,576 bp)",
        dict(context_length=4096, n_layer=12, n_head=12, d_model=768),
    ),
    "DNAGPT-S-512": (
        "paper: all mammals, 512 tokens (3,072 bp)",
        dict(context_length=512, n_layer=12, n_head=12, d_model=768),
    ),
    "DNAGPT-B-512": (
        "paper: all mammals, 3B parameters, 512 tokens",
        dict(context_length=512, n_layer=60, n_head=64, d_model=2048),
    ),
    # Small configurations that train on a 2-core CPU.
    "dnagpt-tiny": (
        "tests and smoke runs: 2 layers x 64 wide, 128 tokens",
        dict(context_length=128, n_layer=2, n_head=2, d_model=64),
    ),
    "dnagpt-small": (
        "laptop pretraining: 4 layers x 192 wide, 256 tokens (1.5 kbp)",
        dict(context_length=256, n_layer=4, n_head=4, d_model=192),
    ),
    # DNABERT-2 style encoders (bidirectional, ALiBi, GEGLU), here with the k-mer vocabulary.
    "bert-tiny": (
        "encoder for tests: 2 layers x 64 wide, 128 tokens",
        dict(family="bert", context_length=128, n_layer=2, n_head=2, d_model=64),
    ),
    "bert-small": (
        "encoder for laptop pretraining: 4 layers x 192 wide, 256 tokens",
        dict(family="bert", context_length=256, n_layer=4, n_head=4, d_model=192),
    ),
    # ... and with DNABERT-2's token language: BPE, 4,096 ids (learned from the bundled corpus).
    "dnabert-2": (
        "published DNABERT-2 shape: 12 layers x 768 wide, ALiBi, GEGLU, BPE vocabulary of 4,096, 512 tokens",
        dict(family="bert", context_length=512, n_layer=12, n_head=12, d_model=768, tokenizer_file=_BPE_4096),
    ),
    "bert-small-bpe": (
        "DNABERT-2 style encoder for laptop pretraining: 4 layers x 192 wide, BPE 4,096, 256 tokens (~1.3 kbp)",
        dict(family="bert", context_length=256, n_layer=4, n_head=4, d_model=192, tokenizer_file=_BPE_4096),
    ),
    # GPN style dilated ConvNets over single nucleotides.
    "gpn": (
        "published GPN ConvNet shape: 25 blocks x 512 wide, kernel 9, dilations up to 32, 512 bp windows",
        dict(family="gpn", kmer=1, context_length=512, n_layer=25, n_head=1, d_model=512),
    ),
    "gpn-tiny": (
        "ConvNet for tests: 4 blocks x 64 wide",
        dict(family="gpn", kmer=1, context_length=256, n_layer=4, n_head=1, d_model=64, max_dilation=8),
    ),
    "gpn-small": (
        "ConvNet for laptop pretraining: 12 blocks x 128 wide, 512 bp windows",
        dict(family="gpn", kmer=1, context_length=512, n_layer=12, n_head=1, d_model=128),
    ),
}


def config_names() -> list[str]:
    """Names accepted by :func:`get_config`."""
    return list(_NAMED)


def config_description(name: str) -> str:
    return _NAMED[name][0]


def get_config(name: str, **overrides) -> DNAGPTConfig:
    """A named configuration, optionally with some fields changed.

    Raises :class:`ConfigError` listing the known names for an unknown one.
    """
    if name not in _NAMED:
        raise ConfigError(f"unknown configuration {name!r}; choose one of: {', '.join(_NAMED)}")
    fields = dict(_NAMED[name][1])
    fields.update(overrides)
    if isinstance(fields.get("tokenizer_file"), str):  # a run resumed from another folder still finds it
        fields["tokenizer_file"] = str(Path(fields["tokenizer_file"]).expanduser().resolve())
    try:
        fields["vocab_size"] = _vocab(fields.get("kmer_sizes"), fields.get("kmer", 6), fields.get("tokenizer_file"))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"configuration {name!r}: kmer / kmer_sizes {fields.get('kmer')!r} / "
                          f"{fields.get('kmer_sizes')!r} do not make a k-mer vocabulary ({e})") from None  # fmt: skip
    fields.setdefault("name", name)
    family = fields.get("family", "dnagpt")
    if family not in CONFIGS:
        raise ConfigError(f"configuration {name!r}: unknown model family {family!r}; known: {', '.join(CONFIGS)}")
    return build(CONFIGS[family], fields, f"configuration {name!r}")
