"""`dnagpt vep`: variant windows, scores of each model family, indels, sequence ends, bad VCFs."""

from __future__ import annotations

import gzip
import json
import logging
import random

import numpy as np
import pytest
import torch

from dnagpt.cli import main
from dnagpt.data.fasta import open_fasta
from dnagpt.models import build_model, get_config
from dnagpt.training.masked_lm import MASK_TOKEN
from dnagpt.vep import run as vep_run
from dnagpt.vep.scoring import score_variants, token_log_probs
from dnagpt.vep.variants import Reference, Variant, read_variants, variant_windows

rng = random.Random(7)
CHR1 = "".join(rng.choice("ACGT") for _ in range(2000))
REPEAT_AT = 1200  # 0-based start of a CA repeat on chr1
CHR1 = CHR1[:REPEAT_AT] + "GCACACACAT" + CHR1[REPEAT_AT + 10 :]
CHR2 = "".join(rng.choice("ACGT") for _ in range(50))  # shorter than every window
VCF_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n##contig=<ID=chr2>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)


def _other(base: str) -> str:
    return "A" if base != "A" else "C"


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """A FASTA with its index, as genomes come (a missing index is built and logged: test_genome_files)."""
    import pysam

    folder = tmp_path_factory.mktemp("genome")
    (folder / "genome.fa").write_text(f">chr1 test\n{CHR1}\n>chr2\n{CHR2}\n")
    pysam.faidx(str(folder / "genome.fa"))
    return folder / "genome.fa"


