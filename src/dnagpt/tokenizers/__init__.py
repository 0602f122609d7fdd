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
from .language import HF_CONFIG, HF_FILE, Encoding, TokenBatch, TokenLanguage
from .vocabulary import BASES, RESERVED_TOKENS, SPECIES_TOKENS, UNKNOWN_ID, normalise_bases, species_token

TOKENIZERS: dict[str, type[TokenLanguage]] = {"kmer": KmerTokenizer, "bpe": BPETokenizer}


def tokenizer_from_dict(spec: dict) -> TokenLanguage:
    """The tokenizer a ``to_dict`` description names by its ``"type"`` (``kmer`` when absent)."""
    if not isinstance(spec, dict):
        raise ConfigError(f"expected a tokenizer description (a JSON object), got {type(spec).__name__}")
    kind = spec.get("type", "kmer")
    if not isinstance(kind, str) or kind not in TOKENIZERS:
        raise ConfigError(f"unknown tokenizer type {kind!r}; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[kind].from_dict(spec)


def load_tokenizer(path: str | Path) -> TokenLanguage:
    """A tokenizer from a folder written by ``save_pretrained`` (a model's, or one of ``dnagpt tokenizer
    train``: Hugging Face's ``tokenizer.json`` with its ``tokenizer_config.json``), from such a
    ``tokenizer.json``, or from a JSON description written by ``save``. A file that cannot be read
    as one is a :class:`ConfigError` naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / HF_FILE  # a tokenizer folder, or a model folder
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad UTF-8 or JSON, an int of 4,300+ digits
        raise ConfigError(f"{path}: cannot read a tokenizer ({e})") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a tokenizer description (a JSON object)")
    try:
        if "model" in spec and "type" not in spec:  # Hugging Face's file: the language is named beside it
            described = _hf_companion(path)
            if described.get("type", "bpe") == "bpe":
                return BPETokenizer.from_file(path)
            tok = tokenizer_from_dict(described)
            vocab = spec["model"].get("vocab") if isinstance(spec["model"], dict) else None
            if not isinstance(vocab, (dict, list)) or tok.vocab_size != len(vocab):
                count = len(vocab) if isinstance(vocab, (dict, list)) else "no"
                raise ConfigError(f"{count} tokens, but {HF_CONFIG} describes a vocabulary of {tok.vocab_size}")
            return tok
        return tokenizer_from_dict(spec)
    except ConfigError as e:  # name the file, once (a message about its companion names that one)
        raise (e if str(path.parent) in str(e) else ConfigError(f"{path}: {e}")) from None


def _hf_companion(path: Path) -> dict:
    """dnagpt's description of the language in the ``tokenizer_config.json`` beside ``path`` ({} if none)."""
    companion = path.parent / HF_CONFIG
    if not companion.is_file():
        return {}
    try:
        described = json.loads(companion.read_text()).get("dnagpt", {})
    except (OSError, ValueError, RecursionError, AttributeError) as e:  # ValueError: bad UTF-8 or JSON
        raise ConfigError(f"{companion}: cannot read it ({e})") from None
    if not isinstance(described, dict):
        raise ConfigError(f'{companion}: its "dnagpt" entry must be a JSON object')
    return described


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
