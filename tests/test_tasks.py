"""Task files, tables, fine-tuning and prediction on real windows of the bundled corpus."""

import csv
import gzip
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from dnagpt import DNAGPT, ConfigError, DataError, get_config
from dnagpt.data.corpus import Corpus, read_manifest
from dnagpt.data.tables import read_table, split_rows
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.tasks.spec import TaskSpec, build_examples, with_labels_from
from dnagpt.tokenizers import species_token

CLASSIFY = {"name": "t", "template": "classification", "species": "human", "labels": {"1": "A", "0": "N"}}


def _species_windows(path, n, cache):
    """Real 120 bp windows: Arabidopsis (label 1, GC about 36 %) or E. coli (label 0, GC about 51 %),
    with their GC fraction."""
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), cache, window_bp=120)
    tokens = [e.species for e in corpus.entries]
    plant, ecoli = tokens.index(species_token("Arabidopsis thaliana")), tokens.index(species_token("Escherichia coli"))
    rng = np.random.default_rng(0)
    rows = []
    while len(rows) < n:
        codes, g = corpus.sample_window(rng, "train", 120)
        if g in (plant, ecoli):
            gc = float(((codes == 2) | (codes == 3)).mean())
            rows.append(["".join("NAGCT"[c] for c in codes), int(g == plant), f"{gc:.4f}"])
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["sequence", "label", "gc"], *rows])
    return path


@pytest.fixture(scope="module")
def species_table(tmp_path_factory):
    return _species_windows(tmp_path_factory.mktemp("tables") / "species.csv", 240, tmp_path_factory.mktemp("c"))


def test_task_files(tmp_path):
    spec = TaskSpec.from_dict(CLASSIFY)
    assert spec.text("ACGT") == "<R>ACGT<=><B>" and spec.output == "token"
    mixed = TaskSpec.from_dict({"template": "mixed_regression", "number_columns": ["a", "b"], "species": "<S>"})
    assert mixed.text("ACGT", [0.5, -2]) == "<S>ACGT<+><M>0.5,-2.0<=><M>"
    custom = TaskSpec.from_dict({"prompt": "{sequence}<=><M>", "output": "number"})
    assert custom.output == "number"
    with pytest.raises(ConfigError, match="unknown template 'clasification'"):
        TaskSpec.from_dict({"template": "clasification"})
    with pytest.raises(ConfigError, match="needs \\[labels\\]"):
        TaskSpec.from_dict({"template": "classification", "labels": {"1": "A"}})
    (tmp_path / "t.toml").write_text('template = "regression"\nlabel_column = "y"\n')
    assert TaskSpec.load(tmp_path / "t.toml").label_column == "y"


def test_labels_are_read_from_the_training_table_when_the_task_maps_none():
    plain = TaskSpec.load("classification")  # a template's name stands for its task file
    assert plain.labels == {} and plain.label_column == "label" and plain.text("AC") == "AC<=><B>"
    yes_no = with_labels_from(plain, [{"label": 1}, {"label": 0.0}, {"label": "1"}], "t.csv")
    assert yes_no.labels == {"1": "A", "0": "N"}  # as dnagpt's own datasets
    ranked = with_labels_from(plain, [{"label": v} for v in ("10", "2", "3", "2")], "t.csv")
    assert ranked.labels == {"2": "A", "3": "N", "10": "C"}  # numbers in numeric order
    named = with_labels_from(plain, [{"label": v} for v in ("exon", "intron", "exon", "utr")], "t.csv")
    assert named.labels == {"exon": "A", "intron": "N", "utr": "C"}
    assert with_labels_from(TaskSpec.from_dict(CLASSIFY), [{"label": "x"}], "t.csv").labels == CLASSIFY["labels"]
    with pytest.raises(DataError, match=r"t\.csv: column\(s\) label hold 1 distinct label value"):
        with_labels_from(plain, [{"label": "1"}, {"label": "1"}], "t.csv")
    with pytest.raises(ConfigError, match="15 distinct label values"):
        with_labels_from(plain, [{"label": str(v)} for v in range(15)], "t.csv")
    with pytest.raises(ConfigError, match="has no \\[labels\\]"):
        build_examples(plain, [{"sequence": "ACGT", "label": "1"}], "t.csv")


