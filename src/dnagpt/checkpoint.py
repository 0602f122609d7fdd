"""Reading and writing model weights.

dnagpt's own format is a directory holding ``model.safetensors`` (weights, no
pickle), ``config.json`` (:class:`~dnagpt.config.DNAGPTConfig`) and
``tokenizer.json``. The published DNAGPT ``.pth`` files (a bare state dict, or
one under the key ``model``) are read with ``torch.load(weights_only=True)``,
so a file cannot run code when opened. Every key and shape is checked before any
weight is used: a mismatch is an error listing all of them, never a silent skip.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import DNAGPTConfig, config_names, get_config
from .errors import CheckpointError, ConfigError
from .io import atomic_write
from .model import DNAGPT

BUNDLED_MODELS = Path(__file__).resolve().parent / "pretrained"  # models shipped with dnagpt, by name
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
_PUBLISHED = ("dna_gpt0.1b_h", "dna_gpt0.1b_m", "dna_gpt3b_m")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # left by DistributedDataParallel / torch.compile


def save_pretrained(
    model: DNAGPT,
    directory: str | Path,
    metadata: dict[str, str] | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write a model to ``directory`` in dnagpt's format (each file written atomically).

    ``state_dict`` replaces ``model.state_dict()``, e.g. the gathered weights of a sharded model.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in (state_dict or model.state_dict()).items()}
    meta = {"format": "pt", "dnagpt_config": model.config.name, **(metadata or {})}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: save_file(state, str(tmp), metadata=meta))
    model.config.save(directory / CONFIG_FILE)
    model.config.tokenizer().save(directory / TOKENIZER_FILE)


def load_pretrained(
    path: str | Path,
    name: str | None = None,
    map_location: str | torch.device = "cpu",
    dtype: torch.dtype | None = torch.float32,
) -> DNAGPT:
    """Load a model from a dnagpt directory, a ``.safetensors`` file or a published ``.pth``.

    Args:
        path: directory written by :func:`save_pretrained`, a weight file, or the name of a
            model shipped with dnagpt (``dnagpt-small-multispecies``).
        name: configuration name for a bare weight file; inferred from shapes when omitted.
        map_location: device for the weights.
        dtype: cast floating weights to this type (None keeps the file's type).
    """
    path = Path(path)
    if not path.exists() and (BUNDLED_MODELS / str(path)).is_dir():
        path = BUNDLED_MODELS / str(path)  # a model shipped with dnagpt, e.g. "dnagpt-small-multispecies"
    if not path.exists():
        shipped = sorted(p.name for p in BUNDLED_MODELS.iterdir()) if BUNDLED_MODELS.is_dir() else []
        hint = f"; models shipped with dnagpt: {', '.join(shipped)}" if shipped else ""
        raise CheckpointError(f"{path}: no such file or directory{hint}")
    if path.is_dir():
        config, state = _read_directory(path)
    else:
        state = read_official_state(path) if path.suffix != ".safetensors" else _read_safetensors(path)
        beside = path.parent / CONFIG_FILE
        if name is not None:
            config = get_config(name)
        elif path.suffix == ".safetensors" and beside.exists():
            config = DNAGPTConfig.load(beside)
        else:
            config = infer_config(state, path)
    with torch.device("meta"):
        model = DNAGPT(config)
    check_state_dict(model, state, path)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(map_location).eval()


def convert_official(source: str | Path, out_dir: str | Path, name: str | None = None) -> DNAGPT:
    """Convert a published ``.pth`` checkpoint into dnagpt's safetensors directory."""
    model = load_pretrained(source, name=name)
    digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()
    save_pretrained(model, out_dir, metadata={"converted_from": Path(source).name, "source_sha256": digest})
    return model


def read_official_state(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a published ``.pth`` file, opened with ``weights_only=True``."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: holds Python objects other than tensors; refusing to unpickle it "
            f"(weights_only=True). Detail: {str(e).splitlines()[0]}"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt weight file ({str(e).splitlines()[0]})") from e
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (bare or under 'model')")
    return {_strip_wrappers(k): v for k, v in obj.items()}


def infer_config(state: dict[str, torch.Tensor], path: Path | str = "checkpoint") -> DNAGPTConfig:
    """Pick the named configuration whose shapes match a state dict."""
    try:
        vocab, width = state["transformer.wte.weight"].shape
        context = state["transformer.wpe.weight"].shape[0]
    except (KeyError, ValueError) as e:
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


def check_state_dict(model: DNAGPT, state: dict[str, torch.Tensor], path: Path | str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` listing every missing, unexpected or misshapen key."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
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
            f"{path}: weights do not fit configuration {model.config.name!r} "
            f"({len(problems)} problems):\n  " + "\n  ".join(shown)
        )


def _read_directory(path: Path) -> tuple[DNAGPTConfig, dict[str, torch.Tensor]]:
    for needed in (WEIGHTS_FILE, CONFIG_FILE):
        if not (path / needed).exists():
            raise CheckpointError(f"{path}: not a dnagpt model directory (no {needed})")
    try:
        config = DNAGPTConfig.load(path / CONFIG_FILE)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path / CONFIG_FILE}: {e}") from e
    if (path / TOKENIZER_FILE).exists():
        from .tokenizer import KmerTokenizer

        try:
            saved = KmerTokenizer.load(path / TOKENIZER_FILE)
        except (ConfigError, KeyError, ValueError) as e:
            raise CheckpointError(f"{path / TOKENIZER_FILE}: {e}") from e
        if saved.to_dict() != config.tokenizer().to_dict():
            raise CheckpointError(f"{path}: tokenizer.json does not match config.json")
    return config, _read_safetensors(path / WEIGHTS_FILE)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt safetensors file ({e})") from e


def _strip_wrappers(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix) :]
    return key
