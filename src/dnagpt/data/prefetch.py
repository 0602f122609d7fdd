"""Making the next batch on a background thread while the model runs on this one: the trainer's
batches, and ``dnagpt vep``'s windows.

On a GPU the training thread mostly waits for kernels, and batching (sampling windows, tokenizing,
masking) took a third of a pretraining step when it ran inline; a second thread hides it. On a
CPU batching is about 1 % of a step at real shapes and the thread made no difference beyond noise,
so the trainer uses it on a GPU only unless told otherwise (``train.prefetch``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal


class BatchPrefetcher:
    """Makes the next batch on a background thread while the model runs on this one.

    Batches are pure functions of their indices, so making one early changes nothing but when the
    work is done: a run with prefetching draws exactly the batches of one without.
    """

    def __init__(self, make: Callable[[range], Any], enabled: bool | Literal["auto"], device_type: str) -> None:
        """``enabled``: "auto" prefetches where the model runs on an accelerator (``device_type`` other
        than "cpu"), where it would otherwise wait for the batches; on a CPU the thread takes its time
        from the model's own threads."""
        self._make = make
        if enabled == "auto":
            enabled = device_type != "cpu"
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="dnagpt-batches") if enabled else None
        self._pending: tuple[range, Future] | None = None

    def get(self, indices: range, following: range | None) -> Any:
        """The batch of ``indices``; starts making the batch of ``following`` (None: nothing next)."""
        if self._pool is None:
            return self._make(indices)
        ready = self._take(indices)
        batch = ready.result() if ready is not None else self._make(indices)
        if following is not None:
            self._pending = (following, self._pool.submit(self._make, following))
        return batch

    def _take(self, indices: range) -> Future | None:
        pending, self._pending = self._pending, None
        if pending is None:
            return None
        if pending[0] == indices:
            return pending[1]
        pending[1].cancel()
        with contextlib.suppress(Exception):  # a batch nobody asked for: its error does not matter
            pending[1].result()
        return None

    def settle(self) -> None:
        """Wait for the batch in the making, so the task's samplers are free (evaluation uses them)."""
        if self._pending is not None:
            with contextlib.suppress(Exception):  # raised again when the batch is taken
                self._pending[1].exception()

    def close(self) -> None:
        if self._pool is not None:
            self._pending = None
            self._pool.shutdown(wait=True, cancel_futures=True)
