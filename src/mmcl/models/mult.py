"""MulT (Tsai et al., ACL 2019) as MMSA builds it (models/singleTask/MULT.py and
subNets/transformers_encoder).

Each modality is projected to d by a Conv1d without bias or padding (MMSA's kernel 5 on MOSI:
the sequence loses kernel - 1 steps). Each target modality attends to every other (source)
modality through a crossmodal encoder (queries from the target, keys and values from the
source; `layers` layers); the results are concatenated per target and go through a
self-attention encoder of max(layers, 3) layers; the last step of every target is
concatenated, passed through a residual Linear - ReLU - Dropout - Linear block, and a Linear.
Every encoder scales its inputs by sqrt(d), adds sinusoidal positions, applies the embedding
dropout, runs pre-norm layers (one LayerNorm for the queries and the keys/values, feed-forward
4 x d, ReLU, relu/residual dropouts) and ends with a LayerNorm. With `causal` (MMSA's
attn_mask) step i of the target sees source steps j <= i + |L_source - L_target|.

Defaults are MMSA's MOSI configuration (config_regression.json, mult/mosi; for IEMOCAP MMSA
uses d = 30). Differences from MMSA: padded steps are masked out of attention and the last
UNPADDED step is read (MMSA attends to and reads the padding); positions are our sinusoid
(fairseq's layout and its skipping of zero-valued steps are not copied); any modality set
works (attention dropouts are chosen by the source modality, as MMSA's). The padding is
the difference that shows in accuracy: docs/results.md, "Against MMSA's own code", has ours
beside MMSA's both masking it and reading MMSA's own file, padding and all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, attendable, shape_predictions
from mmcl.models.text_frontend import TextInput


def _mmsa_mosi_kernels() -> dict[str, int]:
    return {"text": 5, "audio": 5, "vision": 5}


def _mmsa_mosi_attn_dropouts() -> dict[str, float]:
    return {"text": 0.3, "audio": 0.2, "vision": 0.0}


@dataclass
class MulTConfig(TextInput):
    d_model: int = 50  # dst_feature_dim (MMSA: 30 on IEMOCAP)
    n_heads: int = 10
    layers: int = 4  # nlevels: crossmodal layers; the self-attention encoders have max(., 3)
    kernels: dict[str, int] = field(default_factory=_mmsa_mosi_kernels)  # conv1d_kernel_size_*
    kernel: int = 5  # a modality `kernels` does not name
    # attention dropout of the crossmodal encoders by SOURCE modality (attn_dropout_a/_v;
    # text's is attn_dropout), and of the self-attention encoders: `attn_dropout`
    attn_dropouts: dict[str, float] = field(default_factory=_mmsa_mosi_attn_dropouts)
    attn_dropout: float = 0.3
    relu_dropout: float = 0.0
    res_dropout: float = 0.0
    embed_dropout: float = 0.2
    out_dropout: float = 0.5  # output_dropout
    text_dropout: float = 0.5  # on the text features before their projection
    causal: bool = True  # MMSA's attn_mask

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise UserError(
                f"mult.d_model ({self.d_model}) must be divisible by mult.n_heads ({self.n_heads})."
            )
        if self.layers < 1 or self.kernel < 1 or any(k < 1 for k in self.kernels.values()):
            raise UserError("mult.layers and the kernel sizes must be at least 1.")


def sinusoid(length: int, d: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(
        torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d)
    )
    pe = torch.zeros(length, d, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return pe


class EncoderLayer(nn.Module):
    """Pre-norm: x + Dropout(MHA(LN(x), LN(src), LN(src))), then
    x + Dropout(Linear(Dropout(ReLU(Linear(LN(x)))))); the first LayerNorm serves the queries
    and the keys/values alike, as MMSA's."""

    def __init__(self, d: int, heads: int, cfg: Any, attn_dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=attn_dropout, batch_first=True)
        self.norm_attn, self.norm_ff = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.relu_drop, self.res_drop = nn.Dropout(cfg.relu_dropout), nn.Dropout(cfg.res_dropout)

    def forward(
        self,
        x: torch.Tensor,
        src: torch.Tensor | None,
        padding: torch.Tensor,
        causal: torch.Tensor | None,
    ) -> torch.Tensor:
        q = self.norm_attn(x)
        kv = q if src is None else self.norm_attn(src)
        ctx, _ = self.attn(
            q, kv, kv, key_padding_mask=padding, attn_mask=causal, need_weights=False
        )
        x = x + self.res_drop(ctx)
        h = self.fc2(self.relu_drop(F.relu(self.fc1(self.norm_ff(x)))))
        return x + self.res_drop(h)


