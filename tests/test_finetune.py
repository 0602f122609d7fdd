"""The fine-tuning entry point and the trainer's contract with its tasks."""

import json
import logging
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from dnagpt import DNAGPT, get_config
from dnagpt.data.fasta import format_fasta, read_fasta_records
from dnagpt.errors import ConfigError
from dnagpt.models import load_model
from dnagpt.tasks.finetune import finetune, starting_model
from dnagpt.tasks.recipe import FinetuneConfig, Sweep, default_lr
from dnagpt.tasks.spec import TaskData, TaskSpec, build_examples
from dnagpt.tasks.sweep import finetune_sweep
from dnagpt.tasks.warm_start import SHRINK_NOISE, shrink_and_perturb
from dnagpt.training.distributed import DistributedContext
from dnagpt.training.optimization import TrainConfig
from dnagpt.training.trainer import Trainer, TrainingTask

SPEC = TaskSpec.from_dict({"name": "gc", "template": "classification", "labels": {"1": "A", "0": "N"}})


def _examples(n, seed):
    """GC-rich (label 1) against AT-rich (label 0) 60-mers: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rich = i % 2
        probs = [0.1, 0.4, 0.4, 0.1] if rich else [0.4, 0.1, 0.1, 0.4]
        rows.append({"sequence": "".join(rng.choice(list("ACGT"), 60, p=probs)), "label": str(rich)})
    return build_examples(SPEC, rows, f"set{seed}")


def test_recipe_turns_epochs_into_steps():
    cfg = FinetuneConfig(epochs=2.5, batch_size=8, lr=1e-3)
    train = cfg.train_config(n_train=33)  # 33 examples = 5 steps of 8 (the last one short)
    assert (train.max_steps, train.warmup_steps, train.eval_every, train.save_every) == (12, 5, 5, 5)
    assert cfg.train_config(n_train=33, world_size=2).eval_every == 3
    assert FinetuneConfig(checkpoint_every=2, lr=1e-3).train_config(40).save_every == 2


def test_the_default_learning_rate_follows_the_model_size(tmp_path):
    small = DNAGPT(get_config("dnagpt-tiny"))
    assert FinetuneConfig().for_model(small, SPEC).lr == 1e-3  # the paper's 3e-5 barely moves a small model
    assert FinetuneConfig(lr=3e-5).for_model(small, SPEC).lr == 3e-5  # a given rate is kept
    assert default_lr(100_000_000) == 3e-5 and default_lr(19_999_999) == 1e-3  # the paper's, for its 0.1B
    with pytest.raises(ConfigError, match="not settled"):
        FinetuneConfig().train_config(40)
    cfg = FinetuneConfig(epochs=1, progress=False, tensorboard=False)
    result = finetune(small, TaskData(SPEC, _examples(16, 0), _examples(8, 1)), cfg, tmp_path / "run")
    recipe = json.loads((tmp_path / "run" / "finetune.json").read_text())["recipe"]
    assert result.lr == recipe["lr"] == 1e-3  # settled before the run starts, so a resume checks the same rate
    # a 6-mer model trains in all six reading frames and answers as their mean, also when reloaded
    assert recipe["frame_shift"] is True and json.loads((result.best_dir / "task.json").read_text())["frames"] == 6


def test_loaded_weights_are_shrunk_before_fine_tuning_and_random_weights_are_not(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="dnagpt")
    torch.manual_seed(0)
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "pretrained")
    loaded = load_model(tmp_path / "pretrained")
    random_weights = starting_model("dnagpt-tiny", from_scratch=True)
    assert FinetuneConfig().for_model(loaded, SPEC).shrink == 0.2  # the measured default for small DNAGPTs
    # a short run has too few steps to regrow shrunk weights: 100 examples, 4 epochs of 16 = 28 steps
    assert FinetuneConfig(epochs=4, batch_size=16).for_model(loaded, SPEC, n_train=100).shrink == 1.0
    assert FinetuneConfig(epochs=4, batch_size=16).for_model(loaded, SPEC, n_train=300).shrink == 0.2  # 76 steps
    assert FinetuneConfig(epochs=4, batch_size=16, shrink=0.2).for_model(loaded, SPEC, n_train=100).shrink == 0.2
    assert FinetuneConfig(shrink=0.5).for_model(loaded, SPEC).shrink == 0.5
    assert FinetuneConfig(lora_rank=4).for_model(loaded, SPEC).shrink == 1.0  # LoRA freezes the weights
    assert FinetuneConfig(shrink=0.5).for_model(random_weights, SPEC).shrink == 1.0  # nothing to shrink
    assert FinetuneConfig().for_model(load_model("gpn-small-multispecies"), SPEC).shrink == 1.0  # not measured

    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    shrink_and_perturb(loaded, 0.3, seed=1)
    after = loaded.state_dict()
    for name, w in before.items():
        if w.ndim < 2:  # layer-norm gains and biases stay as they are
            assert torch.equal(after[name], w), name
        elif w.numel() > 10_000:
            noise = after[name] - 0.3 * w
            assert abs(float(noise.std()) - SHRINK_NOISE) < 0.1 * SHRINK_NOISE, name
    again = load_model(tmp_path / "pretrained")
    shrink_and_perturb(again, 0.3, seed=1)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in after.items())  # the seed draws the noise

    cfg = FinetuneConfig(epochs=1, progress=False, tensorboard=False)
    finetune(
        load_model(tmp_path / "pretrained"), TaskData(SPEC, _examples(16, 0), _examples(8, 1)), cfg, tmp_path / "run"
    )
    recipe = json.loads((tmp_path / "run" / "finetune.json").read_text())["recipe"]
    assert recipe["shrink"] == 1.0  # settled for this 2-step run and recorded, so a resume checks it
    said = caplog.text  # and said before training
    assert "(2 steps at most)" in said and "pretrained weights as loaded" in said
    caplog.clear()
    finetune(
        load_model(tmp_path / "pretrained"),
        TaskData(SPEC, _examples(16, 0), _examples(8, 1)),
        replace(cfg, shrink=0.2),
        tmp_path / "run-shrunk",
    )
    assert json.loads((tmp_path / "run-shrunk" / "finetune.json").read_text())["recipe"]["shrink"] == 0.2
    assert "pretrained weights shrunk by 0.2" in caplog.text


def test_finetune_trains_selects_and_scores_the_test_set(tmp_path):
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    cfg = FinetuneConfig(epochs=8, lr=3e-3, batch_size=16, patience=0, progress=False, tensorboard=False)
    result = finetune(
        model, TaskData(SPEC, _examples(160, 0), _examples(32, 1), _examples(64, 2)), cfg, tmp_path / "run"
    )
    assert result.best_dir == tmp_path / "run" / "best" and result.lr == 3e-3
    assert result.dev["mcc"] > 0.5 and result.test["accuracy"] > 0.75
    assert json.loads((tmp_path / "run" / "test_metrics.json").read_text()) == result.test
    assert (tmp_path / "run" / "test_confusion.png").stat().st_size > 1000
    assert (tmp_path / "run" / "best" / "task.json").is_file()
    with pytest.raises(Exception, match="already holds a run"):
        finetune(model, TaskData(SPEC, _examples(8, 0), _examples(8, 1)), cfg, tmp_path / "run")


def test_mean_readout_trains_ignores_padding_and_is_saved_with_the_model(tmp_path):
    from dnagpt.tasks.codec import TaskCodec, load_task_codec
    from dnagpt.tasks.predict import evaluate_examples

    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    cfg = FinetuneConfig(epochs=8, lr=3e-3, batch_size=16, patience=0, readout="mean", progress=False,
                         tensorboard=False)  # fmt: skip
    result = finetune(
        model, TaskData(SPEC, _examples(160, 0), _examples(32, 1), _examples(64, 2)), cfg, tmp_path / "run"
    )
    assert result.test["accuracy"] > 0.75
    kept = DNAGPT.from_pretrained(result.best_dir)
    codec = load_task_codec(result.best_dir, kept)
    assert codec.readout == "mean"
    assert evaluate_examples(codec, kept, _examples(64, 2), "cpu")[0] == result.test
    # a short sequence pooled alone and beside a longer one (so with padding after it): the same vector
    short, long = build_examples(
        SPEC, [{"sequence": "ACGT" * 6, "label": "1"}, {"sequence": "GC" * 30, "label": "0"}], "pad"
    )
    with torch.no_grad():
        alone = codec.answer_hidden(kept, codec.batch([short]))
        padded = codec.answer_hidden(kept, codec.batch([short, long]))
    torch.testing.assert_close(alone[0], padded[0])
    two_columns = TaskSpec.from_dict({"name": "two", "template": "classification", "labels": {"1": "A", "0": "N"},
                                      "label_columns": ["a", "b"]})  # fmt: skip
    with pytest.raises(Exception, match="one label column"):
        TaskCodec(two_columns, kept.tokenizer(), 64, readout="mean")


def test_lr_sweep_keeps_the_best_dev_run(tmp_path):
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    cfg = FinetuneConfig(epochs=2, batch_size=8, progress=False, tensorboard=False)
    best, by_setting = finetune_sweep(
        model, TaskData(SPEC, _examples(48, 0), _examples(24, 1)), cfg, tmp_path, Sweep(lrs=[3e-3, 1e-6])
    )
    assert set(by_setting) == {(3e-3, None), (1e-6, None)}
    assert (best.lr, None) == max(by_setting, key=by_setting.get)
    assert best.best_dir == tmp_path / "best"  # the kept run's model, copied where a single run keeps it
    kept = tmp_path / f"lr{best.lr:g}" / "best" / "model.safetensors"
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == kept.read_bytes()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["kept"] == f"lr{best.lr:g}" and [r["folder"] for r in sweep["runs"]] == ["lr0.003", "lr1e-06"]
    assert best.test is None and not (tmp_path / "test_metrics.json").exists()  # no test set given


def test_a_sweep_over_warm_starts_tries_each_shrink_and_keeps_the_best_dev_run(tmp_path):
    torch.manual_seed(0)
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "m")
    loaded = DNAGPT.from_pretrained(tmp_path / "m")
    cfg = FinetuneConfig(epochs=2, batch_size=8, progress=False, tensorboard=False)
    train, dev = _examples(48, 0), _examples(24, 1)
    test = _examples(24, 2)
    best, by_setting = finetune_sweep(
        loaded, TaskData(SPEC, train, dev, test), cfg, tmp_path / "run", Sweep(lrs=[3e-3], shrinks=[1.0, 0.2])
    )
    assert set(by_setting) == {(3e-3, 1.0), (3e-3, 0.2)}
    assert (best.lr, best.shrink) == max(by_setting, key=by_setting.get)
    assert best.best_dir == tmp_path / "run" / "best"
    # only the kept run meets the test set
    assert json.loads((tmp_path / "run" / "test_metrics.json").read_text()) == best.test
    assert not list((tmp_path / "run").glob("lr*/test_metrics.json"))
    for shrink in (1.0, 0.2):  # each run recorded the warm start it was given
        recipe = json.loads((tmp_path / "run" / f"lr0.003-shrink{shrink:g}" / "finetune.json").read_text())["recipe"]
        assert recipe["shrink"] == shrink
    with pytest.raises(ConfigError, match="as a number"):
        finetune_sweep(
            loaded, TaskData(SPEC, train, dev), cfg, tmp_path / "other", Sweep(lrs=[3e-3], shrinks=[None, 0.2])
        )
    one, _ = finetune_sweep(
        loaded, TaskData(SPEC, train, dev), replace(cfg, shrink=0.5), tmp_path / "one", Sweep(lrs=[3e-3])
    )
    assert one.shrink == 0.5  # without shrinks, the recipe's own warm start
    assert one.best_dir == tmp_path / "one" / "best" and not (tmp_path / "one" / "sweep.json").exists()  # a plain run


def test_from_scratch_takes_the_architecture_of_a_model_directory(tmp_path):
    torch.manual_seed(5)
    DNAGPT(get_config("dnagpt-tiny", n_layer=1)).save_pretrained(tmp_path / "m")
    a = starting_model(str(tmp_path / "m"), from_scratch=True, seed=3)
    b = starting_model(str(tmp_path / "m"), from_scratch=True, seed=3)
    saved = DNAGPT.from_pretrained(tmp_path / "m")
    assert a.config.n_layer == 1
    assert torch.equal(a.transformer.wte.weight, b.transformer.wte.weight)  # seeded
    assert not torch.equal(a.transformer.wte.weight, saved.transformer.wte.weight)  # not the saved weights


class _Mean(TrainingTask):
    """A third task in a few lines: the regression head learns to output 2.0 at every position."""

    def __init__(self):
        self.seen = []

    def batch(self, indices):
        self.seen.append(list(indices))
        tok = get_config("dnagpt-tiny").tokenizer()
        return tok.batch_encode(["<R>ACGTACGTACGT"] * len(indices))

    def loss(self, model, batch):
        out = model(batch.input_ids)
        loss = ((out.regression - 2.0) ** 2).mean()
        return loss, {"loss": loss.detach()}

    def evaluate(self, model, device, autocast):
        return {"mse": float(self.loss(model, self.batch(range(2)).to(device))[0])}


def test_a_new_task_is_one_small_class(tmp_path):
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    task = _Mean()
    cfg = TrainConfig(max_steps=30, batch_size=3, grad_accum=2, lr=1e-2, warmup_steps=1, eval_every=0,
                      save_every=100, precision="fp32", progress=False, tensorboard=False)  # fmt: skip
    result = Trainer(model, task, cfg, tmp_path, DistributedContext()).train()
    # the trainer owns the sample arithmetic: step 0 draws 0-2 and 3-5, step 1 draws 6-8 and 9-11
    assert task.seen[:4] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert result.evaluation["mse"] < 0.1
    assert not (tmp_path / "best").exists()  # no selection metric: nothing kept


class _BadSampleSix(_Mean):
    """A task whose sample 6 cannot be made (a bad record, say)."""

    def batch(self, indices):
        if 6 in indices:
            raise ValueError("sample 6: not a DNA sequence")
        return super().batch(indices)


def _tiny_run(run_dir, task, prefetch):
    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    cfg = TrainConfig(max_steps=5, batch_size=3, grad_accum=2, lr=1e-2, warmup_steps=1, eval_every=0,
                      save_every=100, precision="fp32", progress=False, tensorboard=False, log_every=1,
                      prefetch=prefetch)  # fmt: skip
    Trainer(model, task, cfg, run_dir, DistributedContext()).train()
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in lines if r["split"] == "train"], model.state_dict()


class _MadeWhere(_Mean):
    """Records which thread made each batch."""

    def __init__(self):
        super().__init__()
        self.threads = []

    def batch(self, indices):
        self.threads.append(threading.current_thread().name)
        return super().batch(indices)


def test_prefetched_batches_train_the_same_model_and_pass_on_their_errors(tmp_path):
    plain = _MadeWhere()
    losses, weights = _tiny_run(tmp_path / "plain", plain, prefetch="auto")  # auto: inline on a CPU
    task = _MadeWhere()
    losses_prefetched, weights_prefetched = _tiny_run(tmp_path / "prefetched", task, prefetch=True)
    assert set(plain.threads) == {threading.current_thread().name}
    assert task.threads[0] == threading.current_thread().name  # the first batch: nothing to overlap yet
    assert all(name.startswith("dnagpt-batches") for name in task.threads[1:10])  # the rest while steps ran
    assert losses == losses_prefetched and len(losses) == 5
    assert all(torch.equal(weights[k], weights_prefetched[k]) for k in weights)
    assert task.seen[:10] == [list(range(i, i + 3)) for i in range(0, 30, 3)]  # made in order, none twice
    for prefetch in (False, True):  # the error made on the worker thread reaches the caller unchanged
        with pytest.raises(ValueError, match="sample 6: not a DNA sequence"):
            _tiny_run(tmp_path / f"bad-{prefetch}", _BadSampleSix(), prefetch=prefetch)


def test_frame_shift_shows_each_training_sequence_in_every_reading_frame(tmp_path):
    from dnagpt.tasks.codec import TaskCodec
    from dnagpt.tasks.finetune import FinetuneTask

    model = DNAGPT(get_config("dnagpt-tiny"))
    codec = TaskCodec(SPEC, model.tokenizer(), model.max_input_tokens)
    train = _examples(6, 0)
    task = FinetuneTask(codec, train, [], seed=3, eval_batch=8, frame_shift=True)
    first = train[0]
    shifted = [task._shifted(first, g) for g in range(60)]
    assert {len(first.sequence) - len(e.sequence) for e in shifted} == set(range(6))  # all six frames of 6-mers
    assert all(first.sequence.endswith(e.sequence) and e.text == SPEC.text(e.sequence) for e in shifted)
    assert all(e.labels == first.labels and e.row == first.row for e in shifted)
    assert [task._shifted(first, g) for g in range(60)] == shifted  # drawn from (seed, sample): a resume draws alike
    assert task._shifted(build_examples(SPEC, [{"sequence": "AC", "label": "1"}], "short")[0], 5).sequence != ""
    batch, plain = task.batch(range(12)), FinetuneTask(codec, train, [], seed=3, eval_batch=8).batch(range(12))
    assert torch.equal(batch.target, plain.target) and not torch.equal(batch.input_ids, plain.input_ids)
    cfg = FinetuneConfig(epochs=1, frame_shift=True, progress=False, tensorboard=False)
    with pytest.raises(Exception, match="frame_shift serves models that read k-mer tokens"):  # single bases
        finetune(starting_model("gpn-tiny", from_scratch=True), TaskData(SPEC, train, train), cfg, tmp_path / "gpn")


def test_a_k_mer_model_answers_as_the_mean_over_its_reading_frames(tmp_path):
    from dnagpt.tasks.codec import TaskCodec, load_task_codec
    from dnagpt.tasks.predict import predict_examples

    torch.manual_seed(0)
    model = DNAGPT(get_config("dnagpt-tiny"))
    tok = model.tokenizer()
    averaged = TaskCodec(SPEC, tok, model.max_input_tokens, frames=6)
    once = TaskCodec(SPEC, tok, model.max_input_tokens)
    rows = [{"sequence": "ACGTTGCA"[: 3 + i % 6] * (1 + i), "label": str(i % 2)} for i in range(9)]  # many lengths
    examples = build_examples(SPEC, rows, "mixed")
    got = predict_examples(averaged, model, examples, batch_size=4)
    for e, p in zip(examples, got, strict=True):
        each_frame = predict_examples(once, model, [averaged.shifted(e, drop) for drop in range(6)])
        assert np.allclose(p, each_frame.mean(0), atol=1e-6)
    assert not np.allclose(got, predict_examples(once, model, examples), atol=1e-4)  # the frames do differ
    assert averaged.shifted(examples[0], 5).sequence == examples[0].sequence[-1:]  # a base is always kept

    averaged.save(tmp_path)
    assert load_task_codec(tmp_path, model).frames == 6
    saved = json.loads((tmp_path / "task.json").read_text())
    (tmp_path / "task.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "frames"}))
    assert load_task_codec(tmp_path, model).frames == 1  # a model fine-tuned before frame averaging existed
    (tmp_path / "task.json").write_text(json.dumps(saved | {"frames": "6"}))
    with pytest.raises(ConfigError, match="frames must be a whole number"):
        load_task_codec(tmp_path, model)
    with pytest.raises(ConfigError, match="frames must be 1 or the tokenizer's 6"):
        TaskCodec(SPEC, tok, model.max_input_tokens, frames=3)

    cfg = FinetuneConfig()  # the default: on for k-mer models, off where there is one reading frame
    assert cfg.for_model(model, SPEC).frame_shift is True
    assert cfg.for_model(starting_model("gpn-tiny", from_scratch=True), SPEC).frame_shift is False
    generation = TaskSpec.from_dict({"name": "gen", "template": "generation"})
    assert cfg.for_model(model, generation).frame_shift is False
    assert FinetuneConfig(frame_shift=False).for_model(model, SPEC).frame_shift is False


def test_fasta_writer_round_trips(tmp_path):
    records = [("one", "ACGT" * 30), ("two desc", "N" * 5)]
    text = format_fasta(records, width=50)
    assert text.splitlines()[1] == "ACGT" * 12 + "AC" and len(text.splitlines()) == 6
    (tmp_path / "x.fa").write_text(text)
    assert read_fasta_records(tmp_path / "x.fa") == [("one", "ACGT" * 30), ("two", "N" * 5)]


def test_a_finished_run_keeps_its_model_not_its_checkpoint_unless_asked(tmp_path):
    """The resumable checkpoint (optimiser state) goes once a run finishes; --resume then finds the run
    finished and trains no further, and asks for a new run to train more. --keep-checkpoint keeps it."""
    from dnagpt.tasks.finetune import run_started

    torch.manual_seed(0)
    DNAGPT(get_config("dnagpt-tiny")).save_pretrained(tmp_path / "pretrained")
    data = TaskData(SPEC, _examples(16, 0), _examples(8, 1))
    cfg = FinetuneConfig(epochs=1, progress=False, tensorboard=False)
    done = finetune(load_model(tmp_path / "pretrained"), data, cfg, tmp_path / "run")
    assert not any((tmp_path / "run").glob("checkpoint.pt*"))  # the state and its digest
    assert (done.best_dir / "model.safetensors").is_file() and run_started(tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run"):
        finetune(load_model(tmp_path / "pretrained"), data, cfg, tmp_path / "run")
    again = finetune(load_model(tmp_path / "pretrained"), data, cfg, tmp_path / "run", resume=True)
    assert again.dev == done.dev
    with pytest.raises(ConfigError, match="keep-checkpoint"):
        finetune(load_model(tmp_path / "pretrained"), data, replace(cfg, epochs=2), tmp_path / "run", resume=True,
                 allow_changes=["recipe.epochs"])  # fmt: skip
    finetune(load_model(tmp_path / "pretrained"), data, cfg, tmp_path / "kept", keep_checkpoint=True)
    assert (tmp_path / "kept" / "checkpoint.pt").is_file()
