"""The alphabet of the token language: reserved tokens, bases and species, and base normalisation.

The 34 reserved tokens hold ids 0..33 in every tokenizer (the order of the published DNAGPT
checkpoints). Input is normalised: lowercase (soft-masked) bases are upper-cased, IUPAC ambiguity
codes become ``N``; any other character raises :class:`~dnagpt.errors.InvalidSequenceError`
naming its position.
"""

from __future__ import annotations

import re

from ..errors import ConfigError, InvalidSequenceError

# Order fixed by the published checkpoints: ids 0..33.
RESERVED_TOKENS: tuple[str, ...] = (
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    "+", "-", "*", "/", "=", "&", "|", "!",
    "M", "B", "P",
    "R", "I", "K", "L", "O", "Q", "S", "U", "V",
    "W", "Y", "X", "Z",
)  # fmt: skip
BASES = "NAGCT"  # the base alphabet, in k-mer id order
NUMBER, BINARY, PAD, FUSE, OUTPUT = "M", "B", "P", "+", "="
MASK = "X"  # a spare reserved token, the mask of masked-token pretraining and scoring
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
_NOT_A_BASE = re.compile(r"[^NAGCT]")


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
