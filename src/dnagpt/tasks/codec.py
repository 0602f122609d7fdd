"""How a task meets the model: examples become token batches, and model outputs become answers.

The model reads the task's prompt and answers at its last positions: the token
head scores the label tokens (classification, one ``<B>`` query per label
column), or the regression head gives a number (regression; targets are
standardised with the training mean and standard deviation, which are saved
with the model). That is the paper's ``answer`` readout; the ``mean`` readout
gives the same heads the mean of the hidden states over every position of the
prompt instead, which lets a small causal model use all of a sequence, not
only what its last position carried forward. A generation task instead learns to write each sequence, then
the task's stop symbol, after its prompt. A k-mer model fine-tuned with
``frame_shift`` answers as the mean of its answers over the k reading frames of
each sequence (``frames``). A model whose vocabulary has no answer tokens (another library's,
such as GPN's or DNABERT-2's) reads the bare sequence, in that library's special tokens, and a
sequence-level task head (:meth:`~dnagpt.models.PretrainedModel.add_task_head`) answers from the
mean of its hidden states or from its first position (``first``: [CLS]). The codec is saved as
``task.json`` beside fine-tuned weights, so a model directory knows its task.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..data.alignment import Alignment, read_maf
from ..errors import ConfigError, DataError, DNAGPTError, InvalidSequenceError
from ..io import atomic_write_text
from ..models import PretrainedModel
from ..tokenizers import Encoding, TokenLanguage
from ..training.objectives import IGNORE, next_token_loss
from .spec import Example, TaskSpec

TASK_FILE = "task.json"  # saved beside the fine-tuned weights
Readout = Literal["answer", "mean", "first"]
READOUTS: tuple[str, ...] = ("answer", "mean", "first")


def default_readout(causal: bool, spec: TaskSpec, pooling: Readout | None = None) -> Readout:
    """What the heads read when no readout is asked for: a decoder reads the answer position, as in
    the paper; an encoder (BERT, GPN) reads the mean over the sequence on a task with one label
    column or a number to predict, and the answer position where the task gives numbers as input
    (a mean over hundreds of bases drowns the few number positions) or asks several questions.
    The measurements are in docs/findings.md, "What an encoder reads". ``pooling`` is what a model
    read by a sequence-level task head reads (:attr:`~dnagpt.models.PretrainedModel.pooling`)."""
    if pooling is not None:
        return pooling
    if causal or spec.number_columns or spec.output == "sequence" or len(spec.label_columns) > 1:
        return "answer"
    return "mean"


def selection_metric(spec: TaskSpec) -> str:
    """The dev metric that picks the best model of a task: MCC, R2, or held-out loss for generation."""
    return {"token": "mcc", "number": "r2", "sequence": "loss"}[spec.output]


@dataclass
class TaskBatch:
    """Encoded examples, right-padded, with where to read the answers and what they should be."""

    input_ids: torch.Tensor
    numbers: torch.Tensor | None  # None when no example of the batch holds a number
    number_mask: torch.Tensor | None
    answers: torch.Tensor  # [B, L] positions of the answers (L label columns; 1 for regression)
    target: torch.Tensor  # [B, L] answer token ids, [B] standardised values, or [B, T] next tokens
    aux_features: torch.Tensor | None = None  # [B, T, species]: aligned bases, for a model that reads them

    def to(self, device: torch.device | str) -> TaskBatch:
        fields = (self.input_ids, self.numbers, self.number_mask, self.answers, self.target, self.aux_features)
        return TaskBatch(*(t.to(device) if t is not None else None for t in fields))


class TaskCodec:
    """Turns examples into batches and model outputs into answers, for one task."""

    def __init__(self, spec: TaskSpec, tok: TokenLanguage, context: int | None, target_mean=0.0, target_std=1.0,
                 readout: Readout = "answer", frames: int = 1, alignment: Alignment | None = None) -> None:  # fmt: skip
        """``context``: the most tokens one example may take (``PretrainedModel.max_input_tokens``;
        None: any number). ``frames``: predictions are the mean over this many reading frames of
        each sequence (1, or the tokenizer's ``reading_frames``; see :meth:`shifted`). ``alignment``:
        for a model that reads other species' aligned bases (GPN-MSA), where each example's region
        (the task's ``region_column``) is looked up."""
        self.spec, self.tok, self.context, self.alignment = spec, tok, context, alignment
        if alignment is not None and not spec.region_column:
            raise ConfigError(
                f"task {spec.name}: a model that reads an alignment needs each sequence's place "
                "on the reference: give region_column (CHR:START-END, 1-based) in the task file"
            )
        if frames not in (1, tok.reading_frames):
            raise ConfigError(f"task {spec.name}: frames must be 1 or the tokenizer's {tok.reading_frames} "
                              f"reading frames, not {frames}")  # fmt: skip
        if frames > 1 and spec.output == "sequence":
            raise ConfigError(f"task {spec.name}: averaging over reading frames (frame_shift) serves classification "
                              "and regression, not generation")  # fmt: skip
        self.frames = frames
        if readout not in READOUTS:
            raise ConfigError(f"task {spec.name}: readout {readout!r} is not one of {', '.join(READOUTS)}")
        if readout == "mean" and (spec.output == "sequence" or len(spec.label_columns) > 1):
            raise ConfigError(
                f"task {spec.name}: the mean readout gives one answer per sequence; it serves classification with "
                "one label column and regression (use the answer readout here)"
            )
        self.readout = readout
        self.label_names = list(spec.labels)
        self.head = not tok.has_task_tokens  # answered by a sequence-level task head, not by tokens
        self.label_ids: list[int] = []
        if self.head:
            self._check_head_task()
            self.label_ids = list(range(len(self.label_names)))  # the head's outputs, one per label
        elif readout == "first":
            raise ConfigError(f"task {spec.name}: the first position of a prompt in dnagpt's token language "
                              "holds no summary of it; use the answer or mean readout")  # fmt: skip
        for name in [] if self.head else self.label_names:
            token = f"<{spec.labels[name].strip('<>')}>"
            try:
                self.label_ids.append(tok.token_id(token))
            except DNAGPTError:
                raise ConfigError(
                    f"task {spec.name}: label {name!r} is answered by {spec.labels[name]!r}, which is not a token; "
                    "use A / N, or one of the reserved tokens"
                ) from None
        if not self.head and len(set(self.label_ids)) != len(self.label_ids):
            raise ConfigError(f"task {spec.name}: two labels map to the same token")
        self.target_mean, self.target_std = target_mean, target_std

    def _check_head_task(self) -> None:
        """A task a sequence-level head can answer: one label column or one number, from bases alone."""
        spec = self.spec
        if spec.output == "sequence" or len(spec.label_columns) > 1 or spec.number_columns:
            raise ConfigError(
                f"task {spec.name}: this model's vocabulary ({self.tok.to_dict().get('file', self.tok.kind)}) has "
                "no task tokens, so it answers one label column or one number from the sequence alone; "
                "numeric inputs, several label columns and generation need dnagpt's token language"
            )
        if self.readout == "answer":
            raise ConfigError(f"task {spec.name}: a vocabulary without answer tokens is read by the mean or "
                              "first readout, not answer")  # fmt: skip

    @property
    def head_outputs(self) -> int:
        """Outputs of the sequence-level task head this task needs (0: the model answers in tokens)."""
        if not self.head:
            return 0
        return len(self.label_names) if self.spec.output == "token" else 1

    @property
    def selection_metric(self) -> str:
        """The dev metric that picks the best model (:func:`selection_metric`)."""
        return selection_metric(self.spec)

    def check(self, examples: list[Example]) -> None:
        """Encode every example once and check it fits the context (and, with an alignment, that its
        region is covered and holds its sequence), before any work starts: a problem found when its
        batch is drawn would cost the work done until then."""
        for e in examples:
            self._encode(e)
            if self.alignment is not None:
                self._aligned(e)

    def _aligned(self, e: Example) -> np.ndarray:
        """The other species' aligned bases over the example's region, on its strand."""
        if e.region is None:
            raise DataError(f"{e.source}, row {e.row}: no region (the task's region_column) to read the alignment at")
        chrom, start, end, strand = e.region
        try:
            bases, columns = self.alignment.window(chrom, start, end, strand)
        except DataError as err:
            raise DataError(f"{e.source}, row {e.row}: {err}") from None
        given = "".join(e.sequence.split()).upper()
        differ = [i for i, (a, b) in enumerate(zip(given, bases, strict=True)) if a != b and "N" not in (a, b)]
        if len(differ) > len(given) // 10:  # the odd substitution is a variant; more is a wrong region
            raise DataError(f"{e.source}, row {e.row}: the sequence differs from {self.alignment.reference} in the "
                            f"alignment at {len(differ)} of {len(given)} bases of {chrom}:{start + 1}-{end} "
                            f"({strand}): is the region right?")  # fmt: skip
        return columns

    def _encode(self, e: Example):
        generating = self.spec.output == "sequence"
        suffix = self.spec.stop if generating else ""  # a generation task learns to end with its stop symbol
        try:
            if self.head:  # the bare sequence, in the vocabulary's own special tokens ([CLS] ... [SEP])
                enc = Encoding(self.tok.wrap(self.tok.encode_bases(re.sub(r"\s+", "", e.sequence)).tolist()))
            else:
                enc = self.tok.encode(e.text + suffix)
        except InvalidSequenceError as err:
            raise DataError(f"{e.source}, row {e.row}: {err}") from None
        if self.context is not None and len(enc) > self.context:
            raise DataError(
                f"{e.source}, row {e.row}: {len(enc)} tokens{' with the stop symbol' if generating else ''}, "
                f"more than the model's context of {self.context} "
                f"(about {int((self.context - 4) * self.tok.bases_per_token)} bp of sequence)"
            )
        return enc

    def shifted(self, example: Example, drop: int) -> Example:
        """``example`` without its first ``drop`` bases (at least one base kept). A k-mer model cuts
        a sequence into tokens from its first base, so dropping 0 to k-1 bases shows it the same
        sequence in each of its k reading frames."""
        bases = "".join(example.sequence.split())
        drop = min(drop, len(bases) - 1)
        if drop <= 0:
            return example
        return dataclasses.replace(example, text=self.spec.text(bases[drop:], example.numbers), sequence=bases[drop:])

    def batch(self, examples: list[Example]) -> TaskBatch:
        generating = self.spec.output == "sequence"
        encs = [self._encode(e) for e in examples]
        tb = self.tok.batch_encode(encs, padding_side="right")
        n_answers = len(self.spec.label_columns) if self.spec.output == "token" else 1
        if generating:
            target = torch.full_like(tb.input_ids, IGNORE)
            for row, n in enumerate(tb.lengths.tolist()):
                target[row, : n - 1] = tb.input_ids[row, 1:n]  # each token predicts the next, up to the stop
        elif self.spec.output == "token":
            target = torch.tensor(
                [[self.label_ids[self.label_names.index(x)] for x in e.labels] if e.labels else [IGNORE] * n_answers
                 for e in examples]
            )  # fmt: skip
        else:
            target = torch.tensor(
                [((e.value if e.value is not None else 0.0) - self.target_mean) / self.target_std for e in examples],
                dtype=torch.float32,
            )
        answers = tb.last_index()[:, None] - n_answers + 1 + torch.arange(n_answers)[None, :]
        # Decided here, on the CPU: the model embeds numbers at every position when it is given any,
        # and asking the device whether a mask is empty would cost a sync per step.
        has_numbers = bool(tb.number_mask.any())
        numbers, number_mask = (tb.numbers, tb.number_mask) if has_numbers else (None, None)
        aux = None
        if self.alignment is not None:  # the aligned bases sit at the sequence's positions, after any wrapping
            aux = torch.zeros((*tb.input_ids.shape, len(self.alignment.species)), dtype=torch.uint8)
            for row, e in enumerate(examples):
                columns = torch.from_numpy(self._aligned(e))
                aux[row, self.tok.wrap_before : self.tok.wrap_before + len(columns)] = columns
        return TaskBatch(tb.input_ids, numbers, number_mask, answers, target, aux)

    def hidden(self, model: PretrainedModel, batch: TaskBatch) -> torch.Tensor:
        """Final hidden states of every position, ``[B, T, d_model]``."""
        lengths = batch.answers[:, -1] + 1  # the last answer is each row's last real token
        if batch.aux_features is not None:
            return model.padded_hidden_states(batch.input_ids, lengths, aux_features=batch.aux_features)
        return model.padded_hidden_states(batch.input_ids, lengths, batch.numbers, batch.number_mask)

    def answer_hidden(self, model: PretrainedModel, batch: TaskBatch) -> torch.Tensor:
        """What the heads read, ``[B, L, d_model]``: the hidden states at the answer positions, or
        (``mean`` readout) their mean over every position up to the answer."""
        h = self.hidden(model, batch)
        if self.readout == "first":
            return h[:, :1]
        if self.readout == "mean":
            upto = torch.arange(h.shape[1], device=h.device)[None, :] <= batch.answers[:, -1:]
            weights = upto.to(h.dtype) / upto.sum(dim=1, keepdim=True).to(h.dtype)
            return torch.einsum("bt,btd->bd", weights, h)[:, None, :]
        return h[torch.arange(h.shape[0], device=h.device)[:, None], batch.answers]

    def loss(self, model: PretrainedModel, batch: TaskBatch) -> torch.Tensor:
        if self.spec.output == "sequence":
            return next_token_loss(model, self.hidden(model, batch), batch.target)
        h = self.answer_hidden(model, batch)
        if self.head:
            out = model.task_output(h[:, 0]).float()
            if self.spec.output == "token":
                return F.cross_entropy(out, batch.target[:, 0])
            return F.mse_loss(out[:, 0], batch.target)
        if self.spec.output == "token":
            return F.cross_entropy(model.token_logits(h).float().flatten(0, 1), batch.target.flatten())
        return F.mse_loss(model.regression_output(h[:, 0]).float(), batch.target)

    def scores(self, model: PretrainedModel, batch: TaskBatch) -> torch.Tensor:
        """What the model answers before any softmax: label logits ``[B, label columns, labels]``, or
        values ``[B]`` in the task's own units."""
        if self.spec.output == "sequence":
            raise ConfigError(f"task {self.spec.name} generates sequences: use `dnagpt generate`")
        h = self.answer_hidden(model, batch)
        if self.head:
            out = model.task_output(h[:, 0]).float()
            if self.spec.output == "token":
                return out[:, None, :]
            return out[:, 0] * self.target_std + self.target_mean
        if self.spec.output == "token":
            return model.token_logits(h).float()[..., self.label_ids]
        return model.regression_output(h[:, 0]).float() * self.target_std + self.target_mean

    def predict(self, model: PretrainedModel, batch: TaskBatch) -> torch.Tensor:
        """Probabilities ``[B, label columns, labels]`` (softmax over the label tokens), or values ``[B]``."""
        out = self.scores(model, batch)
        return torch.softmax(out, dim=-1) if self.spec.output == "token" else out

    def prompt_around(self) -> tuple[list[int], list[int]] | None:
        """The token ids this task's prompt puts before and after a sequence (the species token; the
        output and query tokens), or None where the prompt holds anything else (numbers, bases)
        or the vocabulary adds its own special tokens instead."""
        if self.head or self.spec.number_columns:
            return None
        marker = "\x00"
        before, after = self.spec.text(marker).split(marker)
        try:
            ids = [self.tok.encode(part).ids for part in (before, after)]
        except DNAGPTError:
            return None
        if any(i >= self.tok.first_base_id for part in ids for i in part):
            return None
        return ids[0], ids[1]

    def positive_label(self) -> str:
        """The label whose answer token is the "yes" token (A), else the first label."""
        for name in self.label_names:
            if self.spec.labels[name] in ("A", "<A>"):
                return name
        return self.label_names[0]

    def to_dict(self) -> dict:
        saved = {"spec": dataclasses.asdict(self.spec), "target_mean": self.target_mean, "target_std": self.target_std,
                 "readout": self.readout, "frames": self.frames}  # fmt: skip
        if self.alignment is not None:  # where the model read the aligned bases (predict reads it again)
            saved["alignment"] = str(Path(self.alignment.path).resolve())
        return saved

    def save(self, model_dir: str | Path) -> None:
        """Write ``task.json`` into a model directory, and its Hugging Face tokenizer with the task's
        prompt around every sequence, so a ``transformers`` pipeline reads bare sequences."""
        atomic_write_text(Path(model_dir) / TASK_FILE, json.dumps(self.to_dict(), indent=2) + "\n")
        around = self.prompt_around()
        if around is not None:
            self.tok.save_pretrained(model_dir, around=around)


def read_task_file(model_dir: str | Path) -> dict | None:
    """The ``task.json`` of a fine-tuned model directory, or None when there is none."""
    path = Path(model_dir) / TASK_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from e


def load_task_codec(model_dir: str | Path, model: PretrainedModel, alignment: Alignment | None = None) -> TaskCodec:
    """The task saved beside fine-tuned weights (``task.json``); a model that reads an alignment gets
    ``alignment``, or the one it was fine-tuned with."""
    saved = read_task_file(model_dir)
    path = Path(model_dir) / TASK_FILE
    if saved is None:
        raise ConfigError(f"{model_dir}: no {TASK_FILE}; is this a fine-tuned model directory?")
    keys = {"spec", "target_mean", "target_std"}
    if not isinstance(saved, dict) or not keys <= set(saved) <= keys | {"readout", "frames", "alignment"}:
        raise ConfigError(f"{path}: expected the keys spec, target_mean, target_std (and readout, frames, alignment)")
    mean, std = saved["target_mean"], saved["target_std"]
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (mean, std)) or std <= 0:
        raise ConfigError(f"{path}: target_mean and target_std must be finite numbers, std above 0")
    spec = TaskSpec.from_dict(saved["spec"], str(path))
    readout = saved.get("readout", "answer")  # files written before the mean readout existed
    frames = saved.get("frames", 1)  # files written before frame averaging existed
    if not isinstance(frames, int) or isinstance(frames, bool):
        raise ConfigError(f"{path}: frames must be a whole number, not {frames!r}")
    if model.aligned_species and alignment is None:
        if not saved.get("alignment"):
            raise ConfigError(f"{model_dir}: this model reads an alignment; give it (--alignment MAF)")
        alignment = read_maf(saved["alignment"])
    return TaskCodec(spec, model.tokenizer(), model.max_input_tokens, float(mean), float(std), readout, frames,
                     alignment if model.aligned_species else None)  # fmt: skip


def task_stop_symbols(model_dir: str | Path) -> list[str]:
    """The stop symbols of a model fine-tuned for generation (its task's stop and ``<P>``); [] otherwise."""
    saved = read_task_file(model_dir) if Path(model_dir).is_dir() else None
    if not saved:
        return []
    spec = TaskSpec.from_dict(saved.get("spec") if isinstance(saved, dict) else saved, str(Path(model_dir) / TASK_FILE))
    return [spec.stop, "<P>"] if spec.output == "sequence" else []
