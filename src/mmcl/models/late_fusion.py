"""Late fusion (LF-DNN style): pool each modality over its steps, a small MLP per modality,
concatenate, predict. With one modality it is the unimodal baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    PredictionHead,
    TaskModel,
    masked_mean,
    shape_predictions,
)
from mmcl.models.text_frontend import TextInput


@dataclass
class LateFusionConfig(TextInput):
    hidden: int = 64
    dropout: float = 0.2


class LateFusion(TaskModel):
    def __init__(self, cfg: LateFusionConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        h = cfg.hidden
        self.subnets = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.LayerNorm(d),
                    nn.Linear(d, h),
                    nn.ReLU(),
                    nn.Dropout(cfg.dropout),
                    nn.Linear(h, h),
                    nn.ReLU(),
                )
                for m, d in info.dims.items()
            }
        )
        self.head = PredictionHead(len(info.dims) * h, h, info.task.output_dim, cfg.dropout)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        pooled = [net(masked_mean(features[m], masks[m])) for m, net in self.subnets.items()]
        return ModelOutput(shape_predictions(self.head(torch.cat(pooled, dim=-1)), self.info.task))
