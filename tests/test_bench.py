"""`dnagpt bench`: runs are paired and resumable, results come out as a tidy table and a report,
a user's own task folder runs the same way, and the statistics are right."""

from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from dnagpt import DNAGPT, get_config
from dnagpt.bench.config import BENCH_RECIPE, BenchConfig
from dnagpt.bench.report import write_report
from dnagpt.bench.runner import run_bench
from dnagpt.bench.statistics import paired_test
from dnagpt.bench.tables import transfer_section
from dnagpt.bench.tasks import subsample
from dnagpt.cli import main
from dnagpt.errors import ConfigError
from dnagpt.models import load_model


def test_quick_bench_runs_every_model_and_resumes(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
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
