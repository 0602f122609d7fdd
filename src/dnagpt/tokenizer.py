"""The DNAGPT token language: k-mers, numbers, species and task tokens.

A text in the token language mixes four kinds of pieces (paper Fig. 2a, Fig. S2)::

    <R>ATGCGTACCTTA<+><M>0.31,-1.2<=><M>

* ``<X>``: a reserved token (instruction, connection, classification or spare);
  ``<R>`` says "human sequence follows", ``<M>`` "a number", ``<B>`` "a yes/no
  answer", ``<+>`` joins two inputs and ``<=>`` separates input from output.
* Bases: cut into non-overlapping k-mers from the start of each run; the last
  piece may be shorter (a 1..k-1-mer when the vocabulary has them, else the
  unknown id, as in the published human model).
* Numbers: decimal literals (``0.31``, ``-1.2``, ``3e-4``) separated by commas or
  spaces. Each number takes one position; the model embeds its value through the
  numerical embedding instead of a token embedding.
* ``<A>`` / ``<N>``-style bracketed bases force a token boundary; they are how
  the classification answers "yes" (1-mer ``A``) and "no" (1-mer ``N``) are written.

Ids are identical to the published checkpoints: the 34 reserved tokens first, then
the k-mers over ``NAGCT`` in ``itertools.product`` order, shorter k first.

Input is normalised: lowercase (soft-masked) bases are upper-cased, IUPAC ambiguity
codes become ``N``, whitespace inside a base run is ignored (so wrapped FASTA lines
join up); any other character raises :class:`~dnagpt.errors.InvalidSequenceError`
naming its position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError, InvalidSequenceError

# Order fixed by the published checkpoints: ids 0..33.
RESERVED_TOKENS: tuple[str, ...] = (
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "+", "-", "*", "/", "=", "&", "|", "!",
    "M", "B", "P",
    "R", "I", "K", "L", "O", "Q", "S", "U", "V",
    "W", "Y", "X", "Z",
)  # fmt: skip
BASES = "NAGCT"  # k-mer alphabet, in id order
NUMBER, BINARY, PAD, FUSE, OUTPUT = "M", "B", "P", "+", "="
UNKNOWN_ID = 0  # the published code maps unknown pieces to id 0 (which is also <0>)

# Species instruction tokens of the published models (Fig. S2).
SPECIES_TOKENS: dict[str, str] = {
    "Arabidopsis thaliana": "I",
    "Caenorhabditis elegans": "K",
    "Bos taurus": "V",
    "Danio rerio": "L",
    "Drosophila melanogaster": "O",
    "Escherichia coli": "Q",
    "Homo sapiens": "R",
    "Mus musculus": "S",
    "Saccharomyces cerevisiae": "U",
}
_SPECIES_ALIASES: dict[str, str] = {
    "arabidopsis": "Arabidopsis thaliana",
    "thale cress": "Arabidopsis thaliana",
    "worm": "Caenorhabditis elegans",
    "c. elegans": "Caenorhabditis elegans",
    "cow": "Bos taurus",
    "cattle": "Bos taurus",
    "bovine": "Bos taurus",
    "zebrafish": "Danio rerio",
    "fly": "Drosophila melanogaster",
    "fruit fly": "Drosophila melanogaster",
    "e. coli": "Escherichia coli",
    "ecoli": "Escherichia coli",
    "human": "Homo sapiens",
    "mouse": "Mus musculus",
    "yeast": "Saccharomyces cerevisiae",
}

_IUPAC_AMBIGUOUS = "RYSWKMBDHV"
_NORMALISE = str.maketrans(
    "acgtn" + _IUPAC_AMBIGUOUS.lower() + _IUPAC_AMBIGUOUS,
    "ACGTN" + "N" * (2 * len(_IUPAC_AMBIGUOUS)),
)
_BASE_CODE = bytes.maketrans(BASES.encode(), bytes(range(len(BASES))))
_NOT_A_BASE = re.compile(r"[^NAGCT]")
# Outside brackets: a number, a separator, a run of letters, or anything else (an error).
_SCAN = re.compile(
    r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<sep>[\s,]+)|(?P<letters>[A-Za-z]+)|(?P<bad>.)",
    re.S,
)
_BRACKETS = re.compile(r"<([^<>]*)>")


def normalise_bases(text: str, offset: int = 0) -> str:
    """Return ``text`` upper-cased with IUPAC ambiguity codes as ``N``.

    Raises :class:`InvalidSequenceError` at the first character that is not a
    base or IUPAC code; ``offset`` is added to the reported position.
    """
    out = text.translate(_NORMALISE)
    bad = _NOT_A_BASE.search(out)
    if bad:
        pos = offset + bad.start()
        raise InvalidSequenceError(
            f"character {text[bad.start()]!r} at position {pos} is not a DNA base "
            "(expected A, C, G, T, N or an IUPAC ambiguity code)",
            position=pos,
        )
    return out


def species_token(name: str) -> str:
    """The instruction token (``"<R>"``) of a species given by Latin or common name.

    Also accepts a token itself (``"R"`` or ``"<R>"``).
    """
    key = name.strip()
    bare = key.strip("<>")
    if bare in SPECIES_TOKENS.values():
        return f"<{bare}>"
    canonical = {k.lower(): k for k in SPECIES_TOKENS}
    key_l = key.lower().replace("_", " ")
    latin = canonical.get(key_l) or _SPECIES_ALIASES.get(key_l)
    if latin is None:
        known = ", ".join(sorted(SPECIES_TOKENS))
        raise ConfigError(f"unknown species {name!r}; known species: {known} (or a reserved token like '<W>')")
    return f"<{SPECIES_TOKENS[latin]}>"


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


class KmerTokenizer:
    """Non-overlapping k-mer tokenizer of the DNAGPT token language.

    Args:
        k: the k-mer length that base runs are cut into (6 in the published models).
        kmer_sizes: which k-mer lengths the vocabulary holds. ``None`` means all of
            1..k (the multi-organism models, 19,564 ids for k = 6); ``(k,)`` gives
            the human model's 6-mer-only vocabulary (15,659 ids).
    """

    def __init__(self, k: int = 6, kmer_sizes: Sequence[int] | None = None) -> None:
        if not 1 <= k <= 8:
            raise ConfigError(f"k must be between 1 and 8, got {k}")
        sizes = tuple(sorted(set(kmer_sizes))) if kmer_sizes is not None else tuple(range(1, k + 1))
        if not sizes or sizes[-1] != k or sizes[0] < 1:
            raise ConfigError(f"kmer_sizes must be within 1..k and include k={k}, got {sizes}")
        self.k = k
        self.kmer_sizes = sizes
        self.reserved = RESERVED_TOKENS
        self._reserved_id = {t: i for i, t in enumerate(RESERVED_TOKENS)}
        self._offset: dict[int, int] = {}
        pieces = [f"<{t}>" for t in RESERVED_TOKENS]
        for size in sizes:
            self._offset[size] = len(pieces)
            pieces.extend(_all_kmers(size))
        self._pieces = pieces
        self._powers = {s: 5 ** np.arange(s - 1, -1, -1, dtype=np.int64) for s in sizes}

    # ----------------------------------------------------------------- vocabulary
    def __len__(self) -> int:
        return len(self._pieces)

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        return len(self._pieces)

    def token_id(self, token: str) -> int:
        """Id of a reserved token (``"<M>"`` or ``"M"``) or of a k-mer (``"ACG"``)."""
        bare = token[1:-1] if token.startswith("<") and token.endswith(">") else token
        if bare in self._reserved_id:
            return self._reserved_id[bare]
        ids = self._kmer_ids(normalise_bases(bare)) if bare else []
        if len(ids) != 1 or ids[0] == UNKNOWN_ID:
            raise ConfigError(f"{token!r} is not a single token of this vocabulary")
        return int(ids[0])

    def piece(self, token_id: int) -> str:
        """The text of one id: ``"<M>"`` for reserved tokens, the bases for k-mers."""
        if not 0 <= token_id < len(self._pieces):
            raise ConfigError(f"token id {token_id} is outside the vocabulary (0..{len(self._pieces) - 1})")
        return self._pieces[token_id]

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
    def yes_id(self) -> int:
        """Classification answer "true": the 1-mer ``A`` (or ``A``*k without 1-mers)."""
        return self.token_id("A" * self.kmer_sizes[0])

    @property
    def no_id(self) -> int:
        """Classification answer "false": the 1-mer ``N`` (or ``N``*k without 1-mers)."""
        return self.token_id("N" * self.kmer_sizes[0])

    def species_id(self, name: str) -> int:
        """Id of a species instruction token, by Latin or common name."""
        return self._reserved_id[species_token(name)[1:-1]]

    @property
    def first_kmer_id(self) -> int:
        """Ids from here on are k-mers; below are reserved tokens."""
        return len(self.reserved)

    # ------------------------------------------------------------------- encoding
    def encode_bases(self, bases: str | bytes | np.ndarray) -> np.ndarray:
        """Token ids (int64 array) of one run of bases, fast path for long sequences.

        ``bases`` may be a normalised str/bytes over ``NAGCT`` or a uint8 array of
        base codes (0..4 in ``NAGCT`` order). Raw text goes through :meth:`encode`.
        """
        if isinstance(bases, np.ndarray):
            return self._codes_to_ids(bases.astype(np.int64, copy=False))
        if isinstance(bases, str):
            bases = normalise_bases(bases).encode()
        return self._kmer_ids_bytes(bases)

    def _kmer_ids(self, run: str) -> np.ndarray:
        return self._kmer_ids_bytes(run.encode())

    def _kmer_ids_bytes(self, run: bytes) -> np.ndarray:
        codes = np.frombuffer(run.translate(_BASE_CODE), dtype=np.uint8).astype(np.int64)
        return self._codes_to_ids(codes)

    def _codes_to_ids(self, codes: np.ndarray) -> np.ndarray:
        k = self.k
        full = len(codes) // k
        ids = codes[: full * k].reshape(full, k) @ self._powers[k] + self._offset[k]
        tail = len(codes) - full * k
        if tail:
            if tail in self._offset:
                tail_id = int(codes[full * k :] @ self._powers[tail]) + self._offset[tail]
            else:
                tail_id = UNKNOWN_ID  # published behaviour of the 6-mer-only vocabulary
            ids = np.append(ids, tail_id)
        return ids

    def encode(self, text: str) -> Encoding:
        """Encode one text of the token language (see module docstring).

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
                ids.extend(self._kmer_ids(run).tolist())
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
                ids.extend(self._kmer_ids("".join(run)).tolist())
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
        ids = self._kmer_ids(normalise_bases(re.sub(r"\s+", "", sequence))).tolist()
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
                f"(about {max_length * self.k} bp); shorten it or use sliding windows"
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
        prev: str | None = None  # kind of the previous piece: "short", "kmer", "number", "token"
        for i, tid in enumerate(ids):
            if i in numbers:
                out.append(("," if prev == "number" else "") + repr(float(numbers[i])))
                prev = "number"
                continue
            piece = self.piece(int(tid))
            if piece.startswith("<"):
                out.append(piece)
                prev = "token"
            else:
                # A base piece right after a short k-mer would merge with it on re-encoding.
                out.append(f"<{piece}>" if prev == "short" else piece)
                prev = "short" if len(piece) < self.k else "kmer"
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
    def to_dict(self) -> dict:
        """JSON-serialisable description (enough to rebuild the same ids)."""
        return {
            "type": "kmer",
            "k": self.k,
            "kmer_sizes": list(self.kmer_sizes),
            "bases": BASES,
            "reserved_tokens": list(RESERVED_TOKENS),
            "species_tokens": SPECIES_TOKENS,
            "vocab_size": self.vocab_size,
        }

    @classmethod
    def from_dict(cls, spec: dict) -> KmerTokenizer:
        """Rebuild a tokenizer from :meth:`to_dict` output, checking it matches."""
        if spec.get("type", "kmer") != "kmer":
            raise ConfigError(f"unsupported tokenizer type {spec.get('type')!r}")
        if spec.get("bases", BASES) != BASES or tuple(spec.get("reserved_tokens", RESERVED_TOKENS)) != RESERVED_TOKENS:
            raise ConfigError("tokenizer spec uses a different base order or reserved-token list than dnagpt")
        tok = cls(int(spec["k"]), spec.get("kmer_sizes"))
        if "vocab_size" in spec and spec["vocab_size"] != tok.vocab_size:
            raise ConfigError(f"tokenizer spec says vocab_size {spec['vocab_size']} but builds {tok.vocab_size}")
        return tok

    def save(self, path: str | Path) -> None:
        """Write the tokenizer spec as JSON."""
        from .io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> KmerTokenizer:
        """Read a tokenizer spec written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))

    def __repr__(self) -> str:
        return f"KmerTokenizer(k={self.k}, kmer_sizes={self.kmer_sizes}, vocab_size={self.vocab_size})"


def _all_kmers(size: int) -> list[str]:
    """Every k-mer of one size over NAGCT, in itertools.product order."""
    kmers = [""]
    for _ in range(size):
        kmers = [p + b for p in kmers for b in BASES]
    return kmers