def test_finetune_takes_a_template_name_and_a_plain_labelled_table(tmp_path, species_table):
    out = _cli("finetune", "dnagpt-tiny", "classification", "--train", str(species_table), "--out",
               str(tmp_path / "run"), "--epochs", "1", "--no-progress", "--from-scratch")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"labels read from {species_table}: 1 -> <A>, 0 -> <N>" in out.stderr  # a progress report
    saved = json.loads((tmp_path / "run" / "best" / "task.json").read_text())
    assert saved["spec"]["labels"] == {"1": "A", "0": "N"}  # kept with the model, so predict reads alike
    pred = _cli("predict", str(tmp_path / "run" / "best"), str(species_table), "--out", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    assert set(next(csv.DictReader(open(tmp_path / "p.csv")))) == {
        "row",
        "prediction",
        "probability_1",
        "probability_0",
    }


def test_finetune_tries_several_warm_starts_and_keeps_the_best_dev_run_in_best(tmp_path, species_table):
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    run = tmp_path / "run"
    common = ["classification", "--train", str(species_table), "--epochs", "1", "--no-progress", "--lr", "3e-3"]
    out = _cli("finetune", str(tmp_path / "m"), *common, "--out", str(run), "--shrink", "1", "0.2")
    assert out.returncode == 0, out.stderr[-2000:]
    sweep = json.loads((run / "sweep.json").read_text())
    assert [r["folder"] for r in sweep["runs"]] == ["lr0.003-shrink1", "lr0.003-shrink0.2"]
    kept = max(sweep["runs"], key=lambda r: r["dev"])["folder"]
    assert sweep["kept"] == kept
    marked = [line for line in out.stderr.splitlines() if line.endswith("<- kept")]
    assert len(marked) == 1 and f"shrink {kept.split('shrink')[1]}: best dev" in marked[0]
    weights = (run / kept / "best" / "model.safetensors").read_bytes()
    assert (run / "best" / "model.safetensors").read_bytes() == weights  # predict reads RUN/best as ever
    assert (run / "test_metrics.json").is_file() and not list(run.glob("lr*/test_metrics.json"))
    pred = _cli("predict", str(run / "best"), str(species_table), "--out", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    bad = _cli("finetune", str(tmp_path / "m"), *common, "--out", str(tmp_path / "bad"), "--shrink", "1", "0")
    assert bad.returncode != 0 and "--shrink" in bad.stderr and "Traceback" not in bad.stderr
    scratch = _cli("finetune", "dnagpt-tiny", *common, "--out", str(tmp_path / "s"), "--from-scratch",
                   "--shrink", "1", "0.2")  # fmt: skip
    assert scratch.returncode != 0 and "never shrunk" in scratch.stderr and not (tmp_path / "s").exists()


def test_tables_and_row_errors(tmp_path):
    (tmp_path / "a.tsv.gz").write_bytes(gzip.compress(b"sequence\tlabel\nACGT\t1\nGGCC\t0\n"))
    (tmp_path / "a.csv").write_text("sequence,label\nACGT,1\nGGCC,0\n")  # the GUE / DNABERT-2 layout
    assert read_table(tmp_path / "a.tsv.gz") == read_table(tmp_path / "a.csv")
    spec = TaskSpec.from_dict(CLASSIFY)
    rows = read_table(tmp_path / "a.csv")
    assert [e.labels for e in build_examples(spec, rows, "a.csv")] == [["1"], ["0"]]
    with pytest.raises(ConfigError, match=r"a\.csv, row 2, column label: label '7' is not in the task's labels"):
        build_examples(spec, [rows[0], {"sequence": "AC", "label": "7"}], "a.csv")
    with pytest.raises(DataError, match="row 1, column sequence: empty sequence"):
        build_examples(spec, [{"sequence": " ", "label": "1"}], "a.csv")
    with pytest.raises(ConfigError, match="missing column"):
        build_examples(spec, [{"seq": "ACGT", "label": "1"}], "a.csv")
    regression = TaskSpec.from_dict({"template": "regression"})
    with pytest.raises(ConfigError, match="row 1, column label: value is 'nan'"):
        build_examples(regression, [{"sequence": "ACGT", "label": "nan"}], "a.csv")
    (tmp_path / "ragged.csv").write_text("sequence,label\nACGT,1,9\n")
    with pytest.raises(DataError, match="row 1"):
        read_table(tmp_path / "ragged.csv")
    train, dev, test = split_rows(list(range(100)), seed=1)
    assert (len(train), len(dev), len(test)) == (60, 15, 25) and sorted(train + dev + test) == list(range(100))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "dnagpt.cli", *args], capture_output=True, text=True, timeout=600)


