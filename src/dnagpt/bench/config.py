"""What a bench runs: :class:`BenchConfig`, with the fine-tuning recipe every neural model shares."""

from __future__ import annotations

import dataclasses
from dataclasses import field, replace
from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..resources import BUNDLED_DATASETS
from ..tasks.recipe import FinetuneConfig, Sweep
from ..validation import build, settings

SPLITS = ("train", "dev", "test")
PRIMARY = {"token": "mcc", "number": "r2"}  # the metric each kind of task is judged by
CURVE_TASKS = ["promoter-core-human", "ctcf-human", "tf-human"]  # short windows: "all" examples stays affordable

# The bench's fine-tuning recipe: dnagpt finetune's, shorter (4 epochs of 16, patience 2) so that a
# full bench fits a CPU day, under bf16 autocast where supported, and quiet. Fields left None are
# settled per model as dnagpt finetune settles them (FinetuneConfig.for_model).
BENCH_RECIPE = FinetuneConfig(epochs=4, lr=1e-3, batch_size=16, patience=2, precision="auto", readout="answer",
                              progress=False, tensorboard=False)  # fmt: skip
# The recipe fields a bench sets (its results record and --options); the rest are the recipe's own.
RECIPE_FIELDS = ("epochs", "lr", "batch_size", "patience", "readout", "frame_shift", "shrink")


@settings(frozen=True)
class BenchConfig:
    """What a bench runs. Task names are datasets of ``dnagpt data build`` or folders holding a
    ``task.toml`` and ``train`` / ``dev`` / ``test`` tables (your own data)."""

    tasks: list[str] = field(default_factory=list)  # empty: every labelled dataset of `dnagpt data build`
    models: list[str] = field(default_factory=list)  # empty: every default model of the bench that fits the task
    seeds: Annotated[int, Field(ge=1)] = 5  # seeds 0 .. seeds-1, each a paired replicate
    # the model fine-tuned as is, and whose architecture is trained from scratch beside it
    pretrained: str = "dnagpt-small-multispecies-continued"
    max_train: Annotated[int, Field(ge=0)] = 1000  # training examples per run, drawn by the seed (0 = all)
    max_dev: Annotated[int, Field(ge=0)] = 500  # dev examples kept (0 = all): scored every epoch, so they cost time
    max_eval: Annotated[int, Field(ge=0)] = 0  # dev and test examples kept (0 = all; for quick looks only)
    curve_tasks: list[str] = field(default_factory=lambda: list(CURVE_TASKS))  # learning curves on these
    curve_sizes: list[Annotated[int, Field(ge=0)]] = field(default_factory=lambda: [100, 300, 1000, 0])  # 0 = all
    # every neural model's fine-tuning recipe; its readout is the decoder's (an encoder reads where
    # default_readout says), and a seed is each run's own
    recipe: FinetuneConfig = BENCH_RECIPE
    sweep: Sweep = Sweep()  # learning rates and warm starts tried per model and seed, dev picking
    cnn_epochs: Annotated[int, Field(ge=1)] = 15  # CNN epochs at most (best dev epoch and learning rate kept)
    # CNN epochs without a better dev MCC before a learning rate's run stops (0: never). Off by default:
    # the CNN's dev score is noisy and its best epoch often late (docs/findings.md)
    cnn_patience: Annotated[int, Field(ge=0)] = 0
    data: str = ""  # where datasets are built (default: the cache)

    def has_curve(self, task: str) -> bool:
        """Whether ``task`` gets a learning curve (a task folder may be named by its path or its name)."""
        return task in self.curve_tasks or Path(task).name in self.curve_tasks

    @property
    def lrs(self) -> list[float]:
        """The learning rates a fine-tuning run tries (one: the recipe's)."""
        return list(self.sweep.lrs) or [self.recipe.lr]

    def record(self) -> dict:
        """The settings as ``bench.json`` keeps them: one flat table, a list where a sweep tries several."""
        recipe = {name: getattr(self.recipe, name) for name in RECIPE_FIELDS}
        if len(self.sweep.lrs) > 1:
            recipe["lr"] = list(self.sweep.lrs)
        if len(self.sweep.shrinks) > 1:
            recipe["shrink"] = list(self.sweep.shrinks)
        return {"tasks": self.tasks, "models": self.models, "seeds": self.seeds, "pretrained": self.pretrained,
                "max_train": self.max_train, "max_dev": self.max_dev, "max_eval": self.max_eval,
                "curve_tasks": self.curve_tasks, "curve_sizes": self.curve_sizes, **recipe,
                "cnn_epochs": self.cnn_epochs, "cnn_patience": self.cnn_patience, "data": self.data}  # fmt: skip

    @classmethod
    def from_record(cls, record: dict, where: str = "bench settings") -> BenchConfig:
        """The bench :meth:`record` describes (as ``dnagpt bench`` options, or a ``bench.json``)."""
        record = dict(record)
        recipe = {name: record.pop(name) for name in RECIPE_FIELDS if name in record}
        sweep = {}
        for name, many in (("lr", "lrs"), ("shrink", "shrinks")):
            value = recipe.get(name)
            if isinstance(value, list):
                sweep[many] = tuple(value)
                recipe[name] = value[0] if len(value) == 1 else (BENCH_RECIPE.lr if name == "lr" else None)
        aliases = {name: f"recipe {name}" for name in RECIPE_FIELDS}
        recipe_cfg = build(FinetuneConfig, {**dataclasses.asdict(BENCH_RECIPE), **recipe}, where, aliases)
        many = {k: v for k, v in sweep.items() if len(v) > 1}
        return build(cls, {**record, "recipe": recipe_cfg, "sweep": Sweep(**many)}, where)


def quick_config(tasks: list[str] | None = None) -> BenchConfig:
    """A few-minute bench on the dataset that ships with dnagpt: two seeds, 64 training and 64 dev /
    test examples, one epoch; for checking an installation, not for conclusions."""
    return BenchConfig(tasks=tasks or [str(BUNDLED_DATASETS / "tis_arabidopsis")], seeds=2, max_train=64,
                       max_eval=64, curve_tasks=[], recipe=replace(BENCH_RECIPE, epochs=1), cnn_epochs=3)  # fmt: skip
