"""Named models that do not ship in the package come from the Hugging Face Hub through
``huggingface_hub``: read here offline from a local cache in the Hub's layout, as a user's machine
holds them after the first download."""

from __future__ import annotations

import shutil

import pytest
from huggingface_hub import constants as hub_constants

from dnagpt.cli import main
from dnagpt.errors import CheckpointError
from dnagpt.models import load_model
from dnagpt.models.hub import NAMED_MODELS, checkout_models, model_source
from dnagpt.resources import RESOURCES

NAME = "gpn-small-multispecies"
REVISION = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def no_checkout(monkeypatch, tmp_path):
    """A machine without a checkout, offline, with an empty Hugging Face cache."""
    monkeypatch.setenv("DNAGPT_MODELS", str(tmp_path / "no-models"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "hub"


@pytest.mark.skipif(not (checkout_models() / NAME).is_dir(), reason="not a checkout with its models")
def test_a_named_model_loads_from_the_hub_cache(no_checkout):
    with pytest.raises(CheckpointError, match="gpn-small-multispecies: not in the package"):
        load_model(NAME)  # offline, nothing cached: one clear line, no traceback
    repo = no_checkout / f"models--{NAMED_MODELS[NAME].repo_id.replace('/', '--')}"
    shutil.copytree(RESOURCES.parents[2] / "models" / NAME, repo / "snapshots" / REVISION)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REVISION)
    model = load_model(NAME)
    assert model.family == "gpn" and model.loaded_from == NAME
    assert model_source(NAME) == f"huggingface.co/{NAMED_MODELS[NAME].repo_id}"


def test_info_lists_every_named_model_and_where_it_comes_from(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in NAMED_MODELS:
        assert name in out
    assert "package" in out