def test_finetune_classification_learns_and_predicts(tmp_path, species_table):
    (tmp_path / "task.json").write_text(json.dumps(CLASSIFY))
    options = ["--epochs", "10", "--lr", "3e-3", "--batch-size", "16", "--no-progress", "--from-scratch"]
    task = str(tmp_path / "task.json")
    out = _cli("finetune", "dnagpt-tiny", task, "--train", str(species_table), "--out", str(tmp_path / "run"), *options)
    assert out.returncode == 0, out.stderr[-2000:]
    best = json.loads((tmp_path / "run" / "best" / "selection.json").read_text())
    assert best["accuracy"] > 0.68 and best["auroc"] > 0.7  # 48 dev windows; chance is about 0.5
    # one table in: the seeded 6 : 1.5 : 2.5 split is saved, and its test part scored once
    split = json.loads((tmp_path / "run" / "split.json").read_text())["rows"]
    assert [len(split[k]) for k in ("train", "dev", "test")] == [144, 36, 60]
    assert sorted(split["train"] + split["dev"] + split["test"]) == list(range(1, 241))
    test = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert test["tp"] + test["tn"] + test["fp"] + test["fn"] == 60 and test["accuracy"] > 0.6
    assert (tmp_path / "run" / "test_confusion.png").exists()
    pred = _cli("predict", str(tmp_path / "run" / "best"), str(species_table), "--out", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert len(rows) == 240 and set(rows[0]) == {"row", "prediction", "probability_1", "probability_0"}
    assert all(abs(float(r["probability_1"]) + float(r["probability_0"]) - 1) < 1e-4 for r in rows)


def test_finetune_regression_and_too_long_rows(tmp_path, species_table):
    (tmp_path / "gc.json").write_text(json.dumps({"template": "regression", "label_column": "gc"}))
    options = ["--epochs", "10", "--lr", "3e-3", "--batch-size", "16", "--no-progress", "--from-scratch"]
    task = str(tmp_path / "gc.json")
    out = _cli("finetune", "dnagpt-tiny", task, "--train", str(species_table), "--out", str(tmp_path / "run"), *options)
    assert out.returncode == 0, out.stderr[-2000:]
    best = json.loads((tmp_path / "run" / "best" / "selection.json").read_text())
    assert best["pearson"] > 0.5
    (tmp_path / "long.csv").write_text("sequence,gc\n" + "ACGT" * 200 + ",0.5\n")
    bad = _cli("predict", str(tmp_path / "run" / "best"), str(tmp_path / "long.csv"), "--out", str(tmp_path / "x.csv"))
    assert bad.returncode == 2 and "row 1: 136 tokens, more than the model's context of 128" in bad.stderr
    # --windows: the prompt adds <=><M>, so windows of 126 k-mers (756 bp), predictions averaged
    ok = _cli("predict", str(tmp_path / "run" / "best"), str(tmp_path / "long.csv"), "--out", str(tmp_path / "w.csv"),
              "--windows")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    seq = "ACGT" * 200
    (tmp_path / "parts.csv").write_text(f"sequence,gc\n{seq[: 126 * 6]},0\n{seq[126 * 6 :]},0\n")
    parts = _cli(
        "predict", str(tmp_path / "run" / "best"), str(tmp_path / "parts.csv"), "--out", str(tmp_path / "p.csv")
    )
    assert parts.returncode == 0, parts.stderr
    whole = float(next(csv.DictReader(open(tmp_path / "w.csv")))["prediction"])
    halves = [float(r["prediction"]) for r in csv.DictReader(open(tmp_path / "p.csv"))]
    assert abs(whole - sum(halves) / 2) < 1e-4


def test_generation_task_from_fasta(tmp_path):
    """Fine-tune the generation template on real yeast windows; generate stops at the task's symbol."""
    from dnagpt.data.fasta import read_fasta_records

    pieces = read_fasta_records(BUNDLED_MANIFEST.parent / "yeast_sacCer_R64_chrI.fa.gz")
    windows = [seq[i : i + 120] for _, seq in pieces for i in range(0, len(seq) - 120, 200)][:600]
    assert len(windows) == 600
    records = "".join(f">w{i}\n{w}\n" for i, w in enumerate(windows))
    (tmp_path / "train.fa").write_text(records)
    task = {"template": "generation", "species": "yeast", "stop": "<Z>"}
    (tmp_path / "gen.json").write_text(json.dumps(task))
    spec = TaskSpec.from_dict(task)
    assert spec.output == "sequence" and spec.text("ACGT") == "<U>ACGT"
    options = ["--epochs", "10", "--lr", "3e-3", "--batch-size", "16", "--no-progress", "--from-scratch"]
    out = _cli("finetune", "dnagpt-tiny", str(tmp_path / "gen.json"), "--train", str(tmp_path / "train.fa"),
               "--out", str(tmp_path / "run"), *options)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    best = json.loads((tmp_path / "run" / "best" / "selection.json").read_text())
    assert best["loss"] < math.log(19_564) - 1.0, best  # well below a uniform guess over the vocabulary
    test = json.loads((tmp_path / "run" / "test_metrics.json").read_text())  # the 2.5 part of the split
    assert test["loss"] < math.log(19_564) - 1.0
    gen = _cli("generate", str(tmp_path / "run" / "best"), "--prompt", "<U>", "--num-samples", "4",
               "--max-new-tokens", "40", "--temperature", "0", "--out", str(tmp_path / "g.fa"))  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    headers = [ln for ln in (tmp_path / "g.fa").read_text().splitlines() if ln.startswith(">")]
    assert len(headers) == 4
    # greedy decoding of a model trained on 20-token sequences + <Z> ends with the stop symbol
    assert all("stopped=yes" in h for h in headers), headers


def test_multilabel_task(tmp_path):
    """Two yes/no answers per window (Arabidopsis? GC-rich?), one <B> query each after <=>."""
    rows = list(csv.DictReader(open(_species_windows(tmp_path / "w.csv", 600, tmp_path / "cache"))))
    median = float(np.median([float(r["gc"]) for r in rows]))
    with open(tmp_path / "ml.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sequence", "plant", "gc_rich"])
        writer.writerows([r["sequence"], r["label"], int(float(r["gc"]) > median)] for r in rows)
    task = {"template": "multilabel", "label_columns": ["plant", "gc_rich"], "labels": {"1": "A", "0": "N"}}
    (tmp_path / "ml.json").write_text(json.dumps(task))
    assert TaskSpec.from_dict(task).text("ACGT") == "ACGT<=><B><B>"
    options = [
        "--epochs",
        "10",
        "--lr",
        "1e-3",
        "--batch-size",
        "16",
        "--no-progress",
        "--from-scratch",
        "--patience",
        "10",
    ]
    out = _cli("finetune", "dnagpt-tiny", str(tmp_path / "ml.json"), "--train", str(tmp_path / "ml.csv"),
               "--out", str(tmp_path / "run"), *options)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    best = json.loads((tmp_path / "run" / "best" / "selection.json").read_text())
    assert {"mcc", "plant:mcc", "gc_rich:mcc", "gc_rich:auroc"} <= set(best)
    assert best["plant:auroc"] > 0.6 and best["gc_rich:auroc"] > 0.6, best  # 90 dev rows; chance is 0.5
    pred = _cli("predict", str(tmp_path / "run" / "best"), str(tmp_path / "ml.csv"), "--out", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    header = next(csv.reader(open(tmp_path / "p.csv")))
    assert header == ["row", "plant_prediction", "plant_probability_1", "plant_probability_0",
                      "gc_rich_prediction", "gc_rich_probability_1", "gc_rich_probability_0"]  # fmt: skip


def test_parquet_tables(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sequence": ["ACGT", "GGCC"], "label": [1, 0]}), tmp_path / "a.parquet")
    rows = read_table(tmp_path / "a.parquet")
    assert rows == [{"sequence": "ACGT", "label": 1}, {"sequence": "GGCC", "label": 0}]
    assert [e.labels for e in build_examples(TaskSpec.from_dict(CLASSIFY), rows, "a.parquet")] == [["1"], ["0"]]
