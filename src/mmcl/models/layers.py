"""Building blocks shared by several models: sequence encoders, MISA-style decoupling,
and the distribution-matching losses (CMD, orthogonality, Deep CORAL)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models.base import ModelOutput, masked_mean, shape_predictions


class SequenceEncoder(nn.Module):
    """An LSTM over the unpadded steps; returns its last layer's hidden state at the last
    real step (both directions' final states, concatenated, when bidirectional)."""

    def __init__(
        self,
        d_in: int,
        hidden: int,
        bidirectional: bool = False,
        layers: int = 1,
        dropout: float = 0.0,  # between stacked layers
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            d_in,
            hidden,
            num_layers=layers,
            dropout=dropout if layers > 1 else 0.0,
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.directions = 2 if bidirectional else 1
        self.out_dim = hidden * self.directions

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (layers x directions, B, hidden)
        return h[-self.directions :].transpose(0, 1).reshape(x.shape[0], -1)


class SubNet(nn.Module):
    """MMSA's (and TFN's) encoder of a time-averaged modality: BatchNorm - Dropout - three
    Linear + ReLU layers -> (B, hidden)."""

    def __init__(self, d_in: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm1d(d_in),
            nn.Dropout(dropout),
            nn.Linear(d_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # MMSA averages these modalities over time when it loads them (need_normalized)
        return self.net(masked_mean(x, mask))


class TextSubNet(nn.Module):
    """MMSA's (and TFN's) text encoder: a 1-layer LSTM's last hidden state (over the unpadded
    steps), Linear -> (B, out). No dropout: MMSA's TextSubNet sets its dropout to 0 when the
    LSTM has one layer, which is how every MMSA model builds it (the configured text dropout
    is inert there)."""

    def __init__(self, d_in: int, hidden: int, out: int) -> None:
        super().__init__()
        self.lstm = SequenceEncoder(d_in, hidden)
        self.linear = nn.Linear(hidden, out)
        self.out_dim = out

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.linear(self.lstm(x, mask))


def mlp(d_in: int, hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    """MMSA's `fc2(dropout(relu(fc1(x))))` (MFN's and Graph-MFN's gates and outputs)."""
    return nn.Sequential(
        nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, d_out)
    )


class GatedMemory(nn.Module):
    """MFN's Multi-view Gated Memory (also Graph-MFN's): from what the step attended to
    (B, k), a proposed update tanh(NN(a)); a retain gate and an update gate, each a sigmoid
    of a network over [a ; memory]; memory <- retain * memory + update * proposal."""

    def __init__(
        self, k: int, size: int, dims: tuple[int, int, int], dropouts: tuple[float, float, float]
    ) -> None:
        super().__init__()
        self.size = size
        self.proposal = mlp(k, dims[0], size, dropouts[0])
        self.retain = mlp(k + size, dims[1], size, dropouts[1])
        self.update = mlp(k + size, dims[2], size, dropouts[2])

    def forward(self, attended: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        proposal = torch.tanh(self.proposal(attended))
        both = torch.cat([attended, memory], dim=-1)
        gated = torch.sigmoid(self.retain(both)) * memory
        return gated + torch.sigmoid(self.update(both)) * proposal


def resample(
    x: torch.Tensor, mask: torch.Tensor, length: int, steps: torch.Tensor | None = None
) -> torch.Tensor:
    """Stretch each sample's unpadded steps over `steps` (B,) steps (nearest step; all
    `length` by default), zeros after them, the result `length` steps long."""
    n_valid = mask.sum(1, keepdim=True).clamp_min(1)  # (B, 1)
    target = n_valid.new_full(n_valid.shape, length) if steps is None else steps[:, None]
    pos = torch.arange(length, device=x.device)[None, :]  # (1, length)
    idx = (pos * n_valid // target.clamp_min(1)).clamp_max(n_valid - 1)  # (B, length)
    out = x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return out * (pos < target).unsqueeze(-1).to(x.dtype)


def word_aligned(
    features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Inputs for models that read one step of every modality at a time (MMSA's
    `need_data_aligned`): word-aligned data as it is, with the union of the modalities'
    masks. Modalities of different lengths are resampled, sample by sample, to that
    sample's longest modality (its words when the audio is one vector: the vector on each
    word, the words not stretched), with that sample's steps as the mask."""
    widths = {x.shape[1] for x in features.values()}
    if len(widths) == 1:
        return features, torch.stack(list(masks.values())).any(0)
    steps = torch.stack([mk.sum(1) for mk in masks.values()]).amax(0).clamp_min(1)  # (B,)
    length = int(steps.max())
    out = {m: resample(x, masks[m], length, steps) for m, x in features.items()}
    mask = torch.arange(length, device=steps.device)[None, :] < steps[:, None]  # (B, T)
    return out, mask


def hidden_dims(text: int, audio: int, vision: int) -> Any:
    """MMSA's `hidden_dims` (t, a, v) as the default of a config's `hiddens` field."""
    return field(default_factory=lambda: {"text": text, "audio": audio, "vision": vision})


def mmsa_subnets(
    dims: dict[str, int], hiddens: dict[str, int], hidden: int, text_out: int, dropout: float
) -> nn.ModuleDict:
    """The per-modality encoders of MMSA's TFN, LF-DNN and LMF (and their multi-task
    versions): the text modality through `TextSubNet` (no dropout, as MMSA's), every other
    through `SubNet` on its time average with `dropout`; widths from `hiddens`, `hidden`
    for a modality it does not name."""
    return nn.ModuleDict(
        {
            m: TextSubNet(d, hiddens.get(m, hidden), text_out)
            if m == "text"
            else SubNet(d, hiddens.get(m, hidden), dropout)
            for m, d in dims.items()
        }
    )


def encode_each(
    encoders: nn.ModuleDict, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Each modality through its own encoder: m -> (B, d_m)."""
    return {m: enc(features[m], masks[m]) for m, enc in encoders.items()}


def with_one(h: dict[str, torch.Tensor]) -> Iterator[tuple[str, torch.Tensor]]:
    """Each modality's encoding with a constant 1 prepended, [1 ; h_m] (B, 1 + d_m): what
    TFN's outer product and LMF's factors take, so that the lower-order interactions stay."""
    for m, x in h.items():
        yield m, torch.cat([torch.ones_like(x[:, :1]), x], dim=-1)


class UnimodalHeads(nn.Module):
    """The multi-task models' per-modality heads (MMSA's `post_<m>_layer_1..3`): Dropout,
    Linear + ReLU, Linear + ReLU, Linear to one score; m -> (B,)."""

    def __init__(
        self, widths: dict[str, int], dims: dict[str, int], dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Dropout(dropout),
                    nn.Linear(w, dims.get(m, dim)),
                    nn.ReLU(),
                    nn.Linear(dims.get(m, dim), dims.get(m, dim)),
                    nn.ReLU(),
                    nn.Linear(dims.get(m, dim), 1),
                )
                for m, w in widths.items()
            }
        )

    def output_layers(self) -> list[nn.Module]:
        return [head[-1] for head in self.heads.values()]

    def forward(self, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: head(h[m]).squeeze(-1) for m, head in self.heads.items()}


class MultiTask:
    """What MMSA's multi-task models (MLF-DNN, MTFN, MLMF) add to their single-task
    model: a head per modality on its encoding, trained on that modality's own label; the
    weighted sum of the L1 losses; each modality's encoder at its own weight decay.

    Mixed in before the single-task model, whose `encoders` and `fuse` it uses; the config
    has `post_dims`, `post_dim`, `post_dropout`, `loss_weights` and `modality_weight_decay`.
    """

    needs_unimodal_labels = True
    regression_only = True
    why = "it learns from a label per modality (unimodal labels are scores)"

    def add_heads(self) -> None:
        cfg = self.cfg
        widths = {m: enc.out_dim for m, enc in self.encoders.items()}
        self.heads = UnimodalHeads(widths, cfg.post_dims, cfg.post_dim, cfg.post_dropout)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        h = encode_each(self.encoders, features, masks)
        out = shape_predictions(self.fuse(h), self.info.task)
        return ModelOutput(out, unimodal_preds=self.heads(h))

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        return multitask_loss(
            out.preds, batch.labels, out.unimodal_preds, batch.unimodal, self.cfg.loss_weights
        )

    def output_layers(self) -> list[nn.Module]:
        return [*super().output_layers(), *self.heads.output_layers()]

    def param_parts(self) -> list[tuple[list[nn.Parameter], dict]]:
        decays = self.cfg.modality_weight_decay
        own = [
            (list(enc.parameters()), {"weight_decay": decays[m]})
            for m, enc in self.encoders.items()
            if m in decays
        ]
        return [*super().param_parts(), *own]


def multitask_loss(
    preds: torch.Tensor,
    labels: torch.Tensor,
    unimodal_preds: dict[str, torch.Tensor],
    unimodal_labels: dict[str, torch.Tensor] | None,
    weights: dict[str, float],
) -> tuple[torch.Tensor, dict[str, float]]:
    """MMSA's multi-task loss: sum over M and each modality of weight x L1(prediction, its
    own label); `weights` names "multimodal" and the modalities (1.0 for one not named)."""
    if unimodal_labels is None:
        raise UserError("a multi-task model needs unimodal labels in every batch.")
    loss = weights.get("multimodal", 1.0) * F.l1_loss(preds, labels.to(preds.dtype))
    logs = {"pred_loss": float(loss.detach())}
    for m, p in unimodal_preds.items():
        term = weights.get(m, 1.0) * F.l1_loss(p, unimodal_labels[m].to(p.dtype))
        logs[f"{m}_loss"] = float(term.detach())
        loss = loss + term
    return loss, logs


def masked_mse(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the steps where `mask` (B, T) holds and every feature."""
    w = mask.unsqueeze(-1).to(x.dtype)
    return ((x - y).pow(2) * w).sum() / (w.sum() * x.shape[-1]).clamp_min(1.0)


def cmd(x: torch.Tensor, y: torch.Tensor, moments: int = 5) -> torch.Tensor:
    """Central moment discrepancy between two batches of features (B, d)."""
    mx, my = x.mean(0), y.mean(0)
    total = (mx - my).norm()
    cx, cy = x - mx, y - my
    for k in range(2, moments + 1):
        total = total + (cx.pow(k).mean(0) - cy.pow(k).mean(0)).norm()
    return total


def orthogonality(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of the correlation of two centred, row-normalised batches."""
    a = F.normalize(a - a.mean(0), dim=1)
    b = F.normalize(b - b.mean(0), dim=1)
    return (a.t() @ b).pow(2).mean()


class LearnedDecoupling(nn.Module):
    """MISA-style split: one shared encoder, a private encoder per modality, decoders."""

    def __init__(self, modalities: list[str], d: int) -> None:
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(d, d), nn.Sigmoid())
        self.private = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(d, d), nn.Sigmoid()) for m in modalities}
        )
        self.decoder = nn.ModuleDict({m: nn.Linear(d, d) for m in modalities})

    def forward(self, z: dict, masks: dict) -> tuple[dict, dict, dict[str, torch.Tensor]]:
        common = {m: self.shared(x) for m, x in z.items()}
        specific = {m: self.private[m](x) for m, x in z.items()}
        pooled_c = {m: masked_mean(x, masks[m]) for m, x in common.items()}
        pooled_p = {m: masked_mean(x, masks[m]) for m, x in specific.items()}
        mods = list(z)
        pairs = [(a, b) for i, a in enumerate(mods) for b in mods[i + 1 :]]
        sim = torch.stack([cmd(pooled_c[a], pooled_c[b]) for a, b in pairs]).mean()
        diff = sum(orthogonality(pooled_c[m], pooled_p[m]) for m in mods)
        diff = diff + sum(orthogonality(pooled_p[a], pooled_p[b]) for a, b in pairs)
        recon = torch.stack(
            [
                F.mse_loss(self.decoder[m](pooled_c[m] + pooled_p[m]), masked_mean(z[m], masks[m]))
                for m in mods
            ]
        ).mean()
        return common, specific, {"sim": sim, "diff": diff, "recon": recon}


def covariance(h: torch.Tensor) -> torch.Tensor:
    """C = 1/(B-1) * (H^T H - (1/B) (1^T H)^T (1^T H)) for a batch H (B, d) -> (d, d)."""
    b = h.shape[0]
    col_sum = h.sum(0, keepdim=True)  # (1, d)
    return (h.t() @ h - col_sum.t() @ col_sum / b) / (b - 1)


def coral_loss(hx: torch.Tensor, hy: torch.Tensor) -> torch.Tensor:
    """Deep CORAL: ||C_x - C_y||_F^2 / (4 d^2). Zero for a batch of one (no covariance)."""
    if hx.shape != hy.shape:
        raise ValueError(
            "covariance alignment needs equal feature shapes, "
            f"got {tuple(hx.shape)} and {tuple(hy.shape)}."
        )
    b, d = hx.shape
    if b < 2:
        return hx.sum() * 0.0
    return (covariance(hx) - covariance(hy)).pow(2).sum() / (4 * d * d)
