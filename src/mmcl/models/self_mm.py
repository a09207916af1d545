"""Self-MM (Yu et al., AAAI 2021): multi-task learning with self-supervised unimodal labels.

    text:  pooled text states (mean, or the first step = [CLS]): the data's features, or
           the shared front-end's fine-tuned transformer on the token ids
           (text_encoder="transformer", models/text_frontend.py)              -> h_t
    other: 1-layer LSTM over the unpadded steps -> Linear                 -> h_a, h_v, ...
    F_s  = ReLU(Linear(dropout(h_s)))      per modality s (the unimodal representation)
    F_f  = ReLU(Linear(dropout([h_t; h_a; h_v])))                (the fused representation)
    y_M  = head_f(F_f),  y_s = head_s(F_s)                  (hard parameter sharing)

ULGM generates the unimodal labels y_s from the multimodal label y_m and the distances of
each sample's representations to the positive and negative class centres (METHODS.md §2);
the unimodal losses are weighted by tanh(|y_s - y_m|). Regression tasks only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mmcl import distributed
from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, masked_mean
from mmcl.models.layers import SequenceEncoder
from mmcl.models.text_frontend import TextInput

EPS = 1e-8


@dataclass
class SelfMMConfig(TextInput):
    text_modality: str = "text"  # pooled as pretrained features; "" treats every modality alike
    text_pool: str = "mean"  # mean | cls (first step, as BERT's [CLS])
    lstm_hidden: int = 32  # MMSA MOSI: audio 16, vision 32 (see lstm_hiddens)
    lstm_out: int = 32
    post_fusion_dim: int = 128
    post_dim: int = 32  # width of each unimodal representation F_s
    dropout: float = 0.1
    # per-modality overrides, e.g. {audio = 16, vision = 32}; dropouts also take "fusion"
    lstm_hiddens: dict[str, int] = field(default_factory=dict)
    lstm_outs: dict[str, int] = field(default_factory=dict)
    post_dims: dict[str, int] = field(default_factory=dict)
    dropouts: dict[str, float] = field(default_factory=dict)
    # per-modality learning rates / weight decay of the encoders (MMSA: audio and video 5e-3)
    modality_lr: dict[str, float] = field(default_factory=dict)
    modality_weight_decay: dict[str, float] = field(default_factory=dict)
    # ULGM clips unimodal labels to +-label_bound (MMSA's H); 0: the task's largest |label|
    # (3 for MOSI/MOSEI, 1 for SIMS)
    label_bound: float = 0.0
    exclude_zero: bool = True  # MMSA's excludeZero: positive centre from labels > 0 (else >= 0)

    def validate(self) -> None:
        if self.text_pool not in ("mean", "cls"):
            raise UserError(f"text_pool = '{self.text_pool}'; choose mean or cls.")
        if self.text_encoder == "transformer" and not self.text_modality:
            raise UserError("text_encoder = 'transformer' needs a text_modality name.")


class ULGM:
    """Unimodal label generation: a memory of every training sample's representations and
    labels per space (fusion + each modality), class centres, and the label update rule."""

    def __init__(
        self, dims: dict[str, int], labels: torch.Tensor, bound: float, exclude_zero: bool
    ) -> None:
        n = labels.shape[0]
        self.bound, self.exclude_zero = bound, exclude_zero
        # on the labels' device: the memory lives where the model trains
        self.features = {s: torch.zeros(n, d, device=labels.device) for s, d in dims.items()}
        # unimodal labels start equal to the multimodal label
        self.labels = {s: labels.clone().float() for s in dims}
        self.centres = {
            s: {k: torch.zeros(d, device=labels.device) for k in ("pos", "neg")}
            for s, d in dims.items()
        }

    def offsets(self, space: str, feats: torch.Tensor) -> torch.Tensor:
        """delta_s = (d_n - d_p) / (d_p + eps) for the samples' features in `space`."""
        d_p = (feats - self.centres[space]["pos"]).norm(dim=-1)
        d_n = (feats - self.centres[space]["neg"]).norm(dim=-1)
        return (d_n - d_p) / (d_p + EPS)

    def update(self, feats: dict[str, torch.Tensor], index: torch.Tensor, epoch: int) -> None:
        """After a batch: new labels (from epoch 2 on), then stored features, then centres."""
        if epoch > 1:
            y_m = self.labels["fusion"][index]
            delta_f = self.offsets("fusion", feats["fusion"])
            for s in feats:
                if s == "fusion":
                    continue
                delta_s = self.offsets(s, feats[s])
                new = 0.5 * (delta_s / (delta_f + EPS)) * y_m + 0.5 * (y_m + delta_s - delta_f)
                new = new.clamp(-self.bound, self.bound)
                old = self.labels[s][index]
                self.labels[s][index] = (epoch - 1) / (epoch + 1) * old + 2 / (epoch + 1) * new
        for s, f in feats.items():
            self.features[s][index] = f
        self.update_centres()

    def update_centres(self) -> None:
        for s, f in self.features.items():
            y = self.labels[s]
            pos = y > 0 if self.exclude_zero else y >= 0
            for key, rows in (("pos", pos), ("neg", y < 0)):
                if rows.any():  # an empty class keeps its previous centre (MMSA would give NaN)
                    self.centres[s][key] = f[rows].mean(0)

    def state_dict(self) -> dict[str, dict]:
        return {"features": self.features, "labels": self.labels, "centres": self.centres}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        device = self.device
        for s in self.features:
            self.features[s] = state["features"][s].to(device, copy=True)
            self.labels[s] = state["labels"][s].to(device, copy=True)
            self.centres[s] = {k: v.to(device, copy=True) for k, v in state["centres"][s].items()}

    @property
    def device(self) -> torch.device:
        return next(iter(self.labels.values())).device

    def to(self, device: torch.device) -> None:
        self.features = {s: f.to(device) for s, f in self.features.items()}
        self.labels = {s: y.to(device) for s, y in self.labels.items()}
        self.centres = {s: {k: v.to(device) for k, v in c.items()} for s, c in self.centres.items()}


