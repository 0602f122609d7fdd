"""Genomic regions and the one registry of held-out regions.

Every sequence dnagpt reads from a fetched source is named ``SOURCE/SEQUENCE`` (the source
of :mod:`dnagpt.data.sources` and the record's own name in it), and a stretch of it is the
region ``SOURCE/SEQUENCE:START-END`` (1-based, inclusive, as in a genome browser).

Held-out regions: each such sequence is cut into blocks of :data:`BLOCK` bases, and each
block belongs to ``train``, ``dev`` or ``test`` (60 : 15 : 25) by a hash of its name. The
rule is fixed and needs no state, so every labelled dataset puts its examples in the split
of their block (an example that straddles two blocks is dropped), and every pretraining
corpus keeps only ``train`` blocks. No pretraining window can then overlap a dev or test
example of any dataset, and no dataset's test example overlaps another dataset's training
example on the same sequence.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from collections.abc import Iterable

from ..errors import DataError

BLOCK = 20_000  # bases per block: small enough that a 700 kb region still has blocks in all three splits
SPLITS = ("train", "dev", "test")
_CUTS = (0.60, 0.75)  # cumulative fractions: train below 0.60, dev below 0.75, test above


def format_region(sequence: str, start: int, end: int) -> str:
    """``SEQUENCE:START-END`` of the 0-based half-open interval ``[start, end)``."""
    return f"{sequence}:{start + 1}-{end}"


def parse_region(region: str) -> tuple[str, int, int]:
    """``CHR:START-END`` (1-based, inclusive; commas allowed) as ``(chromosome, start, end)``,
    with START and END as written."""
    # [0-9,]+ rather than "digits and commas around a digit": that form backtracks for minutes on a long
    # run of digits that does not end the text
    m = re.fullmatch(r"\s*([^:\s]+):([0-9,]+)-([0-9,]+)\s*", region)
    digits = (m.group(2).replace(",", ""), m.group(3).replace(",", "")) if m else ("", "")
    if not all(digits):
        raise DataError(f"region {_shown(region)}: expected CHR:START-END, e.g. chr20:1,000,000-2,000,000")
    if max(len(d.lstrip("0")) for d in digits) > MAX_POSITION_DIGITS:
        raise DataError(f"region {_shown(region)}: a position of more than {MAX_POSITION_DIGITS} digits")
    chrom, start, end = m.group(1), int(digits[0]), int(digits[1])
    if not 1 <= start <= end:
        raise DataError(f"region {_shown(region)}: need 1 <= START <= END")
    return chrom, start, end


MAX_POSITION_DIGITS = 15  # a position of a genome (the longest known: ~1.5e11 bases) has at most 12


def _shown(region: str) -> str:
    """``region`` quoted for a message, cut to 100 characters."""
    return repr(region) if len(region) <= 100 else repr(region[:100]) + f"... ({len(region):,} characters)"


def block_split(sequence: str, block: int) -> str:
    """``train``, ``dev`` or ``test``: where block number ``block`` of ``sequence`` belongs."""
    digest = hashlib.blake2b(f"{sequence}#{block}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    return "train" if u < _CUTS[0] else "dev" if u < _CUTS[1] else "test"


def window_split(sequence: str, start: int, end: int) -> str | None:
    """The split of the window ``[start, end)`` (0-based) of ``sequence``, or None when it
    straddles two blocks (such a window is left out of every dataset)."""
    if start < 0 or end <= start:
        raise DataError(f"{sequence}: empty or negative window [{start}, {end})")
    first, last = start // BLOCK, (end - 1) // BLOCK
    return block_split(sequence, first) if first == last else None


def training_parts(sequence: str, start: int, end: int) -> list[tuple[int, int]]:
    """The pieces of ``[start, end)`` (0-based) of ``sequence`` that lie in ``train`` blocks,
    merged where consecutive blocks are both ``train``."""
    parts: list[tuple[int, int]] = []
    for block in range(start // BLOCK, (end - 1) // BLOCK + 1):
        if block_split(sequence, block) != "train":
            continue
        lo, hi = max(start, block * BLOCK), min(end, (block + 1) * BLOCK)
        if parts and parts[-1][1] == lo:
            parts[-1] = (parts[-1][0], hi)
        else:
            parts.append((lo, hi))
    return parts


def cut_to_training(records: Iterable[tuple[str, int, str]], min_length: int = 1000) -> list[tuple[str, str]]:
    """FASTA records of the ``train`` parts of ``(sequence name, 0-based offset, bases)`` pieces,
    each named by its region; parts shorter than ``min_length`` are dropped."""
    out = []
    for sequence, offset, bases in records:
        for lo, hi in training_parts(sequence, offset, offset + len(bases)):
            if hi - lo >= min_length:
                out.append((format_region(sequence, lo, hi), bases[lo - offset : hi - offset]))
    return out


def overlapping(regions: Iterable[str], others: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs ``(a, b)`` of ``regions`` and ``others`` that share at least one base."""
    by_sequence: dict[str, list[tuple[int, int, str]]] = {}
    for region in others:
        name, start, end = parse_region(region)
        by_sequence.setdefault(name, []).append((start, end, region))
    index = {}
    for name, intervals in by_sequence.items():
        intervals.sort()
        reach = list(itertools.accumulate((hi for _, hi, _ in intervals), max))  # furthest end so far
        index[name] = ([lo for lo, _, _ in intervals], reach, intervals)
    found = []
    for region in regions:
        name, start, end = parse_region(region)
        if name not in index:
            continue
        starts, reach, intervals = index[name]
        j = bisect.bisect_right(starts, end) - 1  # the last interval starting at or before END
        while j >= 0 and reach[j] >= start:
            if intervals[j][1] >= start:
                found.append((region, intervals[j][2]))
            j -= 1
    return found
