"""`dnagpt bench`: runs are paired and resumable, results come out as a tidy table and a report,
a user's own task folder runs the same way, the statistics are right, and a bench shared among
worker processes gives the table of one process, killed or not."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from dnagpt import DNAGPT, get_config
from dnagpt.bench.config import BENCH_RECIPE, BenchConfig
from dnagpt.bench.report import write_report
from dnagpt.bench.runner import run_bench, share_out, single_process
from dnagpt.bench.statistics import paired_test
from dnagpt.bench.tables import transfer_section
from dnagpt.bench.tasks import load_bench_task, subsample
from dnagpt.cli import main
from dnagpt.errors import ConfigError
from dnagpt.models import load_model
from dnagpt.workers import WorkerFailed, Workers, launch_workers
from worker_processes import kill_a_worker


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    """`dnagpt bench --quick` in one process, run once: tests copy it or compare with it, never change it."""
    out = tmp_path_factory.mktemp("quick") / "bench"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    return out


def test_quick_bench_runs_every_model_and_resumes(quick_bench, tmp_path, capsys):
    out = tmp_path / "bench"
    shutil.copytree(quick_bench, out)
    table = pq.read_table(out / "results.parquet").to_pylist()
    mcc = {(r["model"], r["seed"]): r["value"] for r in table if r["metric"] == "mcc"}
    models = {"majority", "kmer-logreg", "cnn", "dnagpt-scratch", "dnagpt-pretrained"}
    assert set(mcc) == {(m, s) for m in models for s in (0, 1)}
    assert mcc["majority", 0] == 0.0 and mcc["kmer-logreg", 0] > 0.2  # 64 real TIS windows are enough for k-mers
    assert {r["train_examples"] for r in table} == {64} and {r["test_examples"] for r in table} == {64}
    report = (out / "report.md").read_text()
    assert "| tis_arabidopsis (mcc) | 64 / 64 |" in report and "dnagpt-pretrained − dnagpt-scratch" in report
    assert (out / "figures" / "headline.png").is_file() and not (out / "work").exists()
    # a killed bench: one result lost; the rerun does that run only and gets the same figure
    lost = out / "runs" / "tis_arabidopsis" / "kmer-logreg" / "n64-seed1.json"
    before = json.loads(lost.read_text())["metrics"]["mcc"]
    lost.unlink()
    capsys.readouterr()
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    printed, logged = captured.out, captured.err  # progress is logged (standard error), the summary printed
    progress = [line for line in logged.splitlines() if line.startswith("[")]  # one line per run done
    assert "10 runs, 9 already saved" in logged and len(progress) == 1 and "kmer-logreg" in progress[0]
    assert "about 0 min left" in progress[0]  # the only run left is done, wherever the saved ones lay
    assert "| tis_arabidopsis (mcc) | 64 / 64 |" in printed  # the headline table, on the terminal too
    assert "dnagpt-pretrained − dnagpt-scratch" in printed
    assert json.loads(lost.read_text())["metrics"]["mcc"] == before
    lost.unlink()  # a report of what is saved, while a bench is still going: nothing is run
    assert main(["bench", "--quick", "--out", str(out), "--report-only"]) == 0
    assert not lost.exists() and len(pq.read_table(out / "results.parquet").to_pylist()) < len(table)
    (out / "report.md").unlink()  # the settings a report needs are read from the bench's own bench.json
    assert main(["bench", "--out", str(out), "--report-only"]) == 0
    assert not lost.exists() and "1 epochs" in (out / "report.md").read_text()


def _own_task(folder, n=120):
    """A user's task folder: GC-rich (1) or AT-rich (0) 80 bp sequences."""
    folder.mkdir()
    (folder / "task.toml").write_text('# GC-rich or not\ntemplate = "classification"\n[labels]\n"1" = "A"\n"0" = "N"\n')
    rng = np.random.default_rng(0)
    for split, size in (("train", n), ("dev", n // 2), ("test", n // 2)):
        with open(folder / f"{split}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["sequence", "label"])
            for i in range(size):
                p = [0.15, 0.35, 0.35, 0.15] if i % 2 else [0.35, 0.15, 0.15, 0.35]
                writer.writerow(["".join(rng.choice(list("ACGT"), 80, p=p)), i % 2])
    return folder


def test_own_task_learning_curve_and_settings_check(tmp_path):
    task = str(_own_task(tmp_path / "gc"))
    cfg = BenchConfig(tasks=[task], models=["majority", "kmer-logreg"], seeds=3, max_train=0, curve_tasks=["gc"],
                      curve_sizes=[10, 40, 0])  # fmt: skip
    results = run_bench(cfg, tmp_path / "b", log=lambda _: None)
    sizes = sorted({(r["n_train"], r["train_examples"]) for r in results})
    assert sizes == [(0, 120), (10, 10), (40, 40)] and len(results) == 3 * 3 * 2
    full = [r["metrics"]["mcc"] for r in results if r["model"] == "kmer-logreg" and r["n_train"] == 0]
    assert min(full) > 0.8  # composition is the whole signal here
    report = write_report(results, cfg, tmp_path / "b").read_text()
    assert "## Learning curves" in report and "GC-rich or not" in report
    assert (tmp_path / "b" / "figures" / "learning_curves.png").is_file()
    with pytest.raises(ConfigError, match="max_train: 0 -> 50"):  # a changed recipe would mix two benches
        run_bench(BenchConfig(tasks=[task], models=["majority"], max_train=50), tmp_path / "b", log=lambda _: None)
    more = run_bench(
        BenchConfig(
            tasks=[task],
            models=["majority", "kmer-logreg"],
            seeds=4,
            max_train=0,
            curve_tasks=["gc"],
            curve_sizes=[10, 40, 0],
        ),
        tmp_path / "b",
        log=lambda _: None,
    )
    assert len(more) == 4 * 3 * 2  # more seeds may be added later

    # a bench kept as its table and report alone (no per-run files) reports the same and runs nothing again
    report = write_report(more, cfg, tmp_path / "b").read_text()
    shutil.rmtree(tmp_path / "b" / "runs")
    again = run_bench(replace(cfg, seeds=4), tmp_path / "b", log=lambda _: None, execute=False)
    assert again == [{**r, "metrics": {k: v for k, v in r["metrics"].items() if not isinstance(v, dict)}} for r in more]
    assert write_report(again, cfg, tmp_path / "b").read_text() == report


def test_subsample_keeps_classes_balanced_and_is_paired_by_seed():
    rows = [{"i": i} for i in range(100)]
    labels = np.array([i % 2 for i in range(100)])
    a, b = subsample(rows, 20, 3, labels), subsample(rows, 20, 3, labels)
    assert a == b and sum(r["i"] % 2 for r in a) == 10  # same seed, same draw; classes kept
    assert subsample(rows, 20, 4, labels) != a and subsample(rows, 0, 3, labels) == rows


def test_paired_test_against_scipy_by_hand():
    a = {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.65}
    b = {0: 0.4, 1: 0.55, 2: 0.5, 3: 0.6}
    t = paired_test(a, b)
    d = np.array([0.1, 0.05, 0.2, 0.05])
    statistic = d.mean() / (d.std(ddof=1) / math.sqrt(4))
    assert t["mean"] == pytest.approx(d.mean()) and t["sd"] == pytest.approx(d.std(ddof=1))
    assert t["wins"] == 4 and t["n"] == 4
    # Student's t with 3 degrees of freedom has a closed-form distribution function
    x = statistic / math.sqrt(3)
    cdf = 0.5 + (x / (1 + x * x) + math.atan(x)) / math.pi
    assert statistic == pytest.approx(2.828, abs=0.001) and t["p"] == pytest.approx(2 * (1 - cdf))


def test_the_other_families_shipped_models_run_on_request(tmp_path):
    task = str(_own_task(tmp_path / "gc", n=48))
    cfg = BenchConfig(tasks=[task], models=["gpn-pretrained", "gpn-scratch", "bert-pretrained"], seeds=1,
                      max_train=0, recipe=replace(BENCH_RECIPE, epochs=1), curve_tasks=[])  # fmt: skip
    results = run_bench(cfg, tmp_path / "b", log=lambda _: None)
    assert sorted(r["model"] for r in results) == ["bert-pretrained", "gpn-pretrained", "gpn-scratch"]
    assert all(math.isfinite(r["metrics"]["mcc"]) for r in results)
    report = write_report(results, cfg, tmp_path / "b").read_text()
    assert "gpn-pretrained − gpn-scratch" in report
    families = report.split("## Which family wins where")[1].split("## Other metrics")[0]
    won = {k: int(v) for k, v in (w.split() for w in families.split("Tasks won: ")[1].split(".")[0].split(", "))}
    assert set(won) == {"bert", "gpn", "classical"} and sum(won.values()) == 1  # one task, one winner
    parameters = load_model("gpn-small-multispecies").num_parameters()  # the compute row reads the model's card
    assert f"| gpn | `gpn-small-multispecies` | {parameters / 1e6:.1f}M |" in families
    assert BenchConfig().models == [] and "gpn-pretrained" not in {m for _, m, _, _ in _default_plan()}


def test_the_transfer_section_counts_each_part_of_the_bar():
    def runs(task, model, size, mccs):
        return [{"task": task, "model": model, "seed": s, "n_train": size, "output": "token",
                 "metrics": {"mcc": m}} for s, m in enumerate(mccs)]  # fmt: skip

    noise = [0.00, 0.01, -0.01, 0.02, -0.02]
    results = []
    for task, gain in (("a", 0.2), ("b", 0.2), ("c", 0.0)):  # pretraining helps on two tasks of three
        results += runs(task, "kmer-logreg", 1000, [0.5 + e for e in noise])
        results += runs(task, "gpn-scratch", 1000, [0.4 + e for e in noise[::-1]])
        results += runs(task, "gpn-pretrained", 1000, [0.4 + gain + e / 2 for e in noise])
    results += runs("a", "kmer-logreg", 100, [0.3 + e for e in noise])
    results += runs("a", "gpn-pretrained", 100, [0.1 + e for e in noise])  # far worse with 100 examples
    cfg = BenchConfig(curve_tasks=["a"])
    row = next(line for line in transfer_section(results, cfg) if line.startswith("| gpn"))
    assert row == "| gpn | 2 of 3 | 2 of 3 | 0 of 1 | no |"  # twin and classical parts met, the curve not
    fixed = [r for r in results if r["n_train"] == 1000]
    assert transfer_section(fixed, BenchConfig(curve_tasks=[]))[-2] == "| gpn | 2 of 3 | 2 of 3 | not run | no |"
    fixed += runs("a", "kmer-logreg", 100, [0.3 + e for e in noise])
    fixed += runs("a", "gpn-pretrained", 100, [0.35 + e for e in noise[::-1]])  # better with 100 examples
    assert transfer_section(fixed, cfg)[-2] == "| gpn | 2 of 3 | 2 of 3 | 1 of 1 | yes |"


@pytest.mark.parametrize(("model", "numbers", "readout"), [
    ("gpn-scratch", True, "answer"),  # a mean over the bases would drown the numbers
    ("gpn-scratch", False, "mean"),
    ("bert-scratch", False, "mean"),
    ("bert-scratch", True, "answer"),
    ("dnagpt-scratch", True, "answer"),  # the decoder reads the bench's readout
])  # fmt: skip
def test_each_family_reads_the_task_where_its_answer_is(monkeypatch, tmp_path, model, numbers, readout):
    import tomllib

    from dnagpt.bench import models
    from dnagpt.bench.tasks import BenchTask
    from dnagpt.data.datasets.variants import AF_TASK
    from dnagpt.tasks.spec import TaskSpec

    task_file = AF_TASK if numbers else AF_TASK.replace('"mixed_regression"', '"regression"').replace("number_", "#")
    spec = TaskSpec.from_dict(tomllib.loads(task_file))
    rows = [{"sequence": "ACGTTGCA" * 8, "label": 0.5, "eur_af": 0.1, "asn_af": 0.2, "amr_af": 0.3}]
    seen = {}

    def sweep(model_, data, recipe, work, sweep_, **_):
        seen["readout"] = recipe.for_model(model_, data.spec).readout
        return type("Best", (), {"test": {}, "dev": {}, "lr": recipe.lr})(), {}

    monkeypatch.setattr(models, "finetune_sweep", sweep)
    task = BenchTask("af", spec, {}, "")
    run = models.Run(task, model, 0, 10, rows, rows, rows, tmp_path, BenchConfig())
    models.MODELS[model].run(run)
    assert seen["readout"] == readout


def test_several_learning_rates_are_each_tried_and_dev_picks(tmp_path):
    task = str(_own_task(tmp_path / "gc", n=48))
    out = tmp_path / "b"
    assert main(["bench", "--out", str(out), "--tasks", task, "--models", "gpn-scratch", "--seeds", "1",
                 "--max-train", "0", "--epochs", "1", "--lr", "1e-7", "3e-3", "--curve-tasks"]) == 0  # fmt: skip
    saved = json.loads(next((out / "runs").rglob("*.json")).read_text())["metrics"]
    scores = saved["dev_by_lr"]
    assert set(scores) == {"1e-07", "0.003"} and scores[f"{saved['lr']:g}"] == max(scores.values())
    assert saved["dev"]["mcc"] == max(scores.values())  # the kept run is the one dev scored best
    assert "learning rate picked on dev from 1e-07, 0.003" in (out / "report.md").read_text()


def test_several_warm_starts_are_each_tried_on_loaded_weights_and_dev_picks(tmp_path):
    torch.manual_seed(0)
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "tiny")
    task = str(_own_task(tmp_path / "gc", n=48))
    out = tmp_path / "b"
    assert main(["bench", "--out", str(out), "--tasks", task, "--models", "dnagpt-pretrained", "dnagpt-scratch",
                 "--pretrained", str(tmp_path / "tiny"), "--seeds", "1", "--max-train", "0", "--epochs", "1",
                 "--shrink", "1", "0.2", "--curve-tasks"]) == 0  # fmt: skip
    saved = {p.parent.name: json.loads(p.read_text())["metrics"] for p in (out / "runs").rglob("*.json")}
    scores = saved["dnagpt-pretrained"]["dev_by_shrink"]
    assert set(scores) == {"1", "0.2"} and scores[f"{saved['dnagpt-pretrained']['shrink']:g}"] == max(scores.values())
    assert "dev_by_shrink" not in saved["dnagpt-scratch"]  # random weights are never shrunk: one run
    assert "shrunk by a factor picked on dev from 1, 0.2" in (out / "report.md").read_text()


def _default_plan():
    from dnagpt.bench.runner import plan

    return plan(BenchConfig(curve_tasks=[]), {"t": "token"})


def test_a_gue_folder_runs_without_a_task_file(tmp_path):
    """DNABERT-2's GUE benchmark ships each task as train.csv / dev.csv / test.csv with sequence,label."""
    folder = _own_task(tmp_path / "gue")
    (folder / "task.toml").unlink()
    results = run_bench(BenchConfig(tasks=[str(folder)], models=["majority", "kmer-logreg"], seeds=1, max_train=0,
                                    curve_tasks=[]), tmp_path / "b", log=lambda _: None)  # fmt: skip
    assert {r["model"] for r in results} == {"majority", "kmer-logreg"} and results[0][
        "description"
    ] == "GUE layout: sequence,label"
    assert max(r["metrics"]["mcc"] for r in results) > 0.8
    (folder / "train.csv").write_text("seq,y\nACGT,1\n")
    with pytest.raises(ConfigError, match=r"no task\.toml, and the train table has no sequence or label column"):
        run_bench(BenchConfig(tasks=[str(folder)], models=["majority"]), tmp_path / "c", log=lambda _: None)


def test_a_model_directory_and_its_random_weights_twin_are_paired(tmp_path, capsys):
    """``LABEL=random:DIR`` is the architecture (and vocabulary) of DIR from random weights; a pair
    named X-pretrained / X-scratch is compared in the report as the families' pairs are."""
    from dnagpt.bench.models import MODELS

    folder = "models/bert-small-bpe1024-multispecies"
    task = str(_own_task(tmp_path / "gc", n=48))
    out = tmp_path / "b"
    assert main(["bench", "--tasks", task, "--models", "kmer-logreg", f"enc-pretrained={folder}",
                 f"enc-scratch=random:{folder}", "--seeds", "2", "--max-train", "0", "--epochs", "1",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "from random weights" in MODELS["enc-scratch"].description
    assert "from random weights" not in MODELS["enc-pretrained"].description
    report = (out / "report.md").read_text()
    assert "enc-pretrained − enc-scratch (mcc)" in report and "enc-scratch − kmer-logreg (mcc)" in report
    assert main(["bench", "--tasks", task, "--models", "x=random:no/such/folder", "--out", str(tmp_path / "c")]) != 0
    assert "unknown bench models x=random:no/such/folder" in capsys.readouterr().err


def _table(out) -> list[str]:
    """A bench's results.parquet, row by row, without the timings (which differ between any two runs)."""
    rows = pq.read_table(out / "results.parquet").to_pylist()
    return [json.dumps({k: v for k, v in row.items() if k != "seconds"}, sort_keys=True) for row in rows]


def _run_files(out) -> dict[str, str]:
    """Every saved run's figures (dev scores included), by file."""
    return {str(p.relative_to(out)): json.dumps(json.loads(p.read_text())["metrics"], sort_keys=True)
            for p in sorted(out.glob("runs/*/*/*.json"))}  # fmt: skip


def _progress(logged: str) -> list[str]:
    """The progress lines of runs done: `[i/n] ...` of one process, `worker R: [i/n] ...` of several."""
    return [line for line in logged.splitlines() if re.match(r"(worker \d+: )?\[\d+/\d+\] ", line)]


def test_two_workers_give_the_table_of_one(quick_bench, tmp_path, capfd):
    """`--workers 2` shares the quick bench's runs between two processes (torch's launcher, gloo);
    the first writes the table and report, identical to one process's, figure for figure."""
    out = tmp_path / "two"
    assert main(["bench", "--quick", "--workers", "2", "--out", str(out)]) == 0
    printed, logged = capfd.readouterr()
    assert _table(out) == _table(quick_bench) and _run_files(out) == _run_files(quick_bench)
    done = _progress(logged)
    assert len(done) == 10 and {line.split(":")[0] for line in done} == {"worker 0", "worker 1"}
    assert "10 to do by 2 workers" in logged and "| tis_arabidopsis (mcc) | 64 / 64 |" in printed
    report, serial = ([line for line in (o / "report.md").read_text().splitlines() if "wall time" not in line]
                      for o in (out, quick_bench))  # fmt: skip
    assert report == serial  # all but the sum of the runs' wall times
    assert (out / "figures" / "headline.png").is_file() and not (out / "work").exists()


def test_a_killed_worker_and_a_rerun(quick_bench, tmp_path, capfd):
    """A worker killed mid-bench stops the others (torchrun's agent), with one line of error; the rerun
    starts a fresh launch, does only the runs not saved, and ends with the one-process table. (The
    one-process bench with its classical runs taken out stands for a bench killed earlier.)"""
    out = tmp_path / "killed"
    shutil.copytree(quick_bench, out)
    folder = out / "runs" / "tis_arabidopsis"
    classical = [folder / m / f"n64-seed{s}.json" for m in ("majority", "kmer-logreg", "cnn") for s in (0, 1)]
    for path in classical:
        path.unlink()
    returncode, err = kill_a_worker(
        ["bench", "--quick", "--workers", "2", "--out", str(out)], lambda: any(p.is_file() for p in classical)
    )
    last = err.strip().splitlines()[-1]  # one line, not the launcher's tracebacks
    assert returncode == 2 and "Traceback" not in err and err.count("dnagpt bench: error:") == 1
    assert last.startswith("dnagpt bench: error: worker") and "(killed by SIGKILL)" in last and "run the same" in last
    saved = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/*/*.json")}
    unsaved = [p for p in classical if p not in saved]
    assert 4 < len(saved) < 10 and unsaved
    # what a worker killed while writing would leave: a temporary file (writes are atomic); and were a
    # result file damaged anyhow, it is no finished run either
    damaged, temporary = unsaved[-1], unsaved[-1].with_name(f".{unsaved[-1].name}.x1y2.tmp")
    temporary.write_text('{"task": "tis_arab')
    damaged.write_text('{"task": "tis_arab')
    capfd.readouterr()
    assert main(["bench", "--quick", "--workers", "2", "--out", str(out)]) == 0
    logged = capfd.readouterr().err
    assert f"10 runs, {len(saved)} already saved" in logged and "not a finished result" in logged
    assert len(_progress(logged)) == 10 - len(saved)  # the saved runs are not done again
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in saved.items())
    assert _table(out) == _table(quick_bench) and _run_files(out) == _run_files(quick_bench)
    assert not temporary.exists() and not (out / "work").exists()


def test_runs_are_shared_out_by_cost_the_same_way_every_time():
    costs = [1.0, 1.0, 50.0, 50.0, 3.0, 2.0, 0.1]
    shares = share_out(costs, 2)
    assert shares == share_out(costs, 2) and sorted(i for s in shares for i in s) == list(range(7))
    assert {2, 3} not in [set(s) & {2, 3} for s in shares]  # the two costly runs go to different workers
    assert share_out(costs, 1) == [list(range(7))] and share_out([], 3) == [[], [], []]


def test_a_worker_runs_fine_tuning_as_one_process(monkeypatch):
    """torchrun's variables say which worker a process is; inside a run they say "one process", so
    fine-tuning (DistributedContext.from_environment, is_main_process) never joins the bench's group."""
    from dnagpt.training.distributed import DistributedContext, is_main_process

    for name, value in (("RANK", "3"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "1"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)
    workers = Workers.from_environment()
    assert workers == Workers(rank=3, size=4, local_rank=1, local_size=2) and not is_main_process()
    with single_process(workers):
        context = DistributedContext.from_environment("cpu")
        assert not context.distributed and context.is_main and is_main_process()
    assert os.environ["RANK"] == "3" and os.environ["WORLD_SIZE"] == "4"
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ConfigError, match="do not fit together"):
        Workers.from_environment()


def test_workers_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        main(["bench", "--quick", "--workers", "0", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--workers: must be a whole number of at least 1, got 0" in err
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)  # as torchrun starts it: torchrun's processes are the workers
    assert main(["bench", "--quick", "--workers", "3", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already runs under torchrun" in err and not (tmp_path / "b").exists()


def test_a_failing_worker_is_one_line_error():
    with pytest.raises(WorkerFailed, match=r"worker \d of 2 stopped \(ConfigError: task 'no-such-task'"):
        launch_workers(2, load_bench_task, "no-such-task")


MACHINE = """
import json, os, sys
from pathlib import Path
from dnagpt.bench.config import BenchConfig
from dnagpt.bench.runner import run_bench

task, base = sys.argv[1], Path(sys.argv[2])
cfg = BenchConfig(tasks=[task], models=["majority", "kmer-logreg"], seeds=3, max_train=0, curve_tasks=[])
results = run_bench(cfg, base / f"machine{os.environ['RANK']}", log=lambda _: None)
(base / f"returned{os.environ['RANK']}.json").write_text(json.dumps(results))
"""


def test_workers_on_machines_that_share_no_folder(tmp_path):
    """Two torchrun workers, each with its own --out as on two machines without a shared file system:
    what either holds saved is not run again, and the first receives and keeps every result."""
    task = str(_own_task(tmp_path / "gc", n=60))
    cfg = BenchConfig(tasks=[task], models=["majority", "kmer-logreg"], seeds=3, max_train=0, curve_tasks=[])
    alone = run_bench(cfg, tmp_path / "alone", log=lambda _: None)
    runs = tmp_path / "alone" / "runs" / "gc"
    for machine, kept in ((0, ["majority/nall-seed0.json"]), (1, [f"kmer-logreg/nall-seed{s}.json" for s in (1, 2)])):
        for name in kept:
            (tmp_path / f"machine{machine}" / "runs" / "gc" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(runs / name, tmp_path / f"machine{machine}" / "runs" / "gc" / name)
    (tmp_path / "machine.py").write_text(MACHINE)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(tmp_path / "machine.py"), task, str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first, second = (json.loads((tmp_path / f"returned{r}.json").read_text()) for r in (0, 1))

    def figures(records):
        return [json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True) for r in records]

    assert figures(first) == figures(alone)  # every result, in the plan's order
    # 3 runs left: the costliest to the first worker, the two cheap ones to the second, which returns its own
    assert sorted((r["model"], r["seed"]) for r in second) == [("majority", 1), ("majority", 2)]
    kept = tmp_path / "machine0" / "runs" / "gc"
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*.json")) == sorted(
        str(p.relative_to(runs)) for p in runs.rglob("*.json")
    )
