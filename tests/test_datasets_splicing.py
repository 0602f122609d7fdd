"""Splice-site datasets on a synthetic genome: where windows are centred on each strand, which boundaries are
donors or acceptors, how far ``neither`` windows keep, and classes balanced inside every split (no fetching)."""

import csv
import gzip

import numpy as np
import pytest

from dnagpt import DataError
from dnagpt.data.datasets.common import Genome, reverse_complement
from dnagpt.data.datasets.splicing import (
    FLANK,
    WIDTH,
    Transcript,
    dinucleotide_cuts,
    exon_boundaries,
    gencode_transcripts,
    gtf_transcripts,
    neither_examples,
    splice_dataset,
    splice_sites,
    splice_window,
)
from dnagpt.data.regions import BLOCK, SPLITS, parse_region, window_split


def _random_genome(length: int, seed: int = 0) -> tuple[np.random.Generator, list[str]]:
    rng = np.random.default_rng(seed)
    return rng, list(rng.choice(list("ACGT"), size=length))


def _plant_introns(bases: list[str], t: Transcript) -> None:
    """Write GT ... AG into every intron of ``t``, read on its strand (so GT is AC ... and AG is CT on the + strand
    of a minus-strand transcript)."""
    for (_, left_end), (right_start, _) in zip(t.exons, t.exons[1:], strict=False):
        if t.strand == "+":
            bases[left_end : left_end + 2], bases[right_start - 2 : right_start] = "GT", "AG"
        else:
            bases[right_start - 2 : right_start], bases[left_end : left_end + 2] = "AC", "CT"


PLUS = Transcript("+", ((1000, 1100), (1500, 1600), (2000, 2100)))
MINUS = Transcript("-", ((5000, 5100), (5500, 5600), (6000, 6100)))


def test_sites_of_both_strands_and_what_is_left_out():
    assert splice_sites([PLUS]) == {(1100, "+"): "donor", (1500, "+"): "acceptor",
                                    (1600, "+"): "donor", (2000, "+"): "acceptor"}  # fmt: skip
    # read right to left, the highest exon comes first: its start (cut 6000) is the first donor
    assert splice_sites([MINUS]) == {(6000, "-"): "donor", (5600, "-"): "acceptor",
                                     (5500, "-"): "donor", (5100, "-"): "acceptor"}  # fmt: skip
    short = Transcript("+", ((100, 200), (205, 300), (400, 500)))  # a 5 bp gap mends the reference, no intron
    assert splice_sites([short]) == {(300, "+"): "donor", (400, "+"): "acceptor"}
    assert {(c, k) for c, _, k in exon_boundaries([short])} >= {(200, "short"), (205, "short")}
    # one transcript's donor is another's acceptor: ambiguous, dropped; the same site twice is kept once
    other = Transcript("+", ((900, 1000), (1100, 1200)))
    assert (1100, "+") not in splice_sites([PLUS, other]) and (1000, "+") in splice_sites([PLUS, other])
    assert splice_sites([PLUS, PLUS]) == splice_sites([PLUS])
    pseudo = Transcript("+", ((100, 200), (400, 500)), "unprocessed_pseudogene")
    assert not pseudo.spliced and splice_sites([pseudo]) == {}
    assert Transcript("+", (), "polymorphic_pseudogene").spliced and not Transcript("+", (), "tRNA").spliced
    assert exon_boundaries([pseudo])  # but its boundaries still keep neither windows away


def test_windows_are_centred_on_the_boundary_on_both_strands():
    _, bases = _random_genome(10_000)
    for t in (PLUS, MINUS):
        _plant_introns(bases, t)
    genome = Genome("toy/chr1", "".join(bases))
    seq = genome.seq
    for (cut, strand), kind in splice_sites([PLUS, MINUS]).items():
        e = splice_window(genome, cut, strand, kind)
        assert (e.start, e.end, e.label, len(e.sequence)) == (cut - FLANK, cut + FLANK, kind, WIDTH)
        plus = seq[cut - FLANK : cut + FLANK]
        assert e.sequence == (plus if strand == "+" else reverse_complement(plus))
        if kind == "donor":
            assert e.sequence[200:202] == "GT"  # base 200 is the intron's first base
        else:
            assert e.sequence[198:200] == "AG"  # base 199 is the intron's last base
    # minus-strand donor at cut 6000: the intron's first base (on the - strand) is + base 5999, the exon's last 6000
    e = splice_window(genome, 6000, "-", "donor")
    assert e.sequence[200] == reverse_complement(seq[5999]) and e.sequence[199] == reverse_complement(seq[6000])
    # plus-strand acceptor at cut 1500: base 199 is + base 1499 (the intron's G), base 200 the exon's first, 1500
    e = splice_window(genome, 1500, "+", "acceptor")
    assert e.sequence[199] == seq[1499] == "G" and e.sequence[200] == seq[1500]
    assert splice_window(genome, 100, "+", "donor") is None  # runs off the sequence


@pytest.mark.parametrize("motif", ["GT", "AG"])
def test_dinucleotide_cuts_put_the_motif_where_a_site_would_have_it(motif):
    _, bases = _random_genome(3000, seed=1)
    genome = Genome("toy/chr1", "".join(bases))
    for cuts, strand in dinucleotide_cuts(genome.seq, motif):
        assert len(cuts) > 50
        for cut in cuts[(cuts >= FLANK) & (cuts <= len(genome.seq) - FLANK)]:
            window = splice_window(genome, int(cut), strand, "neither").sequence
            assert (window[200:202] if motif == "GT" else window[198:200]) == motif


