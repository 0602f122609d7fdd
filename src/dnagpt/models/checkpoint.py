"""Reading and writing model weights: configurations and state dicts on disk.

dnagpt's own format is a directory holding ``model.safetensors`` (weights, no
pickle), ``config.json`` (a :class:`~dnagpt.models.config.ModelConfig` naming its family) and
``tokenizer.json``. The published DNAGPT ``.pth`` files (a bare state dict, or
one under the key ``model``) are read with ``torch.load(weights_only=True)``,
so a file cannot run code when opened. This module knows files, configurations
and tensors, not the network: :meth:`dnagpt.models.PretrainedModel.from_pretrained` builds
the model and checks every key and shape with :func:`check_state_dict`.

Files of other libraries are data, never code: a directory's Python files (the ``auto_map`` of a
Hugging Face directory names them) are never imported, and its pickled weights are read tensors only.

Every weight file is checked against the SHA-256 recorded beside it (``model.safetensors.sha256``,
written with the file). A file without one is read with a warning, once per process, or refused
where verification was asked for: ``verify=True``, ``DNAGPT_VERIFY=1`` or the command line's ``--verify``.
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, ConfigError
from ..io import atomic_write_text, verify_digest, warn_unverified, write_with_digest
from ..tokenizers import load_tokenizer
from .config import ModelConfig
from .family import load_config
from .hub import NAMED_MODELS, named_model_dir
from .named import config_names, get_config

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
TORCH_WEIGHTS_FILE = "pytorch_model.bin"  # the weights of an older transformers' save_pretrained, read weights-only
_PUBLISHED = ("dna_gpt0.1b_h", "dna_gpt0.1b_m", "dna_gpt3b_m")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # left by DistributedDataParallel / torch.compile


def write_checkpoint(
    directory: str | Path,
    config: ModelConfig,
    state_dict: dict[str, torch.Tensor],
    metadata: dict[str, str] | None = None,
) -> None:
    """Write weights, configuration and tokenizer to ``directory`` (each file atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state, stored = {}, set()
    for key, tensor in state_dict.items():  # a tied matrix is stored once; the family's loader re-ties it
        if tensor.data_ptr() in stored and tensor.numel():
            continue
        stored.add(tensor.data_ptr())
        state[key] = tensor.detach().to("cpu").contiguous()
    meta = {"format": "pt", "dnagpt_config": config.name, **(metadata or {})}
    write_with_digest(directory / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp), metadata=meta))
    fields = config.to_dict()
    if config.tokenizer_file is not None:  # the model keeps its own copy of its BPE or foreign vocabulary
        config.tokenizer().save_pretrained(directory)  # Hugging Face's tokenizer.json
        fields["tokenizer_file"] = TOKENIZER_FILE
    elif not config.foreign:  # (another library's model without a tokenizer file: GPN-MSA's fixed bases)
        config.tokenizer().save_pretrained(directory)
    atomic_write_text(directory / CONFIG_FILE, json.dumps(fields, indent=2) + "\n")


def resolve_model_path(path: str | Path) -> Path:
    """``path`` itself, or the directory of the model dnagpt knows by that name (:mod:`.hub`)."""
    if not Path(path).exists() and str(path) in NAMED_MODELS:
        return named_model_dir(str(path))
    if not Path(path).exists():
        raise CheckpointError(f"{path}: no such file or directory; models known by name: {', '.join(NAMED_MODELS)}")
    return Path(path)


