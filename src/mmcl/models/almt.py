"""ALMT (Zhang et al., EMNLP 2023: "Learning Language-guided Adaptive Hyper-modality
Representation for Multimodal Sentiment Analysis"), as MMSA builds and trains it
(`singleTask/ALMT.py` and its trainer, MOSI settings of config_regression.json).

    embedding:  each modality -> Linear to d = 128 -> a one-layer transformer over
                [8 learned tokens ; its steps] (learned positions) -> the 8 tokens  (B, 8, d)
    language:   a transformer over the text's 8 tokens, AHL_depth - 1 layers, keeping the
                input and every layer's output: h_t^0 .. h_t^(depth-1)
    AHL:        the hyper-modality H (8 learned vectors, ones at start); layer i: the text
                states h_t^i query each other modality's 8 tokens, the results are summed,
                projected and added to H (AHL_depth layers)
    fusion:     a cross transformer: [token ; h_t^last] queries [token ; H] (2 layers);
                its first token -> Linear(d, 1)
Every transformer is pre-norm (separate LayerNorms for queries, keys and values), attention
heads of width 64 (16 in AHL), a GELU feed-forward of width 128, no dropout. MMSA trains it
with AdamW (lr 1e-4 on every parameter, the text model's included; weight decay 1e-4), MSE,
a linear warm-up over the first 20 epochs then a cosine, and stops after 32 epochs
without a lower validation loss.

Deliberate differences from MMSA:
- The text model is the shared front-end's (`text_model`; MiniLM by default), not
  bert-base-uncased; with `text_encoder = "features"` the data's text features stand in.
- Steps past each sample's length are not attended to in the embedding transformers (MMSA
  reads the padding); a sample longer than the learned positions (`max_steps`) is refused
  by its data's width, as MMSA's would fail.
- The data's non-text modalities are used, whatever they are (MMSA hard-codes acoustic and
  visual): an embedding and an AHL key/value pair each.
- MMSA's AdamW decays every parameter; here the text model's biases and LayerNorm weights
  are not decayed (the shared front-end's rule).
- Selection reads the validation L1 loss (the trainer's); MMSA's reads its MSE. MMSA's
  `max_grad_norm` (2) is never applied by its ALMT trainer, so gradients are not clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, attendable, shape_predictions
from mmcl.models.text_frontend import TEXT, TextInput


@dataclass
class ALMTConfig(TextInput):
    d_model: int = 128  # dst_feature_dims (MMSA's regression head is fixed at 128)
    ff_dim: int = 128  # dst_feature_hidden_dims, fusion_hidden_d
    tokens: int = 8  # dst_embedding_length
    embedding_depth: int = 1
    heads: int = 8  # embedding_heads, l_encoder_heads, fusion_heads
    head_dim: int = 64  # the transformers' (MMSA's dim_head default)
    ahl_depth: int = 3
    ahl_heads: int = 8  # h_hyper_layer_heads (head width d / heads)
    fusion_depth: int = 2
    text_lr: float = 1e-4  # MMSA: one rate for every parameter
    text_weight_decay: float = 1e-4

    def validate(self) -> None:
        if self.d_model % self.ahl_heads:
            raise UserError(
                f"almt.d_model ({self.d_model}) must be divisible by almt.ahl_heads "
                f"({self.ahl_heads})."
            )
        if self.ahl_depth < 1:
            raise UserError("almt.ahl_depth must be at least 1.")


class Attention(nn.Module):
    """Multi-head attention without biases in q/k/v; an output Linear unless one head as
    wide as the model (MMSA's project_out rule)."""

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(dim, inner, bias=False) for _ in range(3))
        self.out = nn.Identity() if heads == 1 and head_dim == dim else nn.Linear(inner, dim)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (B, heads, L, head_dim)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        keys = None if mask is None else attendable(mask)[:, None, None, :]
        ctx = F.scaled_dot_product_attention(
            self.split(self.q(q)), self.split(self.k(k)), self.split(self.v(v)), attn_mask=keys
        )
        return self.out(ctx.transpose(1, 2).flatten(2))


class Layer(nn.Module):
    """Pre-norm: x + Attn(LN_q(x), LN_k(src), LN_v(src)), then x + FF(LN(x))."""

    def __init__(self, dim: int, heads: int, head_dim: int, ff_dim: int) -> None:
        super().__init__()
        self.norm_q, self.norm_k, self.norm_v = (nn.LayerNorm(dim) for _ in range(3))
        self.attn = Attention(dim, heads, head_dim)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Linear(ff_dim, dim))

    def forward(
        self, x: torch.Tensor, src: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.norm_q(x), self.norm_k(src), self.norm_v(src), mask)
        return x + self.ff(self.norm_ff(x))


