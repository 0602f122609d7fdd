"""FASTA preparation, the corpus and its held-out split, pretraining samples."""

import gzip

import numpy as np
import pytest
import torch

from dnagpt import DataError, KmerTokenizer
from dnagpt.data.corpus import Corpus, gc_fraction, read_manifest
from dnagpt.data.fasta import prepare_fasta
from dnagpt.resources import BUNDLED_MANIFEST
from dnagpt.training.objectives import IGNORE
from dnagpt.training.pretrain_samples import PretrainSampler

RNG = np.random.default_rng(0)


def _random_dna(n: int) -> str:
    return "".join(RNG.choice(list("ACGT"), size=n))


def _write(path, text: str, gz: bool = False) -> str:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def test_prepare_normalises_crlf_lowercase_iupac_and_gzip(tmp_path):
    plain = _write(tmp_path / "a.fa", ">r1 desc\r\nacgtRY\r\nNNAC\r\n>r2\nGGGG\n")
    gz = _write(tmp_path / "b.fa.gz", ">r1\nACGTNN\nNNAC\n>r2\nGGGG\n", gz=True)
    for path in (plain, gz):
        store = prepare_fasta(path, tmp_path / "cache")
        assert [(r.name, r.length) for r in store.records] == [("r1", 10), ("r2", 4)]
        assert "".join("NAGCT"[c] for c in store.fetch(store.records[0], 0, 10)) == "ACGTNNNNAC"


@pytest.mark.parametrize(
    "content,message",
    [
        ("", "no FASTA records"),
        ("ACGT\n>r1\nACGT\n", "line 1: not FASTA"),
        (">r1\nACGT\n>r1\nACGT\n", "line 3: duplicate record name 'r1'"),
        (">r1\nACGT\nAC-GT\n", "record 'r1', line 3, column 3: character '-'"),
        (">r1\n>r2\nACGT\n", "record 'r1' (ending before line 2) has no bases"),
    ],
)
def test_bad_fasta_names_file_record_and_line(tmp_path, content, message):
    path = _write(tmp_path / "bad.fa", content)
    with pytest.raises(DataError) as err:
        prepare_fasta(path, tmp_path / "cache")
    assert message in str(err.value) and "bad.fa" in str(err.value)


def test_manifest_errors(tmp_path):
    _write(tmp_path / "g.fa", ">r\n" + _random_dna(5000) + "\n")
    (tmp_path / "m.toml").write_text('[[genome]]\npath = "missing.fa"\nspecies = "human"\n')
    with pytest.raises(DataError, match=r"missing\.fa does not exist"):
        read_manifest(tmp_path / "m.toml")
    (tmp_path / "m.toml").write_text('[[genome]]\npath = "g.fa"\nspecies = "unicorn"\n')
    with pytest.raises(DataError, match="unknown species 'unicorn'"):
        read_manifest(tmp_path / "m.toml")
    (tmp_path / "m.toml").write_text('[[genome]\npath = "g.fa"\n')
    with pytest.raises(DataError, match=r"m\.toml: cannot parse manifest"):
        read_manifest(tmp_path / "m.toml")
    (tmp_path / "m.yaml").write_text("genome:\n  - path: g.fa\n    species: Homo sapiens\n    weight: 2\n")
    (entry,) = read_manifest(tmp_path / "m.yaml")
    assert entry.species == "<R>" and entry.weight == 2.0


def test_file_without_usable_window_is_an_error(tmp_path):
    _write(tmp_path / "short.fa", ">r\nACGTACGT\n")
    (tmp_path / "m.json").write_text('{"genome": [{"path": "short.fa", "species": "yeast"}]}')
    with pytest.raises(DataError, match=r"short\.fa: no record is long enough for a 600 bp window"):
        Corpus(read_manifest(tmp_path / "m.json"), tmp_path / "cache", window_bp=600)


def test_holdout_regions_never_overlap_training(tmp_path):
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), tmp_path / "cache", window_bp=600, valid_fraction=0.1)
    assert len(corpus.entries) >= 4
    train = {(r.genome, r.record.name): (r.start, r.end) for r in corpus.regions["train"]}
    for r in corpus.regions["valid"]:
        _, t_end = train[(r.genome, r.record.name)]
        assert t_end <= r.start and r.end - r.start >= 600


def test_windows_with_too_many_n_are_redrawn(tmp_path):
    seq = "N" * 3000 + _random_dna(3000)
    _write(tmp_path / "n.fa", ">r\n" + seq + "\n")
    (tmp_path / "m.json").write_text('{"genome": [{"path": "n.fa", "species": "human"}]}')
    corpus = Corpus(read_manifest(tmp_path / "m.json"), tmp_path / "cache", window_bp=600, valid_fraction=0.0)
    rng = np.random.default_rng(1)
    for _ in range(50):
        codes, _ = corpus.sample_window(rng, "train", 600)
        assert np.count_nonzero(codes == 0) <= 30


def test_pretraining_sample_layout(tmp_path):
    tok = KmerTokenizer(6)
    corpus = Corpus(read_manifest(BUNDLED_MANIFEST), tmp_path / "cache", window_bp=60 * 6, valid_fraction=0.1)
    sampler = PretrainSampler(corpus, tok, 30, 60, seed=3)
    ids, forward, gc, genome = sampler.sample("train", 7)
    assert sampler.sample("train", 7) == (ids, forward, gc, genome)  # deterministic
    assert ids[0] == tok.token_id(corpus.entries[genome].species)
    assert ids[-4:-1] == [tok.output_id, tok.binary_id, tok.yes_id if forward else tok.no_id]
    assert ids[-1] == tok.number_id
    seq = tok.decode(ids[1:-4])
    assert (
        30 * 6 <= len(seq) <= 60 * 6
        and abs(
            gc_fraction(np.frombuffer(seq.encode().translate(bytes.maketrans(b"NAGCT", bytes(range(5)))), np.uint8))
            - gc
        )
        < 1e-9
    )
    batch = sampler.batch("valid", range(8))
    for row in range(8):
        n = int(batch.order_index[row]) - 2  # k-mers in this sample
        assert torch.equal(batch.kmer_ids(row), batch.input_ids[row, 1 : n + 1])
        assert (batch.targets[row, :n] == batch.input_ids[row, 1 : n + 1]).all()
        assert batch.targets[row, n] == IGNORE and batch.targets[row, n + 1] == IGNORE  # t_n and <=> predict nothing
        assert batch.targets[row, n + 2] == batch.input_ids[row, n + 3]  # <B> predicts the answer
        assert batch.gc_index[row] == n + 4
    assert 0 < sum(sampler.sample("train", i)[1] for i in range(200)) < 200  # both orders occur