class Encoder(nn.Module):
    """MMSA's TransformerEncoder: scaled input + positions + embedding dropout, layers, a final
    LayerNorm. With `src`, crossmodal (the source embedded the same way)."""

    def __init__(
        self,
        d: int,
        layers: int,
        cfg: Any,
        attn_dropout: float,
        heads: int | None = None,
        positions: bool = True,
    ) -> None:
        """`cfg` gives the heads (unless `heads`) and the relu, residual and embedding
        dropouts; `positions = False`: no position encoding (TFR-Net's temporal encoders)."""
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(d, heads or cfg.n_heads, cfg, attn_dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(cfg.embed_dropout)
        self.positions = positions

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        scaled = math.sqrt(d) * x
        return self.drop(scaled + sinusoid(x.shape[1], d, x.device) if self.positions else scaled)

    def forward(
        self,
        x: torch.Tensor,
        src: torch.Tensor | None,
        src_mask: torch.Tensor,
        causal: torch.Tensor | None,
    ) -> torch.Tensor:
        x = self.embed(x)
        src = None if src is None else self.embed(src)
        padding = ~attendable(src_mask)
        for layer in self.layers:
            x = layer(x, src, padding, causal)
        return self.norm(x)


def future_mask(rows: int, cols: int, full_rows: int, full_cols: int, device) -> torch.Tensor:
    """MMSA's buffered_future_mask for sequences of full lengths (full_rows, full_cols), cut to
    this batch's (rows, cols): row i sees columns j <= i + |full_cols - full_rows|."""
    offset = abs(full_cols - full_rows)
    i = torch.arange(rows, device=device)[:, None]
    j = torch.arange(cols, device=device)[None, :]
    return j > i + offset  # True = not allowed


def conv_steps(
    conv: nn.Conv1d, x: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A Conv1d over time without padding: (B, L, D) -> (B, L', d) and its mask; a kernel of
    k steps reads steps i..i+k-1, so a sample keeps its length - (k - 1) steps (sequences
    shorter than the kernel are zero-padded to it)."""
    k = conv.kernel_size[0]
    if x.shape[1] < k:
        pad = k - x.shape[1]
        x, mask = F.pad(x, (0, 0, 0, pad)), F.pad(mask, (0, pad))
    h = conv(x.transpose(1, 2)).transpose(1, 2)
    n_valid = (mask.sum(1, keepdim=True) - (k - 1)).clamp_min(1)
    return h, torch.arange(h.shape[1], device=h.device)[None, :] < n_valid


class MulT(TaskModel):
    min_modalities = 2
    why = "its crossmodal attention lets each modality attend to the others"

    def __init__(self, cfg: MulTConfig, info: DataInfo) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.info = cfg, info
        d, mods = cfg.d_model, info.modalities
        self.kernels = {m: cfg.kernels.get(m, cfg.kernel) for m in mods}
        # MMSA projects only a modality whose width differs from d
        self.proj = nn.ModuleDict(
            {
                m: nn.Conv1d(dim, d, self.kernels[m], bias=False)
                for m, dim in info.dims.items()
                if dim != d
            }
        )
        # the projected length of each modality at full length (for the causal offsets)
        self.full = {
            m: max(info.seq_lens[m] - (self.kernels[m] - 1 if m in self.proj else 0), 1)
            for m in mods
        }
        self.cross = nn.ModuleDict(
            {
                f"{t}<{s}": Encoder(d, cfg.layers, cfg, cfg.attn_dropouts.get(s, cfg.attn_dropout))
                for t in mods
                for s in mods
                if s != t
            }
        )
        width = d * (len(mods) - 1)
        self.self_attn = nn.ModuleDict(
            {t: Encoder(width, max(cfg.layers, 3), cfg, cfg.attn_dropout) for t in mods}
        )
        total = width * len(mods)
        self.proj1, self.proj2 = nn.Linear(total, total), nn.Linear(total, total)
        self.out = nn.Linear(total, info.task.output_dim)
        self.drop = nn.Dropout(cfg.out_dropout)
        self.text_drop = nn.Dropout(cfg.text_dropout)

    def output_layers(self) -> list[nn.Linear]:
        return [self.out]

    def _project(self, m: str, x: torch.Tensor, mask: torch.Tensor):
        if m == "text":
            x = self.text_drop(x)
        if m not in self.proj:
            return x, mask
        return conv_steps(self.proj[m], x, mask)

    def _causal(self, t: str, s: str | None, rows: int, cols: int, device) -> torch.Tensor | None:
        if not self.cfg.causal:
            return None
        full_cols = self.full[t] if s is None else self.full[s]
        return future_mask(rows, cols, self.full[t], full_cols, device)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        seq, valid = {}, {}
        for m in self.info.modalities:
            seq[m], valid[m] = self._project(m, features[m], masks[m])
        last = []
        for t in self.info.modalities:
            parts = []
            for s in self.info.modalities:
                if s == t:
                    continue
                causal = self._causal(t, s, seq[t].shape[1], seq[s].shape[1], seq[t].device)
                parts.append(self.cross[f"{t}<{s}"](seq[t], seq[s], valid[s], causal))
            h = torch.cat(parts, dim=-1)
            causal = self._causal(t, None, h.shape[1], h.shape[1], h.device)
            h = self.self_attn[t](h, None, valid[t], causal)
            idx = (valid[t].sum(1) - 1).clamp_min(0)  # last unpadded step
            last.append(h[torch.arange(h.shape[0]), idx])
        z = torch.cat(last, dim=-1)
        z = z + self.proj2(self.drop(F.relu(self.proj1(z))))
        return ModelOutput(shape_predictions(self.out(z), self.info.task))
