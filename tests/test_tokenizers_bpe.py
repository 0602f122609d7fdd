"""The token languages beside k-mers: BPE learned from real sequence (DNABERT-2's), single
nucleotides (GPN's), and the registry that finds a saved one."""

import json

import pytest

from dnagpt.data.corpus import training_sequences
from dnagpt.data.fasta import read_fasta_records
from dnagpt.errors import ConfigError
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.tokenizers import RESERVED_TOKENS, BPETokenizer, KmerTokenizer, load_tokenizer, train_bpe


@pytest.fixture(scope="module")
def human_bases() -> str:
    """300 kbp of real human sequence (the bundled hg19 chr3 piece)."""
    path = next(BUNDLED_MANIFEST.parent.glob("human_*.fa.gz"))
    return "".join(seq for _, seq in read_fasta_records(path))[:300_000]


@pytest.fixture(scope="module")
def bpe(human_bases) -> BPETokenizer:
    return train_bpe([human_bases[:250_000]], vocab_size=512)


def test_bpe_learns_multi_base_tokens_and_keeps_the_reserved_ids(bpe, human_bases):
    assert bpe.vocab_size == 512
    assert [bpe.token_id(f"<{t}>") for t in RESERVED_TOKENS] == list(range(34))
    held_out = human_bases[250_000:]
    ids = bpe.encode_bases(held_out)
    assert 2.5 < len(held_out) / len(ids) < 8  # compresses unseen sequence, as on its training text
    assert abs(bpe.bases_per_token - len(held_out) / len(ids)) < 1.0
    assert "".join(bpe.piece(int(i)) for i in ids) == held_out.upper()  # lossless


def test_bpe_speaks_the_whole_token_language(bpe):
    kmer = KmerTokenizer(6)
    text = "<R>ACGTTGCAAGGCTT<+><M>0.31,-1.2<=><B>"
    enc, ref = bpe.encode(text), kmer.encode(text)
    assert enc.ids[0] == ref.ids[0] == bpe.species_id("human")
    assert enc.number_values == ref.number_values == [0.31, -1.2]
    assert enc.ids[-3:] == ref.ids[-3:]  # <+> ... <=><B>: the same ids in both languages
    assert bpe.encode(bpe.decode(enc.ids, enc)).ids == enc.ids
    assert bpe.piece(bpe.yes_id) == "A" and bpe.piece(bpe.no_id) == "N"


def test_bpe_saves_a_standard_file_that_reloads_to_the_same_ids(bpe, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    bpe.save_pretrained(tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    plain = tokenizers.Tokenizer.from_file(str(tmp_path / "tok" / "tokenizer.json"))  # no dnagpt involved
    seq = "GATTACAGATTACACCGGTTAAGCT"
    assert again.encode(seq).ids == bpe.encode(seq).ids == plain.encode(seq, add_special_tokens=False).ids
    bpe.save(tmp_path / "spec.json")  # the form kept inside a model folder
    assert load_tokenizer(tmp_path / "spec.json").encode(seq).ids == bpe.encode(seq).ids
    (tmp_path / "bare").mkdir()  # a Hugging Face file under another name, with no dnagpt figures beside it
    (tmp_path / "bare" / "dna.json").write_text((tmp_path / "tok" / "tokenizer.json").read_text())
    bare = load_tokenizer(tmp_path / "bare" / "dna.json")
    assert bare.encode(seq).ids == bpe.encode(seq).ids and 2 < bare.bases_per_token < 12


def test_a_model_folder_gives_its_kmer_tokenizer(tmp_path):
    from dnagpt import DNAGPT, get_config

    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    assert load_tokenizer(tmp_path / "m").to_dict() == KmerTokenizer(6).to_dict()


def test_single_nucleotides_are_k_equal_one():
    tok = KmerTokenizer(1)
    assert tok.vocab_size == 34 + 5
    assert [tok.piece(i) for i in tok.encode("acgtn").ids] == list("ACGTN")


def test_training_text_leaves_out_what_pretraining_holds_out(tmp_path):
    fasta = ">a\n" + "A" * 90 + "C" * 10 + "\n>tiny\nA\n>b\n" + "G" * 45 + "T" * 5 + "\n"
    (tmp_path / "g.fa").write_text(fasta)
    (tmp_path / "m.toml").write_text('[[genome]]\npath = "g.fa"\nspecies = "human"\n')
    seqs = list(training_sequences(tmp_path / "m.toml", tmp_path / "cache", valid_fraction=0.1))
    assert seqs == ["A" * 90, "G" * 45]  # a record too short to give a base does not end the genome


def test_bad_tokenizer_files_and_settings_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="must exceed"):
        train_bpe(["ACGT" * 100], vocab_size=30)
    (tmp_path / "t.json").write_text(json.dumps({"type": "wordpiece"}))
    with pytest.raises(ConfigError, match="unknown tokenizer type 'wordpiece'"):
        load_tokenizer(tmp_path / "t.json")
    with pytest.raises(ConfigError, match=r"tokenizer\.json"):
        load_tokenizer(tmp_path)


def test_unnormalised_bytes_are_refused_not_dropped(bpe):
    from dnagpt.errors import InvalidSequenceError

    with pytest.raises(InvalidSequenceError, match="normalised"):
        bpe.encode_bases(b"acgt")
    assert bpe.encode_bases("acgt").tolist() == bpe.encode_bases(b"ACGT").tolist()  # text is normalised first
