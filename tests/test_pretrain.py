"""Pretraining runs: resume after a kill, torchrun with two CPU processes, bad configs."""

import json
import os
import shutil
import subprocess
import sys
import time

import psutil
import pytest
import torch

from dnagpt import DNAGPT, ConfigError
from dnagpt.errors import RunFolderBusyError
from dnagpt.training.pretrain import run_pretraining
from dnagpt.training.pretrain_config import load_pretrain_config

TINY = """
[model]
config = "dnagpt-tiny"
context_length = 64
[data]
min_tokens = 30
max_tokens = 59
[train]
max_steps = {steps}
batch_size = 4
grad_accum = {accum}
lr = 3e-3
warmup_steps = 2
log_every = 1
eval_every = 0
save_every = 2
precision = "fp32"
progress = false
tensorboard = false
[eval]
samples = 16
baseline_bp = 20000
"""


def _config(tmp_path, steps=6, accum=1, name="tiny.toml", dropout=0.0):
    path = tmp_path / name
    path.write_text(TINY.format(steps=steps, accum=accum).replace("[data]", f"dropout = {dropout}\n[data]"))
    return path


def reproducible_env() -> dict[str, str]:
    """The environment for CLI runs whose losses are compared bit for bit: one BLAS/OpenMP thread and
    MKL's alignment-independent mode, so the sums are ordered the same way in every process (with
    several threads MKL may pick its thread count per call, and a busy CI machine changes the last bit)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "MKL_DYNAMIC": "FALSE", "MKL_CBWR": "AUTO"}  # fmt: skip


def _train_losses(run_dir):
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in lines if r["split"] == "train"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DNAGPT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_interrupted_and_resumed_run_draws_the_same_curve(tmp_path, dropout):
    # with dropout the random stream restored from the checkpoint must carry on, not be reseeded
    cfg = load_pretrain_config(str(_config(tmp_path, dropout=dropout)))
    assert cfg.model["dropout"] == dropout
    full = run_pretraining(cfg, tmp_path / "a")
    run_pretraining(cfg, tmp_path / "b", stop_after=3)  # dies after step 3; last checkpoint: step 2
    assert json.loads((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 3
    resumed = run_pretraining(cfg, tmp_path / "b", resume=True)
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")
    assert full == resumed
    a = DNAGPT.from_pretrained(tmp_path / "a" / "model")
    b = DNAGPT.from_pretrained(tmp_path / "b" / "model")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    costs = [json.loads((tmp_path / run / "model" / "pretraining.json").read_text())["compute"] for run in "ab"]
    assert costs[0]["tokens"] == 6 * 4 * (30 + 59) / 2  # steps x windows x the windows' mean length
    assert costs[0]["bases"] == 6 * costs[0]["tokens"]  # 6-mers
    assert costs[0]["parameters"] == a.num_parameters()
    blocks = sum(p.numel() for p in a.transformer.h.parameters())  # every block weight is in a product
    head = sum(p.numel() for p in a.mlm_head.parameters())  # the token head too; embedding lookups cost none
    assert 6 * (blocks + head) <= costs[0]["flops"] / costs[0]["tokens"] < 6 * a.num_parameters()
    assert {k: v for k, v in costs[0].items() if k != "seconds"} == {
        k: v for k, v in costs[1].items() if k != "seconds"
    }


def test_pretraining_can_continue_from_a_saved_model(tmp_path):
    first = load_pretrain_config(str(_config(tmp_path, steps=4)))
    run_pretraining(first, tmp_path / "first")
    start = DNAGPT.from_pretrained(tmp_path / "first" / "model")
    init = ["model.init=" + str(tmp_path / "first" / "model")]
    quiet = load_pretrain_config(str(_config(tmp_path, steps=1)), [*init, "train.lr=1e-9", "train.warmup_steps=1"])
    run_pretraining(quiet, tmp_path / "again")
    after = DNAGPT.from_pretrained(tmp_path / "again" / "model")
    for (name, a), b in zip(start.state_dict().items(), after.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)  # from random weights they would differ by 1e-2
    with pytest.raises(ConfigError, match=r"fixes the architecture.*n_layer = 3"):
        load_pretrain_config(str(_config(tmp_path)), [*init, "model.n_layer=3"])
    with pytest.raises(ConfigError, match=r"\[model\]: init = 'no-such-model'"):
        load_pretrain_config(str(_config(tmp_path)), ["model.init=no-such-model"])


@pytest.mark.parametrize("mode,port", [("ddp", 29517), ("fsdp", 29518)])
def test_two_processes_equal_one_process_with_accumulation(tmp_path, mode, port):
    one = load_pretrain_config(str(_config(tmp_path, steps=3, accum=2)))
    run_pretraining(one, tmp_path / "single")
    cfg = _config(tmp_path, steps=3, accum=1, name="ddp.toml")
    env = reproducible_env()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "dnagpt.cli", "pretrain", str(cfg), "--out", str(tmp_path / "ddp"), "--no-progress",
           "--set", f"train.fsdp={'true' if mode == 'fsdp' else 'false'}"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and "exitcode: -6" in out.stderr:  # a worker aborted inside gloo (seen once in
        shutil.rmtree(tmp_path / "ddp", ignore_errors=True)  # ~6 full runs): the launch is tried once more
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    errors = [line for line in out.stderr.splitlines() if "Error" in line and "UserWarning" not in line]
    assert out.returncode == 0, "\n".join(errors[:20]) + out.stderr[-2000:]
    single, ddp = _train_losses(tmp_path / "single"), _train_losses(tmp_path / "ddp")
    assert [s for s, _ in single] == [s for s, _ in ddp] == [1, 2, 3]
    for (_, a), (_, b) in zip(single, ddp, strict=True):
        assert abs(a - b) < 1e-4
    wa = DNAGPT.from_pretrained(tmp_path / "single" / "model").state_dict()
    wb = DNAGPT.from_pretrained(tmp_path / "ddp" / "model").state_dict()
    assert max((wa[k] - wb[k]).abs().max().item() for k in wa) < 1e-4


def test_two_processes_with_dropout_resume_each_random_stream(tmp_path):
    """Under torchrun every process draws its own dropout masks; a killed run must restore each
    process's random stream, not give rank 0's to all (which repeats masks across ranks)."""
    cfg = _config(tmp_path, steps=30, dropout=0.1)
    env = reproducible_env()

    def command(out, port, *extra):
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                "-m", "dnagpt.cli", "pretrain", str(cfg), "--out", str(out), "--no-progress", *extra]  # fmt: skip

    done = subprocess.run(command(tmp_path / "a", 29521), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    proc = subprocess.Popen(command(tmp_path / "b", 29522), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while not (tmp_path / "b" / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    # torchrun starts each worker in a session of its own: kill the launcher and every worker, as a
    # machine that fails would, and wait until they are gone (workers left alive would keep writing)
    tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in tree:
        p.kill()
    psutil.wait_procs(tree, timeout=60)
    proc.wait()
    again = subprocess.run(command(tmp_path / "b", 29523, "--resume"), env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert _train_losses(tmp_path / "a") == _train_losses(tmp_path / "b")


def test_a_run_folder_that_a_live_process_writes_is_refused(tmp_path):
    """Two live writers of one run folder would interleave logs and checkpoints: the second stops at
    once; a writer killed with SIGKILL leaves no stale lock behind."""
    cfg = load_pretrain_config(str(_config(tmp_path, steps=2)))
    script = (
        "import sys, time; from dnagpt.io import exclusive_directory; "
        "lock = exclusive_directory(sys.argv[1], OSError); lock.__enter__(); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunFolderBusyError, match=rf"pid {holder.pid}\) is still writing here"):
        run_pretraining(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    holder.kill()
    holder.wait()
    run_pretraining(cfg, tmp_path / "run")  # the kill released the folder
    assert _train_losses(tmp_path / "run")[-1][0] == 2


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_pretrain_config("nonexistent")
    with pytest.raises(ConfigError, match=r"\[train\]: unknown setting .learning_rate."):
        load_pretrain_config(str(_config(tmp_path)), ["train.learning_rate=1"])
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_pretrain_config(str(_config(tmp_path)), ["lr=1"])
    cfg = load_pretrain_config("demo", ["train.lr=5e-4", "model.n_layer=2"])
    assert cfg.train.lr == 5e-4 and cfg.model["n_layer"] == 2


def test_logs_each_loss_term_and_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    cfg = load_pretrain_config(str(_config(tmp_path, steps=2)), ["train.tensorboard=true", "train.eval_every=1"])
    evaluation = run_pretraining(cfg, tmp_path / "run")
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert {"loss", "next_token", "order", "gc_mse", "order_acc", "lr", "tokens_per_s", "data_share"} <= set(train[0])
    assert all(0.0 < r["data_share"] < 1.0 for r in train)  # making batches takes some, not all, of a step
    valid = [r for r in records if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [1, 2]
    for key in ("next_token_loss", "unigram_loss", "species_unigram_loss", "order_accuracy", "gc_r2",
                "order_rule_accuracy"):  # fmt: skip
        assert key in evaluation
    for species in evaluation["species"].values():  # every genome: the model and its Markov reference, in bits
        assert 1.0 < species["markov_bits_per_base"] < 2.1 and species["model_bits_per_base"] > 1.0
        assert len(species["markov_bits_by_order"]) == 9
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    holdout = json.loads((tmp_path / "run" / "holdout.json").read_text())
    assert holdout and all(r["end"] > r["start"] for r in holdout)


def test_a_compiled_forward_trains_like_the_eager_one_and_saves_the_same_weights(tmp_path):
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    run_pretraining(load_pretrain_config(_config(tmp_path, steps=4)), eager)
    run_pretraining(load_pretrain_config(_config(tmp_path, steps=4), ["train.compile=true"]), compiled)
    a, b = _train_losses(eager), _train_losses(compiled)
    assert [s for s, _ in a] == [s for s, _ in b] == [1, 2, 3, 4]
    assert all(abs(x - y) < 1e-3 for (_, x), (_, y) in zip(a, b, strict=True)), (a, b)
    saved = DNAGPT.from_pretrained(compiled / "model").state_dict()
    assert saved.keys() == DNAGPT.from_pretrained(eager / "model").state_dict().keys()


def test_each_genome_keeps_its_own_markov_comparison_when_a_species_has_several(tmp_path):
    from dnagpt.resources import BUNDLED_MANIFEST

    corpus = BUNDLED_MANIFEST.parent
    manifest = tmp_path / "two_human_files.toml"
    manifest.write_text("".join(f'[[genome]]\npath = "{corpus / name}"\nspecies = "{species}"\n\n' for name, species in
                                [("human_hg19_chr3_42M.fa.gz", "Homo sapiens"),
                                 ("fly_dm3_chr2R_5M.fa.gz", "Homo sapiens"),  # a second file of one species
                                 ("yeast_sacCer_R64_chrI.fa.gz", "Saccharomyces cerevisiae")]))  # fmt: skip
    cfg = load_pretrain_config(str(_config(tmp_path, steps=1)), [f"data.manifest={manifest}", "eval.samples=64"])
    evaluation = run_pretraining(cfg, tmp_path / "run")
    assert set(evaluation["species"]) == {"<R> human_hg19_chr3_42M.fa.gz", "<R> fly_dm3_chr2R_5M.fa.gz", "<U>"}
    fly, human = (
        evaluation["species"]["<R> fly_dm3_chr2R_5M.fa.gz"],
        evaluation["species"]["<R> human_hg19_chr3_42M.fa.gz"],
    )
    assert fly["markov_bits_by_order"] != human["markov_bits_by_order"]  # each scored by its own Markov model
