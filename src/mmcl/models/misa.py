"""MISA (Hazarika et al., ACM MM 2020) as MMSA builds and trains it (models/singleTask/MISA.py,
trains/singleTask/MISA.py), with CMD as the similarity loss (MMSA's use_cmd_sim).

Utterance vectors: the text modality's token states averaged over the unpadded steps (MMSA
averages its BERT's output the same way); every other modality through two bidirectional
LSTMs whose hidden width is the input width, a LayerNorm between them, the final states of
both concatenated (4 x width). Each is projected to `hidden` (Linear, ReLU, LayerNorm), then
split by a shared encoder and a private one per modality (Linear + Sigmoid each). The 2M
vectors (privates, then shareds) go through one PyTorch Transformer encoder layer (2 heads,
its defaults: feed-forward 2048, dropout 0.1) and are concatenated into
Linear(2M h -> M h) - Dropout - ReLU - Linear. Losses, as MMSA's trainer: the task loss (MSE
for regression), + w_diff x the difference loss (squared correlations between each private
and its shared part and between privates, norms taken without gradient), + w_sim x CMD (5
moments) averaged over pairs of shared parts, + w_recon x the reconstruction MSE of each
projected vector from private + shared, averaged over modalities. MMSA clips each gradient
entry at 0.8 (recipe misa_mosi: train.grad_clip = 0.8, train.clip_by = "value").

Defaults are MMSA's MOSI configuration (config_regression.json, misa/mosi). The text comes
from the data's features, or, as MMSA fine-tunes BERT, from the shared text front-end
(misa.text_encoder = "transformer"). Not built: two layers MMSA creates but never uses (its
text LSTM LayerNorm and the shared/private discriminator, whose loss its trainer leaves out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmcl.data.batching import Batch
from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    TaskModel,
    masked_mean,
    shape_predictions,
    task_loss,
)
from mmcl.models.layers import cmd
from mmcl.models.text_frontend import TextInput


@dataclass
class MISAConfig(TextInput):
    hidden: int = 128  # hidden_size
    dropout: float = 0.2
    w_diff: float = 0.1  # diff_weight
    w_sim: float = 0.3  # sim_weight
    w_recon: float = 1.0  # recon_weight
    text_modality: str = "text"  # averaged over steps; "" sends every modality through LSTMs


def difference_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MMSA's DiffLoss: mean squared entry of A'^T B' for batch-centred rows scaled to unit
    norm by norms held constant (no gradient through them)."""
    a = a - a.mean(0, keepdim=True)
    b = b - b.mean(0, keepdim=True)
    a = a / (a.norm(dim=1, keepdim=True).detach() + 1e-6)
    b = b / (b.norm(dim=1, keepdim=True).detach() + 1e-6)
    return (a.t() @ b).pow(2).mean()


class UtteranceLSTM(nn.Module):
    """MMSA's extract_features: BiLSTM(D -> D), LayerNorm(2D) on its outputs, BiLSTM(2D -> D);
    the two final states of both directions concatenated -> (B, 4 D)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.rnn1 = nn.LSTM(d, d, bidirectional=True, batch_first=True)
        self.norm = nn.LayerNorm(2 * d)
        self.rnn2 = nn.LSTM(2 * d, d, bidirectional=True, batch_first=True)
        self.out_dim = 4 * d

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out1, (h1, _) = self.rnn1(packed)
        padded, _ = pad_packed_sequence(out1, batch_first=True)
        normed = pack_padded_sequence(
            self.norm(padded), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h2, _) = self.rnn2(normed)
        # (2 directions, B, D) each -> (B, 4 D) in MMSA's order: rnn1 fwd, bwd, rnn2 fwd, bwd
        return torch.cat([h1, h2], dim=0).transpose(0, 1).reshape(x.shape[0], -1)


class MISA(TaskModel):
    min_modalities = 2
    why = "its similarity loss pulls the modalities' shared parts together"

    def __init__(self, cfg: MISAConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        h, mods = cfg.hidden, info.modalities
        self.lstms = nn.ModuleDict(
            {m: UtteranceLSTM(d) for m, d in info.dims.items() if m != cfg.text_modality}
        )
        widths = {
            m: self.lstms[m].out_dim if m in self.lstms else info.dims[m] for m in info.modalities
        }
        self.project = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(widths[m], h), nn.ReLU(), nn.LayerNorm(h)) for m in mods}
        )
        self.private = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(h, h), nn.Sigmoid()) for m in mods}
        )
        self.shared = nn.Sequential(nn.Linear(h, h), nn.Sigmoid())
        self.recon = nn.ModuleDict({m: nn.Linear(h, h) for m in mods})
        # PyTorch's defaults, as MMSA builds it: feed-forward 2048, dropout 0.1, post-norm
        self.fusion_encoder = nn.TransformerEncoderLayer(h, 2, batch_first=True)
        n = len(mods)
        self.fusion = nn.Sequential(
            nn.Linear(2 * n * h, n * h),
            nn.Dropout(cfg.dropout),
            nn.ReLU(),
            nn.Linear(n * h, info.task.output_dim),
        )

    def output_layers(self) -> list[nn.Linear]:
        return [self.fusion[-1]]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        mods = self.info.modalities
        utt = {
            m: self.project[m](
                self.lstms[m](features[m], masks[m])
                if m in self.lstms
                else masked_mean(features[m], masks[m])
            )
            for m in mods
        }
        private = {m: self.private[m](utt[m]) for m in mods}
        shared = {m: self.shared(utt[m]) for m in mods}
        tokens = torch.stack([*private.values(), *shared.values()], dim=1)  # (B, 2M, h)
        fused = self.fusion_encoder(tokens).flatten(1)
        pairs = [(a, b) for i, a in enumerate(mods) for b in mods[i + 1 :]]
        sim = torch.stack([cmd(shared[a], shared[b], 5) for a, b in pairs]).mean()
        diff = sum(difference_loss(private[m], shared[m]) for m in mods)
        diff = diff + sum(difference_loss(private[a], private[b]) for a, b in pairs)
        recon = torch.stack(
            [F.mse_loss(self.recon[m](private[m] + shared[m]), utt[m]) for m in mods]
        ).mean()
        return ModelOutput(
            shape_predictions(self.fusion(fused), self.info.task),
            aux_losses={"sim": sim, "diff": diff, "recon": recon},
        )

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        if self.info.task.kind == "regression":  # MMSA trains MISA with MSE
            pred = F.mse_loss(out.preds, batch.labels.to(out.preds.dtype))
        else:
            pred = task_loss(out.preds, batch.labels, self.info.task)
        total, logs = pred, {"pred_loss": float(pred.detach())}
        for k, w in (
            ("sim", self.cfg.w_sim),
            ("diff", self.cfg.w_diff),
            ("recon", self.cfg.w_recon),
        ):
            total = total + w * out.aux_losses[k]
            logs[f"{k}_loss"] = float(out.aux_losses[k].detach())
        return total, logs
