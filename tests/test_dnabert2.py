"""DNABERT-2's published encoder, exactly: a directory in the published layout (the authors'
config.json, weights as a PyTorch file) loads with dnagpt, and its masked-LM logits and hidden
states equal those of the authors' bert_layers.py (fixtures written by
scripts/make_dnabert2_fixtures.py from the copy in ashal-ali/CS224N_DNABERT2 at commit
d064dece8a8b41d9fb8729fbe3435278786931f1, the Hugging Face repository's own history)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dnabert2_weights import seeded_weights
from dnagpt.errors import CheckpointError
from dnagpt.models import build_model, load_config, load_model
from dnagpt.models.dnabert2 import DNABERT2
from dnagpt.models.layers import alibi_slopes

FIXTURES = Path(__file__).parent / "fixtures" / "dnabert2"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The fixture model as the published directory holds it: config.json and pytorch_model.bin."""
    folder = tmp_path_factory.mktemp("dnabert2")
    shutil.copy(FIXTURES / "config.json", folder / "config.json")
    config = load_config(folder / "config.json")
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    weights = {k: torch.from_numpy(v.copy()) for k, v in seeded_weights(shapes).items()}
    weights.pop("cls.predictions.decoder.weight")  # stored once, as the word embeddings
    torch.save(weights, folder / "pytorch_model.bin")
    return folder


@torch.no_grad()
def test_logits_and_hidden_states_equal_the_authors_code_with_and_without_padding(published):
    """In float64 the two codes agree to 1e-6 on any machine. In float32 each rounds on its own: the
    authors' float32 logits differ from their float64 ones by up to 1.05e-5 (measured where the
    fixtures were made), and ours from theirs by as much, so float32 is held to 2e-5."""
    want = np.load(FIXTURES / "fixtures.npz")
    model = load_model(published)
    assert isinstance(model, DNABERT2) and model.config.n_layer == 2 and model.config.vocab_size == 4096
    out = model(torch.from_numpy(want["input_ids"]), attention_mask=torch.from_numpy(want["attention_mask"]))
    assert np.abs(out.logits.numpy() - want["logits"]).max() <= 2e-5
    assert np.abs(out.hidden_states.numpy() - want["hidden"]).max() <= 2e-5  # zeros at padding, as theirs
    n = int(want["attention_mask"][1].sum())
    alone = model(torch.from_numpy(want["input_ids"][1:, :n]))
    assert np.abs(alone.logits.numpy() - want["alone_logits"]).max() <= 2e-5
    assert np.abs(alone.hidden_states.numpy() - want["alone_hidden"]).max() <= 2e-5
    exact = load_model(published, dtype=torch.float64)(torch.from_numpy(want["input_ids"][1:, :n]))
    assert np.abs(exact.logits.numpy() - want["alone_logits64"]).max() <= 1e-6
    assert np.abs(exact.hidden_states.numpy() - want["alone_hidden64"]).max() <= 1e-6


def test_alibi_slopes_for_twelve_heads():
    expected = [2.0**-k for k in range(1, 9)] + [2.0**-0.5, 2.0**-1.5, 2.0**-2.5, 2.0**-3.5]
    assert torch.allclose(alibi_slopes(12), torch.tensor(expected))


def test_an_unknown_key_or_setting_is_named(published, tmp_path):
    folder = tmp_path / "more"
    shutil.copytree(published, folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["bert.encoder.layer.0.extra.weight"] = torch.zeros(2)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"extra\.weight"):
        load_model(folder)
    config = json.loads((published / "config.json").read_text()) | {"rotary": True}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="rotary"):
        load_model(folder)


