"""Multiple alignments (MAF) as GPN-MSA reads them: a real slice of the human / chimp / gorilla /
orangutan chr22 alignment (scripts/make_maf_fixture.py), projected on human, and a GPN-MSA model
scoring variants on it from the command line."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from dnagpt.cli import main
from dnagpt.data.alignment import ALIGNED_BASES, read_maf, reverse_complement_columns
from dnagpt.errors import DataError
from dnagpt.models import build_model
from dnagpt.models.gpn_original import GPNOriginalConfig

FIXTURE = Path(__file__).parent / "fixtures" / "primates_chr22"
MAF = FIXTURE / "alignment.maf.gz"


def _blocks() -> list[dict[str, tuple[int, str]]]:
    """The fixture's blocks as written: species -> (start, aligned text)."""
    blocks: list[dict[str, tuple[int, str]]] = []
    for line in gzip.open(MAF, "rt"):
        if line.startswith("a"):
            blocks.append({})
        elif line.startswith("s "):
            _, src, start, *_, text = line.split()
            blocks[-1][src.split(".")[0]] = (int(start), text)
    return blocks


def test_the_alignment_is_read_on_human_coordinates_without_human_gaps():
    alignment = read_maf(MAF)
    assert alignment.reference == "Hsap" and alignment.species == ("Ptro", "Ggor", "Ppyg")
    for block in _blocks():
        start, human = block["Hsap"]
        keep = [i for i, b in enumerate(human) if b != "-"]
        columns = alignment.columns("chr22", start, start + len(keep))  # "chr22" and "22" name one chromosome
        for j, species in enumerate(alignment.species):
            text = block[species][1].upper()
            expected = "".join(text[i] if text[i] in "ACGT" else "-" for i in keep)
            assert "".join(ALIGNED_BASES[c] for c in columns[:, j]) == expected
    assert sum(len(b["Hsap"][1].replace("-", "")) for b in _blocks()) == alignment.covered("22", 0, 12_000)
    first = _blocks()[0]["Hsap"][0]
    edge = alignment.columns("22", first - 5, first + 5)  # uncovered positions read as gaps
    assert (edge[:5] == 0).all() and (edge[5:] > 0).any()
    assert "".join(ALIGNED_BASES[c] for c in reverse_complement_columns(edge)[:5, 0]) == (
        "".join(ALIGNED_BASES[c] for c in edge[5:, 0])[::-1].translate(str.maketrans("ACGT", "TGCA"))
    )


def test_an_uncovered_region_or_a_bad_file_is_a_clear_error(tmp_path):
    alignment = read_maf(MAF)
    with pytest.raises(DataError, match=r"chr22:1-100 is not covered"):
        alignment.columns("chr22", 0, 100)
    with pytest.raises(DataError, match="no Hsap rows on chromosome 'chr1'"):
        alignment.columns("chr1", 0, 100)
    bad = tmp_path / "bad.maf"
    bad.write_text("##maf version=1\na\ns Hsap.22 0 notanumber + 10 ACGT\n")
    with pytest.raises(DataError, match=r"bad\.maf: block 1"):
        read_maf(bad)


