"""Where the models dnagpt names live, and how a name becomes a directory.

One model ships inside the package (the one the quickstarts and ``make demo`` use); the others
are Hugging Face Hub repositories of the same files (``config.json``, ``model.safetensors`` and its
``.sha256``, ``tokenizer.json``, the model card), fetched and cached by ``huggingface_hub`` on first
use, so a name works with or without a checkout of this repository. A checkout keeps every model
in its ``models/`` folder (``DNAGPT_MODELS`` names another folder), which is looked in first, so
the repository's own figures reproduce offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError
from ..resources import RESOURCES, SHIPPED_MODELS

HUB_OWNER = "dnagpt"  # the Hugging Face Hub account holding the models that do not ship in the package


@dataclass(frozen=True)
class NamedModel:
    """A pretrained model dnagpt knows by name."""

    name: str
    description: str
    bundled: bool = False  # inside the package; otherwise on the Hub (and in a checkout's models/ folder)

    @property
    def repo_id(self) -> str:
        """Its Hugging Face Hub repository."""
        return f"{HUB_OWNER}/{self.name}"


NAMED_MODELS: dict[str, NamedModel] = {
    m.name: m
    for m in (
        NamedModel(
            "dnagpt-small-multispecies-continued",
            "DNAGPT decoder, 4 x 128, pretrained on GPU then one CPU hour more; the default to fine-tune",
            bundled=True,
        ),
        NamedModel("dnagpt-small-multispecies-gpu", "DNAGPT decoder, 4 x 128, pretrained on one GPU"),
        NamedModel("dnagpt-small-multispecies", "DNAGPT decoder, 4 x 128, pretrained on 2 CPU cores"),
        NamedModel("bert-small-multispecies", "DNABERT-2 style encoder, pretrained on the same corpus"),
        NamedModel("gpn-small-multispecies", "GPN style ConvNet, pretrained on the same corpus"),
        NamedModel(
            "gpn-msa-primates-chr22",
            "GPN-MSA shape, pretrained on the human/chimp/gorilla/orangutan "
            "chr22 alignment (reads it: vep --alignment)",
        ),
    )
}


def checkout_models() -> Path:
    """The folder of a source checkout that holds every named model (``DNAGPT_MODELS`` overrides it)."""
    if os.environ.get("DNAGPT_MODELS"):
        return Path(os.environ["DNAGPT_MODELS"]).expanduser()
    root = RESOURCES.parents[2]  # src/dnagpt/resources -> the repository, in a checkout
    return root / "models" if (root / "pyproject.toml").is_file() else root / "no-checkout"


def model_source(name: str) -> str:
    """Where the named model is read from: the package, the checkout's models folder, or the Hub."""
    model = NAMED_MODELS[name]
    if model.bundled:
        return "package"
    if (checkout_models() / name).is_dir():
        return str(checkout_models() / name)
    return f"huggingface.co/{model.repo_id}"


def named_model_dir(name: str) -> Path:
    """The directory of the model called ``name``: bundled, in a checkout's models folder, or fetched
    from the Hub into the Hugging Face cache (offline with ``HF_HUB_OFFLINE=1``: the cache only)."""
    model = NAMED_MODELS[name]
    if model.bundled:
        return SHIPPED_MODELS / name
    local = checkout_models() / name
    if local.is_dir():
        return local
    import huggingface_hub  # slow to import: only for a model that is neither bundled nor checked out

    try:
        return Path(huggingface_hub.snapshot_download(model.repo_id))
    except Exception as e:  # offline without a cached copy, no network, no such repository: one message
        raise CheckpointError(f"{name}: not in the package nor in {local}, and the Hugging Face Hub copy "
                              f"{model.repo_id} could not be read ({type(e).__name__}: {e})") from None  # fmt: skip
