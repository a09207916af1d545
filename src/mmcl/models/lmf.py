"""Low-rank Multimodal Fusion (Liu et al., ACL 2018) as MMSA builds it
(models/singleTask/LMF.py).

Encoders as MMSA's TFN: the text through a 1-layer LSTM and a Linear (no dropout, as
MMSA's) to half its hidden width (`text_out = hidden_t // 2`, as MMSA fixes it); every
other modality its time average through BatchNorm, Dropout and three Linear + ReLU layers.
Fusion: each modality's [1 ; h_m] times its own `rank` factors (rank, 1 + d_m, out),
multiplied elementwise across modalities, then a learned weighting of the rank components
plus a bias: TFN's outer product, never formed. The output is linear (no squashing, as
MMSA's LMF).

Defaults are MMSA's MOSI configuration (config_regression.json, lmf/mosi); the factors
train at their own rate, `factor_lr`. Deliberate differences from MMSA:
- MMSA's trainer gives Adam `parameters()[:3]` (the three factors) and `parameters()[5:]`
  (the encoders), so `fusion_weights` and `fusion_bias` never leave their initial values;
  here they (`fusion.weight`, `fusion.bias`) train at the main learning rate, the bias
  starting at the label mean, as every output here does.
- MMSA builds a `post_fusion_dropout` it never applies; it is not built here.
- The text LSTM reads the unpadded steps only (MMSA's runs over the padding too), and any
  modality set works (the modality named "text" gets the LSTM), as in `tfn`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import encode_each, hidden_dims, mmsa_subnets, with_one
from mmcl.models.text_frontend import TextInput


@dataclass
class LMFConfig(TextInput):
    hiddens: dict[str, int] = hidden_dims(128, 16, 128)  # MMSA MOSI (t, a, v)
    hidden: int = 128  # a modality `hiddens` does not name
    rank: int = 3
    dropout: float = 0.3  # each non-text modality's encoder (MMSA's text encoder has none)
    factor_lr: float = 1e-3  # the modality factors' learning rate


class RankWeighting(nn.Module):
    """MMSA's `fusion_weights` (1, rank) and `fusion_bias` (out): the fused rank components
    (rank, B, out) -> their weighted sum plus a bias (B, out)."""

    def __init__(self, rank: int, out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, rank)))
        self.bias = nn.Parameter(torch.zeros(out))

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.weight, fused.transpose(0, 1)).squeeze(1) + self.bias


class LMF(TaskModel):
    def __init__(self, cfg: LMFConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        text_out = cfg.hiddens.get("text", cfg.hidden) // 2
        self.encoders = mmsa_subnets(info.dims, cfg.hiddens, cfg.hidden, text_out, cfg.dropout)
        out = info.task.output_dim
        self.factors = nn.ParameterDict(
            {
                m: nn.Parameter(nn.init.xavier_normal_(torch.empty(cfg.rank, enc.out_dim + 1, out)))
                for m, enc in self.encoders.items()
            }
        )
        self.fusion = RankWeighting(cfg.rank, out)

    def param_parts(self) -> list[tuple[list[nn.Parameter], dict]]:
        """The factors at `factor_lr`, the rest at the main rate (MMSA's two Adam groups);
        the same weight decay for both, as MMSA."""
        return [(list(self.factors.parameters()), {"lr": self.cfg.factor_lr})]

    def output_layers(self) -> list[nn.Module]:
        return [self.fusion]

    def fuse(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encodings (m -> (B, d_m)) -> the raw output (B, out)."""
        fused = None
        for m, x in with_one(h):  # (B, 1 + d_m)
            z = torch.matmul(x, self.factors[m])  # (rank, B, out)
            fused = z if fused is None else fused * z
        return self.fusion(fused)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        out = self.fuse(encode_each(self.encoders, features, masks))
        return ModelOutput(shape_predictions(out, self.info.task))
