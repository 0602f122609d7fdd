"""Faults: a run killed with SIGKILL at a random moment continues bit-identically on --resume; a
damaged checkpoint or changed settings are refused with one clear line."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_pretrain import _config, _train_losses, reproducible_env

SEQ = "ACGTTGCAAGGCTTAACCGGTTAAGCTAGCTAGGCTTACGATCGATCGGATCCGATTACGAGC"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DNAGPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = reproducible_env()
    return subprocess.run([sys.executable, "-m", "dnagpt.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip


def _kill_after_checkpoint(args: list[str], run_dir, delay: float, marker: str | None = "checkpoint.pt") -> bool:
    """Start the command, wait for ``run_dir/marker`` (its first checkpoint; None: do not wait) to appear,
    wait ``delay`` more seconds, SIGKILL it; returns whether it was still running then (a kill after
    the end tests nothing)."""
    env = reproducible_env()
    proc = subprocess.Popen([sys.executable, "-m", "dnagpt.cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while marker is not None and not (run_dir / marker).exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return running


def _finetune_files(tmp_path):
    (tmp_path / "task.json").write_text(json.dumps({"template": "classification", "species": "human",
                                                    "labels": {"1": "A", "0": "N"}}))  # fmt: skip
    rng = random.Random(0)
    rows = [f"{''.join(rng.choice('ACGT') for _ in range(60))},{i % 2}" for i in range(64)]
    (tmp_path / "train.csv").write_text("sequence,label\n" + "\n".join(rows[:48]) + "\n")
    (tmp_path / "dev.csv").write_text("sequence,label\n" + "\n".join(rows[48:]) + "\n")
    return ["dnagpt-tiny", str(tmp_path / "task.json"), "--from-scratch", "--train", str(tmp_path / "train.csv"),
            "--dev", str(tmp_path / "dev.csv"), "--epochs", "6", "--batch-size", "4", "--lr", "1e-3",
            "--checkpoint-every", "3", "--patience", "0", "--no-progress"]  # fmt: skip


KILL_POINTS = [0.0, 0.3]  # seconds after the first checkpoint appears: at once, and after later saves


@pytest.mark.parametrize("delay,dropout", [(0.0, 0.1), (0.3, 0.0)])  # with dropout the RNG state must carry on
def test_pretraining_killed_anywhere_continues_identically(tmp_path, dropout, delay):
    cfg = str(_config(tmp_path, steps=40, dropout=dropout))
    assert _cli("pretrain", cfg, "--out", str(tmp_path / "a"), "--no-progress").returncode == 0
    args = ["pretrain", cfg, "--out", str(tmp_path / "b"), "--no-progress"]
    assert _kill_after_checkpoint(args, tmp_path / "b", delay), "the run ended before it could be killed"
    again = _cli("pretrain", cfg, "--out", str(tmp_path / "b"), "--no-progress")
    assert again.returncode == 2 and "--resume" in again.stderr  # a rerun without --resume never overwrites
    out = _cli("pretrain", cfg, "--out", str(tmp_path / "b"), "--no-progress", "--resume")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")


@pytest.mark.parametrize("delay", KILL_POINTS[:1])  # at once; later moments are covered by the pretraining cases
def test_finetuning_killed_anywhere_continues_identically(tmp_path, delay):
    args = _finetune_files(tmp_path)
    assert _cli("finetune", *args, "--out", str(tmp_path / "a")).returncode == 0
    assert _kill_after_checkpoint(["finetune", *args, "--out", str(tmp_path / "b")], tmp_path / "b", delay)
    out = _cli("finetune", *args, "--out", str(tmp_path / "b"), "--resume")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")
    a = json.loads((tmp_path / "a" / "best" / "selection.json").read_text())
    b = json.loads((tmp_path / "b" / "best" / "selection.json").read_text())
    assert a == b


def _files(folder: Path) -> dict[str, bytes]:
    """Every finished file under ``folder`` (temporaries of an interrupted write left out)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".tmp")}  # fmt: skip


