"""Work shared among processes started by torch's launcher (``torchrun``, or :func:`launch_workers`
for several processes on this machine): which worker this process is, and how to start and wait
for workers. ``dnagpt bench`` and ``dnagpt vep`` share their work this way; each decides what a
worker does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

from .errors import ConfigError, DNAGPTError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workers:
    """Which worker this process is among a bench's workers: ``rank`` of ``size`` in all, the
    ``local_rank``-th of ``local_size`` on its own machine. A plain command is one worker."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @classmethod
    def from_environment(cls) -> Workers:
        """The worker torchrun made this process (its ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
        ``LOCAL_WORLD_SIZE``); one worker where they are not set."""
        names = {"rank": "RANK", "size": "WORLD_SIZE", "local_rank": "LOCAL_RANK", "local_size": "LOCAL_WORLD_SIZE"}
        given = {}
        for field_name, variable in names.items():
            text = os.environ.get(variable)
            if text is None:
                continue
            try:
                given[field_name] = int(text)
            except ValueError:
                raise ConfigError(f"environment variable {variable}={text!r} is not a whole number") from None
        workers = cls(**given)
        if not 0 <= workers.rank < workers.size or workers.local_rank < 0 or workers.local_size < 1:
            raise ConfigError(f"torchrun's RANK {workers.rank} / WORLD_SIZE {workers.size} (LOCAL_RANK "
                              f"{workers.local_rank} / LOCAL_WORLD_SIZE {workers.local_size}) do not fit "
                              "together")  # fmt: skip
        return workers


def workers_to_launch(requested: int) -> int:
    """How many worker processes a command given ``--workers requested`` starts itself: that many, or
    1 where torchrun started the command (its processes are then the workers: a --workers other than
    1 or torchrun's --nproc-per-node is an error)."""
    given = Workers.from_environment()
    if given.size == 1:
        return requested
    if requested not in (1, given.local_size):
        raise ConfigError(f"--workers {requested}: this command already runs under torchrun, as one of "
                          f"{given.local_size} processes on this machine ({given.size} in all); leave --workers "
                          "out (torchrun's --nproc-per-node sets the workers)")  # fmt: skip
    return 1


def available_cores() -> int:
    """The processor cores this process may use (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch computes with ``threads`` threads inside this block."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def wait_for_all(group: Any, timeout: timedelta) -> None:
    """Wait until every worker is here (gloo's monitored barrier: a worker that never comes within
    ``timeout`` is named in the error)."""
    import torch.distributed as dist

    dist.monitored_barrier(group, timeout=timeout, wait_all_ranks=True)


@contextlib.contextmanager
def process_group(workers: Workers) -> Iterator[Any]:
    """The gloo process group ``workers`` talk through, made here where the caller has none (and
    ended afterwards); None for a single worker, and for the caller's own gloo group. Messages
    between workers are small CPU objects, so gloo carries them even where training uses NCCL."""
    if workers.size == 1:
        yield None
        return
    import torch.distributed as dist

    made = not dist.is_initialized()
    if made:
        dist.init_process_group("gloo")
    group = None if made or dist.get_backend() == "gloo" else dist.new_group(backend="gloo")
    try:
        yield group
    finally:
        if group is not None:
            dist.destroy_process_group(group)
        if made:
            dist.destroy_process_group()


class WorkerFailed(DNAGPTError):
    """A worker stopped with an error or was killed; the work it saved so far is kept."""


def launch_workers(workers: int, entrypoint: Callable[..., Any], *args: Any, threads: int = 1,
                   traceback: bool = False) -> Any:  # fmt: skip
    """Call ``entrypoint(*args)`` in ``workers`` new processes on this machine, started by torch's
    elastic launcher as ``torchrun --standalone --nproc-per-node WORKERS`` starts them (a fresh
    rendezvous on a free port each time, so an earlier, killed launch leaves nothing in the way);
    return the first worker's (rank 0's) answer. ``entrypoint`` must be importable (a module's
    function). A worker that fails stops the others and raises :class:`WorkerFailed` with its
    error in one line (``traceback``: the worker's traceback is logged too). ``threads``: the
    threads of the workers' numerical libraries (``OMP_NUM_THREADS``, where it is not set)."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # the launcher's own files (the workers' error reports) go to a folder removed afterwards
    with tempfile.TemporaryDirectory(prefix="dnagpt-launch-") as files:
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=workers, run_id=f"dnagpt-{uuid.uuid4().hex}",
                              rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5,
                              start_method="spawn", logs_specs=DefaultLogsSpecs(log_dir=files))  # fmt: skip
        try:
            with _launcher_environment(threads, quiet=not traceback):
                answers = elastic_launch(config, entrypoint)(*args)
        except ChildFailedError as e:
            rank, failure = e.get_first_failure()
            if failure.exitcode < 0:
                what = f"killed by {failure.signal_name()}"
            elif isinstance(failure.message, dict):  # the worker's exception, as torch's error file keeps it
                what = failure.message.get("message", "")
                if traceback and failure.message.get("extraInfo", {}).get("py_callstack"):
                    logger.error("worker %d: %s", rank, failure.message["extraInfo"]["py_callstack"])
            else:
                what = f"exit status {failure.exitcode}"
            then = ("run the same command again to continue" if failure.exitcode < 0
                    else "fix what it says and run the command again")  # fmt: skip
            raise WorkerFailed(f"worker {rank} of {workers} stopped ({what}); the others were stopped too, and "
                               f"the work saved so far is kept: {then}") from None  # fmt: skip
        except SignalException as e:
            raise KeyboardInterrupt from e
    return answers[0]


@contextlib.contextmanager
def _launcher_environment(threads: int, quiet: bool) -> Iterator[None]:
    """What a launch changes in this process, undone afterwards: ``OMP_NUM_THREADS`` for the
    workers' numerical libraries (where the user has not set it, as torchrun does), the signal
    handlers the launcher installs, and (``quiet``) its own error reports, which repeat the one
    line :class:`WorkerFailed` gives."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    omp = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    noisy = [logging.getLogger(name) for name in ("torch.distributed.elastic.multiprocessing.api",
                                                  "torch.multiprocessing.spawn")]  # fmt: skip
    levels = [lg.level for lg in noisy]
    if quiet:
        for lg in noisy:
            lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(noisy, levels, strict=True):
            lg.setLevel(level)
        if omp is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        for s, handler in handlers.items():
            signal.signal(s, handler)
