"""Byte-pair-encoded bases (DNABERT-2's token language), on Hugging Face ``tokenizers``.

A BPE vocabulary starts from the five bases and adds the most frequent adjacent pair
of pieces again and again until it holds ``vocab_size`` ids, so common stretches
(repeats, motifs) become single tokens. The 34 reserved tokens of the DNAGPT language
hold ids 0..33 here too, so species, numbers and task templates work unchanged.

:func:`train_bpe` learns a vocabulary from sequences; :meth:`BPETokenizer.save_pretrained`
writes the standard ``tokenizer.json`` (plus ``tokenizer_config.json``), which
``tokenizers.Tokenizer.from_file`` and ``transformers.AutoTokenizer`` read as they are.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import tokenizers

from ..errors import ConfigError, InvalidSequenceError
from .language import HF_CONFIG, HF_FILE, TokenLanguage, tokenizers_failure
from .vocabulary import BASES, RESERVED_TOKENS, normalise_bases

CHUNK = 2000  # bases per training "word": BPE never merges across chunks


class BPETokenizer(TokenLanguage):
    """Byte-pair-encoded bases behind the shared token language.

    Args:
        hf: a ``tokenizers.Tokenizer`` whose ids 0..33 are the reserved tokens ``<0>`` .. ``<Z>``
            (as :func:`train_bpe` makes them).
        bases_per_token: measured mean bases per token, for sizing windows.
    """

    kind = "bpe"

    def __init__(self, hf, bases_per_token: float) -> None:
        for i, token in enumerate(RESERVED_TOKENS):
            if hf.token_to_id(f"<{token}>") != i:
                raise ConfigError(f"BPE vocabulary: id {i} must be the reserved token <{token}> of the DNAGPT language")
        # its merges alone: base_ids gets normalised runs (a saved file carries the whole language's normaliser,
        # and a fine-tuned task's prompt). Without a normaliser the reserved tokens' "normalized" flag means
        # nothing: it is set one way, so that a vocabulary describes itself alike (to_dict) wherever it was read
        state = json.loads(hf.to_str())
        for token in state.get("added_tokens") or []:
            token["normalized"] = False
        self._hf = tokenizers.Tokenizer.from_str(json.dumps(state))
        self._hf.normalizer = self._hf.pre_tokenizer = self._hf.post_processor = None
        self._bases_per_token = float(bases_per_token)
        self._pieces = [hf.id_to_token(i) for i in range(hf.get_vocab_size())]
        if any(p is None for p in self._pieces):
            raise ConfigError("BPE vocabulary: its ids are not contiguous")

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    @property
    def bases_per_token(self) -> float:
        return self._bases_per_token

    def piece(self, token_id: int) -> str:
        if not 0 <= token_id < len(self._pieces):
            raise ConfigError(f"token id {token_id} is outside the vocabulary (0..{len(self._pieces) - 1})")
        return self._pieces[token_id]

    def needs_boundary(self, previous: str, piece: str) -> bool:
        return True  # two adjacent pieces may merge differently when the text is encoded again

    def base_ids(self, run: bytes) -> np.ndarray:
        if not run:
            return np.zeros(0, dtype=np.int64)
        if run.translate(None, BASES.encode()):  # the model knows no other symbol: it would drop them silently
            raise InvalidSequenceError("base runs must be normalised to N, A, G, C, T (encode takes raw text)")
        return np.asarray(self._hf.encode(run.decode(), add_special_tokens=False).ids, dtype=np.int64)

    @property
    def yes_id(self) -> int:
        """Classification answer "true": the single base ``A``."""
        return self.token_id("A")

    @property
    def no_id(self) -> int:
        """Classification answer "false": the single base ``N``."""
        return self.token_id("N")

    # -------------------------------------------------------------- persistence
    def to_dict(self) -> dict:
        return {"type": self.kind, "bases_per_token": self._bases_per_token, "vocab_size": self.vocab_size,
                "hf_tokenizer": json.loads(self._hf.to_str())}  # fmt: skip

    @classmethod
    def from_dict(cls, spec: dict) -> BPETokenizer:
        per_token = spec.get("bases_per_token")
        if not _positive(per_token):
            raise ConfigError(f"BPE tokenizer spec: bases_per_token must be a positive number, got {per_token!r}")
        try:
            hf = tokenizers.Tokenizer.from_str(json.dumps(spec["hf_tokenizer"]))
            tok = cls(hf, float(per_token))
        except ConfigError:
            raise
        except BaseException as e:  # the Rust library raises its own exception types, or panics
            if not tokenizers_failure(e):
                raise
            raise ConfigError(f"BPE tokenizer spec is incomplete or damaged ({e})") from None
        if "vocab_size" in spec and spec["vocab_size"] != tok.vocab_size:
            raise ConfigError(f"tokenizer spec says vocab_size {spec['vocab_size']} but holds {tok.vocab_size}")
        return tok

    def hf_base_model(self) -> tuple[tokenizers.models.Model, None]:
        """The learned merges; a whole run of bases is one word, as in :meth:`base_ids`."""
        return self._hf.model, None

    def hf_figures(self) -> dict:
        return {"type": self.kind, "bases_per_token": self._bases_per_token}

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> BPETokenizer:
        """Read a folder written by :meth:`save_pretrained`."""
        folder = Path(folder)
        if not (folder / HF_FILE).is_file():
            raise ConfigError(f"{folder}: no {HF_FILE}")
        return cls.from_file(folder / HF_FILE)

    @classmethod
    def from_file(cls, path: str | Path) -> BPETokenizer:
        """Read a Hugging Face ``tokenizer.json`` whose ids 0..33 are the reserved tokens. Its bases
        per token come from ``tokenizer_config.json`` beside it when that holds them, else they are
        estimated as the mean length of the vocabulary's base pieces."""
        path = Path(path)
        try:
            hf = tokenizers.Tokenizer.from_file(str(path))
        except BaseException as e:  # the Rust library raises its own exception type, or panics
            if not tokenizers_failure(e):
                raise
            raise ConfigError(f"{path}: not a readable Hugging Face tokenizer ({e})") from None
        figures = {}
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            figures = json.loads((path.parent / HF_CONFIG).read_text()).get("dnagpt", {})
        per_token = figures.get("bases_per_token") if isinstance(figures, dict) else None
        if not _positive(per_token):
            pieces = [p for p in hf.get_vocab() if not p.startswith("<")]
            per_token = sum(map(len, pieces)) / max(len(pieces), 1)
        return cls(hf, float(per_token))

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, bases_per_token={self._bases_per_token:.2f})"


