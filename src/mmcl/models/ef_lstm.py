"""Early-fusion LSTM (EF-LSTM): concatenate the modalities step by step, one LSTM, a head.

Word-aligned data is concatenated as is. Modalities of different lengths are first
resampled to the longest padded length (each sample's own steps, nearest step), so the
model also runs on unaligned and utterance-level data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmcl.models.base import DataInfo, ModelOutput, PredictionHead, TaskModel, shape_predictions
from mmcl.models.layers import SequenceEncoder


@dataclass
class EFLSTMConfig:
    hidden: int = 64
    dropout: float = 0.3


def resample(x: torch.Tensor, mask: torch.Tensor, length: int) -> torch.Tensor:
    """Stretch each sample's unpadded steps over `length` steps (nearest step)."""
    n_valid = mask.sum(1, keepdim=True).clamp_min(1)  # (B, 1)
    pos = torch.arange(length, device=x.device)[None, :]  # (1, length)
    idx = (pos * n_valid // length).clamp_max(n_valid - 1)  # (B, length)
    return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class EFLSTM(TaskModel):
    def __init__(self, cfg: EFLSTMConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.encoder = SequenceEncoder(sum(info.dims.values()), cfg.hidden)
        self.head = PredictionHead(cfg.hidden, cfg.hidden, info.task.output_dim, cfg.dropout)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        widths = {x.shape[1] for x in features.values()}
        if len(widths) == 1:
            mods = list(features)
            x = torch.cat([features[m] for m in mods], dim=-1)
            mask = torch.stack([masks[m] for m in mods]).any(0)
        else:
            length = max(widths)
            x = torch.cat([resample(features[m], masks[m], length) for m in features], dim=-1)
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        h = self.encoder(x, mask)
        return ModelOutput(shape_predictions(self.head(h), self.info.task))
