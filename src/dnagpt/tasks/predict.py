"""Using a fine-tuned model: predictions for a table, and metrics on labelled examples."""

from __future__ import annotations

import contextlib
import csv
import io
import math
from pathlib import Path

import numpy as np
import torch

from ..data.alignment import read_maf
from ..data.batching import length_sorted_batches
from ..data.tables import read_table
from ..device import precision_context, resolve_device
from ..errors import ConfigError
from ..evaluation.metrics import classification_metrics, regression_metrics
from ..io import atomic_write_text
from ..models import PretrainedModel, load_model
from ..tokenizers import KmerTokenizer, TokenLanguage
from ..training.objectives import IGNORE
from .codec import TaskCodec, load_task_codec
from .spec import Example, build_examples


def predict_examples(
    codec: TaskCodec,
    model: PretrainedModel,
    examples: list[Example],
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager | None = None,
    batch_size: int = 32,
    windows: bool = False,
) -> np.ndarray:
    """Predictions as a NumPy array: probabilities ``[N, label columns, labels]`` or values ``[N]``.

    With ``windows=True`` a sequence too long for the context is cut into consecutive
    windows (each with the full prompt around it) whose predictions are averaged. A codec with
    ``frames`` > 1 averages each sequence's predictions over its reading frames as well.
    """
    n_inputs = len(examples)
    owners = list(range(n_inputs))
    if windows:
        examples, owners = _windowed(codec, examples)
    if codec.frames > 1:
        examples, owners = _in_every_frame(codec, examples, owners)
    model.eval()
    out, order = [], []
    with torch.no_grad():  # batches of similar length: text length stands for token count
        for indices in length_sorted_batches([len(e.text) for e in examples], batch_size):
            batch = codec.batch([examples[i] for i in indices]).to(device)
            with autocast or contextlib.nullcontext():
                out.append(codec.predict(model, batch).float().cpu())
            order += indices
    sorted_preds = torch.cat(out).numpy()
    preds = np.empty_like(sorted_preds)
    preds[order] = sorted_preds  # back in input order
    if len(preds) == n_inputs:
        return preds
    sums = np.zeros((n_inputs, *preds.shape[1:]), dtype=preds.dtype)
    np.add.at(sums, np.array(owners), preds)
    counts = np.bincount(owners, minlength=n_inputs).reshape(-1, *([1] * (preds.ndim - 1)))
    return (sums / counts).astype(preds.dtype)


def _in_every_frame(codec: TaskCodec, examples: list[Example], owners: list[int]) -> tuple[list[Example], list[int]]:
    """Each example once in every reading frame of the codec (:meth:`TaskCodec.shifted`), with its owner."""
    shifted = [(codec.shifted(e, drop), owner) for e, owner in zip(examples, owners, strict=True)
               for drop in range(codec.frames)]  # fmt: skip
    return [e for e, _ in shifted], [owner for _, owner in shifted]


def evaluate_examples(
    codec: TaskCodec,
    model: PretrainedModel,
    examples: list[Example],
    device: torch.device | str = "cpu",
    autocast: contextlib.AbstractContextManager | None = None,
    batch_size: int = 32,
) -> tuple[dict, np.ndarray | None]:
    """Metrics of the model on labelled examples, and its predictions (None for generation tasks,
    which are scored by their held-out loss per token)."""
    autocast = autocast or contextlib.nullcontext()
    if codec.spec.output == "sequence":
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(examples), batch_size):
                batch = codec.batch(examples[i : i + batch_size]).to(device)
                n = int((batch.target != IGNORE).sum())
                with autocast:
                    total += float(codec.loss(model, batch)) * n
                count += n
        return {"loss": total / count, "perplexity": math.exp(total / count)}, None
    preds = predict_examples(codec, model, examples, device, autocast, batch_size)
    if codec.spec.output != "token":
        return regression_metrics([e.value for e in examples], preds), preds
    per_column = []
    for j in range(len(codec.spec.label_columns)):
        truth = np.array([codec.label_names.index(e.labels[j]) for e in examples])
        if len(codec.label_names) == 2:  # yes/no: class 1 is the "yes" label, scored by its probability
            positive = codec.label_names.index(codec.positive_label())
            per_column.append(classification_metrics(truth == positive, preds[:, j].argmax(-1) == positive,
                                                     preds[:, j, positive]))  # fmt: skip
        else:
            per_column.append(classification_metrics(truth, preds[:, j].argmax(-1), preds[:, j]))
    if len(per_column) == 1:
        return dict(per_column[0]), preds  # counts stay whole numbers
    # several label columns: macro averages, then each column's metrics
    out = {k: float(np.mean([m[k] for m in per_column])) for k in ("accuracy", "f1", "mcc", "auroc")}
    for column, m in zip(codec.spec.label_columns, per_column, strict=True):
        out |= {f"{column}:{k}": v for k, v in m.items()}
    return out, preds


