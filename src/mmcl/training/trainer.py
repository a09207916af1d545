"""The one trainer for every model: loop, optimisers, scheduler, clipping, early stopping,
validation-based model selection, logging, checkpoints and exact resume.

A model supplies `forward`, `loss` and, if it needs more optimisation steps (the MMCL
actor-critic), `extra_param_groups` + `extra_update` (or a first-stage pass of its own
before each epoch's main pass: MMIM); the trainer owns everything else.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.autograd.profiler import record_function

from mmcl import distributed
from mmcl.config import TrainConfig
from mmcl.data.batching import Batch, BatchSource
from mmcl.data.dataset import Dataset
from mmcl.errors import UserError
from mmcl.evaluation.metrics import SELECTION_METRIC, evaluate, higher_is_better
from mmcl.models.base import TaskModel, arithmetic, resolve_device, task_loss
from mmcl.progress import Progress
from mmcl.run_folder import load_weights, save_weights, write_text
from mmcl.training.state import load_state, save_state

CHECKPOINT = "checkpoint"


class StopTraining(Exception):
    """Raised by a callback to end training early (tests use it to simulate a killed run)."""


class NonFiniteLoss(UserError):
    """A loss or gradient became NaN or infinite (train.on_nonfinite = "stop")."""


@dataclass
class EvalResult:
    preds: np.ndarray
    loss: float
    metrics: dict[str, float]


def evaluate_split(model: TaskModel, source: BatchSource, metric_set: str) -> EvalResult:
    """Predictions, task loss and metrics of `model` on a split."""
    preds = model.predict(source)
    loss = float(task_loss(torch.from_numpy(preds), source.labels, model.info.task))
    return EvalResult(preds, loss, evaluate(metric_set, preds, source.labels.numpy()))


def is_constant(preds: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether every sample got the same prediction (up to `tol`)."""
    preds = np.asarray(preds, dtype=np.float64).reshape(len(preds), -1)
    return bool(len(preds) > 1 and np.ptp(preds, axis=0).max() <= tol)