@pytest.fixture(scope="module")
def reference(genome, tmp_path_factory):
    return Reference(open_fasta(genome, tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    built = {name: build_model(get_config(name)).eval() for name in ("dnagpt-tiny", "bert-tiny", "gpn-tiny")}
    return built


def _revcomp(s: str) -> str:
    return s.translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def test_windows_keep_the_read_first_side_and_the_length(reference):
    snv = Variant("chr1", 1001, CHR1[1000], _other(CHR1[1000]))
    forward = variant_windows(reference, snv, 60, 30, reverse=False)
    assert forward.ref == CHR1[970:1030] and forward.at == 30
    assert forward.alt == CHR1[970:1000] + snv.alt + CHR1[1001:1030]
    backward = variant_windows(reference, snv, 60, 30, reverse=True)
    assert backward.ref == _revcomp(CHR1[971:1031]) and backward.ref[backward.at] == _revcomp(snv.ref)
    deletion = Variant("chr1", 1001, CHR1[1000:1004], CHR1[1000])
    w = variant_windows(reference, deletion, 60, 30, reverse=False)
    assert len(w.alt) == 60 and w.alt == (CHR1[970:1001] + CHR1[1004:1040])[:60]
    w = variant_windows(reference, deletion, 60, 30, reverse=True)  # read from the right: the right side is kept
    assert (
        len(w.alt) == 60 and _revcomp(w.alt).endswith(CHR1[1004:1034]) and w.ref.startswith(_revcomp(CHR1[1004:1034]))
    )


def test_snv_score_equals_two_full_window_log_likelihoods(models, reference):
    """The shared-prefix score equals log P(alt) - log P(ref) of whole windows, averaged over both
    strands and the six positions of the variant inside its 6-mer."""
    model = models["dnagpt-tiny"]
    tok = model.tokenizer()
    variants = [Variant("chr1", 1001, CHR1[1000], _other(CHR1[1000])), Variant("chr1", 401, CHR1[400], "G")]
    variants = [v for v in variants if v.ref != v.alt]

    @torch.no_grad()
    def log_likelihood(window: str) -> float:
        ids = torch.tensor([[tok.species_id("human"), *tok.encode_bases(window)]])
        hidden = model(ids, compute_heads=False).hidden_states
        return float(token_log_probs(model, hidden[:, :-1], ids[:, 1:]).sum())

    width = 120
    scores = score_variants(model, reference, variants, width, "human")["llr"]
    for v, score in zip(variants, scores, strict=True):
        views = [variant_windows(reference, v, width, 60 + f, r) for r in (False, True) for f in range(6)]
        direct = np.mean([log_likelihood(p.alt) - log_likelihood(p.ref) for p in views])
        assert score == pytest.approx(direct, abs=1e-4)
        assert len({p.at % 6 for p in views[:6]}) == 6  # the variant visits every position of its token


@torch.no_grad()
def test_masked_score_is_alt_minus_ref_at_the_masked_base(models, reference):
    model = models["gpn-tiny"]
    tok = model.tokenizer()
    v = Variant("chr1", 801, CHR1[800], _other(CHR1[800]))
    got = score_variants(model, reference, [v], 128, "human")["masked_llr"][0]
    direct = []
    for reverse in (False, True):
        p = variant_windows(reference, v, 128, 64, reverse)
        ids = torch.tensor([[tok.species_id("human"), *tok.encode_bases(p.ref)]])
        masked = ids.clone()
        masked[0, 1 + p.at] = tok.token_id(MASK_TOKEN)
        logp = model(masked).logits[0, 1 + p.at].float().log_softmax(-1)
        alt_id, ref_id = tok.encode_bases(p.alt[p.at])[0], tok.encode_bases(p.ref[p.at])[0]
        direct.append(float(logp[alt_id] - logp[ref_id]))
    assert got == pytest.approx(np.mean(direct), abs=1e-5)


def test_indels_are_left_normalised_and_scored_by_every_family(models, reference, tmp_path):
    # deleting "CA" from GCACACACAT written at the right end moves to the left end of the repeat
    at = REPEAT_AT + 7  # 1-based position of the last C of the repeat's "CA" units, preceded by A
    (tmp_path / "v.vcf").write_text(VCF_HEADER + f"chr1\t{at}\tdel\t{CHR1[at - 1 : at + 2]}\t{CHR1[at - 1]}\t.\t.\t.\n"
                                    f"chr1\t{at}\tins\t{CHR1[at - 1]}\t{CHR1[at - 1]}CA\t.\t.\t.\n")  # fmt: skip
    variants, skipped = read_variants(tmp_path / "v.vcf", reference)
    assert skipped == 0 and [v.kind for v in variants] == ["indel", "indel"]
    assert variants[0].pos == REPEAT_AT + 1 and variants[0].ref == "GCA" and variants[0].alt == "G"
    assert variants[1].pos == REPEAT_AT + 1 and variants[1].ref == "G" and variants[1].alt == "GCA"
    for model in models.values():
        scores = score_variants(model, reference, variants, 60, "human")
        assert all(np.isfinite(values).all() for values in scores.values())
        assert (scores["embedding_distance"] > 0).all()


def test_variants_at_sequence_ends_are_scored(models, reference):
    edge = [Variant("chr1", 1, CHR1[0], _other(CHR1[0])), Variant("chr1", len(CHR1), CHR1[-1], _other(CHR1[-1])),
            Variant("chr2", 25, CHR2[24], _other(CHR2[24]))]  # fmt: skip
    for reverse in (False, True):
        for v in edge:
            p = variant_windows(reference, v, 120, 60, reverse)
            assert len(p.ref) == len(p.alt) == 120 and p.ref[p.at] == (_revcomp(v.ref) if reverse else v.ref)
    for model in models.values():
        scores = score_variants(model, reference, edge, 120, "human")
        assert all(np.isfinite(values).all() and len(values) == 3 for values in scores.values())


def _save(model, folder):
    model.save_pretrained(folder)
    return str(folder)


def test_vep_command_writes_one_row_per_alt_in_every_format(models, genome, tmp_path, capsys):
    import pyarrow.parquet as pq
    from cyvcf2 import VCF

    model_dir = _save(models["dnagpt-tiny"], tmp_path / "model")
    vcf = tmp_path / "in.vcf"
    alts = ",".join(b for b in "ACGT" if b != CHR1[300])
    vcf.write_text(VCF_HEADER + f"chr1\t301\trs1\t{CHR1[300]}\t{alts}\t.\t.\t.\n"
                   f"chr1\t501\t.\t{CHR1[500:503]}\t{CHR1[500]}\t.\t.\t.\n")  # fmt: skip
    for name in ("out.parquet", "out.tsv", "out.vcf.gz"):
        assert main([ "vep", model_dir, str(vcf), "--genome", str(genome), "--out", str(tmp_path / name),
                     "--window", "60", "--no-progress"]) == 0  # fmt: skip
    table = pq.read_table(tmp_path / "out.parquet").to_pydict()
    assert table["id"] == ["rs1"] * 3 + ["."] and table["kind"] == ["SNV"] * 3 + ["indel"]
    assert table["vcf_line"] == [5, 5, 5, 6]
    tsv = (tmp_path / "out.tsv").read_text().splitlines()
    assert tsv[0].split("\t")[:7] == ["chrom", "pos", "id", "ref", "alt", "kind", "vcf_line"] and len(tsv) == 5
    records = list(VCF(str(tmp_path / "out.vcf.gz")))
    llr = [list(np.atleast_1d(r.INFO["DNAGPT_LLR"])) for r in records]
    assert [len(x) for x in llr] == [3, 1]
    assert np.allclose([x for values in llr for x in values], table["llr"], atol=1e-5)
    assert not list(tmp_path.glob("*.parts"))  # the chunks are removed once the output is whole


def test_killed_vep_continues_from_saved_chunks(models, genome, tmp_path, monkeypatch):
    model = models["gpn-tiny"]
    lines = [f"chr1\t{p}\t.\t{CHR1[p - 1]}\t{_other(CHR1[p - 1])}\t.\t.\t.\n" for p in range(100, 1900, 150)]
    (tmp_path / "v.vcf").write_text(VCF_HEADER + "".join(lines))
    monkeypatch.setattr(vep_run, "CHUNK", 4)
    args = (model, "gpn-tiny", tmp_path / "v.vcf", genome)
    options = vep_run.VepOptions(window=64, progress=False)
    vep_run.score_vcf(*args, tmp_path / "whole.parquet", options)
    calls = []
    real = vep_run._score_chunk

    def dies_on_the_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(vep_run, "_score_chunk", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        vep_run.score_vcf(*args, tmp_path / "again.parquet", options)
    assert len(list((tmp_path / "again.parquet.parts").glob("chunk-*.npz"))) == 1
    with pytest.raises(Exception, match="other settings"):
        vep_run.score_vcf(*args, tmp_path / "again.parquet", vep_run.VepOptions(window=128, progress=False))
    calls.clear()
    monkeypatch.setattr(vep_run, "_score_chunk", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    vep_run.score_vcf(*args, tmp_path / "again.parquet", options)
    assert len(calls) == 2  # three chunks, the first already saved
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "again.parquet").equals(pq.read_table(tmp_path / "whole.parquet"))


@pytest.mark.parametrize(
    "record,expected",
    [
        (f"chr1\t11\t.\t{_other(CHR1[10])}\tG\t.\t.\t.\n", "line 5: chr1:11: REF"),
        ("chr9\t11\t.\tA\tG\t.\t.\t.\n", "line 5: chromosome 'chr9' is not in the genome FASTA"),
        (f"chr1\t11\t.\t{CHR1[10]}\t<DEL>\t.\t.\t.\n", "line 5: chr1:11: symbolic"),
        ("chr1\t5000\t.\tA\tG\t.\t.\t.\n", "line 5: chr1:5000: outside"),
        (f"chr1\t11\t.\tN\t{CHR1[10]}\t.\t.\t.\n", "line 5: chr1:11: ALT"),  # REF N: ALT is the genome's base
    ],
)
def test_bad_records_are_one_line_errors_or_counted_skips(models, genome, tmp_path, capsys, record, expected):
    model_dir = _save(models["gpn-tiny"], tmp_path / "model")
    good = f"chr1\t21\t.\t{CHR1[20]}\t{_other(CHR1[20])}\t.\t.\t.\n"
    vcf = tmp_path / "bad.vcf.gz"
    with gzip.open(vcf, "wt") as fh:
        fh.write(VCF_HEADER + record + good)
    args = ["vep", model_dir, str(vcf), "--genome", str(genome), "--out", str(tmp_path / "o.tsv"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(vcf) in err and expected in err and "Traceback" not in err
    assert main([*args, "--skip-invalid"]) == 0
    assert "1 skipped" in capsys.readouterr().out
    assert len((tmp_path / "o.tsv").read_text().splitlines()) == 2


def test_separation_reads_auroc_odds_ratio_and_roc():
    from dnagpt.evaluation.variant_effects import odds_ratio_at, roc_points, separation

    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.1, 0.7, 0.3, 0.2, 0.15, np.nan])
    result = separation(labels, scores, fpr=0.25, bootstrap=200)
    # pairs (positive above negative): 0.9 and 0.8 beat all 4 negatives, 0.1 beats none -> 8 / 12
    assert result["auroc"] == pytest.approx(8 / 12) and result["missing"] == 1 and 0 < result["auroc_se"] < 0.5
    # threshold: the 75th percentile of the negatives (0.3 + 0.75 * ... -> 0.4); above it 2 positives, 1 negative
    kept = np.isfinite(scores)
    assert odds_ratio_at(labels[kept], scores[kept], 0.25) == pytest.approx(((2.5 / 1.5) / (1.5 / 3.5), 0.25))
    flag = np.array([1.0, 1, 0, 1, 0, 0, 0, 0])  # two values: no threshold leaves 10 % of negatives above
    result = separation(labels, flag, fpr=0.1, bootstrap=50)
    assert np.isnan(result["odds_ratio"]) and result["odds_ratio_fpr"] == pytest.approx(0.2)
    fpr, tpr = roc_points(labels, scores)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and list(tpr[:3]) == [0, 1 / 3, 2 / 3]


def test_region_track_and_calibrated_percentiles(models, genome, tmp_path, capsys):
    model_dir = _save(models["dnagpt-tiny"], tmp_path / "model")
    base = ["vep", model_dir, "--genome", str(genome), "--window", "60", "--no-progress"]
    assert main([*base, "--region", "chr1:101-110", "--out", str(tmp_path / "track.tsv")]) == 0
    rows = [line.split("\t") for line in (tmp_path / "track.tsv").read_text().splitlines()[1:]]
    assert len(rows) == 30 and {r[1] for r in rows} == {str(p) for p in range(101, 111)}
    assert all(r[4] != r[3] for r in rows)  # three substitutions, never the reference base
    assert main([*base, "--region", "chr1:101-110", "--out", str(tmp_path / "track.bedgraph")]) == 0
    track = (tmp_path / "track.bedgraph").read_text().splitlines()
    assert track[0].startswith("track type=bedGraph") and track[1].split("\t")[:3] == ["chr1", "100", "101"]
    llr = np.array([float(r[7]) for r in rows]).reshape(10, 3).mean(1)
    assert np.allclose([float(line.split("\t")[3]) for line in track[1:]], llr, atol=1e-4)
    assert main([*base, "--region", "chr1:101-110", "--out", str(tmp_path / "track.bw")]) == 0
    import pyBigWig

    bigwig = pyBigWig.open(str(tmp_path / "track.bw"))
    assert bigwig.chroms() == {"chr1": len(CHR1)}
    assert np.allclose(bigwig.values("chr1", 100, 110), llr, atol=1e-4)  # bigWig stores 32-bit floats
    bigwig.close()
    assert main([*base, "--region", "chr1:101-110", "--out", str(tmp_path / "track.parquet")]) == 0
    assert main([*base, "--region", "chr1:101-110", "--calibrate", str(tmp_path / "track.parquet"),
                 "--out", str(tmp_path / "calibrated.tsv")]) == 0  # fmt: skip
    lines = (tmp_path / "calibrated.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    percentile = [float(line.split("\t")[header.index("llr_percentile")]) for line in lines[1:]]
    assert sorted(percentile) == pytest.approx([100 * (i + 1) / 30 for i in range(30)], abs=1e-3)
    assert main([*base, "--region", "chr1:101-110", "--out", str(tmp_path / "x.vcf.gz")]) == 2
    assert main(["vep", model_dir, "--genome", str(genome), "--out", str(tmp_path / "y.tsv")]) == 2
    assert "either a VCF file or --region" in capsys.readouterr().err


def test_blank_lines_sites_without_alt_and_edited_inputs(models, genome, tmp_path, capsys):
    """A blank line is an error naming it (htslib would crash on it); a site with ALT "." is counted
    and copied unchanged; an interrupted run of a VCF edited since is not continued; --calibrate
    reaches the VCF's INFO and is refused for a bedGraph; a window that is no whole number of
    tokens is an error that says so."""
    from cyvcf2 import VCF

    model_dir = _save(models["dnagpt-tiny"], tmp_path / "model")
    good = [f"chr1\t{p}\t.\t{CHR1[p - 1]}\t{_other(CHR1[p - 1])}\t.\t.\t.\n" for p in (201, 401)]
    vcf = tmp_path / "in.vcf"
    vcf.write_text(VCF_HEADER + good[0] + "\n" + good[1])
    base = ["vep", model_dir, str(vcf), "--genome", str(genome), "--window", "60", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a.tsv"), "--skip-invalid"]) == 2
    assert "in.vcf: line 6: blank line" in capsys.readouterr().err
    vcf.write_text(VCF_HEADER + good[0] + f"chr1\t301\tsite\t{CHR1[300]}\t.\t.\t.\t.\n" + good[1])
    assert main([*base, "--out", str(tmp_path / "a.parquet")]) == 0
    out = capsys.readouterr().out
    assert "scored 2 variants" in out and "1 skipped" in out
    assert main([*base, "--out", str(tmp_path / "b.vcf.gz"), "--calibrate", str(tmp_path / "a.parquet")]) == 0
    records = list(VCF(str(tmp_path / "b.vcf.gz")))
    assert [r.ID for r in records] == [None, "site", None] and records[1].INFO.get("DNAGPT_LLR") is None
    assert all(0 < r.INFO["DNAGPT_LLR_PERCENTILE"] <= 100 for r in (records[0], records[2]))
    assert main([*base, "--out", str(tmp_path / "c.bedgraph"), "--calibrate", str(tmp_path / "a.parquet")]) == 2
    assert "--calibrate" in capsys.readouterr().err
    assert main([*base[:-3], "--window", "61", "--no-progress", "--out", str(tmp_path / "d.tsv")]) == 2
    assert "whole number of its 6-base tokens" in capsys.readouterr().err
    (tmp_path / "e.tsv.parts").mkdir()  # an interrupted run of the VCF as it was before an edit
    settings = dict(model=model_dir, variants=str(vcf.resolve()), genome=str(genome.resolve()), window=60,
                    species="human", count=2, digest="0123456789abcdef")  # fmt: skip
    (tmp_path / "e.tsv.parts" / "settings.json").write_text(json.dumps(settings))
    assert main([*base, "--out", str(tmp_path / "e.tsv")]) == 2
    assert "other settings (digest" in capsys.readouterr().err


@torch.no_grad()
def test_shared_prefix_equals_whole_windows_without_species_and_at_the_ends(models, reference):
    """No species token, variants in a window's first token and indels at the chromosome's ends."""
    from dnagpt.vep.scoring import _causal_scores, _encode_pairs

    model = models["dnagpt-tiny"]
    tok = model.tokenizer()
    variants = [Variant("chr1", 3, CHR1[2], _other(CHR1[2])), Variant("chr1", 1001, CHR1[1000], _other(CHR1[1000])),
                Variant("chr1", len(CHR1) - 3, CHR1[-4:-1], CHR1[-4]),
                Variant("chr1", 5, CHR1[4], CHR1[4] + "GG")]  # fmt: skip

    def log_likelihood(window: str) -> float:
        ids = torch.tensor([list(tok.encode_bases(window))])
        hidden = model(ids, compute_heads=False).hidden_states
        return float(token_log_probs(model, hidden[:, :-1], ids[:, 1:]).sum())

    for reverse in (False, True):
        pairs = [variant_windows(reference, v, 60, 30, reverse) for v in variants]
        got = _causal_scores(model, _encode_pairs(model, pairs, None), None)["llr"]
        direct = [log_likelihood(p.alt) - log_likelihood(p.ref) for p in pairs]
        assert np.allclose(got, direct, atol=1e-4)


def _region_vcf(tmp_path):
    """A sorted VCF of SNVs every 50 bases of chr1, a deletion reaching into chr1:500-1000 from the left
    and one SNV on chr2; each record has its own ID."""
    rows = []
    for p in range(100, 1900, 50):
        rows.append((p, f"chr1\t{p}\tsnv{p}\t{CHR1[p - 1]}\t{_other(CHR1[p - 1])}\t.\t.\t.\n"))
    rows.append((498, f"chr1\t498\tdel498\t{CHR1[497:500]}\t{CHR1[497]}\t.\t.\t.\n"))  # covers 498-500
    text = (
        VCF_HEADER
        + "".join(line for _, line in sorted(rows))
        + f"chr2\t20\tsnv_chr2\t{CHR2[19]}\t{_other(CHR2[19])}\t.\t.\t.\n"
    )
    (tmp_path / "plain.vcf").write_text(text)
    return tmp_path / "plain.vcf"


def _bgzip(plain, index: str | None):
    import pysam

    out = plain.with_suffix(".vcf.gz")
    pysam.tabix_compress(str(plain), str(out), force=True)
    if index:
        pysam.tabix_index(str(out), preset="vcf", csi=index == "csi", force=True)
    return out


@pytest.mark.parametrize("index", ["tbi", "csi"])
def test_region_of_an_indexed_vcf_reads_only_that_region(reference, tmp_path, monkeypatch, index):
    """--region on a bgzipped VCF with its index gives the variants of a full read that overlap the
    region (a deletion reaching in from the left included), without a pass over the whole file; a
    'chr' prefix may differ from the VCF's."""
    from dnagpt.vep import variants as vep_variants

    plain = _region_vcf(tmp_path)
    vcf = _bgzip(plain, index)
    everything, _ = read_variants(plain, reference)
    inside = {f"snv{p}" for p in range(500, 1001, 50)} | {"del498"}
    expected = [(v.chrom, v.pos, v.ref, v.alt, v.id) for v in everything if v.id in inside]
    monkeypatch.setattr(vep_variants, "vcf_layout", lambda path: pytest.fail("the whole VCF was read"))
    for region in ("chr1:500-1000", "1:500-1,000"):
        got, skipped = read_variants(vcf, reference, region=region)
        assert [(v.chrom, v.pos, v.ref, v.alt, v.id) for v in got] == expected and skipped == 0
        assert [v.line for v in got] == list(range(1, len(got) + 1))  # numbered within the region


def test_region_of_a_vcf_without_an_index(models, reference, genome, tmp_path, capsys, caplog, monkeypatch):
    """A bgzipped VCF without its index: one line naming the file and the command that makes the
    index. A plain-text VCF cannot have one: it is read whole and filtered, with a warning, to the
    same variants as an indexed read; the scored VCF holds the region's records only."""
    from cyvcf2 import VCF

    plain = _region_vcf(tmp_path)
    model_dir = _save(models["dnagpt-tiny"], tmp_path / "model")
    base = ["vep", model_dir, "--genome", str(genome), "--window", "60", "--no-progress", "--region", "chr1:500-1000"]
    unindexed = _bgzip(plain, None)
    assert main([*base[:2], str(unindexed), *base[2:], "--out", str(tmp_path / "x.tsv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(unindexed) in err and f"tabix -p vcf {unindexed}" in err
    monkeypatch.setattr(logging.getLogger("dnagpt"), "handlers", [])  # main() keeps the library's log lines
    monkeypatch.setattr(logging.getLogger("dnagpt"), "propagate", True)  # to its own handler
    with caplog.at_level(logging.WARNING, logger="dnagpt"):
        scanned, _ = read_variants(plain, reference, region="chr1:500-1000")
    assert "not bgzip-compressed" in caplog.text and "tabix -p vcf" in caplog.text
    indexed, _ = read_variants(_bgzip(plain, "tbi"), reference, region="chr1:500-1000")
    assert [(v.pos, v.id) for v in scanned] == [(v.pos, v.id) for v in indexed] and len(indexed) == 12
    assert main([*base[:2], str(plain), *base[2:], "--out", str(tmp_path / "y.vcf.gz")]) == 0
    records = list(VCF(str(tmp_path / "y.vcf.gz")))
    assert [r.ID for r in records] == [v.id for v in indexed]
    assert all(np.isfinite(r.INFO["DNAGPT_LLR"]) for r in records)
    assert main([*base[:2], str(plain), *base[2:-1], "chr2:100-200", "--out", str(tmp_path / "z.tsv")]) == 2
    assert "no variant to score in chr2:100-200" in capsys.readouterr().err


def test_bf16_scores_follow_fp32(models, genome, tmp_path):
    """--precision bf16 runs the model under bf16 autocast; the scores stay near fp32's."""
    import pyarrow.parquet as pq

    model_dir = _save(models["dnagpt-tiny"], tmp_path / "model")
    base = ["vep", model_dir, "--genome", str(genome), "--window", "60", "--no-progress", "--region", "chr1:301-306"]
    for precision in ("fp32", "bf16"):
        assert main([*base, "--precision", precision, "--out", str(tmp_path / f"{precision}.parquet")]) == 0
    fp32, bf16 = (pq.read_table(tmp_path / f"{p}.parquet").to_pydict() for p in ("fp32", "bf16"))
    assert np.isfinite(bf16["llr"]).all() and np.isfinite(bf16["embedding_distance"]).all()
    assert np.allclose(fp32["llr"], bf16["llr"], atol=0.01) and np.corrcoef(fp32["llr"], bf16["llr"])[0, 1] > 0.9


@pytest.mark.parametrize("family", ["dnagpt-tiny", "bert-tiny", "gpn-tiny"])
def test_prefetched_batches_give_the_same_scores(models, genome, tmp_path, family):
    """--prefetch on reads and encodes the next batch on a second thread: the same file, to the bit."""
    model_dir = _save(models[family], tmp_path / "model")
    base = ["vep", model_dir, "--genome", str(genome), "--window", "60", "--no-progress", "--region", "chr1:281-310",
            "--batch-size", "7"]  # fmt: skip
    for prefetch in ("on", "off"):
        assert main([*base, "--prefetch", prefetch, "--out", str(tmp_path / f"{prefetch}.tsv")]) == 0
    assert (tmp_path / "on.tsv").read_bytes() == (tmp_path / "off.tsv").read_bytes()
    assert len((tmp_path / "on.tsv").read_text().splitlines()) == 1 + 90
