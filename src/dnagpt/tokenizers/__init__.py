"""Token languages: how text of bases, numbers, species and task tokens becomes ids.

One grammar (:mod:`.language`: reserved tokens, numbers, species, batching) and one
module per rule for cutting bases into tokens, found by name in :data:`TOKENIZERS`:

* ``kmer``: non-overlapping k-mers, the DNAGPT paper's (``k = 1``: single nucleotides, GPN's);
* ``bpe``: byte-pair merges learned from a corpus, DNABERT-2's.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from .bpe import BPETokenizer, train_bpe
from .foreign import ForeignVocabulary
from .kmer import KmerTokenizer
from .language import Encoding, TokenBatch, TokenLanguage
from .vocabulary import BASES, RESERVED_TOKENS, SPECIES_TOKENS, UNKNOWN_ID, normalise_bases, species_token

TOKENIZERS: dict[str, type[TokenLanguage]] = {"kmer": KmerTokenizer, "bpe": BPETokenizer}


def tokenizer_from_dict(spec: dict) -> TokenLanguage:
    """The tokenizer a ``to_dict`` description names by its ``"type"`` (``kmer`` when absent)."""
    kind = spec.get("type", "kmer")
    if kind not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer type {kind!r}; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind].from_dict(spec)


def load_tokenizer(path: str | Path) -> TokenLanguage:
    """A tokenizer from a JSON file written by ``save``, or from a folder written by
    ``dnagpt tokenizer train`` (the standard ``tokenizer.json`` with its ``tokenizer_config.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"  # a tokenizer folder, or a model folder
    try:
        spec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read a tokenizer ({e})") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a tokenizer description (a JSON object)")
    if "model" in spec and "type" not in spec:  # a Hugging Face tokenizer file
        return BPETokenizer.from_file(path)
    return tokenizer_from_dict(spec)


__all__ = [
    "BASES",
    "RESERVED_TOKENS",
    "SPECIES_TOKENS",
    "TOKENIZERS",
    "UNKNOWN_ID",
    "BPETokenizer",
    "Encoding",
    "ForeignVocabulary",
    "KmerTokenizer",
    "TokenBatch",
    "TokenLanguage",
    "load_tokenizer",
    "normalise_bases",
    "species_token",
    "tokenizer_from_dict",
    "train_bpe",
]
