"""Batches of similar length for inference: little padding, and the largest batch first."""

from __future__ import annotations

from collections.abc import Sequence


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped ``batch_size`` at a time, longest first.

    Batching sequences of similar length wastes little work on padding; putting the longest
    first means that a batch too big for memory fails at once, not after an hour. The caller puts
    results back in input order (the concatenated batches are a permutation of the indices).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])  # stable: equal lengths keep input order
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
