import json

import numpy as np
import pytest
import torch

from mmcl.config import RunConfig, parse_toml, resolve_config, shipped_recipes
from mmcl.data.batching import BatchSource
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.experiments.grid import ABLATION_GRID, load_grid, parse_spec
from mmcl.experiments.runs import data_info, seed_everything, train_run
from mmcl.models.registry import build_model
from mmcl.run_folder import load_run
from mmcl.training.state import load_state, save_state
from mmcl.training.trainer import StopTraining, Trainer

TINY = [
    "mmcl.d_model=16",
    "mmcl.ffn_dim=32",
    "train.batch_size=32",
    "train.lr=3e-3",
    "train.diagnostics=false",
]


@pytest.fixture(scope="module")
def small():
    return make_synthetic(SynthConfig(n_train=96, n_valid=32, n_test=32, seq_len=6, seed=4))


def _cfg(model="mmcl", epochs=3, extra=()):
    return resolve_config(model=model, epochs=epochs, overrides=[*TINY, "train.patience=0", *extra])


@pytest.mark.parametrize("spec", load_grid(ABLATION_GRID).models)
def test_every_ablation_variant_trains(tmp_path, small, spec):
    model, extra = parse_spec(spec)
    cfg = _cfg(model, epochs=6, extra=[*extra, 'train.scheduler="none"'])
    train_run(cfg, small, tmp_path)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 6
    assert log[-1]["train_pred_loss"] < log[0]["train_pred_loss"]


def test_state_roundtrip_keeps_int_keys_tuples_and_tensors(tmp_path):
    obj = {
        "state": {0: {"step": torch.tensor(3.0)}},
        "betas": (0.9, 0.999),
        "x": [torch.ones(2, dtype=torch.bool), None],
    }
    save_state(obj, tmp_path / "ck")
    back = load_state(tmp_path / "ck")
    assert list(back["state"]) == [0] and back["betas"] == (0.9, 0.999)
    assert torch.equal(back["x"][0], obj["x"][0]) and back["x"][1] is None


def test_checkpointed_run_reloads_and_predicts_identically(tmp_path, small):
    cfg = _cfg(epochs=2)
    seed_everything(0)
    model = build_model("mmcl", cfg.model_cfg(), data_info(small))
    Trainer(model, small, cfg.train, tmp_path).fit()  # leaves the best weights loaded
    from mmcl.run_folder import write_json

    write_json(tmp_path / "config.json", {**cfg.to_dict(), "data_info": data_info(small).to_dict()})
    src = BatchSource(small.splits["test"])
    reloaded, _, _ = load_run(tmp_path)
    np.testing.assert_array_equal(model.predict(src), reloaded.predict(src))
    # a run saved before mmcl.ffn_dim (width as ff_mult x d_model) loads as the same model
    saved = {**cfg.to_dict(), "data_info": data_info(small).to_dict()}
    d = saved["mmcl"]["d_model"]
    saved["mmcl"]["ff_mult"] = saved["mmcl"].pop("ffn_dim") // d
    write_json(tmp_path / "config.json", saved)
    old, old_cfg, _ = load_run(tmp_path)
    assert old_cfg.model_cfg().ffn_dim == cfg.model_cfg().ffn_dim
    np.testing.assert_array_equal(model.predict(src), old.predict(src))


@pytest.mark.parametrize(
    "variant, device",
    [
        ("reference", "cpu"),
        ("corrected", "cpu"),
        # dropout on a GPU draws from the device's generator, which the checkpoint carries
        pytest.param(
            "reference",
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
        ),
    ],
)
def test_resume_after_kill_matches_uninterrupted(tmp_path, small, variant, device):
    cfg = _cfg(epochs=4, extra=[f'mmcl.variant="{variant}"', f'train.device="{device}"'])
    full = train_run(cfg, small, tmp_path / "full")

    def kill(epoch, score):
        if epoch == 2:
            raise StopTraining

    with pytest.raises(StopTraining):
        train_run(cfg, small, tmp_path / "killed", on_epoch_end=kill)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = train_run(cfg, small, tmp_path / "killed", resume=True)
    assert resumed["test"] == full["test"] and resumed["best_epoch"] == full["best_epoch"]
    assert len((tmp_path / "killed" / "log.jsonl").read_text().splitlines()) == 4


