"""Tensor Fusion Network (Zadeh et al., EMNLP 2017): per-modality encoders, then the outer
product of [h_m ; 1] over all modalities (unimodal, bimodal and trimodal interactions),
flattened into an MLP."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import SequenceEncoder


@dataclass
class TFNConfig:
    hidden: int = 16  # per-modality width; the fused tensor has (hidden + 1)^M entries
    post_fusion_dim: int = 64
    dropout: float = 0.3


class TFN(TaskModel):
    def __init__(self, cfg: TFNConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        fused = (cfg.hidden + 1) ** len(info.modalities)
        if fused > 2_000_000:
            raise UserError(
                f"tfn: (hidden + 1)^M = {fused} is too large for "
                f"{len(info.modalities)} modalities; lower tfn.hidden."
            )
        self.encoders = nn.ModuleDict(
            {m: SequenceEncoder(d, cfg.hidden) for m, d in info.dims.items()}
        )
        self.mlp = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(fused, cfg.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(cfg.post_fusion_dim, cfg.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(cfg.post_fusion_dim, info.task.output_dim),
        )

    def output_layers(self) -> list[nn.Linear]:
        return [self.mlp[-1]]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        fused = None
        for m, enc in self.encoders.items():
            h = enc(features[m], masks[m])
            h = torch.cat([h, torch.ones_like(h[:, :1])], dim=-1)  # (B, hidden + 1)
            fused = h if fused is None else (fused.unsqueeze(-1) * h.unsqueeze(1)).flatten(1)
        return ModelOutput(shape_predictions(self.mlp(fused), self.info.task))