def _gpn_msa(tmp_path: Path) -> Path:
    """A small GPN-MSA shaped model (RoFormer, one-hot of the human base and the 3 primates')."""
    torch.manual_seed(0)
    config = GPNOriginalConfig(model_type="GPNRoFormer", encoder="roformer", vocab_size=6, d_model=64, n_layer=2,
                               n_head=4, intermediate_size=128, n_aux_features=15, context_length=256)  # fmt: skip
    model = build_model(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    model.save_pretrained(tmp_path / "msa")
    return tmp_path / "msa"


def test_a_gpn_msa_model_scores_a_vcf_on_the_primate_alignment(tmp_path):
    """Each SNV is scored as GPN does (masked centre, log p(ALT) - log p(REF), both strands), reading the
    primates' bases over the window; another alignment at the site gives another score."""
    import pandas as pd

    model_dir = _gpn_msa(tmp_path)
    genome = gzip.open(FIXTURE / "chr22.fa.gz", "rt").read().split("\n", 1)[1].replace("\n", "")
    positions = [300, 500, 4500]  # 1-based, inside the first two blocks
    other = {"A": "G", "C": "T", "G": "A", "T": "C"}
    vcf = "##fileformat=VCFv4.2\n##contig=<ID=chr22>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf += "".join(f"chr22\t{p}\t.\t{genome[p - 1]}\t{other[genome[p - 1]]}\t.\t.\t.\n" for p in positions)
    (tmp_path / "v.vcf").write_text(vcf)
    out = tmp_path / "scores.parquet"
    args = ["vep", str(model_dir), str(tmp_path / "v.vcf"), "--genome", str(FIXTURE / "chr22.fa.gz"),
            "--window", "128", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 2  # no alignment: refused before any work
    assert main([*args, "--alignment", str(MAF)]) == 0
    scores = np.array(pd.read_parquet(out)["masked_llr"])
    assert np.isfinite(scores).all() and len(set(scores.round(6))) == 3

    from dnagpt.models import load_model

    model, alignment = load_model(model_dir), read_maf(MAF)
    ids = {b: i for i, b in enumerate("-ACGT")}
    pos = positions[0]
    start = pos - 1 - 64
    window = [ids.get(b, 0) for b in genome[start : start + 128]]
    columns = alignment.columns("chr22", start, start + 128)
    rc = [5 - i if i else 0 for i in window[::-1]]  # codes 1-4 are A C G T: 5 - code is the complement
    rows = [[*window[:64], 5, *window[65:]], [*rc[:63], 5, *rc[64:]]]
    aux = torch.from_numpy(np.stack([columns, reverse_complement_columns(columns)]))
    with torch.no_grad():
        logits = model(torch.tensor(rows), aux_features=aux).logits.log_softmax(-1)
    ref, alt = ids[genome[pos - 1]], ids[other[genome[pos - 1]]]
    forward = logits[0, 64, alt] - logits[0, 64, ref]
    back = logits[1, 63, 5 - alt] - logits[1, 63, 5 - ref]
    assert abs(float((forward + back) / 2) - scores[0]) <= 1e-5
    columns[64] = 4 - columns[64] % 4  # the primates carry other bases at the site
    with torch.no_grad():
        changed = model(torch.tensor(rows[:1]), aux_features=torch.from_numpy(columns[None])).logits.log_softmax(-1)
    assert float(changed[0, 64, alt] - changed[0, 64, ref]) != pytest.approx(float(forward), abs=1e-4)


def test_gpn_msa_pretrains_on_the_alignment_and_resumes(tmp_path):
    """`dnagpt pretrain` with data.alignment trains a GPN-MSA model on the alignment's blocks (one held
    out), leaves the excluded region unread, and continues a stopped run to the same weights."""
    import json

    from safetensors.torch import load_file

    args = ["pretrain", "demo", "--set", f"data.alignment={MAF}", "--set", "model.config=gpn-msa-primates-small",
            "--set", "model.n_layer=1", "--set", "model.context_length=64", "--set", "train.batch_size=4",
            "--set", "train.grad_accum=1", "--set", "train.eval_every=0", "--set", "train.save_every=2",
            "--set", "eval.samples=8", "--set", 'data.exclude=["chr22:4400-4500"]', "--no-progress"]  # fmt: skip
    assert main([*args, "--max-steps", "4", "--out", str(tmp_path / "whole")]) == 0
    card = json.loads((tmp_path / "whole" / "model" / "pretraining.json").read_text())
    assert card["alignment"]["species"] == ["Ptro", "Ggor", "Ppyg"]
    assert card["alignment"]["training_bases"] == 555  # the second block is excluded, the third held out
    assert {"masked_loss", "copy_relative_loss", "unigram_masked_loss"} <= set(card["evaluation"])
    resumed = ["--out", str(tmp_path / "resumed")]
    assert main([*args, "--max-steps", "2", *resumed]) == 0
    assert json.loads((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()[-1])["step"] <= 2
    assert main([*args, "--max-steps", "4", *resumed, "--resume", "--allow-change", "train.max_steps"]) == 0
    a = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_gpn_msa_model_embeds_bed_regions_of_the_alignment(tmp_path):
    """Each BED region is read from the alignment (reference bases and the primates' bases; the minus
    strand reverse-complemented), in windows of the model's context, and its hidden states averaged."""
    from dnagpt.models import load_model

    model_dir = _gpn_msa(tmp_path)
    (tmp_path / "r.bed").write_text("chr22\t250\t560\tfirst\t0\t+\nchr22\t300\t340\tsecond\t0\t-\n")
    out = tmp_path / "e.npy"
    assert main(["embed", str(model_dir), str(tmp_path / "r.bed"), "--out", str(out)]) == 2  # no alignment
    assert main(["embed", str(model_dir), str(tmp_path / "r.bed"), "--alignment", str(MAF), "--out", str(out)]) == 0
    got = np.load(out)
    model, alignment = load_model(model_dir), read_maf(MAF)
    ids = {b: i for i, b in enumerate("-ACGT")}
    with torch.no_grad():
        bases, columns = alignment.window("chr22", 250, 560)
        parts = [model(torch.tensor([[ids.get(b, 0) for b in bases[a : a + 256]]]),
                       aux_features=torch.from_numpy(columns[a : a + 256][None])).hidden_states[0]
                 for a in (0, 256)]  # fmt: skip
        first = torch.cat(parts).mean(0).numpy()
        bases, columns = alignment.window("chr22", 300, 340, "-")
        second = model(torch.tensor([[ids.get(b, 0) for b in bases]]), aux_features=torch.from_numpy(columns[None]))
    assert np.abs(got[0] - first).max() <= 1e-5
    assert np.abs(got[1] - second.hidden_states[0].mean(0).numpy()).max() <= 1e-5
    (tmp_path / "far.bed").write_text("chr22\t5000\t5100\n")
    assert main(["embed", str(model_dir), str(tmp_path / "far.bed"), "--alignment", str(MAF), "--out", str(out)]) == 2


def test_a_gpn_msa_model_fine_tunes_on_rows_placed_on_the_alignment(tmp_path, capsys):
    """Each row gives its place on the reference (region_column, strand_column); the model reads the
    primates' bases there through a sequence-level head. `predict` finds the alignment it was
    fine-tuned with. A row whose sequence is not the reference's at its region is refused."""
    import json

    import pandas as pd

    model_dir = _gpn_msa(tmp_path)
    genome = gzip.open(FIXTURE / "chr22.fa.gz", "rt").read().split("\n", 1)[1].replace("\n", "")
    complement = str.maketrans("ACGT", "TGCA")
    rows = []
    for i, start in enumerate(range(220, 740, 20)):  # 40-base windows of the first block, both strands
        seq, strand = genome[start : start + 40], "+-"[i % 2]
        rows.append({"sequence": seq if strand == "+" else seq[::-1].translate(complement),
                     "region": f"chr22:{start + 1}-{start + 40}", "strand": strand,
                     "label": int(seq.count("G") + seq.count("C") > 20)})  # fmt: skip
    pd.DataFrame(rows[:18]).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(rows[18:]).to_csv(tmp_path / "dev.csv", index=False)
    (tmp_path / "task.toml").write_text('name = "gc"\ntemplate = "classification"\nregion_column = "region"\n'
                                        'strand_column = "strand"\n[labels]\n"1" = "A"\n"0" = "N"\n')  # fmt: skip
    run = tmp_path / "run"
    args = ["finetune", str(model_dir), str(tmp_path / "task.toml"), "--train", str(tmp_path / "train.csv"),
            "--dev", str(tmp_path / "dev.csv"), "--epochs", "1", "--no-progress"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "without")]) == 2
    assert "reads an alignment" in capsys.readouterr().err
    assert main([*args, "--alignment", str(MAF), "--out", str(run)]) == 0
    assert json.loads((run / "best" / "task.json").read_text())["alignment"] == str(MAF.resolve())
    assert main(["predict", str(run / "best"), str(tmp_path / "dev.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == len(rows) - 18
    moved = pd.DataFrame(rows[:18]).assign(region=[f"chr22:{s + 301}-{s + 340}" for s in range(220, 580, 20)])
    moved.to_csv(tmp_path / "moved.csv", index=False)
    assert main([*args[:3], "--train", str(tmp_path / "moved.csv"), *args[5:], "--alignment", str(MAF),
                 "--out", str(tmp_path / "moved")]) == 2  # fmt: skip
    assert "moved.csv, row 1: the sequence differs from Hsap" in capsys.readouterr().err