def test_same_seed_same_numbers(tmp_path, small):
    cfg = _cfg(epochs=2)
    a = train_run(cfg, small, tmp_path / "a")
    b = train_run(cfg, small, tmp_path / "b")
    assert a["test"] == b["test"]


def test_selection_uses_validation_not_test(tmp_path, small):
    cfg = _cfg(model="late_fusion", epochs=5, extra=['train.selection_metric="MAE"'])
    result = train_run(cfg, small, tmp_path)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    best = min(range(len(log)), key=lambda i: log[i]["valid_MAE"])
    assert result["best_epoch"] == best
    assert result["valid"]["MAE"] == pytest.approx(log[best]["valid_MAE"], rel=1e-5)
    assert result["selection"] == {"metric": "MAE", "higher_is_better": False, "split": "valid"}


@pytest.mark.parametrize("name", shipped_recipes())
def test_every_shipped_recipe_resolves(name):
    """A recipe with an option its model refuses fails here, not in a user's run."""
    cfg = resolve_config(recipe=name)
    assert cfg.model and cfg.model_cfg() is not None


@pytest.mark.parametrize("name", shipped_recipes())
def test_every_shipped_recipe_written_back_as_toml_reads_the_same(name):
    """`mmcl tune` writes best.toml with to_toml: its per-modality tables included."""
    cfg = resolve_config(recipe=name)
    again = RunConfig.from_dict(parse_toml(cfg.to_toml("a comment"), name))
    assert again.to_dict() == cfg.to_dict()


def test_bad_overrides_are_named():
    with pytest.raises(UserError, match="unknown mmcl option"):
        resolve_config(model="mmcl", overrides=["mmcl.dmodel=3"])
    with pytest.raises(UserError, match="mmcl.csd = 'maybe'"):
        resolve_config(model="mmcl", overrides=['mmcl.csd="maybe"'])
    with pytest.raises(UserError, match="unknown train option"):
        resolve_config(overrides=["train.epoch=3"])
    with pytest.raises(UserError, match="no such file or shipped recipe"):
        resolve_config(recipe="nope")
    # values of the wrong type name the option, the value and the expected type
    for override, message in (
        ("train.lr=abc", r"train.lr = 'abc' \(str\): expected float"),
        ("train.epochs=2.5", r"train.epochs = 2.5 \(float\): expected int"),
        ("train.normalize=1", r"train.normalize = 1 \(int\): expected bool"),
        ("mmcl.d_model=wide", r"mmcl.d_model = 'wide' \(str\): expected int"),
        ("modalities=[1]", r"config.modalities = \[1\] \(list\): expected list\[str\]"),
        ("train=5", "'train' is a section of options"),
    ):
        with pytest.raises(UserError, match=message):
            resolve_config(model="mmcl", overrides=[override])
    assert resolve_config(overrides=["train.lr=1"]).train.lr == 1.0  # an int is a fine float
    cfg = resolve_config(recipe="iemocap_mmcl", overrides=["train.lr=1e-3"])
    assert (
        cfg.train.lr == 1e-3 and cfg.model_cfg().variant == "reference" and cfg.preset == "iemocap"
    )