def _dnabert2_style_tokenizer(folder: Path) -> None:
    """A tokenizer.json in DNABERT-2's format: BPE of 4,096 tokens learned from real sequence, special
    tokens [UNK] [CLS] [SEP] [PAD] [MASK] at 0-4, no normaliser, [CLS] ... [SEP] around each sequence."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    from dnagpt.data.fasta import read_fasta_records
    from dnagpt.resources import BUNDLED_MANIFEST

    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    text = read_fasta_records(BUNDLED_MANIFEST.parent / "yeast_sacCer_R64_chrI.fa.gz")[0][1].upper()
    trainer = trainers.BpeTrainer(vocab_size=4096, special_tokens=specials, initial_alphabet=list("ACGT"))
    tok.train_from_iterator([text[i : i + 2000] for i in range(0, len(text), 2000)], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    assert tok.get_vocab_size() == 4096
    tok.save(str(folder / "tokenizer.json"))


def test_its_own_tokenizer_file_gives_the_ids_and_embeddings(published, tmp_path):
    from tokenizers import Tokenizer

    from dnagpt.cli import main

    folder = tmp_path / "with-tokenizer"
    shutil.copytree(published, folder)
    _dnabert2_style_tokenizer(folder)
    reference = Tokenizer.from_file(str(folder / "tokenizer.json"))
    model = load_model(folder)
    tok = model.tokenizer()
    for text in ("ACGTTGCAAATTTGGGCCCATATATA", "ACGTNNACGTacgtGGC", "TTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"):
        assert tok.base_ids(text.encode()).tolist() == reference.encode(text, add_special_tokens=False).ids
        assert tok.wrap(tok.base_ids(text.encode()).tolist()) == reference.encode(text).ids  # [CLS] ... [SEP]
    assert tok.pad_id == 3 and tok.token_id("[MASK]") == 4
    sequences = ["ACGTTGCAAATTTGGGCCCATATATAGCGC", "GGGCCCAAATTTACGT"]
    (tmp_path / "seqs.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(sequences)))
    assert main(["embed", str(folder), str(tmp_path / "seqs.fa"), "--out", str(tmp_path / "e.npy")]) == 0
    got = np.load(tmp_path / "e.npy")
    with torch.no_grad():  # the authors' README: the mean of the last hidden states, [CLS] and [SEP] included
        want = [model(torch.tensor([reference.encode(s).ids])).hidden_states[0].mean(0).numpy() for s in sequences]
    assert np.abs(got - np.stack(want)).max() <= 1e-5


def test_vep_masks_the_bpe_tokens_that_cover_the_variant(published, tmp_path):
    """The rule for byte-pair tokens: every token that holds one of the variant's bases is masked
    (a base inside a 6-base token masks all six), in the reference window for log p(REF tokens)
    and in the alternative window, segmented anew, for log p(ALT tokens)."""
    from dnagpt.cli import main
    from dnagpt.data.fasta import read_fasta_records
    from dnagpt.resources import BUNDLED_MANIFEST
    from dnagpt.vep.scoring import _token_span

    folder = tmp_path / "dnabert2"
    shutil.copytree(published, folder)
    _dnabert2_style_tokenizer(folder)
    model = load_model(folder)
    tok = model.tokenizer()
    chrom = read_fasta_records(BUNDLED_MANIFEST.parent / "yeast_sacCer_R64_chrI.fa.gz")[0][1][50_000:50_600].upper()
    ids = tok.wrap(tok.base_ids(chrom[:200].encode()).tolist())
    sizes = [len(tok.piece(i)) for i in ids[1:-1]]
    long_token = next(i for i, n in enumerate(sizes) if n >= 3)  # a multi-base token
    start = sum(sizes[:long_token]) + 1  # its second base
    span = _token_span(model, torch.tensor(ids), len(ids), 1, start, start + 1)
    assert list(span) == [1 + long_token]  # that token alone, after [CLS]
    (tmp_path / "genome.fa").write_text(f">chrI\n{chrom}\n")
    other = {"A": "G", "C": "T", "G": "A", "T": "C"}
    vcf = "##fileformat=VCFv4.2\n##contig=<ID=chrI>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    vcf += f"chrI\t300\t.\t{chrom[299]}\t{other[chrom[299]]}\t.\t.\t.\n"
    vcf += f"chrI\t320\t.\t{chrom[319:323]}\t{chrom[319]}\t.\t.\t.\n"  # a 3-base deletion
    (tmp_path / "v.vcf").write_text(vcf)
    out = tmp_path / "scores.tsv"
    assert main(["vep", str(folder), str(tmp_path / "v.vcf"), "--genome", str(tmp_path / "genome.fa"),
                 "--window", "128", "--out", str(out), "--no-progress"]) == 0  # fmt: skip
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    column = rows[0].index("masked_llr")
    scores = [float(r[column]) for r in rows[1:]]
    assert len(scores) == 2 and all(np.isfinite(scores)) and scores[0] != scores[1]


def test_the_published_layout_fine_tunes_on_cls_predicts_and_benches(published, tmp_path):
    """Fine-tuning reads [CLS] through a pooler-and-classifier head, as the authors' sequence classifier
    does; the head is saved with the model, `predict` reads it back, and the bench takes the directory
    as a model on a GUE-format folder (train / dev / test.csv with sequence,label). A task with numbers
    as input needs answer tokens, which DNABERT-2's vocabulary lacks: refused before any work."""
    import pandas as pd

    from dnagpt.cli import main
    from dnagpt.resources import BUNDLED_DATASETS

    folder = tmp_path / "dnabert2"
    shutil.copytree(published, folder)
    _dnabert2_style_tokenizer(folder)
    gue = tmp_path / "gue"
    gue.mkdir()
    for split in ("train", "dev", "test"):  # the first 24 rows of the bundled real task
        table = pd.read_csv(BUNDLED_DATASETS / "tis_arabidopsis" / f"{split}.csv.gz", nrows=24)
        table[["sequence", "label"]].to_csv(gue / f"{split}.csv", index=False)
    (tmp_path / "task.toml").write_text('name = "tis"\ntemplate = "classification"\n')
    run = tmp_path / "run"
    assert main(["finetune", str(folder), str(tmp_path / "task.toml"), "--train", str(gue / "train.csv"),
                 "--dev", str(gue / "dev.csv"), "--epochs", "1", "--lr", "3e-5", "--out", str(run),
                 "--no-progress"]) == 0  # fmt: skip
    best = load_model(run / "best")
    assert isinstance(best, DNABERT2) and best.config.task_outputs == 2
    assert json.loads((run / "best" / "task.json").read_text())["readout"] == "first"
    assert main(["predict", str(run / "best"), str(gue / "test.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == 24
    # the fine-tuned directory reads the Hugging Face way and answers as `dnagpt predict` does
    import transformers

    import dnagpt.hf  # noqa: F401  (registers the Auto classes)

    tokenizer = transformers.AutoTokenizer.from_pretrained(run / "best")
    classifier = transformers.AutoModelForSequenceClassification.from_pretrained(run / "best")
    sequences = pd.read_csv(gue / "test.csv")["sequence"].tolist()[:6]
    assert tokenizer(sequences[0])["input_ids"] == best.tokenizer().wrap(
        best.tokenizer().encode_bases(sequences[0]).tolist()
    )
    with torch.no_grad():
        probabilities = torch.softmax(classifier(**tokenizer(sequences, padding=True, return_tensors="pt")).logits, -1)
    label = classifier.config.id2label[1]
    assert abs(probabilities[:, 1].numpy() - predicted[f"probability_{label}"].to_numpy()[:6]).max() < 2e-6
    (tmp_path / "af.toml").write_text('name = "af"\ntemplate = "mixed_regression"\nnumber_columns = ["eur"]\n'
                                      'value_column = "afr"\n')  # fmt: skip
    pd.DataFrame({"sequence": ["ACGTACGTAC"] * 8, "eur": [0.1] * 8, "afr": [0.2] * 8}).to_csv(tmp_path / "af.csv")
    assert main(["finetune", str(folder), str(tmp_path / "af.toml"), "--train", str(tmp_path / "af.csv"),
                 "--out", str(tmp_path / "af"), "--no-progress"]) == 2  # fmt: skip
    assert not (tmp_path / "af" / "checkpoint.pt").exists()
    bench = tmp_path / "bench"
    assert main(["bench", "--out", str(bench), "--tasks", str(gue), "--models", "kmer-logreg", str(folder),
                 "--seeds", "1", "--epochs", "1", "--lr", "3e-5"]) == 0  # fmt: skip
    assert set(pd.read_parquet(bench / "results.parquet")["model"]) == {"kmer-logreg", str(folder)}