def _mlp_head(d_in: int, d_hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, 1))


class ULGMModel(TaskModel):
    """Training with self-supervised unimodal labels (ULGM), as MMSA's Self-MM trainer runs
    it (and its TETFN trainer, the same code): the label memory, the tanh-weighted unimodal
    L1 losses, per-modality optimiser groups. A subclass builds `self.encoders` (the
    non-text encoders, by modality), `self.branches` (the unimodal spaces), `self.post_dims`,
    `self.heads` and `self.head_fusion` (MLPs ending in a Linear to 1) and `self.bound`, and
    returns the fused and unimodal representations and predictions from `forward`."""

    regression_only = True
    why = "ULGM generates signed unimodal labels"
    ulgm: ULGM | None = None
    epoch = 1

    def output_layers(self) -> list[nn.Linear]:
        return [self.head_fusion[-1], *(head[-1] for head in self.heads.values())]

    def on_fit_start(self, train_labels: torch.Tensor) -> None:
        dims = {"fusion": self.cfg.post_fusion_dim, **self.post_dims}
        self.ulgm = ULGM(dims, train_labels.to(self.device), self.bound, self.cfg.exclude_zero)

    def move_training_state(self, device: torch.device) -> None:
        if self.ulgm is not None:
            self.ulgm.to(device)

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch + 1  # ULGM counts epochs from 1

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        y_m = batch.labels.float()
        total = (out.preds - y_m).abs().mean()
        logs = {"pred_loss": float(total.detach())}
        for m in self.branches:
            y_s = self.ulgm.labels[m][batch.index] if self.ulgm is not None else y_m
            weight = torch.tanh((y_s - y_m).abs())
            uni = (weight * (out.unimodal_preds[m] - y_s).abs()).mean()
            total = total + uni
            logs[f"{m}_loss"] = float(uni.detach())
        return total, logs

    def extra_update(
        self, batch: Batch, out: ModelOutput, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, float]:
        if self.ulgm is None:
            return {}
        spaces = ["fusion", *self.branches]
        # data-parallel: every rank updates its label memory with every rank's rows, so the
        # memories stay identical (a no-op in one process)
        index, *rows = distributed.gather_rows(
            batch.index, *(out.representations[s].detach() for s in spaces)
        )
        self.ulgm.update(dict(zip(spaces, rows, strict=True)), index, self.epoch)
        y_m = self.ulgm.labels["fusion"]
        return {
            f"label_gap_{m}": float((self.ulgm.labels[m] - y_m).abs().mean()) for m in self.branches
        }

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        special = {
            m
            for m in self.encoders
            if m in self.cfg.modality_lr or m in self.cfg.modality_weight_decay
        }
        groups, taken = self.text_groups()
        for m in sorted(special):
            params = list(self.encoders[m].parameters())
            taken |= {id(p) for p in params}
            groups.append(
                {
                    "params": params,
                    "lr": self.cfg.modality_lr.get(m, lr),
                    "weight_decay": self.cfg.modality_weight_decay.get(m, weight_decay),
                }
            )
        rest = [p for p in self.main_parameters() if id(p) not in taken]
        return [{"params": rest, "lr": lr, "weight_decay": weight_decay}, *groups]

    def training_state(self) -> dict[str, object]:
        return {} if self.ulgm is None else {"ulgm": self.ulgm.state_dict()}

    def load_training_state(self, state: dict[str, object]) -> None:
        if self.ulgm is not None and state:
            self.ulgm.load_state_dict(state["ulgm"])


