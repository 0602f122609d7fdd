"""The token language every dnagpt tokenizer speaks: bases, numbers, species and task tokens.

A text in the token language mixes four kinds of pieces (DNAGPT paper, Fig. 2a, Fig. S2)::

    <R>ATGCGTACCTTA<+><M>0.31,-1.2<=><M>

* ``<X>``: a reserved token (instruction, connection, classification or spare);
  ``<R>`` says "human sequence follows", ``<M>`` "a number", ``<B>`` "a yes/no
  answer", ``<+>`` joins two inputs and ``<=>`` separates input from output.
* Bases: a run of bases is cut into tokens by the tokenizer's own rule (non-overlapping
  k-mers, single nucleotides, or byte-pair merges); that rule is all a tokenizer adds.
* Numbers: decimal literals (``0.31``, ``-1.2``, ``3e-4``) separated by commas or
  spaces. Each number takes one position; the model embeds its value through the
  numerical embedding instead of a token embedding.
* ``<A>`` / ``<N>``-style bracketed bases force a token boundary; they are how
  the classification answers "yes" and "no" are written.

The reserved tokens and species, and how bases are normalised, are in :mod:`.vocabulary`;
whitespace inside a base run is ignored (so wrapped FASTA lines join up).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import tokenizers
import torch
from tokenizers import AddedToken, Regex, normalizers, pre_tokenizers, processors

from ..errors import ConfigError, InvalidSequenceError
from ..io import atomic_write_text
from .vocabulary import (
    BASES,
    BINARY,
    MASK,
    NUMBER,
    OUTPUT,
    PAD,
    RESERVED_TOKENS,
    UNKNOWN_ID,
    normalise_bases,
    species_token,
)

_BASE_CODE = bytes.maketrans(BASES.encode(), bytes(range(len(BASES))))
# Outside brackets: a number, a separator, a run of letters, or anything else (an error).
_SCAN = re.compile(
    r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<sep>[\s,]+)|(?P<letters>[A-Za-z]+)|(?P<bad>.)",
    re.S,
)
_BRACKETS = re.compile(r"<([^<>]*)>")

HF_FILE = "tokenizer.json"  # Hugging Face's tokenizer file
HF_CONFIG = "tokenizer_config.json"  # its companion; dnagpt's description of the language sits under "dnagpt"
# The same number literal as _SCAN's, for the tokenizers library's (Oniguruma) regular expressions
_HF_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_IUPAC = "RYSWKMBDHV"


def tokenizers_failure(error: BaseException) -> bool:
    """Whether ``error`` is the ``tokenizers`` library failing on a file or spec it was given: one of its
    exceptions, or a panic of its Rust code (pyo3's ``PanicException``, e.g. on a ``continuing_subword_prefix``
    its BPE cannot apply), which derives from ``BaseException`` so that ``except Exception`` misses it."""
    return isinstance(error, Exception) or type(error).__name__ == "PanicException"


@dataclass
class Encoding:
    """One encoded text: token ids plus the numbers it carries.

    ``number_positions[i]`` is the index in ``ids`` whose embedding is replaced by
    the numerical embedding of ``number_values[i]``; the id stored there is ``<P>``.
    """

    ids: list[int]
    number_positions: list[int] = field(default_factory=list)
    number_values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class TokenBatch:
    """A padded batch ready for the model (all tensors are ``[batch, length]``)."""

    input_ids: torch.Tensor  # long; padding is <P>
    attention_mask: torch.Tensor  # bool; True on real tokens
    number_mask: torch.Tensor  # bool; True where a number sits
    numbers: torch.Tensor  # float32; the number's value where number_mask, else 0
    lengths: torch.Tensor  # long; real tokens per row
    padding_side: str = "right"

    def to(self, device: torch.device | str) -> TokenBatch:
        """Move every tensor to ``device``."""
        return TokenBatch(
            *(
                t.to(device)
                for t in (self.input_ids, self.attention_mask, self.number_mask, self.numbers, self.lengths)
            ),
            padding_side=self.padding_side,
        )

    def last_index(self) -> torch.Tensor:
        """Index of the last real token of each row (where answers are read)."""
        if self.padding_side == "left":
            return torch.full_like(self.lengths, self.input_ids.shape[1] - 1)
        return self.lengths - 1


class TokenLanguage(ABC):
    """What every tokenizer shares: the reserved tokens (ids 0..33), numbers, species, brackets,
    padding and batching. A subclass says only how a run of bases becomes ids (:meth:`base_ids`),
    what each id reads as (:meth:`piece`), and how it is saved (:meth:`to_dict`)."""

    kind: str = ""  # the registry key, saved as "type" in to_dict
    reserved = RESERVED_TOKENS
    _reserved_id: ClassVar[dict[str, int]] = {t: i for i, t in enumerate(RESERVED_TOKENS)}

    # ------------------------------------------------------------ what a subclass gives
    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of token ids."""

    @property
    @abstractmethod
    def bases_per_token(self) -> float:
        """About how many bases one token holds (k for k-mers; measured for BPE): for sizing windows."""

    @property
    def reading_frames(self) -> int:
        """How many ways the tokens can fall on one sequence by where it starts: k for
        non-overlapping k-mers, 1 otherwise (BPE re-segments a shifted sequence by itself)."""
        return 1

    @abstractmethod
    def base_ids(self, run: bytes) -> np.ndarray:
        """Token ids (int64) of one normalised run of bases (bytes over ``NAGCT``)."""

    @abstractmethod
    def piece(self, token_id: int) -> str:
        """The text of one id: ``"<M>"`` for reserved tokens, the bases for base tokens."""

    @abstractmethod
    def to_dict(self) -> dict:
        """JSON-serialisable description with ``"type"`` (enough to rebuild the same ids)."""

    def hf_base_model(self) -> tuple[tokenizers.models.Model, pre_tokenizers.PreTokenizer | None]:
        """How a run of bases becomes ids, in the ``tokenizers`` library's terms: its model, and the
        pre-tokenizer that cuts a run into the model's words (None: the whole run is one word)."""
        raise ConfigError(f"a {self.kind} vocabulary has no Hugging Face form")

    def hf_figures(self) -> dict:
        """What ``tokenizer_config.json`` keeps under ``"dnagpt"`` to rebuild this tokenizer."""
        return self.to_dict()

    def wrap(self, ids: list[int]) -> list[int]:
        """A sequence's ids with the tokens this vocabulary puts around every sequence (none here)."""
        return ids

    @property
    def wrap_length(self) -> int:
        """How many tokens :meth:`wrap` adds."""
        return 0

    @property
    def wrap_before(self) -> int:
        """How many of them come before the sequence."""
        return 0

    @property
    def has_species(self) -> bool:
        """Whether the vocabulary has species tokens (dnagpt's token languages do)."""
        return True

    @property
    def has_task_tokens(self) -> bool:
        """Whether task prompts and answers can be written in it (the query, answer and number
        tokens of dnagpt's token languages); without them a task is read by a sequence-level head."""
        return True

    @property
    def mask_id(self) -> int:
        """The token that masked-token pretraining and scoring put in place of a hidden token."""
        return self._reserved_id[MASK]

    def needs_boundary(self, previous: str, piece: str) -> bool:
        """Whether base ``piece`` written right after base ``previous`` would re-encode as other
        tokens, so :meth:`decode` must bracket it."""
        return False

    # ------------------------------------------------------------------- vocabulary
    def __len__(self) -> int:
        return self.vocab_size

    def token_id(self, token: str) -> int:
        """Id of a reserved token (``"<M>"`` or ``"M"``) or of a single base token (``"ACG"``)."""
        bare = token[1:-1] if token.startswith("<") and token.endswith(">") else token
        if bare in self._reserved_id:
            return self._reserved_id[bare]
        ids = self.base_ids(normalise_bases(bare).encode()) if bare else []
        if len(ids) != 1 or ids[0] == UNKNOWN_ID:
            raise ConfigError(f"{token!r} is not a single token of this vocabulary")
        return int(ids[0])

    @property
    def pad_id(self) -> int:
        return self._reserved_id[PAD]

    @property
    def number_id(self) -> int:
        return self._reserved_id[NUMBER]

    @property
    def binary_id(self) -> int:
        return self._reserved_id[BINARY]

    @property
    def output_id(self) -> int:
        return self._reserved_id[OUTPUT]

    @property
    def first_base_id(self) -> int:
        """Ids from here on are base tokens; below are reserved tokens."""
        return len(RESERVED_TOKENS)

    def species_id(self, name: str) -> int:
        """Id of a species instruction token, by Latin or common name."""
        return self._reserved_id[species_token(name)[1:-1]]

    # ------------------------------------------------------------------- encoding
    def encode_bases(self, bases: str | bytes) -> np.ndarray:
        """Token ids (int64 array) of one run of bases, the fast path for long sequences: a
        normalised ``bytes`` over ``NAGCT``, or a ``str`` (normalised first). Text with tokens or
        numbers goes through :meth:`encode`."""
        if isinstance(bases, str):
            bases = normalise_bases(bases).encode()
        return self.base_ids(bases)

    def encode(self, text: str) -> Encoding:
        """Encode one text of the token language (see the module docstring).

        Raises :class:`InvalidSequenceError` naming the position of the first
        character that is not a base, number, separator or bracketed token.
        """
        ids: list[int] = []
        positions: list[int] = []
        values: list[float] = []
        pos = 0
        for m in _BRACKETS.finditer(text):
            self._encode_plain(text, pos, m.start(), ids, positions, values)
            inner = m.group(1)
            if inner in self._reserved_id:
                ids.append(self._reserved_id[inner])
            else:
                # A bracketed base run: tokenised on its own (forces a token boundary).
                run = normalise_bases(re.sub(r"\s+", "", inner), offset=m.start(1)) if inner.strip() else ""
                if not run:
                    raise InvalidSequenceError(f"empty token '<>' at position {m.start()}", position=m.start())
                ids.extend(self.base_ids(run.encode()).tolist())
            pos = m.end()
        self._encode_plain(text, pos, len(text), ids, positions, values)
        return Encoding(ids, positions, values)

    def _encode_plain(
        self, text: str, start: int, end: int, ids: list[int], positions: list[int], values: list[float]
    ) -> None:
        """Encode text[start:end], which holds no complete ``<...>`` token."""
        run: list[str] = []

        def flush() -> None:
            if run:
                ids.extend(self.base_ids("".join(run).encode()).tolist())
                run.clear()

        for m in _SCAN.finditer(text, start, end):
            kind = m.lastgroup
            if kind == "letters":
                run.append(normalise_bases(m.group(), offset=m.start()))
            elif kind == "num":
                flush()
                positions.append(len(ids))
                values.append(float(m.group()))
                ids.append(self.pad_id)
            elif kind == "bad":
                c = m.group()
                hint = " (unmatched '<' or '>')" if c in "<>" else ""
                raise InvalidSequenceError(
                    f"character {c!r} at position {m.start()} is not a base, number or token{hint}",
                    position=m.start(),
                )
        flush()

    def encode_sequence(self, sequence: str, species: str | None = None) -> list[int]:
        """Ids of a plain DNA sequence, optionally preceded by its species token."""
        ids = self.base_ids(normalise_bases(re.sub(r"\s+", "", sequence)).encode()).tolist()
        return ([self.species_id(species)] if species else []) + ids

    def batch_encode(
        self,
        texts: Sequence[str | Encoding],
        padding_side: str = "right",
        max_length: int | None = None,
    ) -> TokenBatch:
        """Encode and pad several texts.

        Right padding suits training and classification; left padding suits
        generation (every prompt then ends at the same column). A text longer than
        ``max_length`` tokens raises :class:`InvalidSequenceError` naming its index.
        """
        if padding_side not in ("left", "right"):
            raise ConfigError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        encs = [t if isinstance(t, Encoding) else self.encode(t) for t in texts]
        if not encs:
            raise InvalidSequenceError("cannot encode an empty batch")
        lengths = [len(e) for e in encs]
        width = max(lengths)
        if max_length is not None and width > max_length:
            i = lengths.index(width)
            raise InvalidSequenceError(
                f"text {i} has {width} tokens, more than the model's context of {max_length} tokens "
                f"(about {round(max_length * self.bases_per_token)} bp); shorten it or use sliding windows"
            )
        n = len(encs)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.bool)
        number_mask = torch.zeros((n, width), dtype=torch.bool)
        numbers = torch.zeros((n, width), dtype=torch.float32)
        for row, enc in enumerate(encs):
            shift = width - len(enc) if padding_side == "left" else 0
            input_ids[row, shift : shift + len(enc)] = torch.as_tensor(enc.ids, dtype=torch.long)
            attention[row, shift : shift + len(enc)] = True
            if enc.number_positions:
                cols = torch.as_tensor(enc.number_positions, dtype=torch.long) + shift
                number_mask[row, cols] = True
                numbers[row, cols] = torch.as_tensor(enc.number_values, dtype=torch.float32)
        return TokenBatch(input_ids, attention, number_mask, numbers, torch.as_tensor(lengths), padding_side)

    # ------------------------------------------------------------------- decoding
    def decode(
        self, ids: Sequence[int] | torch.Tensor | np.ndarray, numbers: Encoding | dict[int, float] | None = None
    ) -> str:
        """Text of a list of ids; ``decode(encode(t).ids, encode(t))`` gives back ``t``
        in canonical form (upper-case bases, numbers in Python's shortest form).

        ``numbers`` supplies the values at number positions (an :class:`Encoding` or
        a ``{position: value}`` dict); without it they decode as ``<P>``.
        """
        if isinstance(ids, (torch.Tensor, np.ndarray)):
            ids = ids.tolist()
        if isinstance(numbers, Encoding):
            numbers = dict(zip(numbers.number_positions, numbers.number_values, strict=True))
        numbers = numbers or {}
        out: list[str] = []
        previous: str | None = None  # the previous base piece, None after a number or reserved token
        after_number = False
        for i, tid in enumerate(ids):
            if i in numbers:
                out.append(("," if after_number else "") + repr(float(numbers[i])))
                previous, after_number = None, True
                continue
            piece = self.piece(int(tid))
            after_number = False
            if piece.startswith("<"):
                out.append(piece)
                previous = None
            else:
                out.append(f"<{piece}>" if previous is not None and self.needs_boundary(previous, piece) else piece)
                previous = piece
        return "".join(out)

    def explain(self, text: str) -> tuple[list[tuple[int, int, str]], str]:
        """Each token of ``text`` as ``(position, id, piece)`` (numbers shown with their value), and
        the canonical text that decodes from the ids."""
        enc = self.encode(text)
        numbers = dict(zip(enc.number_positions, enc.number_values, strict=True))
        rows = [
            (i, tid, f"number {numbers[i]!r}" if i in numbers else self.piece(tid)) for i, tid in enumerate(enc.ids)
        ]
        return rows, self.decode(enc.ids, enc)

    # -------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> None:
        """Write the tokenizer as JSON (see :meth:`to_dict`)."""
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    def hf_tokenizer(self) -> tokenizers.Tokenizer:
        """The whole token language as a Hugging Face ``tokenizers.Tokenizer``, giving the same ids as
        :meth:`encode` for every text :meth:`encode` accepts (the tests compare them on random texts).

        The reserved tokens are special tokens; the normaliser upper-cases bases, turns IUPAC codes
        into ``N`` (but not inside a reserved token such as ``<R>``), removes separators and writes
        each number as ``<P>``, the id :meth:`encode` stores at a number's position. What it cannot
        carry is the number's value, which the model embeds: texts with numbers need
        :meth:`batch_encode`. It raises no error on a character that is not a base: check input with
        dnagpt first."""
        model, base_words = self.hf_base_model()
        hf = tokenizers.Tokenizer(model)
        upper_iupac = f"(?<!<)[{_IUPAC}]|[{_IUPAC}](?!>)"  # a reserved token is one letter between < and >
        steps = [
            normalizers.Replace(Regex(f"(?<!<){_HF_NUMBER}|{_HF_NUMBER}(?!>)"), "<P>"),
            normalizers.Replace(Regex(r"[\s,]+"), ""),
            normalizers.Replace(Regex(upper_iupac), "N"),
            normalizers.Replace(Regex(f"[{_IUPAC.lower()}]"), "N"),
            *(normalizers.Replace(base.lower(), base) for base in BASES),
        ]
        hf.normalizer = normalizers.Sequence(steps)
        # what is left of < and > after the reserved tokens are taken out brackets a base run: a boundary
        words = [pre_tokenizers.Split(Regex("[<>]"), "removed")] + ([base_words] if base_words else [])
        hf.pre_tokenizer = pre_tokenizers.Sequence(words)
        hf.add_special_tokens([AddedToken(f"<{t}>", normalized=True, special=True) for t in RESERVED_TOKENS])
        return hf

    def save_pretrained(self, out_dir: str | Path, around: tuple[list[int], list[int]] | None = None) -> Path:
        """Write ``tokenizer.json`` (Hugging Face's format: ``AutoTokenizer.from_pretrained`` and
        ``tokenizers.Tokenizer.from_file`` read it) and ``tokenizer_config.json`` into ``out_dir``;
        returns the folder. dnagpt reads the folder back with :func:`~dnagpt.tokenizers.load_tokenizer`.

        ``around``: reserved-token ids to put before and after every text that Hugging Face's
        tokenizer encodes with its special tokens (a fine-tuned task's prompt, e.g. ``<R>`` ... ``<=><B>``)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        hf = self.hf_tokenizer()
        if around is not None:
            before, after = ([self.piece(i) for i in ids] for ids in around)
            hf.post_processor = processors.TemplateProcessing(
                single=[*before, "$A", *after], pair=[*before, "$A", "$B", *after],
                special_tokens=[(piece, self.token_id(piece)) for piece in {*before, *after}],
            )  # fmt: skip
        atomic_write_text(out / HF_FILE, hf.to_str(pretty=True) + "\n")
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": f"<{PAD}>", "mask_token": f"<{MASK}>",
                  "unk_token": self.piece(UNKNOWN_ID), "model_max_length": 1_000_000,
                  "model_input_names": ["input_ids", "attention_mask"], "dnagpt": self.hf_figures()}  # fmt: skip
        atomic_write_text(out / HF_CONFIG, json.dumps(config, indent=2) + "\n")
        return out
