"""Hugging Face interoperability: every family loads with transformers' Auto classes from a saved
directory and gives what dnagpt gives; the decoder works with ``generate``."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

import dnagpt.hf  # noqa: E402  (registers the Auto classes)
from dnagpt import get_config  # noqa: E402
from dnagpt.errors import CheckpointError  # noqa: E402
from dnagpt.generation import SamplingConfig, generate  # noqa: E402
from dnagpt.models import build_model  # noqa: E402


def _saved(tmp_path, name, **overrides):
    torch.manual_seed(0)
    model = build_model(get_config(name, **overrides)).eval()
    model.save_pretrained(tmp_path / name)
    return model, tmp_path / name


def test_auto_config_reads_a_saved_directory(tmp_path):
    model, path = _saved(tmp_path, "dnagpt-tiny")
    config = transformers.AutoConfig.from_pretrained(path)
    assert isinstance(config, dnagpt.hf.HFConfig)
    assert config.to_dnagpt() == model.config
    assert (config.hidden_size, config.num_hidden_layers) == (64, 2)


@pytest.mark.parametrize("positions", ["learned", "rope", "alibi"])
def test_generate_equals_dnagpt_greedy_decoding(tmp_path, positions):
    model, path = _saved(tmp_path, "dnagpt-tiny", positions=positions)
    hf = transformers.AutoModelForCausalLM.from_pretrained(path)
    assert isinstance(hf, dnagpt.hf.HFForCausalLM)
    prompt = "<R>ACGTACGTTTGACCA"
    ids = torch.tensor([model.tokenizer().encode(prompt).ids])
    torch.testing.assert_close(hf(ids).logits, model(ids).logits)
    ours = generate(model, [prompt], SamplingConfig(max_new_tokens=15, temperature=0, stop_ids=()))[0].token_ids
    cached = hf.generate(ids, max_new_tokens=15, min_new_tokens=15, do_sample=False, pad_token_id=0)
    plain = hf.generate(ids, max_new_tokens=15, min_new_tokens=15, do_sample=False, pad_token_id=0, use_cache=False)
    assert cached[0, ids.shape[1] :].tolist() == ours
    assert plain[0, ids.shape[1] :].tolist() == ours  # the cache changes nothing


def test_generate_with_left_padding_matches_each_prompt_alone(tmp_path):
    model, path = _saved(tmp_path, "dnagpt-tiny")
    hf = transformers.AutoModelForCausalLM.from_pretrained(path)
    tok = model.tokenizer()
    prompts = ["<R>ACGTACGTTTGACCA", "<S>GG"]
    batch = tok.batch_encode(prompts, padding_side="left")
    out = hf.generate(batch.input_ids, attention_mask=batch.attention_mask.long(), max_new_tokens=8,
                      min_new_tokens=8, do_sample=False, pad_token_id=tok.pad_id)  # fmt: skip
    for row, prompt in enumerate(prompts):
        alone = generate(model, [prompt], SamplingConfig(max_new_tokens=8, temperature=0, stop_ids=()))[0].token_ids
        assert out[row, batch.input_ids.shape[1] :].tolist() == alone


def test_beam_search_reorders_the_cache(tmp_path):
    model, path = _saved(tmp_path, "dnagpt-tiny", positions="rope")
    hf = transformers.AutoModelForCausalLM.from_pretrained(path)
    ids = torch.tensor([model.tokenizer().encode("<R>ACGTACGTTTGACCA").ids])
    options = dict(max_new_tokens=10, min_new_tokens=10, num_beams=3, do_sample=False, pad_token_id=0)
    assert hf.generate(ids, **options).tolist() == hf.generate(ids, use_cache=False, **options).tolist()


def test_causal_lm_loss_is_the_shifted_next_token_loss(tmp_path):
    model, path = _saved(tmp_path, "dnagpt-tiny")
    hf = transformers.AutoModelForCausalLM.from_pretrained(path)
    ids = torch.tensor([model.tokenizer().encode("<R>ACGTACGTTTGACCAGGCATTAC").ids])
    logits = model(ids).logits
    expected = torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:])
    torch.testing.assert_close(hf(ids, labels=ids).loss, expected)


@pytest.mark.parametrize("name", ["bert-tiny", "gpn-tiny"])
def test_encoders_load_as_masked_lm_and_auto_model(tmp_path, name):
    model, path = _saved(tmp_path, name)
    tok = model.tokenizer()
    batch = tok.batch_encode(["<R>ACGTACGTTTGAACGTAC", "<R>ACG"])
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(path)
    out = mlm(batch.input_ids, attention_mask=batch.attention_mask.long())
    expected = model(batch.input_ids, attention_mask=batch.attention_mask)
    torch.testing.assert_close(out.logits, expected.logits)
    trunk = transformers.AutoModel.from_pretrained(path)
    hidden = trunk(batch.input_ids, attention_mask=batch.attention_mask.long()).last_hidden_state
    torch.testing.assert_close(hidden, expected.hidden_states)
    with pytest.raises(CheckpointError, match="AutoModelForMaskedLM"):
        transformers.AutoModelForCausalLM.from_pretrained(path)


def test_hf_save_writes_the_dnagpt_directory(tmp_path):
    model, path = _saved(tmp_path, "gpn-tiny")
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(path, dtype=torch.float32)
    mlm.save_pretrained(tmp_path / "again")
    again = dnagpt.models.load_model(tmp_path / "again")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value)


def test_a_bpe_model_config_finds_its_own_vocabulary(tmp_path):
    from dnagpt.resources import BUNDLED_TOKENIZERS

    model, path = _saved(tmp_path, "bert-tiny", tokenizer_file=str(BUNDLED_TOKENIZERS / "bpe-4096"))
    config = transformers.AutoConfig.from_pretrained(path)
    assert config.to_dnagpt().tokenizer().vocab_size == 4096
    mlm = transformers.AutoModelForMaskedLM.from_pretrained(path)
    ids = torch.tensor([model.tokenizer().encode("<R>ACGTTGCAAGGCTTAGGCATTT").ids])
    torch.testing.assert_close(mlm(ids).logits, model(ids).logits)


def test_shipped_model_loads_by_name():
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        dnagpt.models.checkpoint.resolve_model_path("dnagpt-small-multispecies")
    )
    assert hf.dnagpt.config.name == "dnagpt-small"


# ------------------------------------------------------------------------- tokenizers and fine-tuned models
_PIECES = ["A", "C", "G", "T", "N", "a", "c", "g", "t", "n", "R", "y", "<R>", "<B>", "<+>", "<M>", "<=>", "<5>",
           "<A>", "<N>", "<ACG>", "<gt>", " ", "\n", ",", "0.31", "-1.2", "3e-4", "7", "<P>", "<Z>", "<X>"]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("dnagpt-tiny", {}), ("dnagpt-tiny", {"kmer_sizes": (6,), "vocab_size": 15659}), ("bert-tiny", {}),
     ("gpn-tiny", {}), ("bert-small-bpe", {"n_layer": 1})],
)  # fmt: skip
def test_auto_tokenizer_gives_dnagpts_ids_for_every_family(tmp_path, name, overrides):
    """Every dnagpt family's directory holds Hugging Face's tokenizer.json: AutoTokenizer (and the
    tokenizers library itself) give the ids dnagpt gives, on random texts of the token language with
    species, answer and number tokens, soft-masked and IUPAC bases, separators and bracketed runs."""
    import random

    from tokenizers import Tokenizer

    model, path = _saved(tmp_path, name, **overrides)
    ours = model.tokenizer()
    auto = transformers.AutoTokenizer.from_pretrained(path)
    raw = Tokenizer.from_file(str(path / "tokenizer.json"))
    assert len(auto) == ours.vocab_size
    rng = random.Random(0)
    checked = 0
    for _ in range(400):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40)))
        try:
            want = ours.encode(text).ids
        except dnagpt.errors.InvalidSequenceError:
            continue  # text dnagpt refuses (e.g. "<>"): a Hugging Face tokenizer raises no errors
        assert auto(text)["input_ids"] == want, text
        assert raw.encode(text).ids == want, text
        checked += 1
    assert checked > 300


def _fine_tuned(tmp_path, name, task, readout=None, **overrides):
    """A model of ``name`` (random weights) saved with a task, as `dnagpt finetune` leaves its best model."""
    from dnagpt.tasks.codec import TaskCodec, default_readout
    from dnagpt.tasks.spec import TaskSpec

    model, path = _saved(tmp_path, name, **overrides)
    spec = TaskSpec.from_dict(task)
    pooling = None if model.tokenizer().has_task_tokens else model.pooling  # as the fine-tuning recipe settles it
    readout = readout or default_readout(model.causal, spec, pooling)
    codec = TaskCodec(spec, model.tokenizer(), model.max_input_tokens, 0.4, 2.0, readout)
    if codec.head_outputs:
        model.add_task_head(codec.head_outputs)
        model.save_pretrained(path)
    codec.save(path)
    return path


_SEQUENCES = ["ACGTACGTTTGACCAGGCTA", "GGGCCCAAATTTacgtNNAC", "ATG"]


@pytest.mark.parametrize(("name", "readout"), [("dnagpt-tiny", None), ("bert-tiny", None), ("bert-tiny", "answer"),
                                               ("gpn-tiny", None), ("bert-small-bpe", None)])  # fmt: skip
def test_a_fine_tuned_classifier_answers_the_same_through_a_transformers_pipeline(tmp_path, name, readout):
    from dnagpt.models import load_model
    from dnagpt.tasks.codec import load_task_codec
    from dnagpt.tasks.predict import predict_examples
    from dnagpt.tasks.spec import Example

    task = {"name": "tis", "template": "classification", "species": "arabidopsis", "labels": {"yes": "A", "no": "N"}}
    path = _fine_tuned(tmp_path, name, task, readout)
    model = load_model(path)
    codec = load_task_codec(path, model)
    examples = [Example(i + 1, codec.spec.text(s), s) for i, s in enumerate(_SEQUENCES)]
    want = predict_examples(codec, model, examples)[:, 0, :]
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(path)
    assert isinstance(hf, dnagpt.hf.HFForSequenceClassification)
    assert hf.config.id2label == {0: "yes", 1: "no"}
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    batch = tokenizer(_SEQUENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        got = torch.softmax(hf(**batch).logits, dim=-1).numpy()
    assert abs(got - want).max() < 1e-5
    classify = transformers.pipeline("text-classification", model=hf, tokenizer=tokenizer, top_k=None)
    answers = classify(_SEQUENCES)
    for row, scored in enumerate(answers):
        by_label = {a["label"]: a["score"] for a in scored}
        assert abs(by_label["yes"] - want[row, 0]) < 1e-5 and abs(by_label["no"] - want[row, 1]) < 1e-5


def test_a_fine_tuned_regression_model_gives_its_values_and_refuses_left_padding(tmp_path):
    from dnagpt.models import load_model
    from dnagpt.tasks.codec import load_task_codec
    from dnagpt.tasks.predict import predict_examples
    from dnagpt.tasks.spec import Example

    path = _fine_tuned(tmp_path, "dnagpt-tiny", {"name": "expression", "template": "regression", "species": "human"})
    model = load_model(path)
    codec = load_task_codec(path, model)
    want = predict_examples(codec, model, [Example(i + 1, codec.spec.text(s), s) for i, s in enumerate(_SEQUENCES)])
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(path)
    assert hf.config.problem_type == "regression"
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    with torch.no_grad():
        got = hf(**tokenizer(_SEQUENCES, padding=True, return_tensors="pt")).logits[:, 0].numpy()
        assert abs(got - want).max() < 1e-4
        tokenizer.padding_side = "left"
        with pytest.raises(dnagpt.errors.ConfigError, match="pad on the right"):
            hf(**tokenizer(_SEQUENCES, padding=True, return_tensors="pt"))


def test_a_generation_model_is_not_a_sequence_classifier(tmp_path):
    path = _fine_tuned(tmp_path, "dnagpt-tiny", {"name": "gen", "template": "generation", "species": "human"})
    with pytest.raises(CheckpointError, match="AutoModelForCausalLM"):
        transformers.AutoModelForSequenceClassification.from_pretrained(path)
