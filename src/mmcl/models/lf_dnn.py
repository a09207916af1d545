"""LF-DNN, late fusion with DNNs (Williams et al., 2018) as MMSA builds it
(models/singleTask/LF_DNN.py).

The same per-modality encoders as TFN (text: LSTM, Linear, no dropout, as MMSA's; the
others: their time average through BatchNorm, Dropout and three Linear + ReLU layers),
concatenated, then Dropout and three Linear layers. Defaults are MMSA's MOSI configuration
(config_regression.json, lf_dnn/mosi); the text LSTM reads the unpadded steps only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import encode_each, hidden_dims, mmsa_subnets
from mmcl.models.text_frontend import TextInput


@dataclass
class LFDNNConfig(TextInput):
    hiddens: dict[str, int] = hidden_dims(128, 16, 128)  # MMSA MOSI (t, a, v)
    hidden: int = 128  # a modality `hiddens` does not name
    text_out: int = 256
    post_fusion_dim: int = 128
    dropout: float = 0.2  # each non-text modality's encoder (MMSA's text encoder has none)
    post_fusion_dropout: float = 0.2


class LFDNN(TaskModel):
    def __init__(self, cfg: LFDNNConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.encoders = mmsa_subnets(info.dims, cfg.hiddens, cfg.hidden, cfg.text_out, cfg.dropout)
        width = sum(enc.out_dim for enc in self.encoders.values())
        d = cfg.post_fusion_dim
        self.post_fusion = nn.Sequential(
            nn.Dropout(cfg.post_fusion_dropout),
            nn.Linear(width, d),
            nn.ReLU(),
            nn.Linear(d, d),
            nn.ReLU(),
            nn.Linear(d, info.task.output_dim),
        )

    def output_layers(self) -> list[nn.Linear]:
        return [self.post_fusion[-1]]

    def fuse(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encodings (m -> (B, d_m)) -> the raw output (B, out)."""
        return self.post_fusion(torch.cat(list(h.values()), dim=-1))

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        out = self.fuse(encode_each(self.encoders, features, masks))
        return ModelOutput(shape_predictions(out, self.info.task))
