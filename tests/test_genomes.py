"""Artificial genomes: haplotype input, the classical generators, the evaluation measures, the command."""

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from dnagpt import DataError
from dnagpt.cli import main
from dnagpt.genomes.evaluate import (
    evaluate,
    hamming,
    haplotype_distances,
    ld_comparison,
    ld_decay,
    ld_matrix,
    nearest_training_distance,
    pca_distances,
    pca_fit,
    wasserstein_1d,
)
from dnagpt.genomes.generators import IndependentSites, LiStephens, MarkovChain
from dnagpt.genomes.haplotypes import Haplotypes, read_vcf, select_snps, split_samples, write_vcf

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
        assert real.ids[col] == c[2] and real.chrom == c[0] == "20"


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


@pytest.fixture
def log_lines():
    """The messages the library logs under ``dnagpt`` while a test runs (the CLI's own handler writes
    them to the standard error of the process that first configured it)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    handler = Keep(logging.INFO)
    logging.getLogger("dnagpt").addHandler(handler)
    yield lines
    logging.getLogger("dnagpt").removeHandler(handler)


# The evaluation's PCA and Wasserstein distance before they came from scikit-learn and SciPy,
# kept here only to show that the library functions give the same numbers.
def _former_wasserstein(a, b) -> float:
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.sort(np.concatenate([a, b]))
    fa = np.searchsorted(a, grid[:-1], side="right") / len(a)
    fb = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(fa - fb) * np.diff(grid)))


def _former_pca_fit(reference, k):
    mean = reference.mean(axis=0)
    _, _, vt = np.linalg.svd(reference - mean, full_matrices=False)
    return mean, vt[:k]


def _former_pca_distances(real, generated, k=6):
    mean, axes = _former_pca_fit(np.vstack([real, generated]).astype(float), k)
    pr, pg = (real - mean) @ axes.T, (generated - mean) @ axes.T
    return [_former_wasserstein(pr[:, i], pg[:, i]) for i in range(axes.shape[0])]


def test_scikit_learn_pca_and_scipy_wasserstein_give_the_former_numbers(real):
    haps = select_snps(real, 120, min_maf=0.02)
    train, held = split_samples(haps, 0.3, seed=1)
    rng = np.random.default_rng(4)
    sets = {"training": train.alleles, "independent": IndependentSites().fit(train.alleles).sample(150, rng),
            "markov": MarkovChain().fit(train.alleles).sample(150, rng),
            "li-stephens": LiStephens().fit(train.alleles).sample(150, rng)}  # fmt: skip
    for name, gen in sets.items():
        new, old = pca_distances(held.alleles, gen), _former_pca_distances(held.alleles, gen)
        np.testing.assert_allclose(new, old, rtol=1e-9, atol=1e-12, err_msg=name)
        # as the report prints them (3 decimals), and their mean, the table's "PCA W1"
        assert [f"{x:.3f}" for x in new] == [f"{x:.3f}" for x in old]
        assert f"{np.mean(new):.3f}" == f"{np.mean(old):.3f}"
        d = haplotype_distances(held.alleles, gen)
        for key, other in (("wasserstein_within", "within_generated"), ("wasserstein_between", "between")):
            former = _former_wasserstein(d["within_real"], d[other])
            assert d[key] == pytest.approx(former, rel=1e-12) and f"{d[key]:.3f}" == f"{former:.3f}"
        # the PC1-PC2 figure: the same coordinates, up to the sign of each axis
        both = np.vstack([held.alleles, gen]).astype(float)
        (m_new, a_new), (m_old, a_old) = pca_fit(both, 2), _former_pca_fit(both, 2)
        p_new, p_old = (both - m_new) @ a_new.T, (both - m_old) @ a_old.T
        np.testing.assert_allclose(np.abs(p_new), np.abs(p_old), atol=1e-9)
    assert wasserstein_1d([3, 1, 2], [10, 0]) == pytest.approx(_former_wasserstein([3, 1, 2], [10, 0]))


def test_write_vcf_reads_back_with_cyvcf2(real, tmp_path):
    cyvcf2 = pytest.importorskip("cyvcf2")
    haps = select_snps(real, 30)
    some = haps.subset(np.arange(7))  # an odd number: the last haplotype has no partner
    assert write_vcf(some, tmp_path / "out.vcf.gz", note="a test") == 3
    vcf = cyvcf2.VCF(str(tmp_path / "out.vcf.gz"))
    assert vcf.samples == ["ART_0001", "ART_0002", "ART_0003"]
    records = list(vcf)
    assert [(r.CHROM, r.POS, r.ID, r.REF, r.ALT) for r in records] == [
        ("20", int(p), i if i != "." else None, ref, [alt])
        for p, i, ref, alt in zip(haps.positions, haps.ids, haps.ref, haps.alt, strict=True)
    ]
    for s, r in enumerate(records):
        gt = np.array(r.genotypes)
        assert gt[:, 2].all()  # phased
        assert gt[:, :2].reshape(-1).tolist() == some.alleles[:6, s].tolist()
    some.save(tmp_path / "h.npz")
    assert Haplotypes.load(tmp_path / "h.npz").ids == some.ids
    older = Haplotypes(some.alleles, some.positions, some.ref, some.alt, some.names, "old")  # no chromosome
    with pytest.raises(DataError, match="chromosome of these SNPs is unknown"):
        write_vcf(older, tmp_path / "old.vcf.gz")


def test_genomes_steps_one_at_a_time(tmp_path, capsys, log_lines):
    """prepare, fit and generate as separate commands: options are given once, at their step."""
    cyvcf2 = pytest.importorskip("cyvcf2")
    with pytest.raises(SystemExit):
        main(["genomes", "prepare", "--help"])
    shown = capsys.readouterr().out
    assert "--snps" in shown and "--epochs" not in shown and "--temperatures" not in shown

    work = str(tmp_path / "gen")
    changes = lambda: [line for line in log_lines if " -> " in line and line.startswith("--")]  # noqa: E731
    assert main(["genomes", "fit", work]) == 2  # nothing prepared yet
    assert "start with `dnagpt genomes prepare" in capsys.readouterr().err
    assert main(["genomes", "prepare", work, "--vcf", str(FIXTURE), "--region", "20:1000000-1500000",
                 "--snps", "60"]) == 0  # fmt: skip
    assert changes() == []
    config = json.loads((tmp_path / "gen" / "config.json").read_text())
    assert (config["n_snps"], config["source"], config["pretrained"]) == (
        60,
        "vcf",
        "dnagpt-small-multispecies-continued",
    )

    assert main(["genomes", "fit", work, "--epochs", "1", "--no-progress"]) == 0
    assert changes() == ["--epochs: 30 -> 1"]  # the prepare options were not repeated, and are no change
    log_lines.clear()
    assert main(["genomes", "generate", work, "--models", "dnagpt", "markov", "--generate", "5",
                 "--temperatures", "0.8", "--batch-size", "8", "--no-progress"]) == 0  # fmt: skip
    assert sorted(changes()) == ["--generate: 1000 -> 5", "--models: dnagpt independent markov li-stephens -> "
                                 "dnagpt markov", "--temperatures: 0.8 1.2 -> 0.8"]  # fmt: skip
    assert any("an odd number" in line for line in log_lines)  # 5 haplotypes make 2 samples
    log_lines.clear()
    assert main(["genomes", "generate", work]) == 0  # done: nothing changes, nothing is redrawn
    assert changes() == []
    assert main(["genomes", "prepare", work, "--snps", "50"]) == 2
    assert "--snps cannot change from 60 to 50: `prepare` already used 60" in capsys.readouterr().err

    train = Haplotypes.load(tmp_path / "gen" / "data" / "train.npz")
    gen = tmp_path / "gen" / "generated"
    assert json.loads((gen / "dnagpt_T0.8.json").read_text())["batch"] == 8
    sets = ["markov"] + (["dnagpt_T0.8"] if (gen / "dnagpt_T0.8.npz").is_file() else [])
    for name in sets:
        alleles = Haplotypes.load(gen / f"{name}.npz").alleles
        vcf = cyvcf2.VCF(str(gen / f"{name}.vcf.gz"))
        assert vcf.samples == [f"ART_{i + 1:04d}" for i in range(len(alleles) // 2)]
        records = list(vcf)
        assert [(r.CHROM, r.POS, r.REF, r.ALT[0]) for r in records] == list(
            zip(["20"] * train.n_snps, train.positions.tolist(), train.ref, train.alt, strict=True)
        )
        calls = np.array([r.genotypes for r in records])  # (snps, samples, 3)
        assert calls[:, :, 2].all()  # every genotype phased
        assert np.array_equal(calls[:, :, :2].reshape(train.n_snps, -1).T, alleles[: 2 * (len(alleles) // 2)])


def test_genomes_report_end_to_end_and_resume(tmp_path, capsys):
    pytest.importorskip("msprime")
    work = tmp_path / "work"
    args = ["genomes", "report", str(work), "--source", "msprime", "--snps", "48", "--epochs", "1",
            "--generate", "16", "--lr", "3e-3", "--no-progress"]  # fmt: skip
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
    simulated = Haplotypes.load(work / "generated" / "markov.npz")
    assert simulated.chrom == "1" and (work / "generated" / "markov.vcf.gz").is_file()
    stamp = (work / "generated" / "markov.npz").stat().st_mtime_ns
    assert main(args) == 0  # a rerun finds everything done and only rewrites the report
    assert (work / "generated" / "markov.npz").stat().st_mtime_ns == stamp
    assert main(["genomes", "report", str(work), "--lr", "1e-4"]) == 2
    assert "--lr cannot change from 0.003 to 0.0001: `fit` already used 0.003" in capsys.readouterr().err
