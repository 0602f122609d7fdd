"""`dnagpt vep --workers N`: chunks shared among processes started by torch's launcher (gloo); the
output is the one-process output, row for row and bit for bit, killed or not."""

from __future__ import annotations

import random

import pyarrow.dataset as ds
import pytest
import torch

from dnagpt.cli import main
from dnagpt.models import build_model, get_config
from worker_processes import kill_a_worker

REGION = "chr1:1-1200"  # 3,600 substitutions: 8 chunks of 512


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A genome of two chromosomes, a small masked model saved as a directory, and the one-process
    dataset of every substitution in REGION."""
    import pysam

    folder = tmp_path_factory.mktemp("vep-workers")
    rng = random.Random(3)
    chr1 = "".join(rng.choice("ACGT") for _ in range(1500))
    (folder / "genome.fa").write_text(f">chr1\n{chr1[:600]}NNNN{chr1[604:]}\n>chr2\n{chr1[:300]}\n")
    pysam.faidx(str(folder / "genome.fa"))
    torch.manual_seed(0)
    build_model(get_config("gpn-tiny")).save_pretrained(folder / "model")
    base = ["vep", str(folder / "model"), "--genome", str(folder / "genome.fa"), "--window", "64", "--no-progress"]
    assert main([*base, "--region", REGION, "--out", f"{folder}/one/"]) == 0
    return folder, base


def _rows(folder) -> list[dict]:
    return ds.dataset(folder, partitioning="hive").to_table().to_pylist()


def test_two_workers_write_the_dataset_of_one(setup, capsys):
    folder, base = setup
    capsys.readouterr()
    assert main([*base, "--region", REGION, "--out", f"{folder}/two/", "--workers", "2"]) == 0
    assert "scored 3,588 variants" in capsys.readouterr().out  # 4 N bases left out
    assert sorted(p.name for p in (folder / "two").iterdir()) == ["chrom=chr1"]
    assert _rows(folder / "two") == _rows(folder / "one")  # same rows, same order, same floats
    assert not (folder / "two.parts").exists() and not (folder / "two.writing").exists()


def test_two_workers_on_a_vcf_write_the_file_of_one(setup, tmp_path):
    folder, base = setup
    chr1 = (folder / "genome.fa").read_text().split("\n")[1]
    lines = [f"chr{c}\t{p}\t.\t{chr1[p - 1]}\t{'A' if chr1[p - 1] != 'A' else 'C'}\t.\t.\t.\n"
             for c, p in [(1, p) for p in range(20, 1400, 2) if chr1[p - 1] != "N"] + [(2, 150)]]  # fmt: skip
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(lines))
    for workers in ("1", "2"):
        command = [*base[:2], str(vcf), *base[2:], "--workers", workers]
        assert main([*command, "--out", str(tmp_path / f"w{workers}.tsv")]) == 0
        assert main([*command, "--out", f"{tmp_path}/w{workers}/"]) == 0
    assert (tmp_path / "w1.tsv").read_bytes() == (tmp_path / "w2.tsv").read_bytes()
    assert _rows(tmp_path / "w1") == _rows(tmp_path / "w2")
    assert sorted(p.name for p in (tmp_path / "w2").iterdir()) == ["chrom=chr1", "chrom=chr2"]


def test_a_killed_worker_and_a_rerun(setup, capfd):
    """A worker killed mid-run stops the others, with one line of error; the chunks saved are kept,
    and the same command again scores the rest and writes the one-process dataset."""
    folder, base = setup
    out, parts = f"{folder}/killed/", folder / "killed.parts"
    returncode, err = kill_a_worker(
        [*base, "--region", REGION, "--out", out, "--workers", "2"], lambda: bool(list(parts.glob("chunk-*.npz")))
    )
    last = err.strip().splitlines()[-1]
    assert returncode == 2 and "Traceback" not in err
    assert last.startswith("dnagpt vep: error: worker") and "(killed by SIGKILL)" in last and "run the same" in last
    saved = {p.name: p.read_bytes() for p in parts.glob("chunk-*.npz")}
    assert 0 < len(saved) < 8 and not (folder / "killed").exists()
    capfd.readouterr()
    assert main([*base, "--region", REGION, "--out", out, "--workers", "2"]) == 0
    assert _rows(folder / "killed") == _rows(folder / "one")


def test_bad_input_is_refused_before_any_worker_starts(setup, capsys):
    folder, base = setup
    for command, expected in (([*base[:2], str(folder / "nope.vcf"), *base[2:]], "nope.vcf: no such VCF file"),
                              ([*base, "--region", REGION], "no such FASTA file")):  # fmt: skip
        if expected == "no such FASTA file":
            command[command.index("--genome") + 1] = str(folder / "nope.fa")
        assert main([*command, "--out", f"{folder}/bad/", "--workers", "2"]) == 2
        err = capsys.readouterr().err
        assert expected in err and "stopped" not in err  # no worker started
        assert not (folder / "bad").exists()


def test_under_torchrun_its_processes_are_the_workers(setup, capsys, monkeypatch):
    folder, base = setup
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2")):
        monkeypatch.setenv(name, value)  # as torchrun starts it
    assert main([*base, "--region", REGION, "--out", f"{folder}/torchrun/", "--workers", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already runs under torchrun" in err and "leave --workers out" in err
