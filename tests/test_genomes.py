"""Artificial genomes: haplotype input, the classical generators, the evaluation measures, the command."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from dnagpt import DataError
from dnagpt.cli import main
from dnagpt.genomes.evaluate import (
    evaluate,
    hamming,
    ld_comparison,
    ld_decay,
    ld_matrix,
    nearest_training_distance,
    wasserstein_1d,
)
from dnagpt.genomes.generators import IndependentSites, LiStephens, MarkovChain
from dnagpt.genomes.haplotypes import Haplotypes, read_vcf, select_snps, split_samples

FIXTURE = Path(__file__).parent / "fixtures" / "chr20_60samples_400sites.vcf.gz"  # real 1000 Genomes EUR slice


@pytest.fixture(scope="module")
def real() -> Haplotypes:
    return read_vcf([FIXTURE])


def test_vcf_reading_keeps_phase_and_biallelic_snps(real):
    lines = [line.split("\t") for line in gzip.open(FIXTURE, "rt") if not line.startswith("#")]
    snps = [c for c in lines if len(c[3]) == 1 and len(c[4]) == 1]
    assert real.n_haplotypes == 120 and real.n_snps == len(snps)
    assert real.names[:2] == ["HG00096_1", "HG00096_2"]
    for col in (0, len(snps) // 2, len(snps) - 1):
        c = snps[col]
        expected = [int(a) for gt in c[9:] for a in gt.strip().split("|")]
        assert real.alleles[:, col].tolist() == expected
        assert (real.positions[col], real.ref[col], real.alt[col]) == (int(c[1]), c[3], c[4])


def test_vcf_errors_name_file_position_and_sample(tmp_path):
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
    bad = tmp_path / "missing.vcf"
    bad.write_text(header + "20\t100\t.\tA\tG\t.\t.\t.\tGT\t0|1\t.|.\n")
    with pytest.raises(DataError, match=r"missing.vcf: position 100, sample S2: missing or haploid"):
        read_vcf([bad])
    other = tmp_path / "other.vcf"
    other.write_text(header + "20\t101\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1|1\n")
    first = tmp_path / "first.vcf"
    first.write_text(header + "20\t100\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1|1\n")
    with pytest.raises(DataError, match=r"other\.vcf: its SNPs differ"):
        read_vcf([first, other])
    with pytest.raises(DataError, match="no such VCF"):
        read_vcf([tmp_path / "absent.vcf.gz"])
    target = tmp_path / "target.vcf"  # like the shapeit4 example: one sample still to be phased
    target.write_text(header + "20\t100\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0/1\n")
    with pytest.raises(DataError, match=r"target.vcf: position 100, sample S2: unphased"):
        read_vcf([target])
    kept = read_vcf([target], exclude=("S2",))
    assert kept.names == ["S1_1", "S1_2"] and kept.alleles[:, 0].tolist() == [0, 1]


def test_selection_split_text_and_files(real, tmp_path):
    haps = select_snps(real, 100, min_maf=0.05)
    freq = haps.frequencies()
    assert haps.n_snps == 100 and np.all(np.minimum(freq, 1 - freq) >= 0.05)
    with pytest.raises(DataError, match="only"):
        select_snps(real, 10_000)
    train, held = split_samples(haps, 0.25, seed=3)
    samples = lambda h: {n.rsplit("_", 1)[0] for n in h.names}  # noqa: E731
    assert not samples(train) & samples(held) and len(samples(held)) == 15
    texts = train.to_texts()
    assert all(len(t) == 100 for t in texts)
    assert np.array_equal(np.array([train.parse_text(t) for t in texts]), train.alleles)
    wrong = texts[0][:-1] + ("T" if texts[0][-1] not in "T" and "T" not in (train.ref[-1], train.alt[-1]) else "")
    assert train.parse_text(texts[0][:-1]) is None and (wrong == texts[0][:-1] or train.parse_text(wrong) is None)
    train.save(tmp_path / "t.npz")
    back = Haplotypes.load(tmp_path / "t.npz")
    assert np.array_equal(back.alleles, train.alleles) and back.ref == train.ref and back.names == train.names
    (tmp_path / "junk.npz").write_bytes(b"not a file")
    with pytest.raises(DataError, match=r"junk\.npz: not a haplotype file"):
        Haplotypes.load(tmp_path / "junk.npz")


def test_measures_by_hand():
    assert wasserstein_1d([0, 1], [1, 2]) == pytest.approx(1.0)
    assert wasserstein_1d([0, 0, 3], [0, 0, 3]) == 0
    a = np.array([[0, 0, 1], [1, 1, 1]], dtype=np.uint8)
    assert hamming(a, a).tolist() == [[0, 2], [2, 0]]
    x = np.array([[0, 0, 1], [1, 1, 0], [0, 0, 0], [1, 1, 1]], dtype=np.uint8)
    ld = ld_matrix(x)
    assert ld[0, 1] == pytest.approx(1.0) and ld[0, 2] == pytest.approx(0.0)
    assert nearest_training_distance(np.array([[0, 1, 1], [1, 1, 1]]), x).tolist() == [1, 0]


def test_generators_against_real_linkage(real):
    haps = select_snps(real, 100, min_maf=0.05)
    train, held = split_samples(haps, 0.3, seed=0)
    rng = np.random.default_rng(0)
    copies = LiStephens(switch=0.0, miscopy=0.0).fit(train.alleles).sample(50, rng)
    assert nearest_training_distance(copies, train.alleles).max() == 0  # pure copying
    indep = IndependentSites().fit(train.alleles).sample(2000, rng)
    np.testing.assert_allclose(indep.mean(0), train.alleles.mean(0), atol=0.05)
    markov = MarkovChain(order=3).fit(train.alleles).sample(2000, rng)
    ld_indep = ld_comparison(train.alleles, indep)["ld_correlation"]
    ld_markov = ld_comparison(train.alleles, markov)["ld_correlation"]
    assert ld_indep < 0.2 < ld_markov  # only the chain carries linkage
    centres, r2 = ld_decay(held.alleles, held.positions, bins=10)
    assert len(centres) == 10 and np.nanmean(r2[:3]) > np.nanmean(r2[-3:])  # LD decays with distance
    scores = evaluate(held.alleles, train.alleles, train.alleles)
    assert scores["exact_copies_of_training"] == 1.0 and scores["nearest_train_median"] == 0


def test_genomes_command_end_to_end_and_resume(tmp_path, capsys):
    pytest.importorskip("msprime")
    work = tmp_path / "work"
    args = ["genomes", "report", str(work), "--source", "msprime", "--snps", "48", "--epochs", "1",
            "--generate", "16", "--lr", "3e-3"]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((work / "data" / "summary.json").read_text())
    assert summary["snps"] == 48 and summary["train_haplotypes"] + summary["heldout_haplotypes"] == 1006
    results = json.loads((work / "evaluation.json").read_text())
    for name in ("independent", "markov", "li-stephens"):
        assert results[name]["haplotypes"] == 16
    for t in ("0.8", "1.2"):
        counts = json.loads((work / "generated" / f"dnagpt_T{t}.json").read_text())
        kept = counts["kept"]
        assert counts["wrong_allele"] == 0  # only the two alleles of each SNP can be drawn
        assert counts["drawn"] == kept + counts["no_stop"] + counts["wrong_length"] + counts["wrong_allele"]
        if kept:
            gen = Haplotypes.load(work / "generated" / f"dnagpt_T{t}.npz")
            assert gen.n_snps == 48 and gen.n_haplotypes == kept
    report = (work / "report.md").read_text()
    assert "li-stephens" in report and (work / "figures" / "ld_decay.png").is_file()
    stamp = (work / "generated" / "markov.npz").stat().st_mtime_ns
    assert main(args) == 0  # a rerun finds everything done and only rewrites the report
    assert (work / "generated" / "markov.npz").stat().st_mtime_ns == stamp
    assert main([*args[:-2], "--lr", "1e-4"]) == 2
    assert "started with other settings (lr: 0.003 -> 0.0001" in capsys.readouterr().err