def read_checkpoint(
    path: str | Path, name: str | None = None, verify: bool | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The configuration and state dict of a dnagpt directory, a ``.safetensors`` file, a published
    ``.pth`` file or a shipped model's name.

    ``name`` picks the configuration of a bare weight file; without it the configuration is read
    from a ``config.json`` beside a ``.safetensors`` file, or inferred from the shapes. ``verify``:
    refuse a weight file without a recorded SHA-256 (default: as ``DNAGPT_VERIFY`` says; otherwise
    it is read, with a warning once the whole checkpoint has been read, so that a file refused for
    another reason gets one message).
    """
    named = get_config(name) if name is not None else None  # an unknown name fails before any reading
    path = resolve_model_path(path)
    unchecked: list[Path] = []
    if path.is_dir():
        config, state = _read_directory(path, verify, unchecked)
    else:
        if path.suffix == ".safetensors":
            state = _read_safetensors(path, verify, unchecked)
        else:
            state = read_official_state(path, verify, unchecked)
        beside = path.parent / CONFIG_FILE
        if named is not None:
            config = named
        elif path.suffix == ".safetensors" and beside.exists():
            config = load_config(beside)
        else:
            config = infer_config(state, path)
    for file in unchecked:
        warn_unverified(file)
    return config, state


def read_official_state(
    path: Path, verify: bool | None = None, unchecked: list[Path] | None = None
) -> dict[str, torch.Tensor]:
    """The state dict of a published ``.pth`` file (or another library's ``pytorch_model.bin``), opened
    with ``weights_only=True``: a pickle that would build Python objects (and so could run code) is
    refused. ``verify`` as in :func:`read_checkpoint`; a file without a recorded digest is appended to
    ``unchecked`` for the caller to warn about, or warned about here when no list is given."""
    if path.is_dir():
        raise CheckpointError(f"{path}: a directory without {CONFIG_FILE}; give a model directory or a weight file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file, not a checkpoint")
    checked = verify_digest(path, CheckpointError, strict=verify, warn=False)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own message advises unsafe loading: not repeated here
        raise CheckpointError(
            f"{path}: not a file of tensors alone (it is damaged, or holds Python objects that could run code); "
            "refused, as only weights are ever read (weights_only=True)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt weight file ({str(e).splitlines()[0]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (bare or under 'model')")
    _unchecked(path, checked, unchecked)
    return {_strip_wrappers(k): v for k, v in obj.items()}


def _unchecked(path: Path, checked: bool, unchecked: list[Path] | None) -> None:
    """Note (or, without a list to note it in, warn) that ``path`` was read without a digest to check."""
    if checked:
        return
    if unchecked is None:
        warn_unverified(path)
    else:
        unchecked.append(path)


def _naming(file: Path, error: Exception) -> str:
    """``error``'s message, led by ``file`` unless it already names it or its directory (no path printed twice)."""
    text = str(error)
    return text if str(file) in text or text.startswith(f"{file.parent} ") else f"{file}: {text}"


def infer_config(state: dict[str, torch.Tensor], path: Path | str = "checkpoint") -> ModelConfig:
    """Pick the named configuration whose shapes match a state dict."""
    try:
        vocab, width = state["transformer.wte.weight"].shape
        context = state["transformer.wpe.weight"].shape[0]
    except (KeyError, ValueError, IndexError) as e:  # IndexError: a weight of no dimensions
        raise CheckpointError(f"{path}: not a DNAGPT state dict (missing or odd embedding tables)") from e
    layers = len({m.group(1) for k in state if (m := re.match(r"transformer\.h\.(\d+)\.", k))})
    matches = []
    for cand in config_names():
        cfg = get_config(cand)
        if (cfg.vocab_size, cfg.d_model, cfg.context_length, cfg.n_layer) == (vocab, width, context, layers):
            matches.append(cand)
    published = [m for m in matches if m in _PUBLISHED]
    if published or len(matches) == 1:
        return get_config((published or matches)[0])
    raise CheckpointError(
        f"{path}: cannot tell the configuration from the shapes (vocab {vocab}, width {width}, "
        f"context {context}, {layers} layers); pass a name, one of: {', '.join(config_names())}"
    )


def check_state_dict(
    expected: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor], config_name: str, path: Path | str
) -> None:
    """Raise :class:`CheckpointError` listing every missing, unexpected or misshapen key.

    ``expected`` maps each key of the model's state dict to its shape.
    """
    problems = [f"missing: {k} {list(s)}" for k, s in expected.items() if k not in state]
    problems += [f"unexpected: {k} {list(v.shape)}" for k, v in state.items() if k not in expected]
    problems += [
        f"shape of {k}: file {list(state[k].shape)}, model {list(s)}"
        for k, s in expected.items()
        if k in state and tuple(state[k].shape) != s
    ]
    if problems:
        shown = problems[:25] + ([f"... and {len(problems) - 25} more"] if len(problems) > 25 else [])
        raise CheckpointError(
            f"{path}: weights do not fit configuration {config_name!r} "
            f"({len(problems)} problems):\n  " + "\n  ".join(shown)
        )


def _read_directory(
    path: Path, verify: bool | None, unchecked: list[Path]
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The configuration and weights of a model directory. Only ``config.json``, the weights and
    ``tokenizer.json`` are read: Python files beside them (a Hugging Face ``auto_map``) never run."""
    if not (path / CONFIG_FILE).exists():
        raise CheckpointError(f"{path}: not a model directory (no {CONFIG_FILE})")
    weights = path / WEIGHTS_FILE
    if not weights.exists() and (path / TORCH_WEIGHTS_FILE).exists():
        weights = path / TORCH_WEIGHTS_FILE  # written by an older transformers
    if not weights.exists():
        raise CheckpointError(f"{path}: not a model directory (no {WEIGHTS_FILE} or {TORCH_WEIGHTS_FILE})")
    try:
        config = load_config(path / CONFIG_FILE)
    except (ConfigError, TypeError) as e:  # load_config's messages name the file already
        raise CheckpointError(_naming(path / CONFIG_FILE, e)) from e
    if weights.suffix == ".safetensors":
        state = _read_safetensors(weights, verify, unchecked)
    else:
        state = read_official_state(weights, verify, unchecked)
    if config.foreign:  # another library's directory: its tokenizer.json is its own format
        return config, state
    if (path / TOKENIZER_FILE).exists():
        try:
            saved = load_tokenizer(path / TOKENIZER_FILE)
        except (ConfigError, KeyError, ValueError) as e:
            raise CheckpointError(_naming(path / TOKENIZER_FILE, e)) from e
        if saved.to_dict() != config.tokenizer().to_dict():
            raise CheckpointError(f"{path}: tokenizer.json does not match config.json")
    return config, state


def _read_safetensors(path: Path, verify: bool | None, unchecked: list[Path]) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (a format of tensors alone: nothing in it can run)."""
    checked = verify_digest(path, CheckpointError, strict=verify, warn=False)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as e:  # TypeError: a shape torch cannot hold
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({e})") from e
    _unchecked(path, checked, unchecked)
    return state


def _strip_wrappers(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key