def plateau(
    optimizer: torch.optim.Optimizer, factor: float, patience: int
) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    """The learning rate times `factor` after `patience` epochs without a lower validation
    loss."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=factor, patience=patience
    )


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup: float, period: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """MMSA's ALMT schedule, stepped once per epoch: epoch e (from 0) trains at
    lr x e / warmup up to `warmup`, then at lr x (1 + cos(pi (e - warmup - 1) / period)) / 2
    (its GradualWarmupScheduler handing over to CosineAnnealingLR, in closed form)."""

    def factor(epoch: int) -> float:
        if epoch <= warmup:
            return epoch / warmup
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - math.floor(warmup) - 1) / period))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def selection_rule(cfg: TrainConfig, metric_set: str) -> tuple[str, bool]:
    """The validation metric that selects the epoch, and whether higher is better."""
    name = cfg.selection_metric or SELECTION_METRIC[metric_set]
    return name, higher_is_better(name)


class Trainer:
    def __init__(
        self, model: TaskModel, ds: Dataset, cfg: TrainConfig, out_dir: str | Path
    ) -> None:
        self.model, self.ds, self.cfg = model, ds, cfg
        self.out = Path(out_dir)
        # everything on the chosen device before the optimisers see the parameters
        self.device = distributed.local_device(resolve_device(cfg.device))
        model.precision = cfg.precision  # first: training state may be stored in it
        model.to_device(self.device)
        self.metric_set = ds.task.metric_set
        self.metric, self.higher = selection_rule(cfg, self.metric_set)
        self.sources = {s: BatchSource(sp) for s, sp in ds.splits.items()}
        adam = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = adam(model.param_groups(cfg.lr, cfg.weight_decay), eps=cfg.adam_eps)
        self.extra_optimizers = {
            k: torch.optim.Adam(ps, **{"lr": cfg.lr, **model.extra_options().get(k, {})})
            for k, ps in model.extra_param_groups().items()
        }
        self.scheduler = {
            "plateau": lambda: plateau(self.optimizer, cfg.plateau_factor, cfg.plateau_patience),
            "warmup_cosine": lambda: warmup_cosine(
                self.optimizer, cfg.warmup_epochs, cfg.cosine_epochs
            ),
            "none": lambda: None,
        }[cfg.scheduler]()
        self.extra_schedulers = (
            {
                k: plateau(o, cfg.extra_plateau_factor, cfg.extra_plateau_patience)
                for k, o in self.extra_optimizers.items()
            }
            if cfg.extra_scheduler == "plateau"
            else {}
        )
        self.generator = torch.Generator().manual_seed(cfg.seed)
        # data-parallel (torchrun): same model and batch order on every rank, each rank
        # training on its slice of every batch; rank 0 evaluates and writes
        self.rank, self.world = distributed.rank_and_size()
        self.main = self.rank == 0
        distributed.broadcast_parameters(model)
        for o in self.extra_optimizers.values():
            distributed.average_before_step(o)
        self.epoch = 0
        self.best_score = -math.inf if self.higher else math.inf
        self.best_loss = math.inf  # validation loss of the selected epoch (breaks ties)
        self.min_loss = math.inf  # lowest validation loss so far (patience counts from it too)
        self.best_epoch = -1
        self.bad_epochs = 0
        self.writer = None

    # -- state ------------------------------------------------------------------------
    def _state(self) -> dict:
        state = {
            "model": self.model.state_dict(),
            "model_extra": self.model.training_state(),
            "optimizer": self.optimizer.state_dict(),
            "extra_optimizers": {k: o.state_dict() for k, o in self.extra_optimizers.items()},
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "extra_schedulers": {k: s.state_dict() for k, s in self.extra_schedulers.items()},
            "rng_torch": torch.get_rng_state(),
            "rng_generator": self.generator.get_state(),
            "progress": {
                "epoch": self.epoch,
                "best_score": self.best_score,
                "best_loss": self.best_loss,
                "min_loss": self.min_loss,
                "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs,
            },
        }
        if self.device.type == "cuda":  # dropout on a GPU draws from the device's generator
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _load(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.model.load_training_state(state["model_extra"])
        self.optimizer.load_state_dict(state["optimizer"])
        for k, o in self.extra_optimizers.items():
            o.load_state_dict(state["extra_optimizers"][k])
        if self.scheduler:
            self.scheduler.load_state_dict(state["scheduler"])
        # checkpoints written before the extra optimisers had schedulers hold none
        for k, saved in state.get("extra_schedulers", {}).items():
            if k in self.extra_schedulers:
                self.extra_schedulers[k].load_state_dict(saved)
        torch.set_rng_state(state["rng_torch"])
        self.generator.set_state(state["rng_generator"])
        # a checkpoint from a CPU run holds no CUDA generator state
        if self.device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        p = state["progress"]
        self.epoch, self.best_score = p["epoch"], p["best_score"]
        self.best_epoch, self.bad_epochs = p["best_epoch"], p["bad_epochs"]
        # checkpoints written before the loss was tracked resume without its history
        self.best_loss = p.get("best_loss", math.inf)
        self.min_loss = p.get("min_loss", math.inf)

    def resume_if_possible(self) -> bool:
        """Continue from the last complete checkpoint. What a killed process left half-way
        (temporary checkpoint folders and weight files, epochs logged after the checkpoint
        or a log line cut short) is removed, so the resumed run writes exactly what an
        uninterrupted one writes."""
        for partial in [*self.out.glob(f".{CHECKPOINT}.*"), *self.out.glob(".*.partial")]:
            if partial.is_dir():
                shutil.rmtree(partial)
            else:
                partial.unlink()
        resumed = (self.out / CHECKPOINT / "state.json").is_file()
        if resumed:
            self._load(load_state(self.out / CHECKPOINT))
        log = self.out / "log.jsonl"
        if log.is_file():
            lines = log.read_text().splitlines(keepends=True)[: self.epoch]
            complete = [line for line in lines if line.endswith("\n")]
            write_text(log, "".join(complete))
        return resumed

    # -- loop -------------------------------------------------------------------------
    def _train_batches(self) -> Iterator[Batch]:
        """The training split in a fresh order (this rank's slice under torchrun)."""
        return self.sources["train"].batches(
            self.cfg.batch_size,
            shuffle=True,
            generator=self.generator,
            shard=(self.rank, self.world) if self.world > 1 else None,
        )

    def first_stage(self) -> dict[str, float]:
        """A pass that steps only the model's extra groups, on its `first_stage_loss`
        (MMIM's MI bounds, before the main pass as MMSA's trainer does)."""
        params = [p for ps in self.model.extra_param_groups().values() for p in ps]
        sums: dict[str, float] = {}
        n = 0
        for step, batch in enumerate(self._train_batches()):
            if len(batch) < 2:
                continue
            batch = batch.to(self.device)
            for o in self.extra_optimizers.values():  # the main pass left gradients there
                o.zero_grad(set_to_none=True)
            with arithmetic(self.device, batch.steps, self.cfg.precision):
                loss, logs = self.model.first_stage_loss(batch)
            loss.backward()
            self._nonfinite(logs, step, skip_allowed=False)
            if self.cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            for o in self.extra_optimizers.values():
                o.step()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
        return {f"first_{k}": v / max(n, 1) for k, v in sums.items()}

    def train_epoch(self) -> dict[str, float]:
        self.model.train()
        self.model.on_epoch_start(self.epoch)
        first = self.first_stage() if self.model.first_stage else {}
        sums: dict[str, float] = {}
        n = skipped = 0
        batches = self._train_batches()
        # the optimiser steps every `accumulate` batches, on their summed gradients (MMSA's
        # update_epochs); the models' own updates (actor-critic, ULGM) run every batch
        pending, step = 0, -1
        self.optimizer.zero_grad(set_to_none=True)
        for step, batch in enumerate(batches):
            if len(batch) < 2:  # BatchNorm cannot normalise a single sample
                continue
            batch = batch.to(self.device)
            with record_function("train.forward+loss"):
                out = self.model.run(batch)
                loss, logs = self.model.loss(batch, out)
            with record_function("train.backward"):
                loss.backward()
            if self.cfg.clip_at == "backward":
                self._clip(self.model.main_parameters())
            pending += 1
            logs = {"loss": float(loss.detach()), **logs}
            if pending == self.cfg.accumulate:
                pending = 0
                if not self._optimizer_step(logs, step):
                    skipped += 1
                    continue
            elif self._nonfinite(logs, step):  # drops the gradients gathered so far
                pending = 0
                skipped += 1
                continue
            with (
                arithmetic(self.device, batch.steps, self.cfg.precision),
                record_function("train.extra_update"),
            ):
                extra = self.model.extra_update(batch, out, self.extra_optimizers)
            self._nonfinite(extra, step, skip_allowed=False)
            for k, v in {**logs, **extra}.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
        if pending:  # the epoch's last, shorter group
            if self.cfg.accumulate_tail == "drop":
                self.optimizer.zero_grad(set_to_none=True)
            elif not self._optimizer_step({}, step):
                skipped += 1
        row = {**first, **{f"train_{k}": v / max(n, 1) for k, v in sums.items()}}
        return {**row, "skipped_steps": skipped} if skipped else row

    def _optimizer_step(self, logs: dict[str, float], step: int) -> bool:
        """Clip and apply the gathered gradients; False when they (or `logs`) are not
        finite and train.on_nonfinite = "skip" drops them."""
        params = self.model.main_parameters()
        distributed.average_gradients(params)
        # clipped after each backward (clip_at = backward) they are within bounds already
        grad_norm = self._clip(params)
        if self._nonfinite({**logs, "gradient norm": float(grad_norm)}, step):
            return False
        with record_function("train.optimizer"):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return True

    def _clip(self, params: list[torch.nn.Parameter]) -> torch.Tensor:
        """Clip the gradients as train.grad_clip and clip_by say; returns their total norm
        before any clipping (a NaN or inf shows there)."""
        if self.cfg.grad_clip > 0 and self.cfg.clip_by == "norm":
            return torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_value_(params, self.cfg.grad_clip)
        return grad_norm

    def _nonfinite(self, values: dict[str, float], step: int, skip_allowed: bool = True) -> bool:
        """Whether a step must be skipped: a NaN/inf value stops the run (train.on_nonfinite
        = "stop", the default) with a message naming it, or has the step skipped ("skip";
        steps after the main update, e.g. the actor-critic's, cannot be undone: they stop)."""
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if not bad:
            return False
        if self.cfg.on_nonfinite == "skip" and skip_allowed:
            self.optimizer.zero_grad(set_to_none=True)
            return True
        raise NonFiniteLoss(
            f"{self.out}: {', '.join(f'{k} = {values[k]}' for k in bad)} at epoch {self.epoch}, "
            f"step {step}; the last good checkpoint (epoch {self.epoch - 1}) and the best "
            "weights are kept. Lower train.lr, set train.grad_clip, or train.on_nonfinite = "
            '"skip" to drop such batches.'
        )

    def fit(
        self,
        resume: bool = False,
        on_epoch_end: Callable[[int, float], None] | None = None,
        test: bool = True,
    ) -> dict:
        """Train, selecting the epoch with the best validation metric; returns the result.
        `on_epoch_end(epoch, validation score)` runs after each epoch (a tuner prunes there);
        `test=False` never reads the test split (hyper-parameter search)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.cfg.normalize:
            self.model.enable_input_norm().fit(self.ds.splits["train"])
        self.model.on_fit_start(self.sources["train"].labels)
        if self.cfg.init_output_bias and self.ds.task.kind == "regression":
            self.model.init_output_bias(float(self.sources["train"].labels.float().mean()))
        if resume:
            self.resume_if_possible()
        if self.cfg.tensorboard and self.main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise UserError(
                    "train.tensorboard = true needs the tensorboard package: "
                    "pip install tensorboard"
                ) from e
            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        log_path = self.out / "log.jsonl"
        if not resume and self.main:
            log_path.unlink(missing_ok=True)
        bar = Progress(
            self.cfg.epochs,
            f"training {self.out}",
            "epoch",
            initial=self.epoch,
            stream=None if self.main else io.StringIO(),
        )
        while self.epoch < self.cfg.epochs and not self._early_stop():
            start = time.perf_counter()
            row = {"epoch": self.epoch, **self.train_epoch()}
            score, valid_loss = self._validate(row)
            for scheduler in [self.scheduler, *self.extra_schedulers.values()]:
                if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    scheduler.step(valid_loss)
                elif scheduler:
                    scheduler.step()
            row["lr"] = self.optimizer.param_groups[0]["lr"]
            for k, o in self.extra_optimizers.items():
                row[f"lr_{k}"] = o.param_groups[0]["lr"]
            selected = self._improved(score, valid_loss)
            if selected:
                self.best_score, self.best_loss, self.best_epoch = score, valid_loss, self.epoch
                if self.main:
                    save_weights(self.model, self.out)
            # a selection metric that sits still (accuracy at the majority rate on a small
            # set) while the validation loss falls is no reason to stop: patience runs out
            # only when neither improves
            loss_fell = valid_loss < self.min_loss
            self.min_loss = min(self.min_loss, valid_loss)
            self.bad_epochs = 0 if selected or loss_fell else self.bad_epochs + 1
            row["seconds"] = round(time.perf_counter() - start, 3)
            self.epoch += 1
            if self.main:
                # rewritten whole through a temporary file (a few KB): a kill never leaves a
                # line cut short
                logged = log_path.read_text() if log_path.is_file() else ""
                write_text(log_path, logged + json.dumps(row) + "\n")
                if self.writer:
                    for k, v in row.items():
                        self.writer.add_scalar(k, v, self.epoch)
                save_state(self._state(), self.out / CHECKPOINT)
            bar.update(1, f"valid {self.metric} {score:.4f}, best {self.best_score:.4f}")
            if on_epoch_end is not None:
                on_epoch_end(self.epoch, score)
        bar.close()
        if self.writer:
            self.writer.close()
        return self.finish(test)

    def _validate(self, row: dict) -> tuple[float, float]:
        """The validation selection score and loss, computed once over the whole split (by
        rank 0 under torchrun, which sends them to the other ranks); adds them to `row`."""
        score = loss = math.nan
        if self.main:
            valid = evaluate_split(self.model, self.sources["valid"], self.metric_set)
            row.update(
                {"valid_loss": valid.loss, **{f"valid_{k}": v for k, v in valid.metrics.items()}}
            )
            score = valid.loss if self.metric == "loss" else valid.metrics.get(self.metric)
            if score is None:
                raise UserError(
                    f"train.selection_metric '{self.metric}' is not a {self.metric_set} metric; "
                    f"choose from {sorted(valid.metrics)} or 'loss'."
                )
            loss = valid.loss
        score, loss = distributed.broadcast_floats([score, loss], self.device)
        return score, loss

    def _improved(self, score: float, loss: float) -> bool:
        """Whether this epoch beats the selected one: a better selection metric, or the same
        value with a lower validation loss."""
        if math.isnan(score):
            return self.best_epoch < 0
        if score == self.best_score:
            return loss < self.best_loss
        return score > self.best_score if self.higher else score < self.best_score

    def _early_stop(self) -> bool:
        return self.cfg.patience > 0 and self.bad_epochs >= self.cfg.patience

    def finish(self, test: bool = True) -> dict:
        """Reload the validation-selected weights and evaluate them on valid (and test);
        under torchrun only rank 0 does (the others return an empty result)."""
        if not self.main:
            return {}
        load_weights(self.model, self.out)
        result = {
            "selection": {"metric": self.metric, "higher_is_better": self.higher, "split": "valid"},
            "best_epoch": self.best_epoch,
            "epochs_run": self.epoch,
        }
        constant = []
        for split in ("valid", "test") if test else ("valid",):
            r = evaluate_split(self.model, self.sources[split], self.metric_set)
            result[split] = {"loss": r.loss, **r.metrics}
            if is_constant(r.preds):
                constant.append(split)
        # a selected model that predicts one value for every sample learned nothing usable
        result["constant_predictions"] = constant
        if constant:
            warnings.warn(
                f"{self.out}: the selected model (epoch {self.best_epoch}) predicts the same "
                f"value for every {' and '.join(constant)} sample: a constant predictor.",
                stacklevel=2,
            )
        return result
