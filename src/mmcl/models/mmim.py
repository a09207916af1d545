"""MMIM (Han, Chen and Poria, EMNLP 2021: "Improving Multimodal Fusion with Hierarchical
Mutual Information Maximization for Multimodal Sentiment Analysis"), as MMSA builds it
(`singleTask/MMIM.py` and its trainer, MOSI settings of config_regression.json).

The text is the first token's state of the text model ([CLS]); every other modality goes
through a bidirectional LSTM and a Linear to a small vector. Two levels of mutual
information (MI) are maximised:
- between the text and each other modality, by a variational lower bound (MMILB): a
  Gaussian q(y | text) whose mean and log-variance are MLPs of the text; the bound's
  log-likelihood term `lld`, plus (with the labels) an entropy term H: the log-determinant
  of the covariance of the positive and of the negative samples' projected features, over
  this batch and the previous `mem_size` batches;
- between the fused vector and each modality, by contrastive predictive coding (CPC): a
  Linear predicts the modality from the fusion, scored against the batch's other samples.
Training has two stages per epoch, as MMSA's: first a pass over the training split that
updates only the MMILB networks, on -lld (the trainer's `first_stage`); then the main pass on
L1 + alpha * nce - beta * lld - beta * H, which updates everything else (the MMILB networks
get gradients there too, but their optimiser does not step on them).

Deliberate differences from MMSA:
- The text model is the shared front-end's (`text_model`; MiniLM by default), not
  bert-base-uncased; with `text_encoder = "features"` the first step of the data's text
  features stands in for it (the [CLS] state in MMSA's BERT feature files).
- The non-text modalities are the data's, whatever they are: each gets an encoder, an MMILB
  with the text and a CPC (MMSA hard-codes acoustic and visual). MMSA's `add_va` (a third
  MMILB between vision and audio; off in every MMSA config) is not built.
- H is left out for a side (positive or negative) with no more samples than the projection
  has dimensions: its covariance is singular there and log det is -inf (MMSA's loss becomes
  NaN on such a batch; batches of 32 rarely have so few).
- MMSA clips the main step's gradient norm over every parameter, the MMILB networks'
  unused gradients included; ours clips over the parameters that step. The text model's
  biases and LayerNorm weights are not decayed (the shared front-end's rule).
- MMSA builds each MMILB's `last_activation` (Tanh) and never applies it; its entropy
  projection (`entropy_prj`) is only in the MMILB optimiser, which never sees a gradient for
  it: here it is a fixed projection (requires_grad false), the same arithmetic. MMSA's
  first stage uses half of MOSEI's batches; ours uses every batch on every data set.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import torch
from torch import nn

from mmcl.data.batching import Batch
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import SequenceEncoder
from mmcl.models.text_frontend import TEXT, TextInput


@dataclass
class MMIMConfig(TextInput):
    hidden: int = 16  # d_ah, d_vh: each non-text LSTM's width (per direction)
    out_dim: int = 16  # d_aout, d_vout
    bidirectional: bool = True
    layers: int = 1  # n_layer
    dropout: float = 0.1  # dropout_a, dropout_v: between stacked layers and after (n_layer > 1)
    fusion_hidden: int = 128  # d_prjh
    fusion_dropout: float = 0.1  # dropout_prj
    contrast: bool = True  # the MI terms and the first stage (MMSA's `contrast`)
    alpha: float = 0.1  # weight of the CPC loss
    beta: float = 0.1  # weight of the MMILB bound (lld and H)
    mem_size: int = 1  # previous batches in H's covariance
    mmilb_lr: float = 1e-3  # lr_mmilb
    mmilb_weight_decay: float = 1e-4  # weight_decay_mmilb


class RNNEncoder(nn.Module):
    """MMSA's RNNEncoder: an LSTM's final state(s) -> Dropout -> Linear."""

    def __init__(self, d_in: int, cfg: MMIMConfig) -> None:
        super().__init__()
        self.rnn = SequenceEncoder(
            d_in, cfg.hidden, cfg.bidirectional, cfg.layers, cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout if cfg.layers > 1 else 0.0)
        self.out = nn.Linear(self.rnn.out_dim, cfg.out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.rnn(x, mask)))


class MMILB(nn.Module):
    """The modality MI lower bound: q(y | x) = N(mu(x), exp(logvar(x)))."""

    def __init__(self, x_size: int, y_size: int) -> None:
        super().__init__()
        self.mu = nn.Sequential(nn.Linear(x_size, y_size), nn.ReLU(), nn.Linear(y_size, y_size))
        self.logvar = nn.Sequential(nn.Linear(x_size, y_size), nn.ReLU(), nn.Linear(y_size, y_size))
        self.entropy_prj = nn.Sequential(nn.Linear(y_size, y_size // 4), nn.Tanh())
        self.entropy_prj.requires_grad_(False)  # MMSA's optimisers never step it

    def lld(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The Gaussian log-likelihood of y given x (up to constants), mean over the batch."""
        return (-((self.mu(x) - y) ** 2) / 2.0 / self.logvar(x).exp()).sum(-1).mean()


def entropy(pos: list[torch.Tensor], neg: list[torch.Tensor], dims: int) -> torch.Tensor:
    """0.25 (log det Sigma_pos + log det Sigma_neg) of the stacked (n, dims) features; a
    side with no more than `dims` samples adds nothing (its covariance is singular)."""
    total = pos[0].new_zeros(())
    for side in (pos, neg):
        x = torch.cat(side)
        if len(x) <= dims:
            continue
        centred = x - x.mean(0)
        total = total + 0.25 * torch.logdet(centred.T @ centred / len(x))
    return total