class SelfMM(ULGMModel):
    def __init__(self, cfg: SelfMMConfig, info: DataInfo) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.info = cfg, info
        self.encoders = nn.ModuleDict()
        enc_dims = {}
        for m, d in info.dims.items():
            if m == cfg.text_modality:
                enc_dims[m] = d
                continue
            hidden = cfg.lstm_hiddens.get(m, cfg.lstm_hidden)
            enc_dims[m] = cfg.lstm_outs.get(m, cfg.lstm_out)
            self.encoders[m] = nn.ModuleDict(
                {"lstm": SequenceEncoder(d, hidden), "out": nn.Linear(hidden, enc_dims[m])}
            )
        self.branches = list(enc_dims)
        self.post_dims = {m: cfg.post_dims.get(m, cfg.post_dim) for m in self.branches}
        self.dropout = nn.ModuleDict(
            {s: nn.Dropout(cfg.dropouts.get(s, cfg.dropout)) for s in ["fusion", *self.branches]}
        )
        self.post = nn.ModuleDict(
            {m: nn.Linear(enc_dims[m], self.post_dims[m]) for m in self.branches}
        )
        self.post_fusion = nn.Linear(sum(enc_dims.values()), cfg.post_fusion_dim)
        self.heads = nn.ModuleDict(
            {m: _mlp_head(self.post_dims[m], self.post_dims[m]) for m in self.branches}
        )
        self.head_fusion = _mlp_head(cfg.post_fusion_dim, cfg.post_fusion_dim)
        lo, hi = info.task.label_range or (-3.0, 3.0)
        self.bound = cfg.label_bound or max(abs(lo), abs(hi))

    def encode(self, m: str, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if m == self.cfg.text_modality:
            return x[:, 0] if self.cfg.text_pool == "cls" else masked_mean(x, mask)
        enc = self.encoders[m]
        return enc["out"](enc["lstm"](x, mask))

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        h = {m: self.encode(m, features[m], masks[m]) for m in self.branches}
        fused = torch.relu(
            self.post_fusion(self.dropout["fusion"](torch.cat(list(h.values()), dim=-1)))
        )
        out = ModelOutput(self.head_fusion(fused).squeeze(-1), representations={"fusion": fused})
        for m, hm in h.items():
            f = torch.relu(self.post[m](self.dropout[m](hm)))
            out.representations[m] = f
            out.unimodal_preds[m] = self.heads[m](f).squeeze(-1)
        return out