def test_data_build_killed_anywhere_rebuilds_identically(tmp_path, monkeypatch):
    """`dnagpt data build` killed at several moments: what it left is either absent or whole, and the
    next build gives the same bytes. Uses the real sources (fetched once into the user's cache)."""
    from dnagpt.data.sources import SOURCES, is_cached

    monkeypatch.delenv("DNAGPT_CACHE")  # the sources are 14 MB: use the ordinary cache, never the network
    if not all(is_cached(SOURCES[name]) for name in ("hg19-chr22-primates", "chr22-variants")):
        pytest.skip(
            "the af-human sources are not in the cache (`dnagpt data fetch hg19-chr22-primates` and "
            "`chr22-variants` once; the suite itself never downloads)"
        )
    start = time.perf_counter()
    assert _cli("data", "build", "af-human", "--out", str(tmp_path / "a")).returncode == 0
    whole = time.perf_counter() - start
    reference = _files(tmp_path / "a")
    assert {"train.csv.gz", "dev.csv.gz", "test.csv.gz", "task.toml"} <= set(reference)
    killed = 0
    for i, fraction in enumerate((0.5, 0.8, 0.95)):
        out = tmp_path / f"b{i}"
        killed += _kill_after_checkpoint(["data", "build", "af-human", "--out", str(out)], out,
                                         fraction * whole, marker=None)  # fmt: skip
        left = _files(out) if out.exists() else {}
        assert all(reference[name] == data for name, data in left.items())  # nothing half-written
        assert _cli("data", "build", "af-human", "--out", str(out)).returncode == 0
        assert _files(out) == reference and not list(out.glob(".*.tmp"))
    assert killed >= 1, "every build finished before its kill"


def test_genomes_killed_anywhere_continues_identically(tmp_path):
    """`dnagpt genomes report` killed while fine-tuning and while generating: the rerun continues
    from what was saved and ends with the same haplotypes and the same evaluation."""
    pytest.importorskip("msprime")
    options = ["--source", "msprime", "--snps", "48", "--epochs", "2", "--generate", "16", "--lr", "3e-3",
               "--models", "dnagpt", "markov"]  # fmt: skip
    assert _cli("genomes", "report", str(tmp_path / "a"), *options).returncode == 0
    # killed at the first fine-tuning checkpoint (epoch 1 of 2), and as the first generated set appears
    for i, (marker, delay) in enumerate((("dnagpt/checkpoint.pt", 0.0), ("generated", 0.0))):
        work = tmp_path / f"b{i}"
        args = ["genomes", "report", str(work), *options]
        assert _kill_after_checkpoint(args, work, delay, marker=marker), f"finished before the kill at {marker}"
        out = _cli(*args)
        assert out.returncode == 0, out.stderr[-2000:]
        assert _train_losses(tmp_path / "a" / "dnagpt") == _train_losses(work / "dnagpt")
        saved = sorted(str(p.relative_to(work)) for p in work.rglob("*.npz"))
        assert len(saved) >= 4 and saved == sorted(
            str(p.relative_to(tmp_path / "a")) for p in (tmp_path / "a").rglob("*.npz")
        )
        for name in saved:
            assert (tmp_path / "a" / name).read_bytes() == (work / name).read_bytes(), name
        results = [json.loads((w / "evaluation.json").read_text()) for w in (tmp_path / "a", work)]
        for result in results:
            for scores in result.values():
                scores.get("generation", {}).pop("seconds", None)  # wall time, the one thing that may differ
        assert results[0] == results[1]


