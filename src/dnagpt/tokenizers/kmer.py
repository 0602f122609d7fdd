"""The DNAGPT token language's own rule for bases: non-overlapping k-mers.

Bases are cut into non-overlapping k-mers from the start of each run; the last piece
may be shorter (a 1..k-1-mer when the vocabulary has them, else the unknown id, as in
the published human model). ``k = 1`` is the single-nucleotide language (GPN's).

Ids are identical to the published checkpoints: the 34 reserved tokens first, then
the k-mers over ``NAGCT`` in ``itertools.product`` order, shorter k first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Regex, models, pre_tokenizers

from ..errors import ConfigError
from .language import TokenLanguage
from .vocabulary import BASES, RESERVED_TOKENS, SPECIES_TOKENS, UNKNOWN_ID

_BASE_CODE = bytes.maketrans(BASES.encode(), bytes(range(len(BASES))))


class KmerTokenizer(TokenLanguage):
    """Non-overlapping k-mer tokenizer of the DNAGPT token language.

    Args:
        k: the k-mer length that base runs are cut into (6 in the published models;
            1 gives single nucleotides).
        kmer_sizes: which k-mer lengths the vocabulary holds. ``None`` means all of
            1..k (the multi-organism models, 19,564 ids for k = 6); ``(k,)`` gives
            the human model's 6-mer-only vocabulary (15,659 ids).
    """

    kind = "kmer"

    def __init__(self, k: int = 6, kmer_sizes: Sequence[int] | None = None) -> None:
        if not _is_int(k) or not 1 <= k <= 8:
            raise ConfigError(f"k must be a whole number between 1 and 8, got {k!r}")
        if kmer_sizes is not None and (isinstance(kmer_sizes, (str, bytes)) or not isinstance(kmer_sizes, Sequence)
                                       or not all(_is_int(s) for s in kmer_sizes)):  # fmt: skip
            raise ConfigError(f"kmer_sizes must be a list of whole numbers within 1..k, got {kmer_sizes!r}")
        sizes = tuple(sorted(set(kmer_sizes))) if kmer_sizes is not None else tuple(range(1, k + 1))
        if not sizes or sizes[-1] != k or sizes[0] < 1:
            raise ConfigError(f"kmer_sizes must be within 1..k and include k={k}, got {sizes}")
        self.k = k
        self.kmer_sizes = sizes
        self._offset: dict[int, int] = {}
        pieces = [f"<{t}>" for t in RESERVED_TOKENS]
        for size in sizes:
            self._offset[size] = len(pieces)
            pieces.extend(_all_kmers(size))
        self._pieces = pieces
        self._powers = {s: 5 ** np.arange(s - 1, -1, -1, dtype=np.int64) for s in sizes}

    @property
    def vocab_size(self) -> int:
        """Number of token ids."""
        return len(self._pieces)

    @property
    def bases_per_token(self) -> float:
        return float(self.k)

    @property
    def reading_frames(self) -> int:
        return self.k

    def piece(self, token_id: int) -> str:
        """The text of one id: ``"<M>"`` for reserved tokens, the bases for k-mers."""
        if not 0 <= token_id < len(self._pieces):
            raise ConfigError(f"token id {token_id} is outside the vocabulary (0..{len(self._pieces) - 1})")
        return self._pieces[token_id]

    def needs_boundary(self, previous: str, piece: str) -> bool:
        return len(previous) < self.k  # bases after a short k-mer would merge with it on re-encoding

    @property
    def yes_id(self) -> int:
        """Classification answer "true": the 1-mer ``A`` (or ``A``*k without 1-mers)."""
        return self.token_id("A" * self.kmer_sizes[0])

    @property
    def no_id(self) -> int:
        """Classification answer "false": the 1-mer ``N`` (or ``N``*k without 1-mers)."""
        return self.token_id("N" * self.kmer_sizes[0])

    @property
    def first_kmer_id(self) -> int:
        """Ids from here on are k-mers; below are reserved tokens."""
        return self.first_base_id

    def base_ids(self, run: bytes) -> np.ndarray:
        codes = np.frombuffer(run.translate(_BASE_CODE), dtype=np.uint8).astype(np.int64)
        return self._codes_to_ids(codes)

    def encode_bases(self, bases: str | bytes | np.ndarray) -> np.ndarray:
        """Token ids (int64 array) of one run of bases, the fast path for long sequences.

        ``bases`` may be a normalised str/bytes over ``NAGCT`` or a uint8 array of
        base codes (0..4 in ``NAGCT`` order). Raw text goes through :meth:`encode`.
        """
        if isinstance(bases, np.ndarray):
            return self._codes_to_ids(bases.astype(np.int64, copy=False))
        return super().encode_bases(bases)

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

    def hf_base_model(self) -> tuple[models.Model, pre_tokenizers.PreTokenizer]:
        """A word-level model over the vocabulary's pieces, fed words of up to k bases cut from the
        start of each run (the last word of a run may be shorter)."""
        vocabulary = {piece: i for i, piece in enumerate(self._pieces)}
        words = pre_tokenizers.Split(Regex(f"[{BASES}]{{1,{self.k}}}"), "isolated")
        return models.WordLevel(vocabulary, unk_token=self._pieces[UNKNOWN_ID]), words

    # -------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        """JSON-serialisable description (enough to rebuild the same ids)."""
        return {
            "type": self.kind,
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
        reserved = spec.get("reserved_tokens", list(RESERVED_TOKENS))
        if spec.get("bases", BASES) != BASES or not isinstance(reserved, list) or tuple(reserved) != RESERVED_TOKENS:
            raise ConfigError("tokenizer spec uses a different base order or reserved-token list than dnagpt")
        if "k" not in spec:
            raise ConfigError("k-mer tokenizer spec without its k-mer length 'k'")
        tok = cls(spec["k"], spec.get("kmer_sizes"))
        if "vocab_size" in spec and spec["vocab_size"] != tok.vocab_size:
            raise ConfigError(f"tokenizer spec says vocab_size {spec['vocab_size']} but builds {tok.vocab_size}")
        return tok

    @classmethod
    def load(cls, path: str | Path) -> KmerTokenizer:
        """Read a tokenizer spec written by :meth:`save`; a damaged or other file is a :class:`ConfigError`
        naming it."""
        from . import load_tokenizer  # the package's reader checks the file; imported here: it imports this module

        tok = load_tokenizer(path)
        if not isinstance(tok, cls):
            raise ConfigError(f"{path}: a {tok.kind} tokenizer, not a k-mer one")
        return tok

    def __repr__(self) -> str:
        return f"KmerTokenizer(k={self.k}, kmer_sizes={self.kmer_sizes}, vocab_size={self.vocab_size})"


def _is_int(value: object) -> bool:
    """Whether ``value`` is a whole number (an int, or numpy's; not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _all_kmers(size: int) -> list[str]:
    """Every k-mer of one size over NAGCT, in itertools.product order."""
    kmers = [""]
    for _ in range(size):
        kmers = [p + b for p in kmers for b in BASES]
    return kmers
