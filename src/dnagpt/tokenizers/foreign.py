"""The vocabulary of a model trained outside dnagpt, read from its own ``tokenizer.json``.

GPN's single bases and DNABERT-2's byte-pair tokens are Hugging Face ``tokenizers`` files with
their own special tokens ([PAD], [MASK], [UNK], and for DNABERT-2 [CLS] ... [SEP] around every
sequence) and none of dnagpt's reserved tokens. :class:`ForeignVocabulary` encodes bases exactly
as the ``tokenizers`` library does with that file, and wraps a sequence in the special tokens
the file's post-processor adds; there are no species, number or answer tokens in it, and asking
for one is an error that says so.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ..errors import ConfigError
from ..io import atomic_write_text
from .language import HF_CONFIG, HF_FILE, TokenLanguage, tokenizers_failure


class ForeignVocabulary(TokenLanguage):
    """Another library's vocabulary: ids, pieces and special tokens from its ``tokenizer.json``."""

    kind = "foreign"

    def __init__(self, file: str | Path) -> None:
        self.file = str(file)
        try:
            self.hf = Tokenizer.from_file(self.file)
            plain = self.hf.encode("A", add_special_tokens=False).ids
            wrapped = self.hf.encode("A", add_special_tokens=True).ids
        except BaseException as e:  # the tokenizers library raises its own exception types, or panics
            if not tokenizers_failure(e):
                raise
            raise ConfigError(f"{file}: not a Hugging Face tokenizer file ({e})") from None
        self.special = {t: i for t, i in self.hf.get_vocab(with_added_tokens=True).items() if t.startswith("[")}
        at = wrapped.index(plain[0]) if plain and plain[0] in wrapped else 0
        self.before, self.after = wrapped[:at], wrapped[at + len(plain) :]
        pieces = [t for t in self.hf.get_vocab() if not t.startswith("[")]
        self._bases_per_token = float(np.mean([len(t) for t in pieces])) if pieces else 1.0

    @classmethod
    @functools.lru_cache(maxsize=8)
    def read(cls, file: str) -> ForeignVocabulary:
        """The vocabulary of ``file``, read once."""
        return cls(file)

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    @property
    def bases_per_token(self) -> float:
        return self._bases_per_token

    def base_ids(self, run: bytes) -> np.ndarray:
        return np.array(self.hf.encode(run.decode(), add_special_tokens=False).ids, dtype=np.int64)

    def piece(self, token_id: int) -> str:
        return self.hf.id_to_token(int(token_id)) or "[?]"

    def to_dict(self) -> dict:
        return {"type": self.kind, "file": self.file}

    def save_pretrained(self, out_dir: str | Path, around: tuple[list[int], list[int]] | None = None) -> Path:
        """Write the file, unchanged in meaning, as ``out_dir/tokenizer.json`` (a fine-tuned model
        keeps its own copy); returns the folder."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / HF_FILE, self.hf.to_str(pretty=True) + "\n")
        roles = {"pad_token": "[PAD]", "mask_token": "[MASK]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                 "sep_token": "[SEP]"}  # fmt: skip
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1_000_000,
                  **{role: token for role, token in roles.items() if token in self.special},
                  "model_input_names": ["input_ids", "attention_mask"]}  # fmt: skip
        atomic_write_text(out / HF_CONFIG, json.dumps(config, indent=2) + "\n")
        return out

    def wrap(self, ids: list[int]) -> list[int]:
        """``ids`` with the special tokens the file adds around a sequence (DNABERT-2: [CLS] ... [SEP])."""
        return [*self.before, *ids, *self.after]

    @property
    def wrap_length(self) -> int:
        return len(self.before) + len(self.after)

    @property
    def wrap_before(self) -> int:
        return len(self.before)

    @property
    def has_species(self) -> bool:
        return False

    @property
    def has_task_tokens(self) -> bool:
        return False

    @property
    def mask_id(self) -> int:
        return self.special_id("[MASK]")

    def special_id(self, token: str) -> int:
        """The id of one of the file's special tokens, e.g. ``"[MASK]"``."""
        if token not in self.special:
            raise ConfigError(f"{self.file}: no {token} token (it has {', '.join(self.special) or 'none'})")
        return self.special[token]

    @property
    def pad_id(self) -> int:
        return self.special_id("[PAD]")

    def token_id(self, token: str) -> int:
        if token in self.special:
            return self.special[token]
        found = self.hf.token_to_id(token)
        if found is None:
            raise ConfigError(f"{token!r} is not a token of {self.file}")
        return found

    def species_id(self, name: str) -> int:
        raise ConfigError(f"{self.file}: this vocabulary has no species tokens; give no species")

    def _none(self, what: str) -> ConfigError:
        return ConfigError(f"{self.file}: this vocabulary has no {what} token: dnagpt's task templates need "
                           "dnagpt's token language")  # fmt: skip

    @property
    def number_id(self) -> int:
        raise self._none("number")

    @property
    def binary_id(self) -> int:
        raise self._none("answer")

    @property
    def output_id(self) -> int:
        raise self._none("output")


class BaseVocabulary(ForeignVocabulary):
    """A fixed single-base vocabulary that another library builds in code rather than ships as a file
    (GPN-MSA's "- A C G T ?"): each base has its id, anything else the unknown id; upper and lower
    case alike. It has a padding, a mask and an unknown id, and no task tokens."""

    kind = "bases"

    def __init__(self, name: str, pieces: list[str], bases: dict[str, int], unknown: int, pad: int,
                 mask: int) -> None:  # fmt: skip
        self.file, self.pieces = name, pieces
        self.special = {"[PAD]": pad, "[MASK]": mask, "[UNK]": unknown}
        self.before, self.after = [], []
        self._table = np.full(256, unknown, dtype=np.int64)
        for base, i in bases.items():
            self._table[ord(base.upper())] = self._table[ord(base.lower())] = i

    @property
    def vocab_size(self) -> int:
        return len(self.pieces)

    @property
    def bases_per_token(self) -> float:
        return 1.0

    def base_ids(self, run: bytes) -> np.ndarray:
        return self._table[np.frombuffer(run, dtype=np.uint8)]

    def piece(self, token_id: int) -> str:
        return self.pieces[int(token_id)] if 0 <= int(token_id) < len(self.pieces) else "[?]"

    def to_dict(self) -> dict:
        return {"type": self.kind, "name": self.file, "pieces": self.pieces}

    def token_id(self, token: str) -> int:
        if token in self.special:
            return self.special[token]
        raise ConfigError(f"{token!r} is not a token of {self.file}")

    def save_pretrained(self, out_dir: str | Path, around: tuple[list[int], list[int]] | None = None) -> Path:
        raise ConfigError(f"{self.file}: a vocabulary built in code has no tokenizer file to write")
