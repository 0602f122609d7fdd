"""Property-based fuzzing of every reader, a few hundred Hypothesis examples in all (derandomized, so CI
sees the same inputs every run).

The readers and their strategies are those of ``scripts/fuzz_readers.py``, which runs 100,000 examples
per reader and writes ``benchmarks/fuzz/results.md``. Each example is either a valid input, which must be
accepted and read back exactly, or a mutated one (bytes flipped, cut or inserted, settings of the wrong
type, huge numbers, odd text), which must be accepted or refused with a :class:`dnagpt.errors.DNAGPTError`
naming the file.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_readers.py"
_spec = importlib.util.spec_from_file_location("fuzz_readers", _SCRIPT)
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_readers"] = fuzz  # dataclasses of the module look themselves up here
_spec.loader.exec_module(fuzz)


@pytest.mark.parametrize("name", [t.name for t in fuzz.TARGETS])
def test_reader_accepts_or_refuses_with_a_project_error(name: str) -> None:
    """Every example is accepted (a valid one read back exactly) or refused with a project error that names
    the file; nothing else is raised, nothing hangs past the per-example limit."""
    target = fuzz.TARGET[name]
    for module in target.requires:
        pytest.importorskip(module, reason=f"the {name} reader needs {module}")
    folder = fuzz.scratch_dir(f"fuzz-{name}-")

    @settings(max_examples=target.test_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(target.cases())
    def check(case: fuzz.Case) -> None:
        outcome = fuzz.run_case(target, case, folder, timeout=30)
        assert outcome.ok, (f"{name}: {outcome.status} {outcome.error} at {outcome.where}: {outcome.message}\n"
                            f"{case.describe()}")  # fmt: skip

    try:
        check()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_mutators_keep_within_bounds() -> None:
    """The mutators make inputs of a few KB at most from small valid ones (so that a reader's memory is
    measured against a small input)."""

    @settings(max_examples=50, deadline=None, derandomize=True, database=None)
    @given(fuzz.mutate_bytes(b">chr1\nACGT\n" * 10, fuzz.FASTA_TOKENS))
    def check(result: tuple[bytes, str]) -> None:
        data, how = result
        assert len(data) <= 110 + 4 * 4400 and how

    check()


@pytest.mark.parametrize(
    "region",
    ["chr1:,-5", "chr1:1-" + "9" * 5000, "c:\u0663-\u0664", "chr1:0-5", "chr1::1-2"],
)
def test_regions_found_by_fuzzing_are_refused(region: str) -> None:
    """Regions the fuzzing found crashing ``parse_region`` (a lone comma, 5,000 digits, non-ASCII digits)."""
    from dnagpt.data.regions import parse_region
    from dnagpt.errors import DataError

    with pytest.raises(DataError, match="region"):
        parse_region(region)


@pytest.mark.parametrize(
    ("settings_", "words"),
    [
        ({"template": ["classification"]}, "unknown template"),
        ({"template": "generation", "species": "martian"}, "task.toml: unknown species"),
        ({"prompt": "{sequence:>999999999}", "output": "number"}, "{sequence:>999999999}"),
        ({"prompt": "{species.upper}{sequence}", "output": "number"}, "{species.upper}"),
        ({"prompt": "{sequence}{", "output": "number"}, "not a template"),
    ],
)
def test_task_settings_found_by_fuzzing_are_refused(settings_: dict, words: str) -> None:
    """Task settings the fuzzing found raising TypeError/AttributeError or building a gigabyte of padding."""
    from dnagpt.errors import ConfigError
    from dnagpt.tasks.spec import TaskSpec

    with pytest.raises(ConfigError) as info:
        TaskSpec.from_dict(settings_, "task.toml")
    assert words in str(info.value) and "task.toml" in str(info.value)


def test_rows_found_by_fuzzing_are_refused() -> None:
    """A row without a column the first row has, and a number beyond any float, name the row."""
    from dnagpt.errors import DNAGPTError
    from dnagpt.tasks.spec import TaskSpec, build_examples

    spec = TaskSpec.from_dict({"template": "regression", "label_column": "y"}, "task.toml")
    with pytest.raises(DNAGPTError, match=r"train.csv, row 2: no value in column\(s\) y"):
        build_examples(spec, [{"sequence": "ACGT", "y": "1"}, {"sequence": "ACGT"}], "train.csv")
    with pytest.raises(DNAGPTError, match=r"train\.csv, row 1, column y"):
        build_examples(spec, [{"sequence": "ACGT", "y": 10**400}], "train.csv")


@pytest.mark.parametrize(
    "spec",
    [{"type": "kmer"}, {"type": "kmer", "k": ""}, {"type": "kmer", "k": None}, {"type": ["kmer"], "k": 3},
     {"type": "kmer", "k": 3, "kmer_sizes": 3}, {"type": "kmer", "k": 3, "reserved_tokens": 5},
     {"type": "bpe", "bases_per_token": float("nan"), "hf_tokenizer": {}}],
)  # fmt: skip
def test_tokenizer_files_found_by_fuzzing_are_refused(tmp_path: Path, spec: dict) -> None:
    """Tokenizer descriptions the fuzzing found raising KeyError/TypeError/ValueError, or refused without
    naming the file."""
    import json

    from dnagpt.errors import ConfigError
    from dnagpt.tokenizers import load_tokenizer

    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_tokenizer(path)


def test_foreign_configs_found_by_fuzzing_are_refused(tmp_path: Path) -> None:
    """A DNABERT-2 config.json claiming 400,000 layers (built before its weights are checked: minutes) or a
    GPN one 2**31 wide (a size overflow) is refused at once; a config.json whose auto_map is no table is
    refused, not an AttributeError."""
    import json

    from dnagpt.errors import ConfigError
    from dnagpt.models import load_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**fuzz.FOREIGN_CONFIGS["DNABERT-2"], "num_hidden_layers": 405015}))
    with pytest.raises(ConfigError, match="less than or equal to 1024"):
        load_config(path)
    path.write_text(json.dumps({**fuzz.FOREIGN_CONFIGS["GPN"], "hidden_size": 2**31}))
    with pytest.raises(ConfigError, match=r"d_model = 2147483648"):
        load_config(path)
    unlisted = {k: v for k, v in fuzz.FOREIGN_CONFIGS["DNABERT-2"].items() if k != "alibi_starting_size"}
    path.write_text(json.dumps({**unlisted, "auto_map": 1e-12}))
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path))):
        load_config(path)


def test_pretrain_manifest_found_by_fuzzing_is_refused(tmp_path: Path) -> None:
    """A relative manifest path holding a NUL character (Path.resolve raises ValueError) names the file."""
    from dnagpt.errors import ConfigError
    from dnagpt.training.pretrain_config import load_pretrain_config

    path = tmp_path / "pretrain.toml"
    path.write_text('[data]\nmanifest = "a\\u0000b"\n')
    with pytest.raises(ConfigError, match="manifest"):
        load_pretrain_config(str(path))


def test_tokenizer_library_panic_is_refused(tmp_path: Path) -> None:
    """A BPE tokenizer.json whose ``continuing_subword_prefix`` the tokenizers library cannot apply makes its
    Rust code panic (pyo3's PanicException, a BaseException); the reader refuses the file instead."""
    import json

    from dnagpt.errors import ConfigError
    from dnagpt.tokenizers import load_tokenizer

    files = fuzz.tokenizer_files(("bpe", 0, None))["hf"]
    tree = json.loads(files["tok/tokenizer.json"])
    tree["model"]["continuing_subword_prefix"] = "xy"
    (tmp_path / "tokenizer.json").write_text(json.dumps(tree))
    (tmp_path / "tokenizer_config.json").write_bytes(files["tok/tokenizer_config.json"])
    with pytest.raises(ConfigError, match="not a readable Hugging Face tokenizer"):
        load_tokenizer(tmp_path)


def test_maf_position_beyond_any_genome_is_refused(tmp_path: Path) -> None:
    """A MAF reference row starting at 10**20 (numpy's int64 searches overflowed) names the file and block."""
    from dnagpt.data.alignment import read_maf
    from dnagpt.errors import DataError

    path = tmp_path / "aln.maf"
    path.write_text("##maf version=1\n\na\ns hg.chr1 100000000000000000000 4 + 100000000000000000009 ACGT\n"
                    "s pt.chr1 0 4 + 9 ACGT\n\n")  # fmt: skip
    with pytest.raises(DataError, match=r"aln\.maf: block 1: row hg\.chr1"):
        read_maf(path)
