"""Several fine-tuning runs side by side (learning rates, warm starts), dev keeping the best."""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from ..data.alignment import Alignment
from ..device import resolve_device
from ..io import atomic_write_text
from ..models import PretrainedModel
from ..training.distributed import is_main_process
from .codec import selection_metric
from .finetune import FinetuneResult, finetune, run_started, score_test_set
from .recipe import FinetuneConfig, Sweep
from .spec import TaskData


def finetune_sweep(
    model: PretrainedModel,
    data: TaskData,
    cfg: FinetuneConfig,
    run_dir: str | Path,
    sweep: Sweep | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    allow_changes: Collection[str] = (),
    alignment: Alignment | None = None,
    keep_checkpoint: bool = False,
) -> tuple[FinetuneResult, dict[tuple[float, float | None], float]]:
    """Fine-tune ``model`` at each setting of ``sweep`` (the recipe's own when it names none), keep
    the run with the best dev score, and score ``data.test`` once with it; the test set plays no
    part in the choice.

    One setting is a plain :func:`~.finetune.finetune` in ``run_dir``. Several each get their own
    run in ``RUN/lr<lr>`` (``RUN/lr<lr>-shrink<s>`` when several warm starts are tried; the last
    setting trains ``model`` itself, the others a copy); the kept run's model is then copied to
    ``RUN/best``, the dev score of every setting written to ``RUN/sweep.json`` and the test scores
    to ``RUN/test_metrics.json``. Returns the kept run and each (learning rate, shrink) setting's
    dev score. ``resume`` continues the runs a killed sweep left. ``alignment``: for a GPN-MSA model.
    ``keep_checkpoint``: each finished run keeps its resumable checkpoint (see :func:`~.finetune.finetune`)."""
    run_dir, sweep = Path(run_dir), sweep or Sweep()
    settings_tried = sweep.settings(cfg, cfg.for_model(model, data.spec).lr)
    several_shrinks = len(sweep.shrinks) > 1
    metric = selection_metric(data.spec)
    if len(settings_tried) == 1:
        lr, shrink = settings_tried[0]
        one = finetune(model, data, replace(cfg, lr=lr, shrink=shrink), run_dir, device=device,
                       resume=resume and run_started(run_dir), allow_changes=allow_changes, alignment=alignment,
                       keep_checkpoint=keep_checkpoint)  # fmt: skip
        return one, {(lr, shrink): one.dev.get(metric, float("nan"))}
    runs, folders = {}, {}
    without_test = replace(data, test=None)  # only the kept run is scored on test
    for i, (lr, shrink) in enumerate(settings_tried):
        folders[lr, shrink] = f"lr{lr:g}" + (f"-shrink{shrink:g}" if several_shrinks else "")
        out = run_dir / folders[lr, shrink]
        start = model if i == len(settings_tried) - 1 else copy.deepcopy(model)  # the last run may train the original
        runs[lr, shrink] = finetune(start, without_test, replace(cfg, lr=lr, shrink=shrink), out, device=device,
                                    resume=resume and run_started(out), allow_changes=allow_changes,
                                    alignment=alignment, keep_checkpoint=keep_checkpoint)  # fmt: skip
    sign = -1.0 if data.spec.output == "sequence" else 1.0  # generation: lower loss is better
    by_setting = {key: r.dev.get(metric, float("nan")) for key, r in runs.items()}
    key = max(settings_tried, key=lambda k: sign * by_setting[k] if not math.isnan(by_setting[k]) else float("-inf"))
    kept = runs[key]
    if not is_main_process() or not kept.best_dir.is_dir():
        return kept, by_setting
    kept.best_dir = _replace_folder(kept.best_dir, run_dir / "best")
    record = {"metric": metric, "kept": folders[key],
              "runs": [{"folder": folders[k], "lr": k[0], "shrink": runs[k].shrink, "dev": by_setting[k]}
                       for k in settings_tried]}  # fmt: skip
    atomic_write_text(run_dir / "sweep.json", json.dumps(record, indent=2) + "\n")
    if data.test:
        kept.test = score_test_set(kept.best_dir, data.test, run_dir, resolve_device(device), alignment)
    return kept, by_setting


def _replace_folder(source: Path, target: Path) -> Path:
    """Copy the folder ``source`` to ``target``, replacing what was there; a killed copy leaves the
    old ``target`` (or, between two renames, ``target`` missing and its old copy beside it)."""
    partial, old = target.with_name(f".{target.name}.partial"), target.with_name(f".{target.name}.old")
    for leftover in (partial, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, partial)
    if target.exists():
        target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target
