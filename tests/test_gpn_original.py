"""GPN's published architectures, exactly: random models built with the ``gpn`` package itself at the
published widths (fewer layers, for speed), saved with its ``save_pretrained``, loaded by dnagpt, and
their masked-token logits compared on real sequence. Runs where ``gpn`` is installed (the test extra)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dnagpt.data.fasta import read_fasta_records
from dnagpt.errors import CheckpointError, ConfigError
from dnagpt.models import load_model
from dnagpt.models.gpn_original import GPNOriginal
from dnagpt.resources import BUNDLED_MANIFEST

gpn = pytest.importorskip("gpn", reason="the gpn package (pip install 'gpn==0.9.0a1') is the reference")
from gpn.legacy import ConvNetConfig, ConvNetForMaskedLM, GPNRoFormerConfig, GPNRoFormerForMaskedLM  # noqa: E402
from gpn.model import GPNConfig, GPNForMaskedLM  # noqa: E402

WINDOW = 256
SS_IDS = {"a": 3, "c": 4, "g": 5, "t": 6}  # GPN's single-sequence vocabulary: [PAD] [MASK] [UNK] a c g t
MSA_IDS = {"-": 0, "A": 1, "C": 2, "G": 3, "T": 4}  # GPN-MSA's: - A C G T ? (5 = mask)


def _real_window() -> str:
    """Real Arabidopsis sequence, soft-masked repeats (lower case) kept, one N put in."""
    _, seq = read_fasta_records(BUNDLED_MANIFEST.parent / "arabidopsis_tair10_chr1_5M.fa.gz")[0]
    window = seq[10_000 : 10_000 + WINDOW]
    window = window[:40] + window[40:70].lower() + window[70:]
    return window[:100] + "N" + window[101:]


def _ss_ids(window: str) -> torch.Tensor:
    ids = [SS_IDS.get(b.lower(), 2) for b in window]
    ids[WINDOW // 2] = 1  # the masked position, as GPN's variant scoring masks it
    return torch.tensor([ids])


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial gains and biases everywhere, so a dropped term shows; rotary tables kept exact."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        for module in model.modules():
            if type(module).__name__ == "RoFormerSinusoidalPositionalEmbedding":
                module.weight.copy_(module.create_weight())
    return model.eval()


CASES = {
    "ConvNet (gpn-brassicales)": lambda: ConvNetForMaskedLM(ConvNetConfig(n_layers=3)),
    "GPN convnet": lambda: GPNForMaskedLM(GPNConfig(encoder="convnet", num_hidden_layers=3)),
    "GPN convnet with biases, depthwise": lambda: GPNForMaskedLM(GPNConfig(encoder="convnet", num_hidden_layers=3,
                                                                          bias=True, depthwise=True)),
    "GPN bytenet (gpn-animal-promoter)": lambda: GPNForMaskedLM(GPNConfig(
        encoder="bytenet", embedding="embedding", mlm_head_transform=False, slim=True, hidden_size=1024,
        num_hidden_layers=2)),
    "GPN roformer": lambda: GPNForMaskedLM(GPNConfig(encoder="roformer", num_hidden_layers=2, num_attention_heads=8)),
}  # fmt: skip


@torch.no_grad()
@pytest.mark.parametrize("case", list(CASES))
def test_single_sequence_models_give_gpn_s_logits(case, tmp_path):
    torch.manual_seed(0)
    reference = _perturbed(CASES[case](), seed=1)
    reference.save_pretrained(tmp_path / "model")
    ids = _ss_ids(_real_window())
    expected = reference(input_ids=ids).logits
    model = load_model(tmp_path / "model")
    assert isinstance(model, GPNOriginal)
    got = model(ids).logits
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5, (got - expected).abs().max().item()


@torch.no_grad()
def test_gpn_msa_reads_the_alignment_as_gpn_does(tmp_path):
    """GPN-MSA's published shape (768 wide, 12 heads, 89 other species), one layer."""
    species = 89
    torch.manual_seed(0)
    reference = _perturbed(GPNRoFormerForMaskedLM(GPNRoFormerConfig(
        num_hidden_layers=1, n_aux_features=5 * species, max_position_embeddings=512)), seed=2)  # fmt: skip
    reference.save_pretrained(tmp_path / "msa")
    window = _real_window().upper()[:128]
    target = [MSA_IDS.get(b, 0) for b in window]
    target[64] = 5
    rng = np.random.default_rng(0)  # the other species: the human window with substitutions and gaps
    aux = np.array([[MSA_IDS.get(b, 0) for b in window]] * species).T
    flips = rng.random(aux.shape) < 0.1
    aux[flips] = rng.integers(0, 5, flips.sum())
    ids, aux_features = torch.tensor([target]), torch.tensor(aux[None], dtype=torch.uint8)
    expected = reference(input_ids=ids, aux_features=aux_features).logits
    model = load_model(tmp_path / "msa")
    got = model(ids, aux_features=aux_features).logits
    # float32 rounds differently in each code (7.9e-6 to 1.0e-5 apart, by machine; each is as far from
    # the float64 answer as the other), so float32 is held to 2e-5 and float64 shows the same arithmetic
    assert (got - expected).abs().max().item() <= 2e-5, (got - expected).abs().max().item()
    reference.double().model.embedding.register_forward_hook(lambda module, inputs, out: out.double())
    expected64 = reference(input_ids=ids, aux_features=aux_features).logits  # gpn's one-hot is float32
    got64 = model.double()(ids, aux_features=aux_features).logits
    assert expected64.dtype == got64.dtype == torch.float64
    assert (got64 - expected64).abs().max().item() <= 1e-10, (got64 - expected64).abs().max().item()
    with pytest.raises(ConfigError, match="aligned bases of other species"):
        model(ids)