def test_tensorboard_logging(tmp_path, small):
    cfg = _cfg(model="late_fusion", epochs=2, extra=["train.tensorboard=true"])
    train_run(cfg, small, tmp_path)
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_normalize_standardises_inputs_and_travels_with_the_weights(tmp_path, small):
    from dataclasses import replace as dc_replace

    scaled = {
        s: dc_replace(sp, features={m: x * 1000.0 + 50.0 for m, x in sp.features.items()})
        for s, sp in small.splits.items()
    }
    ds = dc_replace(small, splits=scaled)
    cfg = _cfg(model="late_fusion", epochs=2, extra=["train.normalize=true"])
    train_run(cfg, ds, tmp_path)
    model, _, _ = load_run(tmp_path)
    src = BatchSource(ds.splits["train"])
    batch = src.batch(torch.arange(len(src)))
    z = model.inputs(batch)["audio"][batch.masks["audio"]]  # unpadded training steps
    torch.testing.assert_close(z.mean(0), torch.zeros(z.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(z.shape[1]), atol=1e-4, rtol=0)
    assert not model.inputs(batch)["audio"][~batch.masks["audio"]].any()  # padding stays zero
    # the statistics were saved: predictions equal those of the trained model's metrics
    metrics = json.loads((tmp_path / "metrics.json").read_text())["test"]
    from mmcl.evaluation.metrics import evaluate

    test = ds.splits["test"]
    assert evaluate("mosi", model.predict(test), test.labels)["MAE"] == pytest.approx(
        metrics["MAE"], rel=1e-6
    )


def test_a_recipe_for_bert_text_warns_on_minilm_text(recwarn):
    import warnings

    from mmcl.experiments.runs import warn_on_text_features

    def synth(width):
        return make_synthetic(
            SynthConfig(n_train=8, n_valid=4, n_test=4, seq_len=3, dims={"text": width, "audio": 2})
        )

    bert_recipe = resolve_config("self_mm_mosi")
    assert bert_recipe.text_features == "bert"
    with pytest.warns(UserWarning, match="assumes bert text features.*holds minilm"):
        warn_on_text_features(bert_recipe, synth(384))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_on_text_features(bert_recipe, synth(768))  # BERT-sized: as assumed
        warn_on_text_features(bert_recipe, synth(32))  # unknown: nothing to say
        warn_on_text_features(resolve_config(model="self_mm"), synth(384))  # no assumption


def _nan_at(model, epoch_step):
    """Make `model.loss` return NaN at the (epoch, step) given; every other step is real."""
    real = model.loss
    calls = {"epoch": -1, "step": 0}
    start = model.on_epoch_start

    def on_epoch_start(epoch):
        calls["epoch"], calls["step"] = epoch, 0
        start(epoch)

    def loss(batch, out):
        total, logs = real(batch, out)
        hit = (calls["epoch"], calls["step"]) == epoch_step
        calls["step"] += 1
        return (total * float("nan"), logs) if hit else (total, logs)

    model.on_epoch_start, model.loss = on_epoch_start, loss


@pytest.mark.parametrize("model_name", ["late_fusion", "mmcl"])
def test_a_nan_loss_stops_the_run_naming_it_and_keeps_the_last_checkpoint(
    tmp_path, small, model_name
):
    from mmcl.training.trainer import NonFiniteLoss

    cfg = _cfg(model_name, epochs=3)
    seed_everything(0)
    model = build_model(model_name, cfg.model_cfg(), data_info(small))
    _nan_at(model, (1, 2))
    with pytest.raises(NonFiniteLoss, match=r"loss = nan, gradient norm = nan at epoch 1, step 2"):
        Trainer(model, small, cfg.train, tmp_path).fit()
    state = load_state(tmp_path / "checkpoint")
    assert state["progress"]["epoch"] == 1  # epoch 0's checkpoint, untouched
    assert (tmp_path / "model.safetensors").is_file()
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1


def test_skip_drops_the_bad_batch_and_counts_it(tmp_path, small):
    cfg = _cfg("late_fusion", epochs=3, extra=['train.on_nonfinite="skip"'])
    seed_everything(0)
    model = build_model("late_fusion", cfg.model_cfg(), data_info(small))
    _nan_at(model, (1, 0))
    result = Trainer(model, small, cfg.train, tmp_path).fit()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row.get("skipped_steps", 0) for row in log] == [0, 1, 0]
    assert all(np.isfinite(row["train_loss"]) for row in log)
    assert np.isfinite(result["test"]["MAE"])


def test_a_selected_constant_predictor_is_flagged(tmp_path, small):
    from mmcl.experiments.grid import constant_note
    from mmcl.training.trainer import is_constant

    assert is_constant(np.full((5,), 0.3)) and not is_constant(np.array([0.3, 0.4]))
    assert is_constant(np.ones((4, 2, 2))) and not is_constant(np.zeros(1) + [0.0])
    cfg = _cfg("late_fusion", epochs=2)
    model = build_model("late_fusion", cfg.model_cfg(), data_info(small))
    (last,) = model.output_layers()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        last.weight.zero_()  # the output no longer depends on the input ...
    last.bias.requires_grad_(True)  # ... and training moves only its constant
    with pytest.warns(UserWarning, match="predicts the same value for every valid and test"):
        result = Trainer(model, small, cfg.train, tmp_path).fit()
    assert result["constant_predictions"] == ["valid", "test"]
    note = constant_note({"late_fusion": [{**result, "seed": 0}], "mmcl": [{"seed": 0}]})
    assert "late_fusion: seeds [0]" in note and "mmcl" not in note