class CPC(nn.Module):
    """Contrastive predictive coding: predict x from the fusion, scored with cosine against
    every sample of the batch (InfoNCE)."""

    def __init__(self, x_size: int, fusion_size: int) -> None:
        super().__init__()
        self.net = nn.Linear(fusion_size, x_size)

    def forward(self, x: torch.Tensor, fusion: torch.Tensor) -> torch.Tensor:
        pred = self.net(fusion)
        pred = pred / pred.norm(dim=1, keepdim=True)
        x = x / x.norm(dim=1, keepdim=True)
        pos = (x * pred).sum(-1)
        neg = torch.logsumexp(x @ pred.T, dim=-1)
        return -(pos - neg).mean()


class Fusion(nn.Module):
    """Dropout -> Linear -> tanh -> Linear -> tanh (the fused vector) -> Linear (output)."""

    def __init__(self, d_in: int, hidden: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.linear_1 = nn.Linear(d_in, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)
        self.linear_3 = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fused = torch.tanh(self.linear_2(torch.tanh(self.linear_1(self.drop(x)))))
        return fused, self.linear_3(fused)


class MMIM(TaskModel):
    min_modalities = 2
    needs_text = True
    regression_only = True
    first_stage = True
    why = (
        "its MI bounds pair the text with the other modalities, and its entropy term splits "
        "samples by the sign of their label"
    )

    def __init__(self, cfg: MMIMConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        d_text = info.dims[TEXT]
        others = [m for m in info.dims if m != TEXT]
        self.encoders = nn.ModuleDict({m: RNNEncoder(info.dims[m], cfg) for m in others})
        self.mmilb = nn.ModuleDict({m: MMILB(d_text, cfg.out_dim) for m in others})
        self.cpc = nn.ModuleDict(
            {m: CPC(d_text if m == TEXT else cfg.out_dim, cfg.fusion_hidden) for m in info.dims}
        )
        self.fusion = Fusion(
            d_text + cfg.out_dim * len(others),
            cfg.fusion_hidden,
            info.task.output_dim,
            cfg.fusion_dropout,
        )
        # MMSA's trainer draws every matrix (not the text model's) from Xavier normal
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)
        self.memory: deque[dict[str, tuple[torch.Tensor, torch.Tensor]]] = deque(
            maxlen=cfg.mem_size
        )
        self.batches_seen = 0

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        text = features[TEXT][:, 0]  # (B, H): the first token's state ([CLS])
        h = {m: enc(features[m], masks[m]) for m, enc in self.encoders.items()}  # m: (B, out)
        fused, raw = self.fusion(torch.cat([text, *h.values()], dim=-1))
        nce = sum(self.cpc[m](x, fused) for m, x in {TEXT: text, **h}.items())
        aux = {}
        if self.cfg.contrast:
            aux = {"nce": self.cfg.alpha * nce, "lld": -self.cfg.beta * self.lld(text, h)}
        return ModelOutput(
            shape_predictions(raw, self.info.task),
            aux_losses=aux,
            representations={"fusion": fused, TEXT: text, **h},
        )

    def lld(self, text: torch.Tensor, h: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.mmilb[m].lld(text, h[m]) for m in h)

    # -- the first stage: the MMILB networks alone, on -lld ---------------------------------
    def extra_param_groups(self) -> dict[str, list[nn.Parameter]]:
        if not self.cfg.contrast:
            return {}
        return {"mmilb": [p for p in self.mmilb.parameters() if p.requires_grad]}

    def extra_options(self) -> dict[str, dict]:
        return {"mmilb": {"lr": self.cfg.mmilb_lr, "weight_decay": self.cfg.mmilb_weight_decay}}

    def first_stage_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        if not self.cfg.contrast:
            return torch.zeros(()), {}
        with torch.no_grad():  # only the MMILB networks step: no gradient for the rest
            reps = self.run(batch).representations
        h = {m: reps[m] for m in self.encoders}
        loss = -self.lld(reps[TEXT], h)
        return loss, {"mmilb_loss": float(loss.detach())}

    # -- the main stage: the task loss, the MI terms and the entropy of each label side -----
    def on_epoch_start(self, epoch: int) -> None:
        self.memory.clear()  # MMSA's memory lives for one pass
        self.batches_seen = 0

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        total, logs = self.loss_with_aux(batch, out, with_aux=self.cfg.contrast)
        if not self.cfg.contrast:
            return total, logs
        labels = batch.labels.float()
        sides = {}
        for m, mmilb in self.mmilb.items():
            y = mmilb.entropy_prj(out.representations[m])  # (B, out // 4)
            sides[m] = (y[labels > 0], y[labels < 0])
        # as MMSA: H from the third batch of a pass on, over the remembered batches and this
        if self.batches_seen > self.cfg.mem_size and len(self.memory) == self.cfg.mem_size:
            h_ent = sum(
                entropy(
                    [s[m][0] for s in self.memory] + [pos],
                    [s[m][1] for s in self.memory] + [neg],
                    pos.shape[1],
                )
                for m, (pos, neg) in sides.items()
            )
            total = total - self.cfg.beta * h_ent
            logs["entropy"] = float(h_ent.detach())
        self.memory.append({m: (p.detach(), n.detach()) for m, (p, n) in sides.items()})
        self.batches_seen += 1
        return total, logs

    def output_layers(self) -> list[nn.Linear]:
        return [self.fusion.linear_3]