def test_neither_windows_keep_away_from_every_boundary_and_fill_their_quotas():
    rng, bases = _random_genome(40 * BLOCK)
    genome = Genome("toy/chr1", "".join(bases))
    near = np.array([50_000, 51_000, 300_000, 600_000])
    quotas = {"train": 30, "dev": 11, "test": 20}
    found = neither_examples(genome, near, quotas, rng)
    for split, q in quotas.items():
        part = [e for e in found if e.split == split]
        assert len(part) == q
        assert sum(e.sequence[200:202] == "GT" for e in part) >= (q + 1) // 2  # half drawn on a GT ...
        assert sum(e.sequence[198:200] == "AG" for e in part) >= q // 2  # ... half on an AG
    for e in found:
        assert e.label == "neither" and min(abs(e.start + FLANK - near)) >= WIDTH


def test_dataset_balances_three_classes_in_every_split(tmp_path):
    _, bases = _random_genome(40 * BLOCK)
    transcripts = []
    for i, start in enumerate(range(2_000, 40 * BLOCK - 10_000, 6_000)):
        exons = tuple((start + k * 1_000, start + k * 1_000 + 150) for k in range(5))
        transcripts.append(Transcript("+" if i % 2 else "-", exons, "protein_coding"))
        _plant_introns(bases, transcripts[-1])
    genome = Genome("toy/chr1", "".join(bases))
    sites = splice_sites(transcripts)
    boundaries = np.array(sorted(c for c, _, _ in exon_boundaries(transcripts)))
    sizes = splice_dataset(genome, transcripts, tmp_path, 'template = "classification"\n', 10_000, 0)
    rows = {s: list(csv.DictReader(gzip.open(tmp_path / f"{s}.csv.gz", "rt"))) for s in SPLITS}
    assert {s: len(r) for s, r in rows.items()} == sizes and all(sizes.values())
    for split, part in rows.items():
        labels = [r["label"] for r in part]
        assert labels.count("donor") == labels.count("acceptor") == labels.count("neither") > 0
        for r in part:
            name, start, end = parse_region(r["region"])
            assert window_split(name, start - 1, end) == split and end - start + 1 == WIDTH
            cut = start - 1 + FLANK
            if r["label"] == "neither":
                assert min(abs(cut - boundaries)) >= WIDTH
                assert r["sequence"][200:202] == "GT" or r["sequence"][198:200] == "AG"
            else:
                assert sites[cut, r["strand"]] == r["label"]
    neither = [r["sequence"] for part in rows.values() for r in part if r["label"] == "neither"]
    assert abs(sum(q[200:202] == "GT" for q in neither) - len(neither) / 2) < 0.15 * len(neither)


def test_gencode_exons_are_tied_to_their_transcripts_by_order():
    def row(gene, strand, start, end, gene_type="protein_coding"):
        return {"gene_name": gene, "Strand": strand, "_starts": start, "_ends": end, "gene_type": gene_type}

    transcripts = [row("A", "+", 101, 400), row("A", "+", 101, 300), row("B", "-", 1001, 1500, "lincRNA")]
    # 1-based inclusive; each transcript's exons follow, 5' to 3' (descending on the - strand)
    exons = [row("A", "+", 101, 150), row("A", "+", 201, 250), row("A", "+", 301, 400),
             row("A", "+", 101, 150), row("A", "+", 201, 300),
             row("B", "-", 1401, 1500), row("B", "-", 1001, 1100)]  # fmt: skip
    got = gencode_transcripts(transcripts, exons)
    assert got == [Transcript("+", ((100, 150), (200, 250), (300, 400)), "protein_coding"),
                   Transcript("+", ((100, 150), (200, 300)), "protein_coding"),
                   Transcript("-", ((1000, 1100), (1400, 1500)), "lincRNA")]  # fmt: skip
    with pytest.raises(DataError, match="do not follow it"):
        gencode_transcripts(transcripts, exons[:3] + exons[5:])  # the second transcript's exons are missing


def test_gtf_exons_are_grouped_by_transcript_id():
    def exon(tid, start, end, strand="+", extra=""):
        return ["chr1", "RefSeq", "exon", str(start), str(end), ".", strand, ".",
                f'gene_id "g"; transcript_id "{tid}"; transcript_biotype "mRNA"; {extra}']  # fmt: skip

    records = [exon("t1", 301, 400), exon("t1", 101, 200), exon("t2", 101, 200, "-"),
               exon("t2", 301, 400, "-", 'pseudo "true";'), exon("", 1, 50),  # no transcript
               exon("t3", 1, 50, "+"), exon("t3", 80, 90, "-")]  # fmt: skip
    records.append(["chr1", "RefSeq", "CDS", "101", "200", ".", "+", "0", 'transcript_id "t1";'])
    assert gtf_transcripts(records) == [Transcript("+", ((100, 200), (300, 400)), "mRNA"),
                                        Transcript("-", ((100, 200), (300, 400)), "pseudogene")]  # fmt: skip