def _scripted_validation(monkeypatch, scores, losses):
    """Make the trainer see these validation (Non0_acc_2, loss) values, epoch after epoch."""
    import mmcl.training.trainer as trainer_module
    from mmcl.training.trainer import EvalResult

    real = trainer_module.evaluate_split
    seen = iter(zip(scores, losses, strict=True))

    def scripted(model, source, metric_set):
        result = real(model, source, metric_set)
        scripted_values = next(seen, None) if source is model._valid_source else None
        if scripted_values is None:  # the test split, or the final evaluation
            return result
        acc, loss = scripted_values
        return EvalResult(result.preds, loss, {**result.metrics, "Non0_acc_2": acc})

    monkeypatch.setattr(trainer_module, "evaluate_split", scripted)


def _fit_scripted(tmp_path, small, monkeypatch, scores, losses, patience):
    cfg = _cfg("late_fusion", epochs=len(scores), extra=[f"train.patience={patience}"])
    model = build_model("late_fusion", cfg.model_cfg(), data_info(small))
    trainer = Trainer(model, small, cfg.train, tmp_path)
    model._valid_source = trainer.sources["valid"]
    _scripted_validation(monkeypatch, scores, losses)
    return trainer.fit()


def test_a_flat_selection_metric_with_a_falling_loss_does_not_keep_epoch_0(
    tmp_path, small, monkeypatch
):
    # the majority rate for 6 epochs while the loss falls, then nothing improves for 2
    scores = [0.6] * 6 + [0.55, 0.58, 0.9]
    losses = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.55, 0.52, 0.1]
    result = _fit_scripted(tmp_path, small, monkeypatch, scores, losses, patience=2)
    assert result["best_epoch"] == 5  # the tie on the metric goes to the lowest loss
    assert result["epochs_run"] == 8  # stopped after 2 epochs without either improving


def test_patience_without_ties_still_selects_by_the_metric(tmp_path, small, monkeypatch):
    scores = [0.5, 0.7, 0.6, 0.65, 0.66]
    losses = [1.0, 0.9, 0.95, 0.92, 0.91]  # the loss never beats epoch 1's again
    result = _fit_scripted(tmp_path, small, monkeypatch, scores, losses, patience=3)
    assert (result["best_epoch"], result["epochs_run"]) == (1, 5)
    result = _fit_scripted(tmp_path / "b", small, monkeypatch, scores, losses, patience=2)
    assert (result["best_epoch"], result["epochs_run"]) == (1, 4)


def test_the_extra_optimisers_follow_their_own_plateau_schedule(tmp_path, small, monkeypatch):
    """MMCL's actor and critic learning rates drop after `extra_plateau_patience` epochs
    without a lower validation loss, apart from the model's; the schedule survives resume."""
    cfg = _cfg(
        epochs=3,
        extra=[
            'train.extra_scheduler="plateau"',
            "train.extra_plateau_factor=0.5",
            "train.extra_plateau_patience=0",
        ],
    )
    seed_everything(0)
    trainer = Trainer(
        build_model("mmcl", cfg.model_cfg(), data_info(small)), small, cfg.train, tmp_path
    )
    # a validation loss that never falls after the first epoch
    monkeypatch.setattr(trainer, "_validate", lambda row: (0.5, 1.0))
    trainer.fit(test=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    lr = cfg.train.lr
    for key in ("lr_actor", "lr_critic"):
        assert [row[key] for row in log] == pytest.approx([lr, lr / 2, lr / 4])
    assert [row["lr"] for row in log] == pytest.approx([lr] * 3)  # patience 5: not yet
    again = Trainer(
        build_model("mmcl", cfg.model_cfg(), data_info(small)), small, cfg.train, tmp_path
    )
    assert again.resume_if_possible()
    assert again.extra_schedulers["actor"].get_last_lr() == pytest.approx([lr / 4])


def test_clipping_by_value_bounds_every_gradient_entry(tmp_path, small, monkeypatch):
    cfg = _cfg(
        model="late_fusion", epochs=1, extra=["train.grad_clip=1e-4", 'train.clip_by="value"']
    )
    seed_everything(0)
    model = build_model("late_fusion", cfg.model_cfg(), data_info(small))
    trainer = Trainer(model, small, cfg.train, tmp_path)
    seen = []
    step = trainer.optimizer.step

    def record(*args, **kwargs):
        seen.append(
            max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None)
        )
        return step(*args, **kwargs)

    monkeypatch.setattr(trainer.optimizer, "step", record)
    trainer.train_epoch()
    assert seen and max(seen) <= 1e-4 + 1e-12
    with pytest.raises(UserError, match="train.clip_by"):
        _cfg(extra=['train.clip_by="entry"']).train.validate()


