"""The task-model base every model builds on: what a model knows of the data (`DataInfo`),
what it hands back (`ModelOutput`), the contract the trainer relies on (`TaskModel`), and
the pieces every model shares: masked pooling, the prediction head, task losses."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmcl.data.batching import Batch, BatchSource
from mmcl.data.dataset import Split, TaskSpec


@dataclass
class DataInfo:
    """What a model needs to know of the data: widths, padded lengths, task. Never file paths."""

    dims: dict[str, int]
    seq_lens: dict[str, int]
    task: TaskSpec
    token_len: int = 0  # padded length of the word-piece ids, 0 when the data has none
    # modalities with a label of their own (CH-SIMS's T/A/V), for multi-task models
    unimodal_labels: list[str] = field(default_factory=list)

    @property
    def modalities(self) -> list[str]:
        return list(self.dims)

    def with_modality(self, name: str, width: int, steps: int) -> DataInfo:
        """The same data with modality `name` (first) of this width and length."""
        dims = {name: width, **{m: d for m, d in self.dims.items() if m != name}}
        seq_lens = {name: steps, **{m: n for m, n in self.seq_lens.items() if m != name}}
        return DataInfo(dims, seq_lens, self.task, self.token_len, self.unimodal_labels)

    def to_dict(self) -> dict:
        return {
            "dims": self.dims,
            "seq_lens": self.seq_lens,
            "task": self.task.to_dict(),
            "token_len": self.token_len,
            "unimodal_labels": self.unimodal_labels,
        }

    @classmethod
    def from_dict(cls, d: dict) -> DataInfo:
        return cls(
            dict(d["dims"]),
            dict(d["seq_lens"]),
            TaskSpec.from_dict(d["task"]),
            int(d.get("token_len", 0)),  # configs saved before the shared text front-end
            list(d.get("unimodal_labels", [])),  # configs saved before the multi-task models
        )


@dataclass
class ModelOutput:
    """What a model hands to its losses, the trainer and the diagnostics.

    Every dict is keyed by modality (or, for `representations`, by space: "fusion" and the
    modalities); a model fills only what it has.
    """

    preds: torch.Tensor  # regression (B,); multilabel logits (B, K, 2); multiclass logits (B, C)
    aux_losses: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> scalar
    representations: dict[str, torch.Tensor] = field(default_factory=dict)  # space -> (B, d)
    unimodal_preds: dict[str, torch.Tensor] = field(default_factory=dict)  # m -> (B,)
    csd_weights: dict[str, torch.Tensor] = field(default_factory=dict)  # m -> (B, L, L) | (B, L)
    gates: dict[str, torch.Tensor] = field(default_factory=dict)  # m -> (B, L) policy gates
    specific: dict[str, torch.Tensor] = field(default_factory=dict)  # m -> (B, L, d)
    actor_state: dict[str, torch.Tensor] = field(
        default_factory=dict
    )  # m -> (B, L, d) policy input

    def float(self) -> ModelOutput:
        """Every tensor in float32 (outputs of a bf16 forward): losses, rewards, label
        memories and metrics are computed in full precision."""

        def f(t: torch.Tensor) -> torch.Tensor:
            return t.float() if t.is_floating_point() else t

        return ModelOutput(
            f(self.preds),
            *(
                {k: f(v) for k, v in d.items()}
                for d in (
                    self.aux_losses,
                    self.representations,
                    self.unimodal_preds,
                    self.csd_weights,
                    self.gates,
                    self.specific,
                    self.actor_state,
                )
            ),
        )


PRECISIONS = ("fp32", "bf16")


def resolve_device(name: str) -> torch.device:
    """`train.device`: auto (CUDA when present, else CPU), cpu, cuda or cuda:N; a device
    that is not there is a UserError saying what is."""
    from mmcl.errors import UserError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"train.device = '{name}'; choose auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise UserError(
                f"train.device = '{name}', but this machine has {count} CUDA device(s); "
                "use 'cpu' or 'auto'."
            )
    elif device.type != "cpu":
        raise UserError(f"train.device = '{name}'; choose auto, cpu, cuda or cuda:N.")
    return device


# "short" sequences: up to this many steps, attention may hold its steps x steps scores
SHORT_STEPS = 64


def kernels(device: torch.device, steps: int, precision: str) -> contextlib.AbstractContextManager:
    """Attention kernels measured faster here: on the CPU in bf16, for sequences of up to
    SHORT_STEPS steps, the plain (math) attention (fused flash attention's bf16 backward was
    23 % of an MMCL step at 20 steps, docs/performance.md@50f71fa; MMCL's own layers go
    further, with models/short_attention.py); otherwise PyTorch's choice, the fused kernel,
    which never holds the steps x steps attention matrix and in fp32 is the faster one
    (about a tenth of an MMCL epoch on MOSI's 50 word pieces)."""
    if device.type != "cpu" or steps > SHORT_STEPS or precision != "bf16":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """Mixed precision for `precision = "bf16"` (matmuls and convolutions in bfloat16, the
    rest as autocast decides); a no-op context for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@contextlib.contextmanager
def arithmetic(device: torch.device, steps: int, precision: str) -> Iterator[None]:
    """How a model computes on `steps`-long batches: `precision`'s autocast and the attention
    kernels measured faster for it (every forward pass and the actor-critic update)."""
    with kernels(device, steps, precision), autocast(device, precision):
        yield


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over steps of x (B, L, d) counting only mask (B, L) == True steps -> (B, d)."""
    w = mask.unsqueeze(-1).to(x.dtype)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


def attendable(mask: torch.Tensor) -> torch.Tensor:
    """The keys (B, L) attention may use: the valid steps, or every step of a sample that has
    none (its output is masked out later) instead of NaN from a row of -inf."""
    return mask | ~mask.any(-1, keepdim=True)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over the unpadded steps of x (B, L, d) -> (B, d)."""
    return x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over `dim` with masked-out entries given zero weight."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=dim)


class PredictionHead(nn.Module):
    """Linear(in, d) - Dropout - ReLU - BatchNorm - Linear(d, out), as the MMCL reference head."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_in, d_hidden),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.BatchNorm1d(d_hidden),
            nn.Linear(d_hidden, d_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def shape_predictions(raw: torch.Tensor, task: TaskSpec) -> torch.Tensor:
    """Head output (B, out) -> the task's prediction layout."""
    if task.kind == "regression":
        return raw.squeeze(-1)
    if task.kind == "multilabel":
        return raw.view(raw.shape[0], -1, 2)
    return raw


def task_loss(preds: torch.Tensor, labels: torch.Tensor, task: TaskSpec) -> torch.Tensor:
    """L1 for regression (as MMSA and MMCL use), cross-entropy for the classification tasks."""
    if task.kind == "regression":
        return F.l1_loss(preds, labels.to(preds.dtype))
    if task.kind == "multilabel":
        return F.cross_entropy(preds.reshape(-1, 2), labels.reshape(-1))
    return F.cross_entropy(preds, labels)


def true_label_reward(preds: torch.Tensor, labels: torch.Tensor, task: TaskSpec) -> torch.Tensor:
    """Per-sample reward (B,): probability of the true class (summed over binary tasks),
    or -|y_hat - y| for regression."""
    if task.kind == "regression":
        return -(preds - labels.to(preds.dtype)).abs()
    if task.kind == "multilabel":
        probs = preds.softmax(-1)  # (B, K, 2)
        return probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1).sum(-1)
    return preds.softmax(-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)


class InputNorm(nn.Module):
    """Per-feature z-scores with statistics of the training split's unpadded steps; the
    statistics are buffers, so they travel with the weights. Padding stays zero."""

    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        for m, d in dims.items():
            self.register_buffer(f"mean_{m}", torch.zeros(d))
            self.register_buffer(f"std_{m}", torch.ones(d))

    @torch.no_grad()
    def fit(self, split: Split) -> None:
        """Statistics of `split` (the training split), read in chunks."""
        for m, (mean, std) in split.step_moments().items():
            getattr(self, f"mean_{m}").copy_(torch.from_numpy(mean))
            # a constant feature is only centred
            getattr(self, f"std_{m}").copy_(torch.from_numpy(np.where(std < 1e-6, 1.0, std)))

    def forward(self, features: dict, masks: dict) -> dict:
        return {
            m: (x - getattr(self, f"mean_{m}")) / getattr(self, f"std_{m}") * masks[m].unsqueeze(-1)
            for m, x in features.items()
        }


class TaskModel(nn.Module):
    """The contract the trainer relies on.

    forward(features, masks) -> ModelOutput; loss(batch, out) -> (loss, logs).
    Models with extra optimisation steps (the actor-critic) override `extra_param_groups`
    and `extra_update` (or, for a pass of their own before each epoch's, set `first_stage`
    and override `first_stage_loss`); models with state outside their parameters override
    `training_state`/`load_training_state` so that a resumed run continues exactly.
    """

    info: DataInfo
    cfg: Any  # the model's config dataclass (with the text front-end's options)
    # what data the model can take; `registry.check_fits` refuses other data before building
    min_modalities: int = 1
    max_modalities: int | None = None
    regression_only = False  # e.g. ULGM needs signed labels
    needs_unimodal_labels = False  # multi-task models: a label per modality (CH-SIMS's T/A/V)
    reads_tokens = False  # text only through the text transformer (BERT-MAG): needs token ids
    needs_text = False  # a model built around the text modality (MMIM, ALMT, ...)
    # a pass over the training split before the main one each epoch, stepping only the
    # extra groups on `first_stage_loss` (MMIM's MI bounds)
    first_stage = False
    why: str = ""  # the reason behind the limits, for the refusal message

    # the arithmetic of forward passes: "fp32" or "bf16" (autocast), set from train.precision
    precision: str = "fp32"

    @property
    def device(self) -> torch.device:
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def to_device(self, device: torch.device | str) -> TaskModel:
        """Parameters, buffers and every piece of training state on `device`."""
        self.to(device)
        self.move_training_state(torch.device(device))
        return self

    def move_training_state(self, device: torch.device) -> None:
        """Models with state outside their parameters (replay buffer, label memory) move it."""
        return None

    def enable_input_norm(self) -> InputNorm:
        """Standardise inputs (train.normalize); fit it, or load it with the weights."""
        norm = InputNorm(self.info.dims).to(self.device)
        self.input_norm = norm  # a submodule: its statistics are in the state dict
        return norm

    def inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The batch's features as the model sees them (standardised when enabled)."""
        norm = self._modules.get("input_norm")
        return batch.features if norm is None else norm(batch.features, batch.masks)

    def run(self, batch: Batch) -> ModelOutput:
        """Forward on a `Batch`, moved to the model's device, in the model's precision
        (outputs always float32)."""
        device = self.device
        batch = batch.to(device)
        with arithmetic(device, batch.steps, self.precision):
            out = self.forward_batch(batch)
        return out if self.precision == "fp32" else out.float()

    def forward_batch(self, batch: Batch) -> ModelOutput:
        """`forward` on a batch: its features (standardised when enabled), the text from the
        token ids when the model has a text front-end (text_encoder = 'transformer')."""
        features, masks = self.inputs(batch), batch.masks
        frontend = self._modules.get("text_frontend")
        if frontend is not None:
            if batch.tokens is None:
                from mmcl.models.text_frontend import needs_tokens_error

                raise needs_tokens_error(type(self).__name__)
            features = {**features, "text": frontend(batch.tokens, batch.token_mask)}
            masks = {**masks, "text": batch.token_mask}
        return self(features, masks)

    @torch.no_grad()
    def predict(self, source: BatchSource | Split, batch_size: int = 256) -> np.ndarray:
        """Predictions for a whole split, in its order, in eval mode (regression (N,);
        multilabel logits (N, K, 2); multiclass logits (N, C))."""
        if isinstance(source, Split):
            source = BatchSource(source)
        self.eval()
        outs = [self.run(b).preds for b in source.batches(batch_size)]
        return torch.cat(outs).cpu().numpy()

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        loss = task_loss(out.preds, batch.labels, self.info.task)
        return loss, {"pred_loss": float(loss.detach())}

    def loss_with_aux(
        self, batch: Batch, out: ModelOutput, with_aux: bool = True
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The task loss plus every (already weighted) term of `out.aux_losses` (left out
        when not `with_aux`, but logged either way): the loss of models whose extra
        objectives are computed in `forward` (MFM, MCTN, TFR-Net)."""
        pred = task_loss(out.preds, batch.labels, self.info.task)
        logs = {"pred_loss": float(pred.detach())}
        logs.update({k: float(v.detach()) for k, v in out.aux_losses.items()})
        return (pred + sum(out.aux_losses.values()) if with_aux else pred), logs

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """Optimiser groups of the main optimiser: the text front-end's at its own rate,
        the model's `param_parts` with their options, the rest at `lr`."""
        return self.groups_with(lr, weight_decay, self.param_parts())

    def param_parts(self) -> list[tuple[list[nn.Parameter], dict]]:
        """Parameters with optimiser options of their own (e.g. {"lr": ...}); none here."""
        return []

    def groups_with(
        self, lr: float, weight_decay: float, parts: list[tuple[list[nn.Parameter], dict]]
    ) -> list[dict]:
        """Main optimiser groups for models with per-part options (MMSA's factor learning
        rate, per-modality weight decay): each part with its options over `lr` and
        `weight_decay`, the text front-end's groups, and every other parameter at `lr`."""
        groups, taken = self.text_groups()
        own = []
        for params, options in parts:
            params = [p for p in params if p.requires_grad and id(p) not in taken]
            taken |= {id(p) for p in params}
            own.append({"params": params, "lr": lr, "weight_decay": weight_decay, **options})
        rest = [p for p in self.main_parameters() if id(p) not in taken]
        return [{"params": rest, "lr": lr, "weight_decay": weight_decay}, *own, *groups]

    def text_groups(self) -> tuple[list[dict], set[int]]:
        """The text front-end's optimiser groups and the ids of their parameters."""
        frontend = self._modules.get("text_frontend")
        if frontend is None:
            return [], set()
        cfg = self.cfg
        groups = frontend.param_groups(cfg.text_lr, cfg.text_weight_decay)
        return groups, {id(p) for g in groups for p in g["params"]}

    def main_parameters(self) -> list[nn.Parameter]:
        """Parameters the trainer's main optimiser updates (all but the extra groups')."""
        extra = {id(p) for ps in self.extra_param_groups().values() for p in ps}
        return [p for p in self.parameters() if id(p) not in extra and p.requires_grad]

    def extra_param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {}

    def extra_options(self) -> dict[str, dict]:
        """Optimiser options of extra groups (e.g. {"critic": {"lr": ...}}) over train.lr."""
        return {}

    def first_stage_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of the first-stage pass (models with `first_stage`)."""
        raise NotImplementedError(f"{type(self).__name__} has no first stage.")

    def extra_update(
        self,
        batch: Batch,
        out: ModelOutput,
        optimizers: dict[str, torch.optim.Optimizer],
    ) -> dict[str, float]:
        return {}

    def training_state(self) -> dict[str, object]:
        return {}

    def load_training_state(self, state: dict[str, object]) -> None:
        return None

    def on_fit_start(self, train_labels: torch.Tensor) -> None:
        """Called once before training with every training label (per-sample memories)."""
        return None

    def output_layers(self) -> list[nn.Linear]:
        """The last layers, whose outputs are predictions in label units (the multimodal
        head and any unimodal heads). Models without a `PredictionHead` named `head`
        override this."""
        head = self._modules.get("head")
        if isinstance(head, PredictionHead):
            return [head.net[-1]]
        raise NotImplementedError(f"{type(self).__name__} must override output_layers().")

    @torch.no_grad()
    def init_output_bias(self, value: float) -> None:
        """Start every regression output at `value` (the training label mean), so that
        training begins at the constant predictor instead of at 0. Labels far from 0
        (MMMO's 1-5, PHQ-9 totals) otherwise cost many epochs of moving the bias alone."""
        for layer in self.output_layers():
            layer.bias.fill_(value)

    def on_epoch_start(self, epoch: int) -> None:
        return None
