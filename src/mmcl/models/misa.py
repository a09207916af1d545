"""MISA (Hazarika et al., ACM MM 2020): modality-invariant and -specific representations.

Each modality's utterance vector (LSTM) is split by a shared encoder and a private encoder
per modality; a similarity loss (CMD) pulls the shared parts together, a difference loss
keeps shared and private parts (and private parts of different modalities) orthogonal, a
reconstruction loss keeps the pair informative. The 2M vectors are fused by a Transformer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.data.batching import Batch
from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    PredictionHead,
    TaskModel,
    shape_predictions,
    task_loss,
)
from mmcl.models.layers import LearnedDecoupling, SequenceEncoder


@dataclass
class MISAConfig:
    hidden: int = 64
    n_heads: int = 2
    dropout: float = 0.2
    w_sim: float = 0.3  # MMSA's MOSI weights
    w_diff: float = 0.1
    w_recon: float = 1.0


class MISA(TaskModel):
    min_modalities = 2
    why = "its similarity loss pulls the modalities' shared parts together"

    def __init__(self, cfg: MISAConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        h = cfg.hidden
        self.encoders = nn.ModuleDict({m: SequenceEncoder(d, h) for m, d in info.dims.items()})
        self.project = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.LayerNorm(h)) for m in info.modalities}
        )
        self.decouple = LearnedDecoupling(info.modalities, h)
        self.fusion = nn.TransformerEncoderLayer(
            h, cfg.n_heads, 2 * h, cfg.dropout, batch_first=True
        )
        self.head = PredictionHead(
            2 * len(info.modalities) * h, h, info.task.output_dim, cfg.dropout
        )

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        u = {
            m: self.project[m](self.encoders[m](features[m], masks[m])).unsqueeze(1)
            for m in self.info.modalities
        }
        ones = {m: torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) for m, x in u.items()}
        common, specific, losses = self.decouple(u, ones)
        tokens = torch.cat([*common.values(), *specific.values()], dim=1)  # (B, 2M, h)
        fused = self.fusion(tokens).flatten(1)
        return ModelOutput(shape_predictions(self.head(fused), self.info.task), aux_losses=losses)

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
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
