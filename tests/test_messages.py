"""Messages a user can act on, weights' integrity, and foreign files read as data, never as code.

Each case runs the command line as a user would (``main([...])``): a user's error ends with exit
status 2 and one line ``dnagpt CMD: error: ...`` on standard error that names what to act on (the
file, row, column or line, and what was expected), never a bare system message or a path printed twice.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import runpy
import shlex
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from dnagpt import DNAGPT, get_config
from dnagpt.cli import describe_os_error, main
from dnagpt.errors import CheckpointError
from dnagpt.io import VERIFY_ENV, digest_path, verify_digest
from dnagpt.models import build_model, load_config, load_model
from dnagpt.models.checkpoint import read_checkpoint
from dnagpt.resources import SHIPPED_MODELS

SEQ = "ACGTTGCAAGGCTTAACCGGTTAAGCTAGCTAGGCTTACGATCGATCGGATCCGATTACGAGC"  # 64 bp
TASK = {"template": "classification", "species": "human", "labels": {"1": "A", "0": "N"}}
DNABERT2_CONFIG = Path(__file__).parent / "fixtures" / "dnabert2" / "config.json"
CHECKOUT_MODELS = Path(__file__).parents[1] / "models"


def _run(capsys, *argv: str | Path) -> tuple[int, str, str]:
    """Run ``dnagpt ARGV``: exit status, standard output and standard error."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _error(capsys, *argv: str | Path) -> str:
    """The one error line of a refused command (status 2, no traceback), with the command's prefix."""
    code, _, err = _run(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"dnagpt {argv[0]}: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def d(tmp_path_factory) -> Path:
    """A tiny model, a fine-tuned one, and good input files."""
    root = tmp_path_factory.mktemp("messages")
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    model.save_pretrained(root / "model")
    (root / "seqs.fa").write_text(f">s1\n{SEQ}\n>s2\n{SEQ}\n")
    (root / "good.csv").write_text("sequence,label\n" + "".join(f"{SEQ},{i % 2}\n" for i in range(12)))
    (root / "task.json").write_text(json.dumps(TASK))
    (root / "task.toml").write_text('name = "r"\ntemplate = "classification"\nspecies = "human"\n')
    (root / "good.fa").write_text(f">s1\n{SEQ}\n")
    return root


# 1. a missing or empty sequence cell


def test_a_null_sequence_in_parquet_is_named_as_missing_not_read_as_none(d, capsys, tmp_path):
    table = tmp_path / "null.parquet"
    pq.write_table(pa.table({"sequence": [SEQ, None, SEQ]}), table)
    line = _error(capsys, "embed", d / "model", table, "--out", tmp_path / "e.npy")
    assert "null.parquet, row 2, column sequence: empty sequence (the cell is missing: null)" in line
    assert "'o'" not in line and "None" not in line  # before: "character 'o' at position 1" of "None"
    assert not (tmp_path / "e.npy").exists()


def test_an_empty_csv_cell_names_file_row_and_column(d, capsys, tmp_path):
    table = tmp_path / "blank.csv"
    table.write_text(f"sequence,label\n{SEQ},1\n,0\n")
    line = _error(capsys, "embed", d / "model", table, "--out", tmp_path / "e.npy", "--column", "sequence")
    assert "blank.csv, row 2, column sequence: empty sequence (the cell is empty)" in line


# 2. a bad prompt in a prompts file


def test_a_bad_prompt_names_the_prompts_file_and_line(d, capsys, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("<R>ACGT\n\n<R>ACXGT\n")  # the blank line 2 counts: line numbers are the editor's
    line = _error(capsys, "generate", d / "model", "--prompts-file", prompts, "--max-new-tokens", "2")
    assert f"{prompts}, line 3: character 'X'" in line


def test_a_missing_or_blank_prompts_file_is_named(d, capsys, tmp_path):
    assert "nope.txt: no such prompts file" in _error(capsys, "generate", d / "model", "--prompts-file",
                                                       tmp_path / "nope.txt")  # fmt: skip
    (tmp_path / "blank.txt").write_text("\n  \n")
    assert "blank.txt: no prompts" in _error(capsys, "generate", d / "model", "--prompts-file", tmp_path / "blank.txt")


# 3. operating-system errors as sentences


def test_an_output_under_a_file_says_a_folder_was_expected(d, capsys, tmp_path):
    """``--out good.fa/e.npy`` where good.fa is a file: before, ``[Errno 17] File exists: 'good.fa'``."""
    blocker = tmp_path / "good.fa"
    blocker.write_text(">a\nACGT\n")
    line = _error(capsys, "embed", d / "model", d / "seqs.fa", "--out", blocker / "e.npy", "--no-progress")
    assert f"{blocker}: already exists and is a file, where a directory was expected" in line
    assert "Errno" not in line
    line = _error(capsys, "attention", d / "model", SEQ, "--out", blocker / "map.png")
    assert "where a directory was expected" in line and "Errno" not in line


def test_a_missing_file_met_inside_a_command_is_a_sentence(d, capsys, monkeypatch):
    """A command meeting a file the library does not check first: the handler names file and problem."""
    import dnagpt.representations

    def missing(*args, **kwargs):
        open("nope.txt")  # raises FileNotFoundError

    monkeypatch.setattr(dnagpt.representations, "embed_file", missing)
    line = _error(capsys, "embed", d / "model", d / "seqs.fa", "--out", "e.npy")
    assert line == "dnagpt embed: error: nope.txt: no such file or directory"


@pytest.mark.parametrize(
    "error,expected",
    [
        (FileNotFoundError(2, "No such file or directory", "nope.txt"), "nope.txt: no such file or directory"),
        (IsADirectoryError(21, "Is a directory", "."), ".: a directory, where a file was expected"),
        (PermissionError(13, "Permission denied", "/root/x"), "/root/x: permission denied"),
        (OSError(28, "No space left on device", "big.npy"), "big.npy: no space left on the device"),
        (OSError(5, "Input/output error"), "Input/output error"),
    ],
)
def test_os_errors_read_as_sentences(error, expected):
    assert describe_os_error(error).startswith(expected)


def test_a_path_under_a_file_names_the_file(tmp_path):
    (tmp_path / "f").write_text("")
    text = describe_os_error(NotADirectoryError(20, "Not a directory", str(tmp_path / "f" / "x" / "y")))
    assert f"{tmp_path / 'f'} is a file, not a folder" in text
    text = describe_os_error(FileNotFoundError(2, "No such file or directory", str(tmp_path / "no" / "x")))
    assert f"its folder {tmp_path / 'no'} does not exist" in text


# 4. no path, and no command name, printed twice


@pytest.mark.parametrize("change", [{"n_layer": "two"}, {"n_head": 0}, "{not json"])
def test_a_bad_config_json_is_named_once(change, d, capsys, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(d / "model", model)
    text = change if isinstance(change, str) else json.dumps(json.loads((model / "config.json").read_text()) | change)
    (model / "config.json").write_text(text)
    line = _error(capsys, "generate", model, "--prompt", "<R>ACG")
    assert line.count("config.json") == 1, line  # before: "m/config.json: m/config.json: ..."


def test_the_command_name_is_not_repeated(d, capsys):
    line = _error(capsys, "generate", d / "model", "--prompt", "<R>ACG", "--temperature", "nan")
    assert line == "dnagpt generate: error: --temperature = nan: input should be a finite number"


# 5. and 6. config.json that is not a table, or another library's


def _model_with_config(d: Path, where: Path, config: object) -> Path:
    shutil.copytree(d / "model", where)
    (where / "config.json").write_text(json.dumps(config))
    return where


def test_a_config_json_list_must_be_a_json_object(d, capsys, tmp_path):
    model = _model_with_config(d, tmp_path / "m", [1, 2])
    line = _error(capsys, "embed", model, d / "seqs.fa", "--out", tmp_path / "e.npy")
    assert f"{model / 'config.json'}: must be a JSON object (a table of model settings" in line
    assert "holds a list" in line and "family None" not in line


def test_a_null_family_names_the_key(d, capsys, tmp_path):
    config = json.loads((d / "model" / "config.json").read_text()) | {"family": None}
    model = _model_with_config(d, tmp_path / "m", config)
    assert "family = None: expected the name of a model family, one of dnagpt, " in _error(
        capsys, "generate", model, "--prompt", "<R>ACG"
    )


# what transformers' save_pretrained writes for a BERT and a GPT-2 model (abridged to the usual keys)
BERT = {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "classifier_dropout": None,
        "dtype": "float32", "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 32,
        "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
        "model_type": "bert", "num_attention_heads": 2, "num_hidden_layers": 1, "pad_token_id": 0,
        "position_embedding_type": "absolute", "transformers_version": "4.57.0", "type_vocab_size": 2,
        "use_cache": True, "vocab_size": 50}  # fmt: skip
GPT2 = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_embd": 32, "n_head": 2, "n_inner": None, "n_layer": 1,
        "n_positions": 1024,
        "reorder_and_upcast_attn": False, "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True, "summary_activation": None, "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True, "summary_type": "cls_index", "summary_use_proj": True,
        "transformers_version": "4.57.0", "use_cache": True, "vocab_size": 50}  # fmt: skip


@pytest.mark.parametrize("config,what", [(BERT, "a BertModel (model_type 'bert'"),
                                         (GPT2, "a GPT2LMHeadModel (model_type 'gpt2'")])  # fmt: skip
def test_another_librarys_directory_gets_one_sentence(config, what, d, capsys, tmp_path):
    model = _model_with_config(d, tmp_path / "hf", config)
    line = _error(capsys, "embed", model, d / "seqs.fa", "--out", tmp_path / "e.npy")
    assert f"{model} holds {what}, written by transformers 4.57.0), which dnagpt cannot read" in line
    assert "dnagpt's own model directories" in line and "GPN" in line and "DNABERT-2" in line
    assert "unknown setting" not in line and len(line) < 500, line  # before: ~4,000 characters


def test_two_unknown_settings_list_the_known_ones_once(d, capsys, tmp_path):
    config = json.loads((d / "model" / "config.json").read_text()) | {"foo": 1, "bar": 2}
    line = _error(capsys, "generate", _model_with_config(d, tmp_path / "m", config), "--prompt", "<R>ACG")
    assert "unknown settings 'foo', 'bar' (known: context_length, d_model," in line
    assert line.count("known:") == 1


# 7. and 8. what is not a table


def test_a_task_file_given_as_the_table_is_named_a_settings_file(d, capsys, tmp_path):
    line = _error(capsys, "finetune", d / "model", d / "task.toml", "--train", d / "task.toml", "--out", tmp_path / "r")
    assert "task.toml: looks like a TOML settings file (a task file?), not a table; tables are .csv, .tsv" in line
    line = _error(capsys, "predict", d / "model", d / "task.json", "--out", tmp_path / "p.csv")
    assert "looks like a JSON settings file" in line or "no task.json" in line  # the model is not fine-tuned
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["tables", "train.fa"])
def test_a_directory_given_as_the_table_is_named_a_directory(name, d, capsys, tmp_path):
    (tmp_path / name).mkdir()
    line = _error(capsys, "finetune", d / "model", d / "task.json", "--train", tmp_path / name, "--out", tmp_path / "r")
    assert f"{tmp_path / name}: a directory, not a file; give a table file" in line
    assert "no such" not in line  # before: "no such FASTA file"


def test_a_directory_given_as_a_task_file_is_named_a_directory(d, capsys, tmp_path):
    (tmp_path / "task.json").mkdir()
    line = _error(capsys, "finetune", d / "model", tmp_path / "task.json", "--train", d / "good.csv", "--out",
                  tmp_path / "r")  # fmt: skip
    assert "task.json: a directory, not a task file" in line


# 9. integrity: a weight file without its recorded digest


def _unrecorded(d: Path, where: Path) -> Path:
    shutil.copytree(d / "model", where)
    digest_path(where / "model.safetensors").unlink()
    return where


def test_a_model_without_a_digest_loads_with_one_warning_per_process(d, tmp_path, caplog):
    model = _unrecorded(d, tmp_path / "m")
    with caplog.at_level(logging.WARNING, logger="dnagpt"):
        read_checkpoint(model)
        read_checkpoint(model)
    warnings = [r for r in caplog.records if r.name.startswith("dnagpt") and r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    text = warnings[0].getMessage()
    weights = model / "model.safetensors"
    assert f"{weights} has no model.safetensors.sha256 to check it against" in text
    assert f"(cd {model} && sha256sum model.safetensors > model.safetensors.sha256)" in text


def test_the_recorded_instruction_makes_a_digest_dnagpt_checks(d, tmp_path):
    """The command the warning gives writes a file in the format verify_digest reads (sha256sum's)."""
    model = _unrecorded(d, tmp_path / "m")
    assert os.system(f"cd {shlex.quote(str(model))} && sha256sum model.safetensors > model.safetensors.sha256") == 0
    assert verify_digest(model / "model.safetensors", CheckpointError, strict=True)


def test_the_warning_goes_to_the_terminal_once_and_the_command_works(d, capsys, tmp_path):
    model = _unrecorded(d, tmp_path / "m")
    code, out, err = _run(capsys, "embed", model, d / "seqs.fa", "--out", tmp_path / "e.npy", "--no-progress")
    assert code == 0, err
    assert "wrote 2 embeddings" in out
    assert err.count("has no model.safetensors.sha256") == 1


def test_verify_refuses_a_model_without_a_digest(d, capsys, tmp_path, monkeypatch):
    model = _unrecorded(d, tmp_path / "m")
    for argv in (["embed", model, d / "seqs.fa", "--out", tmp_path / "e.npy", "--verify"],
                 ["generate", model, "--prompt", "<R>ACG", "--verify"]):  # fmt: skip
        line = _error(capsys, *argv)
        assert "model.safetensors: no model.safetensors.sha256 beside it to check it against" in line
        assert "verification was asked for (--verify" in line
    assert VERIFY_ENV not in os.environ  # --verify lasts for its command only
    monkeypatch.setenv(VERIFY_ENV, "1")
    assert "verification was asked for" in _error(capsys, "generate", model, "--prompt", "<R>ACG")
    with pytest.raises(CheckpointError, match=r"no model\.safetensors\.sha256"):
        read_checkpoint(model)
    monkeypatch.delenv(VERIFY_ENV)
    with pytest.raises(CheckpointError, match=r"no model\.safetensors\.sha256"):
        read_checkpoint(model, verify=True)


def test_a_published_pth_without_a_digest_warns_and_verify_refuses_it(d, tmp_path, caplog):
    pth = tmp_path / "dna.pth"
    torch.save(DNAGPT(get_config("dnagpt-tiny")).state_dict(), pth)
    with pytest.raises(CheckpointError, match=r"dna\.pth: no dna\.pth\.sha256"):
        read_checkpoint(pth, name="dnagpt-tiny", verify=True)
    with caplog.at_level(logging.WARNING, logger="dnagpt"):
        read_checkpoint(pth, name="dnagpt-tiny")
    assert "dna.pth has no dna.pth.sha256" in caplog.text


def test_a_file_refused_for_another_reason_gets_one_message_not_a_warning_too(capsys, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    line = _error(capsys, "generate", junk, "--prompt", "<R>ACG")
    assert "junk.pth: not a file of tensors alone" in line


def test_every_shipped_and_checked_out_model_has_its_digest(d, capsys, tmp_path):
    shipped = sorted(SHIPPED_MODELS.glob("*/model.safetensors"))
    checked_out = sorted(CHECKOUT_MODELS.glob("*/model.safetensors")) if CHECKOUT_MODELS.is_dir() else []
    assert shipped
    for weights in shipped + checked_out:
        assert verify_digest(weights, CheckpointError, strict=True), weights
    name = shipped[0].parent.name  # and loading it by name with --verify neither warns nor refuses
    code, _, err = _run(capsys, "embed", name, d / "seqs.fa", "--out", tmp_path / "e.npy", "--verify", "--no-progress")
    assert code == 0 and "sha256" not in err, err


# 10. foreign files are data, never code

PLANTED = "from pathlib import Path\nPath({marker!r}).write_text('imported')\n"


class _Payload:
    """Unpickling this runs a shell command: what a hostile pytorch_model.bin would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _dnabert2_directory(folder: Path, marker: Path) -> Path:
    """A small directory in DNABERT-2's published layout: config.json with an ``auto_map`` into the
    Python files beside it (planted: importing either creates ``marker``), its own tokenizer.json,
    and its weights as a PyTorch pickle of tensors."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    folder.mkdir()
    config = json.loads(DNABERT2_CONFIG.read_text()) | {"hidden_size": 16, "num_attention_heads": 2,
                                                         "intermediate_size": 32, "num_hidden_layers": 1,
                                                         "vocab_size": 12}  # fmt: skip
    assert "bert_layers.BertModel" in config["auto_map"].values()
    (folder / "config.json").write_text(json.dumps(config))
    for module in ("bert_layers.py", "configuration_bert.py"):
        (folder / module).write_text(PLANTED.format(marker=str(marker)))
    vocab = {t: i for i, t in enumerate(["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T", "AC",
                                         "GT", "ACGT"])}  # fmt: skip
    tok = Tokenizer(models.BPE(vocab, [("A", "C"), ("G", "T"), ("AC", "GT")], unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 1), ("[SEP]", 2)])  # fmt: skip
    tok.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    state = build_model(load_config(folder / "config.json")).state_dict()
    state.pop("cls.predictions.decoder.weight")  # stored once, as the word embeddings (as published)
    torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.fixture
def planted(tmp_path) -> tuple[Path, Path]:
    """(the directory, the marker file that must never appear); the planted code is shown to work."""
    marker = tmp_path / "code-ran"
    folder = _dnabert2_directory(tmp_path / "dnabert2", marker)
    runpy.run_path(str(folder / "bert_layers.py"))  # armed: running it makes the marker
    assert marker.exists()
    marker.unlink()
    return folder, marker


def test_a_directorys_python_files_are_never_imported(planted, d, capsys, tmp_path):
    folder, marker = planted
    model = load_model(folder)
    assert type(model).__name__ == "DNABERT2"
    code, _, err = _run(capsys, "embed", folder, d / "seqs.fa", "--out", tmp_path / "e.npy", "--no-progress")
    assert code == 0, err
    assert (tmp_path / "e.npy").exists()
    assert not marker.exists()


def test_a_pickle_that_would_run_code_is_refused(planted, d, capsys, tmp_path):
    folder, marker = planted
    weights = folder / "pytorch_model.bin"
    torch.save({"bert.embeddings.word_embeddings.weight": _Payload(marker)}, weights)
    torch.load(weights, weights_only=False)  # armed: unpickling it unchecked runs the command
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError, match=r"not a file of tensors alone .* refused"):
        load_model(folder)
    line = _error(capsys, "embed", folder, d / "seqs.fa", "--out", tmp_path / "e.npy")
    assert f"{weights}: not a file of tensors alone" in line
    assert not marker.exists()


@pytest.mark.parametrize("model_type", [None, "bert"])
def test_transformers_without_trust_remote_code_runs_none_of_it(model_type, planted):
    """Through transformers' Auto classes (with dnagpt's registered), trust_remote_code=False: the
    auto_map's Python is not imported, whether the config names a transformers model type or none,
    and the hostile pickle is not unpickled."""
    transformers = pytest.importorskip("transformers")
    import dnagpt.hf  # noqa: F401  (registers dnagpt's model type with the Auto classes)

    folder, marker = planted
    if model_type:
        config = json.loads((folder / "config.json").read_text()) | {"model_type": model_type}
        (folder / "config.json").write_text(json.dumps(config))
    torch.save({"bert.embeddings.word_embeddings.weight": _Payload(marker)}, folder / "pytorch_model.bin")
    # refused: without a model type for "custom code" it will not run; with one, for the pickle
    refusal = ValueError if model_type is None else pickle.UnpicklingError
    with pytest.raises(refusal):
        transformers.AutoModel.from_pretrained(str(folder), trust_remote_code=False)
    assert not marker.exists()
