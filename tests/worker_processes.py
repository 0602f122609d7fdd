"""Test helper: run a dnagpt command that starts workers, and kill one of them mid-run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil


def kill_a_worker(arguments: list[str], started: Callable[[], bool], workers: int = 2) -> tuple[int, str]:
    """Run ``dnagpt ARGUMENTS`` in a new process, wait until ``started()`` says its workers have saved
    some work, then kill the last worker (SIGKILL, as the system kills a process out of memory or time).
    Returns the command's exit status and what it wrote to stderr; nothing it started is left running."""
    command = [sys.executable, "-m", "dnagpt.cli", *arguments]
    launcher = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not started():
            assert launcher.poll() is None and time.monotonic() < deadline, launcher.stderr.read()
            time.sleep(0.01)
        spawned = [p for p in psutil.Process(launcher.pid).children(recursive=True)
                   if "spawn_main" in " ".join(p.cmdline())]  # fmt: skip
        assert len(spawned) == workers
        spawned[-1].kill()
        _, err = launcher.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
    return launcher.returncode, err
