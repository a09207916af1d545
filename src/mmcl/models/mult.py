"""MulT (Tsai et al., ACL 2019): crossmodal Transformers on unaligned sequences.

Each target modality attends to every other (source) modality through a stack of
crossmodal layers (queries from the target, keys and values from the source); the results
are concatenated per target, passed through self-attention, and the last unpadded step of
every target is concatenated for the head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions


@dataclass
class MulTConfig:
    d_model: int = 30
    n_heads: int = 5
    layers: int = 2
    kernel: int = 1  # temporal Conv1d projection kernel
    attn_dropout: float = 0.1
    dropout: float = 0.1
    out_dropout: float = 0.1

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise UserError(
                f"mult.d_model ({self.d_model}) must be divisible by mult.n_heads ({self.n_heads})."
            )


def sinusoid(length: int, d: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d)
    )
    pe = torch.zeros(length, d, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return pe


class CrossmodalLayer(nn.Module):
    """Pre-norm: x + MHA(LN(x), LN(src), LN(src)), then x + FFN(LN(x))."""

    def __init__(self, d: int, heads: int, attn_dropout: float, dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=attn_dropout, batch_first=True)
        self.ff = nn.Sequential(
            nn.Linear(d, 4 * d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(4 * d, d)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(src)
        ctx, _ = self.attn(self.norm_q(x), kv, kv, key_padding_mask=~src_mask, need_weights=False)
        x = x + self.drop(ctx)
        return x + self.drop(self.ff(self.norm_ff(x)))


class MulT(TaskModel):
    min_modalities = 2
    why = "its crossmodal attention lets each modality attend to the others"

    def __init__(self, cfg: MulTConfig, info: DataInfo) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.info = cfg, info
        d, mods = cfg.d_model, info.modalities
        self.proj = nn.ModuleDict(
            {
                m: nn.Conv1d(dim, d, cfg.kernel, padding=cfg.kernel // 2, bias=False)
                for m, dim in info.dims.items()
            }
        )
        self.cross = nn.ModuleDict(
            {
                f"{t}<{s}": nn.ModuleList(
                    CrossmodalLayer(d, cfg.n_heads, cfg.attn_dropout, cfg.dropout)
                    for _ in range(cfg.layers)
                )
                for t in mods
                for s in mods
                if s != t
            }
        )
        width = d * (len(mods) - 1)
        self.self_attn = nn.ModuleDict(
            {
                t: nn.TransformerEncoder(
                    nn.TransformerEncoderLayer(
                        width,
                        cfg.n_heads,
                        4 * width,
                        cfg.dropout,
                        batch_first=True,
                        norm_first=True,
                    ),
                    cfg.layers,
                    enable_nested_tensor=False,
                )
                for t in mods
            }
        )
        total = width * len(mods)
        self.proj1, self.proj2 = nn.Linear(total, total), nn.Linear(total, total)
        self.out = nn.Linear(total, info.task.output_dim)
        self.drop = nn.Dropout(cfg.out_dropout)

    def output_layers(self) -> list[nn.Linear]:
        return [self.out]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        d = self.cfg.d_model
        seq = {}
        for m, x in features.items():
            h = self.proj[m](x.transpose(1, 2)).transpose(1, 2)  # (B, L_m, d)
            seq[m] = math.sqrt(d) * h + sinusoid(h.shape[1], d, h.device)
        last = []
        for t in self.info.modalities:
            parts = []
            for s in self.info.modalities:
                if s == t:
                    continue
                h = seq[t]
                for layer in self.cross[f"{t}<{s}"]:
                    h = layer(h, seq[s], masks[s])
                parts.append(h)
            h = self.self_attn[t](torch.cat(parts, dim=-1), src_key_padding_mask=~masks[t])
            idx = (masks[t].sum(1) - 1).clamp_min(0)  # last unpadded step
            last.append(h[torch.arange(h.shape[0]), idx])
        z = torch.cat(last, dim=-1)
        z = z + self.proj2(self.drop(torch.relu(self.proj1(z))))
        return ModelOutput(shape_predictions(self.out(z), self.info.task))