def test_damaged_checkpoint_is_refused(tmp_path):
    cfg = str(_config(tmp_path, steps=4))
    run = tmp_path / "run"
    assert _cli("pretrain", cfg, "--out", str(run), "--no-progress").returncode == 0
    blob = bytearray((run / "checkpoint.pt").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (run / "checkpoint.pt").write_bytes(bytes(blob))
    out = _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--resume")
    assert out.returncode == 2 and "checkpoint.pt: its SHA-256" in out.stderr and "Traceback" not in out.stderr
    (run / "checkpoint.pt").write_bytes(bytes(blob[:1000]))
    (run / "checkpoint.pt.sha256").unlink()  # no digest to compare with: torch's reader finds the damage
    out = _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--resume")
    assert out.returncode == 2 and "truncated or corrupt checkpoint" in out.stderr
    assert "weights_only" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_resume_with_changed_settings_is_refused_unless_allowed(tmp_path):
    cfg = str(_config(tmp_path, steps=4))
    run = tmp_path / "run"
    assert _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--max-steps", "2").returncode == 0
    out = _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--resume", "--set", "train.lr=1e-3")
    assert out.returncode == 2 and "train.lr: 0.003 -> 0.001 (fixed for the life of a run)" in out.stderr
    out = _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--resume", "--set", "model.n_layer=3")
    assert out.returncode == 2 and "model.n_layer" in out.stderr
    out = _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--resume")  # max_steps 2 -> 4
    assert out.returncode == 2 and "train.max_steps: 2 -> 4 (allow it with --allow-change)" in out.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["max_steps"] == 2  # the refused resume rewrote nothing
    out = _cli("pretrain", cfg, "--out", str(run), "--no-progress", "--resume", "--allow-change", "train.max_steps")
    assert out.returncode == 0, out.stderr[-2000:]
    assert [s for s, _ in _train_losses(run)] == [1, 2, 3, 4]


def test_finetuning_resume_refuses_other_data(tmp_path):
    args = _finetune_files(tmp_path)
    assert _cli("finetune", *args, "--out", str(tmp_path / "r"), "--epochs", "1").returncode == 0
    (tmp_path / "train.csv").write_text((tmp_path / "train.csv").read_text().replace("ACG", "TTT", 1))
    out = _cli("finetune", *args, "--out", str(tmp_path / "r"), "--epochs", "1", "--resume")
    assert out.returncode == 2 and "data.train.sha256" in out.stderr


def test_interrupted_writes_leave_no_temporary_files(tmp_path):
    from dnagpt.io import atomic_path, remove_stale_temporaries

    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.json") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []  # an exception cleans up at once
    (tmp_path / ".x.json.abc123.tmp").write_text("left by SIGKILL")  # what a kill leaves behind
    assert remove_stale_temporaries(tmp_path) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("killed_at", ["before", "after"])
def test_killed_between_file_and_digest_leaves_a_readable_pair(tmp_path, monkeypatch, killed_at):
    """A file and its SHA-256 are two renames; a kill just before or just after the file's own rename
    must not make it look damaged (seen in CI: a checkpoint refused after a kill there)."""
    from dnagpt import io

    target = tmp_path / "checkpoint.pt"
    io.write_with_digest(target, lambda tmp: tmp.write_bytes(b"old"))
    real_replace = io.os.replace

    def replace(src, dst):
        if Path(dst) == target and killed_at == "before":
            raise KeyboardInterrupt
        real_replace(src, dst)
        if Path(dst) == target:
            raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        io.write_with_digest(target, lambda tmp: tmp.write_bytes(b"new"))
    monkeypatch.undo()
    assert target.read_bytes() == (b"old" if killed_at == "before" else b"new")
    io.verify_digest(target, ValueError)  # whichever file survived matches its record
    target.write_bytes(b"neither")
    with pytest.raises(ValueError, match="does not match"):
        io.verify_digest(target, ValueError)
    io.write_with_digest(target, lambda tmp: tmp.write_bytes(b"next"))
    assert len(io.digest_path(target).read_text().splitlines()) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_killed_fetch_leaves_no_child_or_partial_folder(tmp_path):
    """The download child dies with dnagpt, and the next fetch removes the dead fetch's work folder."""
    from dnagpt.data import sources

    partial = tmp_path / "sources" / ".partial"
    (partial / "yeast-chr1-999999999-x").mkdir(parents=True)  # a folder whose process is gone
    (partial / f"yeast-chr1-{os.getpid()}-y").mkdir()  # one whose process is alive: kept
    sources._remove_abandoned(partial)
    assert sorted(p.name for p in partial.iterdir()) == [f"yeast-chr1-{os.getpid()}-y"]
    script = (
        "import subprocess, sys, time; from dnagpt.data.sources import _die_with_parent; "
        "p = subprocess.Popen(['sleep', '60'], preexec_fn=_die_with_parent); print(p.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while _alive(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def test_a_file_system_without_locks_warns_and_runs(tmp_path, monkeypatch):
    """Some cluster file systems refuse flock outright; a run there goes on, with a warning."""
    import errno
    import fcntl

    import dnagpt.io as dio

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    ran = []
    with pytest.warns(UserWarning, match="cannot lock files"):
        with dio.exclusive_directory(tmp_path / "run", RuntimeError):
            ran.append(True)
    assert ran == [True]
