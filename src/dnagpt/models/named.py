"""The named configurations: the published checkpoints, the paper's four variants (Fig. 2c, Fig. S3)
and small shapes that train on a laptop CPU, each of a registered family."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..resources import BUNDLED_TOKENIZERS
from ..tokenizers import KmerTokenizer
from ..validation import build
from .config import ModelConfig, read_tokenizer
from .family import get_family


def _vocab(kmer_sizes: tuple[int, ...] | None, k: int = 6, tokenizer_file: str | None = None) -> int:
    if tokenizer_file is not None:
        return read_tokenizer(tokenizer_file).vocab_size
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
        "laptop pretraining: 4 layers x 128 wide, 256 tokens (1.5 kbp); the shape of the dnagpt-small-* models",
        dict(context_length=256, n_layer=4, n_head=4, d_model=128),
    ),
    # DNABERT-2 style encoders (bidirectional, ALiBi, GEGLU), here with the k-mer vocabulary.
    "bert-tiny": (
        "encoder for tests: 2 layers x 64 wide, 128 tokens",
        dict(family="bert", context_length=128, n_layer=2, n_head=2, d_model=64),
    ),
    "bert-small": (
        "encoder for laptop pretraining: 4 layers x 128 wide, 256 tokens; the shape of the bert-small-* models",
        dict(family="bert", context_length=256, n_layer=4, n_head=4, d_model=128),
    ),
    # ... and with DNABERT-2's token language: BPE, 4,096 ids (learned from the bundled corpus).
    "dnabert-2": (
        "published DNABERT-2 shape: 12 layers x 768 wide, ALiBi, GEGLU, BPE vocabulary of 4,096, 512 tokens",
        dict(family="bert", context_length=512, n_layer=12, n_head=12, d_model=768, tokenizer_file=_BPE_4096),
    ),
    "bert-small-bpe": (
        "DNABERT-2 style encoder for laptop pretraining: 4 layers x 128 wide, BPE 4,096, 256 tokens (~1.3 kbp)",
        dict(family="bert", context_length=256, n_layer=4, n_head=4, d_model=128, tokenizer_file=_BPE_4096),
    ),
    # GPN style dilated ConvNets over single nucleotides.
    "gpn": (
        "published GPN ConvNet shape: 25 blocks x 512 wide, kernel 9, dilations up to 32, 512 bp windows",
        dict(family="gpn", kmer=1, context_length=512, n_layer=25, d_model=512),
    ),
    "gpn-tiny": (
        "ConvNet for tests: 4 blocks x 64 wide",
        dict(family="gpn", kmer=1, context_length=256, n_layer=4, d_model=64, max_dilation=8),
    ),
    # GPN-MSA's architecture (the gpn package's GPNRoFormer): the reference base and, one-hot beside it,
    # the bases of the other species of an alignment; 128-base windows as published
    "gpn-msa-primates-small": (
        "GPN-MSA shape for laptop pretraining on a 4-primate alignment (3 species beside the reference): "
        "RoFormer, 4 layers x 128 wide, 128 bp windows",
        dict(
            family="gpn-original",
            model_type="GPNRoFormer",
            encoder="roformer",
            vocab_size=6,
            context_length=128,
            n_layer=4,
            d_model=128,
            n_head=4,
            intermediate_size=512,
            n_aux_features=15,
        ),
    ),
    "gpn-small": (
        "ConvNet for laptop pretraining: 12 blocks x 128 wide, 512 bp windows",
        dict(family="gpn", kmer=1, context_length=512, n_layer=12, d_model=128),
    ),
}


def config_names() -> list[str]:
    """Names accepted by :func:`get_config`."""
    return list(_NAMED)


def config_description(name: str) -> str:
    """One line on what the named configuration is for."""
    return _NAMED[name][0]


def get_config(name: str, **overrides) -> ModelConfig:
    """A named configuration, optionally with some fields changed.

    Raises :class:`ConfigError` listing the known names for an unknown one.
    """
    if name not in _NAMED:
        raise ConfigError(f"unknown configuration {name!r}; choose one of: {', '.join(_NAMED)}")
    fields = dict(_NAMED[name][1])
    fields.update(overrides)
    if isinstance(fields.get("tokenizer_file"), str):  # a run resumed from another folder still finds it
        fields["tokenizer_file"] = str(Path(fields["tokenizer_file"]).expanduser().resolve())
    family = get_family(fields.get("family", "dnagpt"), f"configuration {name!r}")
    try:
        if not family.config.foreign:  # another library's architecture keeps that library's vocabulary
            fields["vocab_size"] = _vocab(fields.get("kmer_sizes"), fields.get("kmer", 6), fields.get("tokenizer_file"))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"configuration {name!r}: kmer / kmer_sizes {fields.get('kmer')!r} / "
                          f"{fields.get('kmer_sizes')!r} do not make a k-mer vocabulary ({e})") from None  # fmt: skip
    fields.setdefault("name", name)
    return build(family.config, fields, f"configuration {name!r}")