class Embedding(nn.Module):
    """Linear to d, then a transformer over [tokens ; steps] with learned positions; the
    tokens' outputs (B, tokens, d)."""

    def __init__(self, d_in: int, steps: int, cfg: ALMTConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.proj = nn.Linear(d_in, d)
        self.tokens = nn.Parameter(torch.zeros(1, cfg.tokens, d))
        self.positions = nn.Parameter(torch.randn(1, steps + cfg.tokens, d))
        self.layers = nn.ModuleList(
            Layer(d, cfg.heads, cfg.head_dim, cfg.ff_dim) for _ in range(cfg.embedding_depth)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, k = x.shape[1], self.tokens.shape[1]
        if n + k > self.positions.shape[1]:
            raise UserError(
                f"almt: a sequence of {n} steps is longer than the {self.positions.shape[1] - k} "
                "its positions were built for."
            )
        h = torch.cat([self.tokens.expand(len(x), -1, -1), self.proj(x)], dim=1)
        h = h + self.positions[:, : n + k]
        mask = torch.cat([mask.new_ones(len(x), k), mask], dim=1)
        for layer in self.layers:
            h = layer(h, h, mask)
        return h[:, :k]


class HyperLayer(nn.Module):
    """One AHL layer: the text queries each other modality; the summed, projected result is
    added to the hyper-modality."""

    def __init__(self, dim: int, heads: int, others: list[str]) -> None:
        super().__init__()
        inner = dim  # heads x (dim / heads)
        self.heads = heads
        self.norm_text, self.norm_hyper = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.norms = nn.ModuleDict({m: nn.LayerNorm(dim) for m in others})
        self.q = nn.Linear(dim, inner, bias=False)
        self.k = nn.ModuleDict({m: nn.Linear(dim, inner, bias=False) for m in others})
        self.v = nn.ModuleDict({m: nn.Linear(dim, inner, bias=False) for m in others})
        self.out = nn.Identity() if heads == 1 else nn.Linear(inner, dim)  # as Attention's

    def forward(
        self, text: torch.Tensor, others: dict[str, torch.Tensor], hyper: torch.Tensor
    ) -> torch.Tensor:
        def split(x: torch.Tensor) -> torch.Tensor:
            return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        q = split(self.q(self.norm_text(text)))
        total = 0
        for m, x in others.items():
            x = self.norms[m](x)
            ctx = F.scaled_dot_product_attention(q, split(self.k[m](x)), split(self.v[m](x)))
            total = total + ctx.transpose(1, 2).flatten(2)
        return self.norm_hyper(hyper) + self.out(total)


class ALMT(TaskModel):
    min_modalities = 2
    needs_text = True
    why = "the text guides what it takes from the other modalities"

    def __init__(self, cfg: ALMTConfig, info: DataInfo) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.info = cfg, info
        d, k = cfg.d_model, cfg.tokens
        others = [m for m in info.modalities if m != TEXT]
        self.embed = nn.ModuleDict(
            {m: Embedding(info.dims[m], info.seq_lens[m], cfg) for m in info.modalities}
        )
        self.text_positions = nn.Parameter(torch.randn(1, k, d))
        self.language = nn.ModuleList(
            Layer(d, cfg.heads, cfg.head_dim, cfg.ff_dim) for _ in range(cfg.ahl_depth - 1)
        )
        self.hyper = nn.Parameter(torch.ones(1, k, d))
        self.ahl = nn.ModuleList(HyperLayer(d, cfg.ahl_heads, others) for _ in range(cfg.ahl_depth))
        self.fusion_token = nn.Parameter(torch.zeros(1, 1, d))
        self.source_positions = nn.Parameter(torch.randn(1, k + 1, d))
        self.target_positions = nn.Parameter(torch.randn(1, k + 1, d))
        self.fusion = nn.ModuleList(
            Layer(d, cfg.heads, cfg.head_dim, cfg.ff_dim) for _ in range(cfg.fusion_depth)
        )
        self.out = nn.Linear(d, info.task.output_dim)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        h = {m: emb(features[m], masks[m]) for m, emb in self.embed.items()}  # m: (B, 8, d)
        text = h.pop(TEXT) + self.text_positions
        texts = [text]
        for layer in self.language:
            texts.append(layer(texts[-1], texts[-1]))
        hyper = self.hyper.expand(len(text), -1, -1)
        for i, layer in enumerate(self.ahl):
            hyper = layer(texts[i], h, hyper)
        token = self.fusion_token.expand(len(text), -1, -1)
        source = torch.cat([token, hyper], dim=1) + self.source_positions
        target = torch.cat([token, texts[-1]], dim=1) + self.target_positions
        for layer in self.fusion:
            target = layer(target, source)
        preds = shape_predictions(self.out(target[:, 0]), self.info.task)
        return ModelOutput(preds, representations={"fusion": target[:, 0]})

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        if self.info.task.kind != "regression":
            return super().loss(batch, out)
        loss = F.mse_loss(out.preds, batch.labels.to(out.preds.dtype))  # MMSA's criterion
        return loss, {"pred_loss": float(loss.detach())}

    def output_layers(self) -> list[nn.Linear]:
        return [self.out]