def test_an_unknown_gpn_option_is_named(tmp_path):
    ConvNetForMaskedLM(ConvNetConfig(n_layers=1, hidden_size=32)).save_pretrained(tmp_path / "m")
    config = (tmp_path / "m" / "config.json").read_text().replace('"n_layers"', '"new_option": 1, "n_layers"')
    (tmp_path / "m" / "config.json").write_text(config)
    with pytest.raises(CheckpointError, match="new_option"):
        load_model(tmp_path / "m")


def test_vep_gives_gpn_s_own_scores(tmp_path):
    """``dnagpt vep`` on a GPN directory against ``gpn.ss.run_vep`` on the same variants: real
    Arabidopsis sequence with soft-masked repeats, variants in a repeat and next to both ends."""
    pd = pytest.importorskip("pandas", reason="gpn's variant scoring needs gpn[inference]")
    datasets = pytest.importorskip("datasets", reason="gpn's variant scoring needs gpn[inference]")
    run_vep = pytest.importorskip("gpn.ss.run_vep", reason="gpn's variant scoring needs gpn[inference]")
    from gpn.data import Genome
    from transformers import AutoTokenizer

    from dnagpt.cli import main

    torch.manual_seed(0)
    reference = _perturbed(GPNForMaskedLM(GPNConfig(encoder="convnet", num_hidden_layers=2, hidden_size=128,
                                                    intermediate_size=256)), seed=3)  # fmt: skip
    model_dir = tmp_path / "gpn"
    reference.save_pretrained(model_dir)
    _gpn_tokenizer().save_pretrained(model_dir)
    _, seq = read_fasta_records(BUNDLED_MANIFEST.parent / "arabidopsis_tair10_chr1_5M.fa.gz")[0]
    chrom = seq[20_000:20_600]
    chrom = chrom[:200] + chrom[200:260].lower() + chrom[260:]
    (tmp_path / "genome.fa").write_text(f">chr1\n{chrom}\n")
    positions = [3, 150, 230, 300, 598]  # 1-based: near the start, plain, soft-masked, plain, near the end
    other = {"A": "G", "C": "T", "G": "A", "T": "C"}
    rows = [dict(chrom="chr1", pos=p, ref=chrom[p - 1].upper(), alt=other[chrom[p - 1].upper()]) for p in positions]
    vcf = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf += "".join(f"chr1\t{r['pos']}\t.\t{r['ref']}\t{r['alt']}\t.\t.\t.\n" for r in rows)
    (tmp_path / "v.vcf").write_text(vcf)
    theirs = run_vep.run_vep(datasets.Dataset.from_pandas(pd.DataFrame(rows)), Genome(str(tmp_path / "genome.fa")),
                             128, AutoTokenizer.from_pretrained(model_dir), run_vep.MLMforVEPModel(str(model_dir)),
                             per_device_batch_size=8)  # fmt: skip
    out = tmp_path / "scores.parquet"
    assert main(["vep", str(model_dir), str(tmp_path / "v.vcf"), "--genome", str(tmp_path / "genome.fa"),
                 "--window", "128", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    ours = np.array(pd.read_parquet(out)["masked_llr"])
    assert np.abs(ours - np.asarray(theirs, dtype=np.float64)).max() <= 1e-4, (ours, theirs)


def _gpn_tokenizer():
    """GPN's single-sequence tokenizer, made as the gpn package makes it (gpn/ss/train_tokenizer_ss)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=7, special_tokens=["[PAD]", "[MASK]", "[UNK]"], initial_alphabet=list("acgt")
    )
    tok.train_from_iterator(["acgt"], trainer=trainer, length=1)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", mask_token="[MASK]", unk_token="[UNK]")


@torch.no_grad()
def test_embed_reads_a_gpn_directory_with_its_own_tokenizer(tmp_path):
    from dnagpt.cli import main

    torch.manual_seed(0)
    reference = _perturbed(GPNForMaskedLM(GPNConfig(encoder="convnet", num_hidden_layers=2, hidden_size=64,
                                                    intermediate_size=128)), seed=4)  # fmt: skip
    reference.save_pretrained(tmp_path / "gpn")
    _gpn_tokenizer().save_pretrained(tmp_path / "gpn")
    sequences = ["ACGTTGCAAAtttgGGCCNATA", "GGGCCCAAATTTACGTACGTACGTAA"]  # lengths differ: no padding reaches a row
    (tmp_path / "seqs.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences)))
    assert main(["embed", str(tmp_path / "gpn"), str(tmp_path / "seqs.fa"), "--out", str(tmp_path / "e.npy")]) == 0
    got = np.load(tmp_path / "e.npy")
    tokenizer = _gpn_tokenizer()
    want = [reference.model(input_ids=torch.tensor([tokenizer(s)["input_ids"]])).last_hidden_state[0].mean(0).numpy()
            for s in sequences]  # fmt: skip
    assert np.abs(got - np.stack(want)).max() <= 1e-5


def _real_task_tables(folder, rows: int = 32) -> None:
    """A GUE-format task folder (train / dev / test.csv with sequence,label) cut from the bundled real
    Arabidopsis translation-initiation task: the first rows of each split."""
    import gzip

    from dnagpt.resources import BUNDLED_DATASETS

    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        with gzip.open(BUNDLED_DATASETS / "tis_arabidopsis" / f"{split}.csv.gz", "rt") as f:
            lines = [next(f) for _ in range(rows + 1)]
        (folder / f"{split}.csv").write_text("".join(",".join(line.split(",")[:2]) + "\n" for line in lines))


def test_a_gpn_directory_fine_tunes_predicts_and_benches(tmp_path):
    """A GPN checkpoint has no answer tokens: fine-tuning gives it a sequence-level head (saved with it,
    so `predict` reads it back), reading the mean of its hidden states; the bench takes its directory
    as a model beside the baselines, on a GUE-format folder."""
    import pandas as pd

    from dnagpt.cli import main

    torch.manual_seed(0)
    ConvNetForMaskedLM(ConvNetConfig(n_layers=2, hidden_size=64)).save_pretrained(tmp_path / "gpn")
    _gpn_tokenizer().save_pretrained(tmp_path / "gpn")
    gue = tmp_path / "gue"
    _real_task_tables(gue)
    (tmp_path / "task.toml").write_text('name = "tis"\ntemplate = "classification"\n')
    run = tmp_path / "run"
    assert main(["finetune", str(tmp_path / "gpn"), str(tmp_path / "task.toml"), "--train", str(gue / "train.csv"),
                 "--dev", str(gue / "dev.csv"), "--test", str(gue / "test.csv"), "--epochs", "1",
                 "--out", str(run), "--no-progress"]) == 0  # fmt: skip
    best = load_model(run / "best")
    assert isinstance(best, GPNOriginal) and best.config.task_outputs == 2 and best.config.model_type == "ConvNet"
    assert json.loads((run / "best" / "task.json").read_text())["readout"] == "mean"
    assert main(["predict", str(run / "best"), str(gue / "test.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 32 and np.allclose(predicted[["probability_0", "probability_1"]].sum(axis=1), 1)
    bench = tmp_path / "bench"
    assert main(["bench", "--out", str(bench), "--tasks", str(gue), "--models", "majority",
                 f"gpn-convnet={tmp_path / 'gpn'}", "--seeds", "1", "--epochs", "1",
                 "--max-train", "32"]) == 0  # fmt: skip
    results = pd.read_parquet(bench / "results.parquet")
    assert set(results["model"]) == {"majority", "gpn-convnet"}  # filed under its label
    assert f"the model in {tmp_path / 'gpn'}" in (bench / "report.md").read_text()


@torch.no_grad()
def test_a_fine_tuned_gpn_directory_reads_with_transformers_auto_classes(tmp_path):
    """A GPN directory (the gpn package's model and tokenizer) given a task head, as `dnagpt finetune`
    leaves it: AutoTokenizer gives the ids dnagpt reads, AutoModelForSequenceClassification the
    probabilities `dnagpt predict` gives."""
    import transformers

    import dnagpt.hf  # noqa: F401  (registers the Auto classes)
    from dnagpt.tasks.codec import TaskCodec
    from dnagpt.tasks.predict import predict_examples
    from dnagpt.tasks.spec import Example, TaskSpec

    torch.manual_seed(0)
    reference = GPNForMaskedLM(GPNConfig(encoder="convnet", num_hidden_layers=2, hidden_size=64, intermediate_size=128))
    reference.save_pretrained(tmp_path / "gpn")
    _gpn_tokenizer().save_pretrained(tmp_path / "gpn")
    model = load_model(tmp_path / "gpn")
    spec = TaskSpec.from_dict({"name": "t", "template": "classification", "labels": {"1": "A", "0": "N"}})
    codec = TaskCodec(spec, model.tokenizer(), model.max_input_tokens, readout="mean")
    model.add_task_head(codec.head_outputs)
    model.save_pretrained(tmp_path / "tuned")
    codec.save(tmp_path / "tuned")
    sequences = ["ACGTTGCAAAtttgGGCCNATA", "GGGCCCAAATTTACGTACGTACGTAA"]
    tuned = load_model(tmp_path / "tuned")
    want = predict_examples(codec, tuned, [Example(i + 1, s, s) for i, s in enumerate(sequences)])[:, 0, :]
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "tuned")
    assert tokenizer(sequences[0])["input_ids"] == tuned.tokenizer().encode_bases(sequences[0]).tolist()
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "tuned")
    got = torch.softmax(classifier(**tokenizer(sequences, padding=True, return_tensors="pt")).logits, -1).numpy()
    assert np.abs(got - want).max() < 1e-5
