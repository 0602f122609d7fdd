"""Fine-tuning and prediction for classification and regression tasks.

The model reads the task's prompt and answers at its last position: the token
head scores the label tokens (classification), or the regression head gives a
number (regression; targets are standardised with the training mean and
standard deviation, which are saved with the model). A generation task instead
learns to write each sequence, then the task's stop symbol, after its prompt. Training runs on the same
:class:`~dnagpt.training.trainer.Trainer` as pretraining: resume, progress, logs,
torchrun; the best model by the dev metric is kept in ``run_dir/best``.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.pretraining import IGNORE
from ..errors import ConfigError
from ..evaluation.metrics import classification_metrics, regression_metrics
from ..io import atomic_write_text
from ..model import DNAGPT
from ..tokenizer import KmerTokenizer
from ..training.distributed import DistributedContext
from ..training.objectives import next_token_loss
from ..training.trainer import TrainConfig, Trainer
from .spec import Example, TaskSpec, build_examples

TASK_FILE = "task.json"  # saved beside the fine-tuned weights


@dataclass
class Batch:
    input_ids: torch.Tensor
    numbers: torch.Tensor
    number_mask: torch.Tensor
    answers: torch.Tensor  # [B, L] positions of the answers (L label columns; 1 for regression)
    target: torch.Tensor  # [B, L] answer token ids, [B] standardised values, or [B, T] next tokens

    def to(self, device) -> Batch:
        fields = (self.input_ids, self.numbers, self.number_mask, self.answers, self.target)
        return Batch(*(t.to(device) for t in fields))


class TaskHead:
    """Turns examples into batches and model outputs into answers, for one task."""

    def __init__(self, spec: TaskSpec, tok: KmerTokenizer, context: int, target_mean=0.0, target_std=1.0) -> None:
        self.spec, self.tok, self.context = spec, tok, context
        self.label_names = list(spec.labels)
        self.label_ids = [tok.token_id(f"<{spec.labels[name].strip('<>')}>") for name in self.label_names]
        if len(set(self.label_ids)) != len(self.label_ids):
            raise ConfigError(f"task {spec.name}: two labels map to the same token")
        self.target_mean, self.target_std = target_mean, target_std

    def batch(self, examples: list[Example], source: str = "data") -> Batch:
        generating = self.spec.output == "sequence"
        suffix = self.spec.stop if generating else ""  # a generation task learns to end with its stop symbol
        encs = [self.tok.encode(e.text + suffix) for e in examples]
        for e, enc in zip(examples, encs, strict=True):
            if len(enc) > self.context:
                raise ConfigError(
                    f"{source}, row {e.row}: {len(enc)} tokens{' with the stop symbol' if generating else ''}, "
                    f"more than the model's context of {self.context} "
                    f"(about {(self.context - 4) * self.tok.k} bp of sequence)"
                )
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
        return Batch(tb.input_ids, tb.numbers, tb.number_mask, answers, target)

    def answer_hidden(self, model: DNAGPT, batch: Batch) -> torch.Tensor:
        """Hidden states at the answer positions, ``[B, L, d_model]``."""
        h = model(batch.input_ids, batch.numbers, batch.number_mask, compute_heads=False).hidden_states
        return h[torch.arange(h.shape[0], device=h.device)[:, None], batch.answers]

    def loss(self, model: DNAGPT, batch: Batch) -> torch.Tensor:
        if self.spec.output == "sequence":
            hidden = model(batch.input_ids, batch.numbers, batch.number_mask, compute_heads=False).hidden_states
            return next_token_loss(model, hidden, batch.target)
        h = self.answer_hidden(model, batch)
        if self.spec.output == "token":
            return F.cross_entropy(model.token_logits(h).float().flatten(0, 1), batch.target.flatten())
        return F.mse_loss(model.regression_output(h[:, 0]).float(), batch.target)

    def predict(self, model: DNAGPT, batch: Batch) -> torch.Tensor:
        """Probabilities ``[B, label columns, labels]`` (softmax over the label tokens), or values ``[B]``."""
        if self.spec.output == "sequence":
            raise ConfigError(f"task {self.spec.name} generates sequences: use `dnagpt generate`")
        h = self.answer_hidden(model, batch)
        if self.spec.output == "token":
            return torch.softmax(model.token_logits(h).float()[..., self.label_ids], dim=-1)
        return model.regression_output(h[:, 0]).float() * self.target_std + self.target_mean

    def to_dict(self) -> dict:
        return {"spec": self.spec.__dict__, "target_mean": self.target_mean, "target_std": self.target_std}


class _Objective(nn.Module):
    def __init__(self, model: DNAGPT, head: TaskHead) -> None:
        super().__init__()
        self.model, self.head = model, head

    def forward(self, batch: Batch):
        loss = self.head.loss(self.model, batch)
        return loss, {"loss": loss.detach()}


class FinetuneTask:
    """A :class:`TrainingTask` over a table of examples, evaluated on a dev table."""

    def __init__(self, head: TaskHead, train: list[Example], dev: list[Example], batch_size: int, seed: int, device):
        self.head, self.train, self.dev = head, train, dev
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.selection_metric = {"token": "mcc", "number": "r2", "sequence": "loss"}[head.spec.output]
        self.higher_is_better = head.spec.output != "sequence"

    def batch(self, step: int, micro: int, rank: int, world: int, micro_per_step: int) -> Batch:
        first = ((step * micro_per_step + micro) * world + rank) * self.batch_size
        n = len(self.train)
        picks = []
        for g in range(first, first + self.batch_size):  # epoch-wise shuffles, a pure function of the index
            order = np.random.default_rng([self.seed, g // n]).permutation(n)
            picks.append(self.train[int(order[g % n])])
        return self.head.batch(picks).to(self.device)

    def loss_module(self, model: DNAGPT) -> nn.Module:
        return _Objective(model, self.head)

    def tokens(self, batch: Batch) -> int:
        return int(batch.input_ids.numel())

    def evaluate(self, model: DNAGPT, device, autocast: contextlib.AbstractContextManager) -> dict:
        return evaluate_examples(self.head, model, self.dev, device, autocast, self.batch_size * 4)


def evaluate_examples(head: TaskHead, model: DNAGPT, examples: list[Example], device, autocast, batch_size=32) -> dict:
    """Metrics of the model on labelled examples (held-out loss for generation tasks)."""
    if head.spec.output == "sequence":
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(examples), batch_size):
                batch = head.batch(examples[i : i + batch_size]).to(device)
                n = int((batch.target != IGNORE).sum())
                with autocast:
                    total += float(head.loss(model, batch)) * n
                count += n
        return {"loss": total / count, "perplexity": math.exp(total / count)}
    preds = predict_examples(head, model, examples, device, autocast, batch_size)
    if head.spec.output != "token":
        return regression_metrics([e.value for e in examples], preds)
    positive = head.label_names.index(_positive_label(head))
    per_column = []
    for j in range(len(head.spec.label_columns)):
        truth = np.array([head.label_names.index(e.labels[j]) == positive for e in examples], dtype=int)
        chosen = (preds[:, j].argmax(-1) == positive).astype(int)
        per_column.append(classification_metrics(truth, chosen, preds[:, j, positive]))
    if len(per_column) == 1:
        return {k: float(v) for k, v in per_column[0].items()}
    # several label columns: macro averages, then each column's metrics
    out = {k: float(np.mean([m[k] for m in per_column])) for k in ("accuracy", "f1", "mcc", "auroc")}
    for column, m in zip(head.spec.label_columns, per_column, strict=True):
        out |= {f"{column}:{k}": float(v) for k, v in m.items()}
    return out


def predict_examples(
    head: TaskHead, model: DNAGPT, examples: list[Example], device, autocast, batch_size=32, windows: bool = False
):
    """Predictions as a NumPy array: probabilities ``[N, label columns, labels]`` or values ``[N]``.

    With ``windows=True`` a sequence too long for the context is cut into consecutive
    windows (each with the full prompt around it) whose predictions are averaged.
    """
    owners = list(range(len(examples)))
    if windows:
        examples, owners = _windowed(head, examples)
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = head.batch(examples[i : i + batch_size]).to(device)
            with autocast:
                out.append(head.predict(model, batch).float().cpu())
    preds = torch.cat(out).numpy()
    if not windows:
        return preds
    owners_arr = np.array(owners)
    return np.stack([preds[owners_arr == i].mean(0) for i in range(owners[-1] + 1)])


def _windowed(head: TaskHead, examples: list[Example]) -> tuple[list[Example], list[int]]:
    """Split each example whose prompt exceeds the context into context-sized windows."""
    spec, tok = head.spec, head.tok
    out, owners = [], []
    for i, e in enumerate(examples):
        overhead = len(tok.encode(spec.text("", e.numbers)))
        room_bp = (head.context - overhead) * tok.k
        if room_bp <= 0:
            raise ConfigError(f"row {e.row}: the prompt alone fills the model's context")
        bases = "".join(e.sequence.split())
        for start in range(0, len(bases), room_bp):
            chunk = bases[start : start + room_bp]
            out.append(Example(e.row, spec.text(chunk, e.numbers), chunk, e.numbers, e.labels, e.value))
            owners.append(i)
    return out, owners


def _positive_label(head: TaskHead) -> str:
    """The label whose answer token is the "yes" token (A), else the first label."""
    for name in head.label_names:
        if head.spec.labels[name] in ("A", "<A>"):
            return name
    return head.label_names[0]


def run_finetuning(
    model: DNAGPT,
    spec: TaskSpec,
    train: list[Example],
    dev: list[Example],
    cfg: TrainConfig,
    run_dir: str | Path,
    epochs: float,
    device: str = "auto",
    resume: bool = False,
    lora_rank: int = 0,
    lora_alpha: float = 16.0,
) -> dict:
    """Fine-tune ``model`` on ``train``, select on ``dev``; returns the best dev metrics.

    ``lora_rank > 0`` trains LoRA adapters (and the heads) instead of every weight.
    """
    run_dir = Path(run_dir)
    dist = DistributedContext.from_environment(device)
    tok = model.tokenizer()
    mean, std = 0.0, 1.0
    if spec.output == "number":
        values = np.array([e.value for e in train])
        mean, std = float(values.mean()), float(max(values.std(), 1e-8))
    head = TaskHead(spec, tok, model.config.context_length, mean, std)
    per_step = cfg.batch_size * cfg.grad_accum * dist.world_size
    steps_per_epoch = max(1, math.ceil(len(train) / per_step))
    cfg.max_steps = max(1, round(epochs * steps_per_epoch))
    if cfg.eval_every == 0:
        cfg.eval_every = steps_per_epoch
    task = FinetuneTask(head, train, dev, cfg.batch_size, cfg.seed, dist.device)
    if lora_rank:
        from .lora import add_lora, merged_state_dict

        trainable = add_lora(model, lora_rank, lora_alpha)
        task.export_weights = lambda state: merged_state_dict(state, lora_rank, lora_alpha)
        if dist.is_main:
            print(f"LoRA rank {lora_rank}: {trainable:,} trainable parameters")
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / TASK_FILE, json.dumps(head.to_dict(), indent=2) + "\n")
    Trainer(model, task, cfg, run_dir, dist).train(resume=resume)
    if dist.is_main and (run_dir / "best").exists():
        atomic_write_text(run_dir / "best" / TASK_FILE, json.dumps(head.to_dict(), indent=2) + "\n")
    dist.barrier()
    dist.close()
    best = run_dir / "best" / "selection.json"
    return json.loads(best.read_text()) if dist.is_main and best.exists() else {}


def load_splits(
    spec: TaskSpec, train: str, dev: str | None, test: str | None, seed: int, out_dir: Path
) -> tuple[list[Example], list[Example], list[Example] | None]:
    """Train / dev / test examples from the given tables.

    Without a dev table the training table is split with ``seed``: 6 : 1.5 : 2.5 into
    train / dev / test, or 6 : 1.5 into train / dev when a test table is given. The
    split's row numbers are saved in ``out_dir/split.json``. Every table is checked
    before any training starts.
    """
    from .tables import read_rows, split_rows

    test_examples = build_examples(spec, read_rows(test, spec.sequence_column), test) if test else None
    rows = read_rows(train, spec.sequence_column)
    if dev:
        dev_examples = build_examples(spec, read_rows(dev, spec.sequence_column), dev)
        return build_examples(spec, rows, train), dev_examples, test_examples
    fractions = (0.8, 0.2, 0.0) if test else (0.6, 0.15, 0.25)
    parts = dict(zip(("train", "dev", "test"), split_rows(list(range(len(rows))), seed, fractions), strict=True))
    built = {
        name: build_examples(spec, [rows[i] for i in idx], train, row_numbers=[i + 1 for i in idx])
        for name, idx in parts.items()
        if idx
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    split = {"seed": seed, "rows": {k: [i + 1 for i in v] for k, v in parts.items()}}
    atomic_write_text(out_dir / "split.json", json.dumps(split) + "\n")
    return built["train"], built["dev"], test_examples or built.get("test")


def load_task_head(model_dir: str | Path, model: DNAGPT) -> TaskHead:
    """The task saved beside fine-tuned weights (``task.json``)."""
    path = Path(model_dir) / TASK_FILE
    if not path.is_file():
        raise ConfigError(f"{model_dir}: no {TASK_FILE}; is this a fine-tuned model directory?")
    d = json.loads(path.read_text())
    spec = TaskSpec(**d["spec"])
    return TaskHead(spec, model.tokenizer(), model.config.context_length, d["target_mean"], d["target_std"])