def test_accumulate_steps_every_k_batches_on_summed_gradients(tmp_path, small, monkeypatch):
    """96 samples in batches of 32, accumulate = 2: steps after batches 2 and 3 (the last,
    shorter group); the model's own update (ULGM here) still runs after every batch; the
    first step sees the sum of its two batches' gradients."""
    cfg = _cfg(model="self_mm", epochs=1, extra=["train.accumulate=2"])
    seed_everything(0)
    model = build_model("self_mm", cfg.model_cfg(), data_info(small))
    trainer = Trainer(model, small, cfg.train, tmp_path)
    model.on_fit_start(trainer.sources["train"].labels)
    grads, steps, extras, backwards = [], [], [], []
    step, extra = trainer.optimizer.step, model.extra_update
    first = next(p for p in model.main_parameters())
    first.register_hook(lambda g: backwards.append(g.detach().clone()))

    def record_step(*args, **kwargs):
        steps.append(len(extras))
        grads.append(first.grad.detach().clone())
        return step(*args, **kwargs)

    def record_extra(*args, **kwargs):
        extras.append(1)
        return extra(*args, **kwargs)

    monkeypatch.setattr(trainer.optimizer, "step", record_step)
    monkeypatch.setattr(model, "extra_update", record_extra)
    trainer.train_epoch()
    assert steps == [1, 3] and len(extras) == 3  # stepped before batch 2's update, then at the end
    torch.testing.assert_close(grads[0], backwards[0] + backwards[1])
    torch.testing.assert_close(grads[1], backwards[2])


def test_mmsa_update_epochs_clips_every_backward_and_drops_the_last_group(
    tmp_path, small, monkeypatch
):
    """MMSA's update_epochs loop: 96 samples in batches of 32, accumulate = 2, clip_at =
    backward, accumulate_tail = drop: one step (after batch 2) on clip(clip(g1) + g2); the
    third batch's gradients are dropped, not stepped on."""
    c = 1e-4  # small enough that clipping changes the gradients
    extra = ["train.accumulate=2", f"train.grad_clip={c}", 'train.clip_by="value"']
    extra += ['train.clip_at="backward"', 'train.accumulate_tail="drop"']
    cfg = _cfg(model="late_fusion", epochs=1, extra=extra)
    seed_everything(0)
    model = build_model("late_fusion", cfg.model_cfg(), data_info(small))
    trainer = Trainer(model, small, cfg.train, tmp_path)
    grads, backwards = [], []
    step = trainer.optimizer.step
    first = next(p for p in model.main_parameters())
    first.register_hook(lambda g: backwards.append(g.detach().clone()))

    def record_step(*args, **kwargs):
        grads.append(first.grad.detach().clone())
        return step(*args, **kwargs)

    monkeypatch.setattr(trainer.optimizer, "step", record_step)
    trainer.train_epoch()
    assert len(backwards) == 3 and len(grads) == 1
    expected = (backwards[0].clamp(-c, c) + backwards[1]).clamp(-c, c)
    assert not torch.allclose(expected, (backwards[0] + backwards[1]).clamp(-c, c))
    torch.testing.assert_close(grads[0], expected)
    assert first.grad is None  # the last batch's gradients were dropped
    with pytest.raises(UserError, match="train.clip_at = 'batch'"):
        _cfg(extra=['train.clip_at="batch"']).train.validate()
    with pytest.raises(UserError, match="train.accumulate_tail = 'keep'"):
        _cfg(extra=['train.accumulate_tail="keep"']).train.validate()


def test_adam_epsilon_is_the_configs(tmp_path, small):
    cfg = _cfg(model="late_fusion", epochs=1, extra=["train.adam_eps=3e-8"])
    model = build_model("late_fusion", cfg.model_cfg(), data_info(small))
    trainer = Trainer(model, small, cfg.train, tmp_path)
    assert {g["eps"] for g in trainer.optimizer.param_groups} == {3e-8}
    with pytest.raises(UserError, match="train.adam_eps = 0.0"):
        _cfg(extra=["train.adam_eps=0"])
