"""The command line: help on every command, one-line errors, no tracebacks."""

import subprocess
import sys

import pytest
import torch

from dnagpt.cli import COMMANDS, main
from reference_dnagpt import random_official_state


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dnagpt.cli", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_command():
    out = run_cli("--help")
    assert out.returncode == 0
    for name in COMMANDS:
        assert name in out.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert len(capsys.readouterr().out) > 100


def test_info_shows_parameter_counts(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "dna_gpt3b_m" in out and "3113.92M" in out and "117.17M" in out


def test_tokenize_prints_pieces(capsys):
    assert main(["tokenize", "<R>acgtac<+><M>0.5<=><M>"]) == 0
    out = capsys.readouterr().out
    assert "ACGTAC" in out and "number 0.5" in out


def test_bad_input_gives_one_line_error_no_traceback(tmp_path):
    out = run_cli("tokenize", "<R>ACGT!")
    assert out.returncode == 2
    assert "position 7" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    out = run_cli("convert-official", str(tmp_path / "junk.pth"), str(tmp_path / "out"))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "junk.pth" in out.stderr and "Traceback" not in out.stderr


def test_convert_official_command(tmp_path):
    torch.save(random_official_state(19_564, 128, 2, 64), tmp_path / "tiny.pth")
    out = run_cli("convert-official", str(tmp_path / "tiny.pth"), str(tmp_path / "conv"), "--name", "dnagpt-tiny")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "conv" / "model.safetensors").exists()


def test_generate_writes_fasta(tmp_path):
    from dnagpt import DNAGPT, get_config

    torch.manual_seed(0)
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    (tmp_path / "prompts.txt").write_text("<R>ATGGCG\n<Q>ATGAAA\n")
    options = ["--num-samples", "3", "--max-new-tokens", "10", "--seed", "1", "--out", str(tmp_path / "g.fa")]
    out = run_cli("generate", str(tmp_path / "m"), "--prompts-file", str(tmp_path / "prompts.txt"), *options)
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "g.fa").read_text().splitlines()
    headers = [ln for ln in lines if ln.startswith(">")]
    assert (
        len(headers) == 6 and headers[0].startswith(">sample1 prompt=1") and headers[-1].startswith(">sample6 prompt=2")
    )
    assert all(set(ln) <= set("ACGTN") for ln in lines if not ln.startswith(">"))
    bad = run_cli("generate", str(tmp_path / "m"), "--prompt", "<R>ACGT", "--max-new-tokens", "500")
    assert bad.returncode == 2 and "context of 128" in bad.stderr
