"""The settings every model family shares, and the attention settings of the transformer families.

A configuration fixes the shape of a network and of its token language; the weights live
elsewhere (:mod:`.checkpoint`). Each family subclasses :class:`ModelConfig` with only the fields
its network reads, in its own module, and names itself in ``family``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ..errors import ConfigError
from ..io import atomic_write_text
from ..tokenizers import ForeignVocabulary, KmerTokenizer, TokenLanguage, load_tokenizer
from ..validation import build, settings

MODEL_TYPE = "dnagpt"  # written as "model_type" in config.json: transformers' Auto classes key on it
# Bounds on what any config.json may claim, far above any published model (DNAGPT 0.1B: 12 x 768; GPN:
# 25 layers x 512; GPN-MSA and DNABERT-2: 12 x 768): a network is built (on the meta device) before its
# weights are checked, so a few bytes saying 400,000 layers or a width of 2**31 would take hours or overflow
MAX_LAYERS = 1024
MAX_WIDTH = 2**16  # hidden and intermediate sizes, heads, alignment channels
MAX_TOKENS = 2**20  # vocabulary and context length
Positions = Literal["learned", "rope", "alibi"]


@settings
class ModelConfig:
    """What every family's configuration holds: the token language and the trunk's size."""

    family: str = ""  # the model family this configures (dnagpt.models.FAMILIES); each subclass fixes it
    # reserved tokens + k-mers; 34 + all 1..6-mers over NAGCT
    vocab_size: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 19_564
    # positions, in tokens (numbers and instruction tokens count)
    context_length: Annotated[int, Field(ge=1, le=MAX_TOKENS)] = 512
    n_layer: Annotated[int, Field(ge=1, le=MAX_LAYERS)] = 12  # blocks of the trunk
    d_model: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 768  # width of the residual stream
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # the published models train without dropout
    layer_norm_eps: Annotated[float, Field(gt=0)] = 1e-5
    kmer: Annotated[int, Field(ge=1, le=12)] = 6  # bases per sequence token
    kmer_sizes: tuple[Annotated[int, Field(ge=1, le=12)], ...] | None = None  # k-mer lengths; None = 1..kmer
    name: str = "custom"  # a label only; shapes come from the fields above
    # a BPE vocabulary (a folder of `dnagpt tokenizer train`, or its tokenizer.json) instead of the
    # k-mers above; a saved model keeps its own copy, named "tokenizer.json" in its config.json
    tokenizer_file: str | None = None
    # outputs of the sequence-level task head that fine-tuning adds where the vocabulary has no answer
    # tokens (another library's): one per class, or one for a number; 0 = no such head
    task_outputs: Annotated[int, Field(ge=0, le=MAX_TOKENS)] = 0

    # True: the directory's config.json and tokenizer.json are another library's (its own vocabulary)
    foreign: ClassVar[bool] = False
    # keys of config.json that describe the model beside the fields (a family's own names)
    saved_keys: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        tokens = self.tokenizer().vocab_size
        if tokens != self.vocab_size:
            which = (f"the BPE vocabulary {self.tokenizer_file}" if self.tokenizer_file
                     else f"the k-mer vocabulary (k={self.kmer}, sizes={self.kmer_sizes})")  # fmt: skip
            raise ConfigError(f"vocab_size {self.vocab_size} does not match {which} of {tokens} tokens")

    def tokenizer(self) -> TokenLanguage:
        """The tokenizer whose ids this model reads: k-mers, the BPE vocabulary of ``tokenizer_file``,
        or, for a directory written by another library, the vocabulary of its own ``tokenizer.json``."""
        if self.foreign:
            return self._foreign_vocabulary()
        if self.tokenizer_file is None:
            return KmerTokenizer(self.kmer, self.kmer_sizes)
        return read_tokenizer(self.tokenizer_file)

    def _foreign_vocabulary(self) -> TokenLanguage:
        """Another library's ``tokenizer.json`` beside its config.json, read with the tokenizers library."""
        if self.tokenizer_file is None:
            raise ConfigError(f"{self.name}: no tokenizer.json beside its config.json: its vocabulary is unknown")
        vocabulary = ForeignVocabulary.read(self.tokenizer_file)
        if vocabulary.vocab_size != self.vocab_size:
            raise ConfigError(f"{self.tokenizer_file}: {vocabulary.vocab_size} tokens, but the model has "
                              f"{self.vocab_size}")  # fmt: skip
        return vocabulary

    def to_dict(self) -> dict:
        """The fields as ``config.json`` holds them, with transformers' ``model_type`` first."""
        d = dataclasses.asdict(self)
        d["kmer_sizes"] = list(self.kmer_sizes) if self.kmer_sizes is not None else None
        return {"model_type": MODEL_TYPE, **d}

    @classmethod
    def from_dict(cls, d: dict, where: str = "model configuration"):
        """This class built from ``d`` (as :meth:`to_dict` writes it), every field checked."""
        if isinstance(d, dict):  # "model_type" is transformers' key unless the family keeps its own
            own = {f.name for f in dataclasses.fields(cls)}
            d = {k: v for k, v in d.items() if (k != "model_type" or k in own) and k not in cls.retired_fields()}
        return build(cls, d, where)

    @classmethod
    def retired_fields(cls) -> frozenset[str]:
        """Fields that files written by an older dnagpt carry and this family no longer reads."""
        return frozenset()

    @classmethod
    def recognises(cls, data: dict) -> bool:
        """Whether ``data``, a ``config.json`` written by another library, is one this family reads."""
        return False

    @classmethod
    def from_foreign(cls, data: dict, where: str) -> ModelConfig:
        """The configuration another library's ``config.json`` describes (families that read one)."""
        raise ConfigError(f"{where}: {cls.__name__} reads dnagpt's own configuration files only")

    def save(self, path: str | Path) -> None:
        """Write ``config.json`` (atomically)."""
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


@settings
class AttentionConfig(ModelConfig):
    """A transformer family's configuration: the shared fields plus its attention heads and how
    attention knows positions."""

    n_head: Annotated[int, Field(ge=1, le=MAX_WIDTH)] = 12  # attention heads per block
    # "learned" embeddings (published; inputs capped at context_length), "rope" (rotary) or "alibi"
    # (distance penalty); the last two may read inputs past context_length
    positions: Positions = "learned"

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ConfigError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.positions == "rope" and (self.d_model // self.n_head) % 2:
            raise ConfigError(f"rotary positions turn pairs of channels: d_model / n_head "
                              f"({self.d_model // self.n_head}) must be even")  # fmt: skip
        super().__post_init__()

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


def read_tokenizer(path: str) -> TokenLanguage:
    """The tokenizer at ``path`` (a folder holding ``tokenizer.json``, or the file), read once while
    the file stays unchanged."""
    try:  # is_dir too raises OSError, on a name longer than the system allows
        file = Path(path) / "tokenizer.json" if Path(path).is_dir() else Path(path)
        stamp = file.stat().st_mtime_ns
    except OSError:
        raise ConfigError(f"{path}: no tokenizer file (give a folder of `dnagpt tokenizer train` or its "
                          "tokenizer.json)") from None  # fmt: skip
    return _read_tokenizer_once(str(file.resolve()), stamp)


@functools.lru_cache(maxsize=8)
def _read_tokenizer_once(path: str, stamp: int) -> TokenLanguage:
    return load_tokenizer(path)
