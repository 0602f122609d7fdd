"""Genomes read in place: a FASTA through its .fai index (plain or bgzip), nothing copied to the cache."""

from __future__ import annotations

import gzip
import logging
import random

import numpy as np
import pysam
import pytest
import torch

from dnagpt.cli import main
from dnagpt.data import fasta as fasta_module
from dnagpt.data.fasta import compression, open_fasta, prepare_fasta
from dnagpt.errors import DataError
from dnagpt.models import build_model, get_config
from dnagpt.vep.variants import Reference

rng = random.Random(11)
CHR1 = "".join(rng.choice("ACGT") for _ in range(1500))
CHR1 = CHR1[:200] + CHR1[200:260].lower() + "NNNNRYKM" + CHR1[268:]  # a soft-masked repeat, N and IUPAC codes
CHR2 = "".join(rng.choice("ACGTacgt") for _ in range(700))
VCF = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "".join(
    f"chr1\t{p}\t.\t{CHR1[p - 1].upper()}\t{'A' if CHR1[p - 1].upper() != 'A' else 'C'}\t.\t.\t.\n"
    for p in range(100, 1400, 100)
)


def _fasta_text(width: int = 60) -> str:
    return "".join(
        f">{name} description\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        for name, seq in (("chr1", CHR1), ("chr2", CHR2))
    )


@pytest.fixture
def plain(tmp_path):
    folder = tmp_path / "genome"
    folder.mkdir()
    (folder / "genome.fa").write_text(_fasta_text())
    return folder / "genome.fa"


def _bgzipped(plain):
    out = plain.parent / "genome.fa.gz"
    pysam.tabix_compress(str(plain), str(out), force=True)
    return out


@pytest.fixture
def logs(caplog, monkeypatch):
    """caplog of the library's INFO lines: main() sends logger ``dnagpt`` to its own handler on the
    standard error of the test that first ran it, and stops it from propagating."""
    monkeypatch.setattr(logging.getLogger("dnagpt"), "handlers", [])
    monkeypatch.setattr(logging.getLogger("dnagpt"), "propagate", True)
    caplog.set_level(logging.INFO, logger="dnagpt")
    return caplog


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    build_model(get_config("dnagpt-tiny")).save_pretrained(folder)
    return str(folder)


def _vep(model_dir, genome, tmp_path, out: str) -> int:
    (tmp_path / "v.vcf").write_text(VCF)
    return main(["vep", model_dir, str(tmp_path / "v.vcf"), "--genome", str(genome), "--window", "60",
                 "--out", str(tmp_path / out), "--no-progress"])  # fmt: skip


def test_read_in_place_as_the_prepared_copy_reads(plain, tmp_path):
    """Plain and bgzip FASTA read through the index give the prepared copy's base codes (IUPAC as N)
    and soft-masked bases, for whole records and stretches of them; names lose their description and
    may be looked up with or without 'chr'."""
    store = prepare_fasta(plain, tmp_path / "cache")
    for path in (plain, _bgzipped(plain)):
        genome = open_fasta(path, tmp_path / "cache")
        assert [(r.name, r.length) for r in genome.records] == [("chr1", 1500), ("chr2", 700)]
        for mine, theirs in zip(genome.records, store.records, strict=True):
            for start, end in ((0, mine.length), (195, 275), (mine.length - 7, mine.length), (10, 10)):
                assert np.array_equal(genome.fetch(mine, start, end), store.fetch(theirs, start, end))
                assert np.array_equal(genome.soft_masked(mine, start, end), store.soft_masked(theirs, start, end))
        record = genome.records[0]
        assert genome.soft_masked(record, 198, 262).tolist() == [False] * 2 + [True] * 60 + [False] * 2
        reference = Reference(genome)
        assert reference.record("1") is reference.record("chr1") is record
        assert reference.bases(record, 258, 270).decode() == CHR1[258:260].upper() + "N" * 8 + CHR1[268:270]
        assert reference.bases(record, -2, 1) == b"NN" + CHR1[0].encode()  # N beyond the ends
        genome.close()
    assert compression(plain) is None and compression(plain.parent / "genome.fa.gz") == "bgzip"


