"""Tensor Fusion Network (Zadeh et al., EMNLP 2017) as MMSA builds it (models/singleTask/TFN.py).

Text: a 1-layer LSTM, Linear -> text_out (no dropout: MMSA's TextSubNet zeroes it for a
one-layer LSTM). Every other modality: its time average through BatchNorm, Dropout and
three Linear + ReLU layers. Fusion: the outer product of [1 ; h_m] over all modalities
(unimodal, bimodal and trimodal interactions), flattened, then Dropout and three Linear
layers. Regression outputs pass a sigmoid scaled to the label range, as MMSA's (x 6 - 3 for
MOSI's [-3, 3]).

Defaults are MMSA's MOSI configuration (config_regression.json, tfn/mosi). Differences from
MMSA: the text LSTM reads the unpadded steps only (MMSA runs it over the padding too); any
modality set works (the modality named "text" gets the LSTM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import encode_each, hidden_dims, mmsa_subnets, with_one
from mmcl.models.text_frontend import TextInput


@dataclass
class TFNConfig(TextInput):
    hiddens: dict[str, int] = hidden_dims(128, 32, 128)  # MMSA MOSI (t, a, v)
    hidden: int = 128  # a modality `hiddens` does not name
    text_out: int = 32
    post_fusion_dim: int = 64
    dropout: float = 0.3  # each non-text modality's encoder (MMSA's text encoder has none)
    post_fusion_dropout: float = 0.5
    # regression: sigmoid scaled to the task's label range (MMSA: x 6 - 3); false: linear
    squash: bool = True


# MMSA's largest configuration (MTFN on CH-SIMS) fuses 257 x 33 x 257 = 2.2 M entries
MAX_FUSED = 4_000_000


class TFN(TaskModel):
    def __init__(self, cfg: TFNConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.encoders = mmsa_subnets(info.dims, cfg.hiddens, cfg.hidden, cfg.text_out, cfg.dropout)
        fused = math.prod(enc.out_dim + 1 for enc in self.encoders.values())
        if fused > MAX_FUSED:  # each sample's fused tensor is held in every batch
            raise UserError(
                f"{type(self).__name__}: the fused tensor has {fused} entries for "
                f"{len(info.modalities)} modalities (at most {MAX_FUSED}); lower hiddens / "
                "text_out."
            )
        d = cfg.post_fusion_dim
        self.post_fusion = nn.Sequential(
            nn.Dropout(cfg.post_fusion_dropout),
            nn.Linear(fused, d),
            nn.ReLU(),
            nn.Linear(d, d),
            nn.ReLU(),
            nn.Linear(d, info.task.output_dim),
        )
        task = info.task
        self.range = (
            task.label_range
            if cfg.squash and task.kind == "regression" and task.label_range
            else None
        )

    def output_layers(self) -> list[nn.Linear]:
        return [self.post_fusion[-1]]

    @torch.no_grad()
    def init_output_bias(self, value: float) -> None:
        if self.range is None:
            return super().init_output_bias(value)
        # the sigmoid's input that gives `value`, kept off the saturated ends
        lo, hi = self.range
        p = min(max((value - lo) / (hi - lo), 1e-3), 1 - 1e-3)
        self.post_fusion[-1].bias.fill_(math.log(p / (1 - p)))

    def fuse(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encodings (m -> (B, d_m)) -> the output (B, out), squashed when set."""
        fused = None
        for _, x in with_one(h):  # (B, 1 + d_m)
            fused = x if fused is None else (fused.unsqueeze(-1) * x.unsqueeze(1)).flatten(1)
        out = self.post_fusion(fused)
        if self.range is not None:
            lo, hi = self.range
            out = torch.sigmoid(out) * (hi - lo) + lo
        return out

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        out = self.fuse(encode_each(self.encoders, features, masks))
        return ModelOutput(shape_predictions(out, self.info.task))