def _positive(value: object) -> bool:
    """Whether ``value`` is a finite number above 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value)) and value > 0
    except OverflowError:  # an int beyond any float
        return False


def _chunks(sequences: Iterable[str], chunk: int) -> Iterator[str]:
    """Normalised runs of known bases (N stretches split them), cut into ``chunk``-base pieces."""
    for seq in sequences:
        for run in normalise_bases(seq).split("N"):
            for start in range(0, len(run), chunk):
                if len(piece := run[start : start + chunk]) >= 2:
                    yield piece


def train_bpe(sequences: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2,
              chunk: int = CHUNK) -> BPETokenizer:  # fmt: skip
    """Learn a BPE vocabulary of ``vocab_size`` ids (reserved tokens and bases included) from
    ``sequences`` (strings of bases; soft-masked lowercase and IUPAC codes are normalised, N
    stretches split runs). Returns the tokenizer with its bases per token measured on the same text."""
    floor = len(RESERVED_TOKENS) + len(BASES)
    if vocab_size <= floor:
        raise ConfigError(f"vocab_size must exceed {floor} (the reserved tokens and the five bases), got {vocab_size}")
    sample: list[str] = []  # every 50th chunk, for measuring the bases per token afterwards

    def chunks_and_sample() -> Iterator[str]:
        for i, text in enumerate(_chunks(sequences, chunk)):
            if i % 50 == 0 and len(sample) < 4000:
                sample.append(text)
            yield text

    texts = chunks_and_sample()
    first = list(itertools.islice(texts, 1))
    if not first:
        raise ConfigError("no bases to learn a BPE vocabulary from")
    model = tokenizers.models.BPE()
    hf = tokenizers.Tokenizer(model)
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=[f"<{t}>" for t in RESERVED_TOKENS], initial_alphabet=list(BASES), limit_alphabet=len(BASES),
    )  # fmt: skip
    hf.train_from_iterator(
        itertools.chain(first, texts), trainer=trainer
    )  # streamed: the corpus is never all in memory
    encoded = hf.encode_batch(sample, add_special_tokens=False)
    tokens = sum(len(e.ids) for e in encoded)
    bases = sum(len(t) for t in sample)
    return BPETokenizer(hf, bases / max(tokens, 1))