def test_vep_on_an_indexed_fasta_writes_nothing_under_the_cache(plain, model_dir, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DNAGPT_CACHE", str(cache))
    pysam.faidx(str(plain))
    before = sorted(p.name for p in plain.parent.iterdir())
    assert _vep(model_dir, plain, tmp_path, "scores.tsv") == 0
    assert not cache.exists() or not any(cache.rglob("*"))
    assert sorted(p.name for p in plain.parent.iterdir()) == before  # nor beside the FASTA


def test_bgzipped_fasta_gives_the_scores_of_the_plain_one(plain, model_dir, tmp_path):
    import pyarrow.parquet as pq

    bgzipped = _bgzipped(plain)
    assert _vep(model_dir, plain, tmp_path, "plain.parquet") == 0
    assert _vep(model_dir, bgzipped, tmp_path, "bgzip.parquet") == 0
    assert pq.read_table(tmp_path / "plain.parquet").equals(pq.read_table(tmp_path / "bgzip.parquet"))
    assert (plain.parent / "genome.fa.gz.fai").is_file() and (plain.parent / "genome.fa.gz.gzi").is_file()


def test_a_missing_index_is_built_once_and_logged(plain, tmp_path, logs):
    open_fasta(plain, tmp_path / "cache").close()
    assert f"indexing {plain}" in logs.text and (plain.parent / "genome.fa.fai").is_file()
    logs.clear()
    open_fasta(plain, tmp_path / "cache").close()
    assert logs.text == ""  # the index is reused
    assert not (tmp_path / "cache").exists()


def test_a_read_only_folder_has_its_index_built_in_the_cache(plain, tmp_path, logs, monkeypatch):
    monkeypatch.setattr(fasta_module, "_writable", lambda folder: folder != plain.parent)
    cache = tmp_path / "cache"
    genome = open_fasta(plain, cache)
    (index,) = (cache / "fasta-index").glob("genome.fa.*.fai")
    assert genome.index == index and str(index) in logs.text and "cannot be written" in logs.text
    assert sorted(p.name for p in plain.parent.iterdir()) == ["genome.fa"]
    assert open_fasta(plain, cache).index == index  # found there next time
    monkeypatch.setattr(fasta_module, "_writable", lambda folder: False)
    (plain.parent / "other.fa").write_text(">x\nACGT\n")
    with pytest.raises(DataError, match="samtools faidx"):
        open_fasta(plain.parent / "other.fa", cache)


def test_a_plain_gzip_fasta_is_one_clear_error(plain, model_dir, tmp_path, capsys):
    gzipped = plain.parent / "genome.fa.gz"
    with open(plain, "rb") as src, gzip.open(gzipped, "wb") as out:
        out.write(src.read())
    assert compression(gzipped) == "gzip"
    assert _vep(model_dir, gzipped, tmp_path, "scores.tsv") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(gzipped) in err and "plain gzip" in err and "bgzip" in err


@pytest.mark.parametrize(
    "text,expected",
    [
        (">a\nACGT\n>a\nGGGG\n", "duplicate record name 'a'"),
        (">a\nACGT\nAC\nACGT\n", 'unexpected "A" at line 4'),  # lines of one record of different lengths
        ("hello\n>a\nACGT\n", 'unexpected "h" at line 1'),
        ("", "no FASTA records"),
    ],
)
def test_a_fasta_that_cannot_be_indexed_is_named_with_the_reason(tmp_path, text, expected):
    (tmp_path / "bad.fa").write_text(text)
    with pytest.raises(DataError, match=expected) as caught:
        open_fasta(tmp_path / "bad.fa", tmp_path / "cache")
    assert str(tmp_path / "bad.fa") in str(caught.value)
    assert not (tmp_path / "bad.fa.fai").exists()  # no half index left to be trusted next time


def test_a_character_that_is_no_base_names_the_record_and_position(tmp_path):
    (tmp_path / "g.fa").write_text(">chr1\nACGTACGTAC\nACG!\n")
    genome = open_fasta(tmp_path / "g.fa", tmp_path / "cache")
    record = genome.records[0]
    assert genome.fetch(record, 0, 12).tolist() == [1, 3, 2, 4, 1, 3, 2, 4, 1, 3, 1, 3]
    with pytest.raises(DataError, match=r"record 'chr1', position 14: character '!'"):
        genome.fetch(record, 5, 14)
    with pytest.raises(DataError, match="outside chr1"):
        genome.fetch(record, 10, 20)
