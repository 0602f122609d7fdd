"""The token language: ids of the published vocabularies, normalisation, numbers, batches."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dnagpt import InvalidSequenceError, KmerTokenizer, species_token
from dnagpt.tokenizers import RESERVED_TOKENS
from reference_dnagpt import reference_tokenize, reference_vocab

DYNAMIC = KmerTokenizer(6)
SIX_ONLY = KmerTokenizer(6, (6,))


def test_vocabulary_sizes_match_published_models():
    assert DYNAMIC.vocab_size == 19_564
    assert SIX_ONLY.vocab_size == 15_659


def test_reserved_and_first_kmer_ids():
    assert [DYNAMIC.token_id(f"<{t}>") for t in RESERVED_TOKENS] == list(range(34))
    assert (DYNAMIC.pad_id, DYNAMIC.number_id, DYNAMIC.binary_id, DYNAMIC.species_id("human")) == (20, 18, 19, 21)
    assert DYNAMIC.token_id("N") == 34 and DYNAMIC.token_id("T") == 38 and DYNAMIC.token_id("NN") == 39
    assert SIX_ONLY.token_id("NNNNNN") == 34 and SIX_ONLY.token_id("NNNNNA") == 35
    assert SIX_ONLY.token_id("TTTTTT") == 15_658 and DYNAMIC.token_id("TTTTTT") == 19_563


@pytest.mark.parametrize("tok,dynamic", [(DYNAMIC, True), (SIX_ONLY, False)])
def test_ids_equal_reference_tokenizer_on_random_texts(tok, dynamic):
    vocab = reference_vocab(dynamic)
    rng = random.Random(0)
    for _ in range(300):
        parts = []
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.4:
                parts.append(f"<{rng.choice(RESERVED_TOKENS)}>")
            else:
                parts.append("".join(rng.choice("ACGTN") for _ in range(rng.randint(1, 40))))
        text = "".join(parts)
        assert tok.encode(text).ids == reference_tokenize(text, vocab), text


def test_six_mer_only_tail_maps_to_unknown_like_the_published_code():
    assert SIX_ONLY.encode("ACGTACGT").ids == [SIX_ONLY.token_id("ACGTAC"), 0]
    assert DYNAMIC.encode("ACGTACGT").ids == [DYNAMIC.token_id("ACGTAC"), DYNAMIC.token_id("GT")]


def test_normalisation_lowercase_and_iupac():
    assert DYNAMIC.encode("acgtacgg").ids == DYNAMIC.encode("ACGTACGG").ids
    assert DYNAMIC.encode("ARYSWKMBDHV").ids == DYNAMIC.encode("ANNNNNNNNNN").ids
    # whitespace inside a run is ignored, so wrapped lines join
    assert DYNAMIC.encode("ACG\nTAC").ids == DYNAMIC.encode("ACGTAC").ids


@pytest.mark.parametrize("text,pos", [("ACGTXACG", 4), ("<R>AC-GT", 5), ("ACG<R", 3), ("AC>G", 2), ("ACGU", 3)])
def test_invalid_characters_name_their_position(text, pos):
    with pytest.raises(InvalidSequenceError) as err:
        DYNAMIC.encode(text)
    assert err.value.position == pos
    assert f"position {pos}" in str(err.value)


def test_numbers_in_the_regression_template():
    enc = DYNAMIC.encode("<R>ACGTACGT<+><M>0.5,-1.25 3e-4,7,0,1,2,3<=><M>")
    assert enc.number_values == [0.5, -1.25, 3e-4, 7.0, 0.0, 1.0, 2.0, 3.0]
    # <R>, 2 k-mers, <+>, <M>, then the eight numbers, then <=><M>
    assert enc.number_positions == list(range(5, 13))
    assert [enc.ids[i] for i in enc.number_positions] == [DYNAMIC.pad_id] * 8
    assert enc.ids[-2:] == [DYNAMIC.output_id, DYNAMIC.number_id]


def test_answer_and_species_tokens():
    assert DYNAMIC.yes_id == DYNAMIC.token_id("A") and DYNAMIC.no_id == DYNAMIC.token_id("N")
    assert SIX_ONLY.yes_id == SIX_ONLY.token_id("AAAAAA")
    assert species_token("Homo sapiens") == species_token("human") == "<R>"
    assert species_token("fruit fly") == "<O>" and species_token("<Q>") == "<Q>"
    # a bracketed 1-mer after bases is its own token (how answers are written)
    assert DYNAMIC.encode("ACG<A>").ids == [DYNAMIC.token_id("ACG"), DYNAMIC.yes_id]


# ------------------------------------------------------------------ round trip
_kmer = st.text(alphabet="ACGTN", min_size=1, max_size=30)
_reserved = st.sampled_from(RESERVED_TOKENS).map(lambda t: f"<{t}>")
_number = st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr)


def _canonical(pieces: list[tuple[str, str]]) -> str:
    """Join generated pieces into canonical text (numbers next to numbers need a comma)."""
    out, prev = [], None
    for kind, text in pieces:
        if kind == "num" and prev == "num":
            out.append(",")
        if kind == "bases" and prev == "bases":
            text = f"<{text}>"  # two separate runs must be bracketed to stay separate
        out.append(text)
        prev = kind
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            _kmer.map(lambda s: ("bases", s)), _reserved.map(lambda s: ("tok", s)), _number.map(lambda s: ("num", s))
        ),
        min_size=1,
        max_size=12,
    )
)
def test_decode_inverts_encode(pieces):
    enc = DYNAMIC.encode(_canonical(pieces))
    again = DYNAMIC.encode(DYNAMIC.decode(enc.ids, enc))
    assert again == enc


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, DYNAMIC.vocab_size - 1), min_size=1, max_size=40))
def test_encode_inverts_decode_for_any_ids(ids):
    assert DYNAMIC.encode(DYNAMIC.decode(ids)).ids == ids


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=6, max_size=200).filter(lambda s: len(s) % 6 == 0))
def test_six_mer_round_trip(seq):
    assert SIX_ONLY.decode(SIX_ONLY.encode(seq).ids) == seq


# ---------------------------------------------------------------------- batches
def test_batch_encode_right_and_left_padding():
    texts = ["<R>ACGTACGTT", "<U>AC<+><M>1.5<=><M>", "<Q>"]
    encs = [DYNAMIC.encode(t) for t in texts]
    for side in ("right", "left"):
        b = DYNAMIC.batch_encode(texts, padding_side=side)
        assert b.input_ids.shape == (3, 7)
        assert b.lengths.tolist() == [3, 7, 1]
        for row, enc in enumerate(encs):
            real = b.input_ids[row][b.attention_mask[row]].tolist()
            assert real == enc.ids
            pad = b.input_ids[row][~b.attention_mask[row]]
            assert (pad == DYNAMIC.pad_id).all()
            if side == "left":
                assert b.attention_mask[row, -1]
        assert b.numbers[b.number_mask].tolist() == [1.5]
    left = DYNAMIC.batch_encode(texts, padding_side="left")
    assert left.number_mask[1, 4] and torch.equal(left.last_index(), torch.tensor([6, 6, 6]))
    assert left.number_mask[0].sum() == 0 and left.input_ids[0, 4] == DYNAMIC.species_id("human")


def test_batch_longer_than_context_is_a_clear_error():
    with pytest.raises(InvalidSequenceError, match="text 1 has 4 tokens, more than the model's context of 3"):
        DYNAMIC.batch_encode(["<R>A", "<R>ACGTACGTACGTA"], max_length=3)


def test_tokenizer_spec_round_trip(tmp_path):
    SIX_ONLY.save(tmp_path / "tok.json")
    again = KmerTokenizer.load(tmp_path / "tok.json")
    assert again.to_dict() == SIX_ONLY.to_dict() and again.vocab_size == 15_659