def _windowed(codec: TaskCodec, examples: list[Example]) -> tuple[list[Example], list[int]]:
    """Split each example whose prompt exceeds the context into context-sized windows."""
    spec, tok = codec.spec, codec.tok
    if codec.context is None:  # the model reads any length
        return list(examples), list(range(len(examples)))
    out, owners = [], []
    for i, e in enumerate(examples):
        room = codec.context - len(tok.encode(spec.text("", e.numbers)))
        if room <= 0:
            raise ConfigError(f"row {e.row}: the prompt alone fills the model's context")
        bases = "".join(e.sequence.split())
        start = 0
        while start < len(bases):
            chunk = bases[start : start + _bases_in(tok, bases, start, room)]
            out.append(Example(e.row, spec.text(chunk, e.numbers), chunk, e.numbers, e.labels, e.value))
            owners.append(i)
            start += len(chunk)
    return out, owners


def _bases_in(tok: TokenLanguage, bases: str, start: int, room: int) -> int:
    """How many bases from ``start`` make at most ``room`` tokens: ``room`` k-mers, or for BPE the
    longest tenth-by-tenth shortening of the mean that fits (a token holds at least one base)."""
    if isinstance(tok, KmerTokenizer):
        return room * tok.k
    n = int(room * tok.bases_per_token)
    while n > room and len(tok.encode_bases(bases[start : start + n])) > room:
        n = max(room, int(n * 0.9))
    return max(n, room)


def predictions_csv(codec: TaskCodec, examples: list[Example], preds: np.ndarray) -> str:
    """One CSV row per example: its row number, the predicted label and each label's probability
    (one group per label column), or the predicted value."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    if codec.spec.output == "token":
        columns = codec.spec.label_columns
        single = len(columns) == 1
        header = ["row"]
        for c in columns:
            prefix = "" if single else f"{c}_"
            header += [f"{prefix}prediction", *(f"{prefix}probability_{name}" for name in codec.label_names)]
        writer.writerow(header)
        for e, p in zip(examples, preds, strict=True):
            cells = [e.row]
            for j in range(len(columns)):
                cells += [codec.label_names[int(p[j].argmax())], *(f"{x:.6f}" for x in p[j])]
            writer.writerow(cells)
    else:
        writer.writerow(["row", "prediction"])
        for e, p in zip(examples, preds, strict=True):
            writer.writerow([e.row, f"{float(p):.6g}"])
    return buf.getvalue()


def predict_table(
    model_dir: str | Path,
    table: str | Path,
    out: str | Path,
    windows: bool = False,
    batch_size: int = 32,
    device: str = "cpu",
    precision: str = "fp32",
    alignment: str | Path | None = None,
) -> int:
    """Predict every row of ``table`` with the fine-tuned model in ``model_dir`` (a GPN-MSA model reads
    ``alignment``, by default the one it was fine-tuned with); write the CSV
    ``out`` (see :func:`predictions_csv`) and return the number of rows. A model fine-tuned with
    ``frame_shift`` answers as the mean over the reading frames, as it was scored. ``precision``: ``fp32``,
    or ``bf16`` (faster where supported; the README gives how far its probabilities lie from fp32's)."""
    device = resolve_device(device)
    model = load_model(model_dir, map_location=device)
    codec = load_task_codec(model_dir, model, read_maf(alignment) if alignment else None)
    examples = build_examples(codec.spec, read_table(table), str(table), need_labels=False)
    if not windows:
        codec.check(examples)
    preds = predict_examples(codec, model, examples, device, precision_context(precision, device), batch_size, windows)
    atomic_write_text(Path(out), predictions_csv(codec, examples, preds))
    return len(examples)
