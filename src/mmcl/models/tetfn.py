"""TETFN (Wang et al., Pattern Recognition 2023: "TETFN: A text enhanced transformer fusion
network for multimodal sentiment analysis"), as MMSA builds and trains it
(`multiTask/TETFN.py` and its trainer, MOSI settings of config_regression.json).

    text:   the text model's states -> Conv1d to d (no bias)                 -> x_t (B, L_t, d)
    other:  an LSTM over the steps -> Conv1d to d (no bias)                   -> x_m (B, L_m, d)
    target text:  a crossmodal encoder from each other modality (text queries)
    target m:     a crossmodal encoder from the text, and for each other non-text modality s
                  a text-enhanced transformer: c = Enc_1(s <- text) (one layer), then
                  Enc_2(m <- c) (two layers)
    per target:   the parts concatenated -> a self-attention encoder (two layers) -> its last
                  step; the targets' last steps concatenated -> Linear - ReLU  = F_f -> MLP -> y_M
    unimodal:     the max over steps of each x_s -> Linear - ReLU = F_s -> MLP -> y_s
Every encoder is MulT's (MMSA's TransformerEncoder: scaled input, sinusoidal positions,
pre-norm layers, future masks: `models/mult.py`), two layers, width d = 50, five heads.
Training is Self-MM's (MMSA's TETFN trainer is its code): unimodal labels from ULGM, the
tanh-weighted unimodal L1 losses, an optimiser step every 4 batches, per-part rates
(`models/self_mm.py`, `ULGMModel`).

Deliberate differences from MMSA:
- The text model is the shared front-end's (`text_model`; MiniLM by default), not
  bert-base-uncased; with `text_encoder = "features"` the data's text features stand in.
- Padded steps are kept out: the LSTMs' outputs past a sample's length, attention to them,
  the max over steps and the last step (MMSA reads the padding, as its MulT does).
- Any modality set with a text works: each non-text target gets one text-enhanced
  transformer per other non-text modality (MMSA hard-codes audio and vision: one each). With
  text and one other modality there is none: the model is then MulT-like with ULGM.
- MMSA builds the vision subnet's Conv1d with the audio kernel (`conv1d_kernel_size_a`; its
  `conv1d_kernel_size_v` is never read): `kernels` defaults to what MMSA builds (1 each on
  MOSI). Its LSTM `dropout` arguments act only between stacked layers (one layer on MOSI).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, masked_max
from mmcl.models.mult import Encoder, conv_steps, future_mask
from mmcl.models.self_mm import ULGMModel, _mlp_head
from mmcl.models.text_frontend import TEXT, TextInput


def _mosi(**values: float) -> dict:
    return dict(values)


@dataclass
class TETFNConfig(TextInput):
    d_model: int = 50  # dst_feature_dims
    n_heads: int = 5  # nheads
    lstm_hiddens: dict[str, int] = field(default_factory=lambda: _mosi(audio=16, vision=64))
    lstm_hidden: int = 32  # a modality `lstm_hiddens` does not name
    kernels: dict[str, int] = field(default_factory=lambda: _mosi(text=1, audio=1, vision=1))
    kernel: int = 1  # a modality `kernels` does not name
    # attention dropout of a crossmodal encoder by SOURCE modality (attn_dropout for the
    # text, attn_dropout_a/_v); `attn_dropout` for the others (memories, text-enhanced)
    attn_dropouts: dict[str, float] = field(
        default_factory=lambda: _mosi(text=0.1, audio=0.0, vision=0.1)
    )
    attn_dropout: float = 0.1
    relu_dropout: float = 0.0
    res_dropout: float = 0.1
    embed_dropout: float = 0.0
    causal: bool = True  # MMSA's attn_mask
    post_fusion_dim: int = 64
    post_dims: dict[str, int] = field(default_factory=lambda: _mosi(text=32, audio=32, vision=16))
    post_dim: int = 32  # a modality `post_dims` does not name
    dropouts: dict[str, float] = field(default_factory=dict)  # post_*_dropout (0 on MOSI)
    dropout: float = 0.0
    # ULGM and the optimiser groups, as Self-MM's (self_mm.py)
    modality_lr: dict[str, float] = field(default_factory=lambda: _mosi(audio=5e-4, vision=3e-4))
    modality_weight_decay: dict[str, float] = field(
        default_factory=lambda: _mosi(audio=0.01, vision=0.0)
    )
    label_bound: float = 0.0  # MMSA's H; 0: the task's largest |label| (3 on MOSI)
    exclude_zero: bool = True
    text_lr: float = 3e-5  # learning_rate_bert
    text_weight_decay: float = 1e-3  # weight_decay_bert

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise UserError(
                f"tetfn.d_model ({self.d_model}) must be divisible by tetfn.n_heads "
                f"({self.n_heads})."
            )


class TETFN(ULGMModel):
    min_modalities = 2
    needs_text = True
    why = "ULGM generates signed unimodal labels, and the text enhances the other modalities"

    def __init__(self, cfg: TETFNConfig, info: DataInfo) -> None:
        super().__init__()
        cfg.validate()
        self.cfg, self.info = cfg, info
        d, mods = cfg.d_model, info.modalities
        others = [m for m in mods if m != TEXT]
        kernels = {m: cfg.kernels.get(m, cfg.kernel) for m in mods}
        self.proj_text = nn.Conv1d(info.dims[TEXT], d, kernels[TEXT], bias=False)
        self.encoders = nn.ModuleDict()
        for m in others:
            hidden = cfg.lstm_hiddens.get(m, cfg.lstm_hidden)
            self.encoders[m] = nn.ModuleDict(
                {
                    "lstm": nn.LSTM(info.dims[m], hidden, batch_first=True),
                    "conv": nn.Conv1d(hidden, d, kernels[m], bias=False),
                }
            )
        # each modality's projected length at full length (for the future masks' offsets)
        self.full = {m: max(info.seq_lens[m] - (kernels[m] - 1), 1) for m in mods}
        self.cross = nn.ModuleDict()
        self.enhanced = nn.ModuleDict()
        self.parts: dict[str, list[tuple[str, str]]] = {}
        for t in mods:
            sources = [s for s in mods if s != t] if t == TEXT else [TEXT]
            self.parts[t] = [("cross", s) for s in sources]
            for s in sources:
                drop = cfg.attn_dropouts.get(s, cfg.attn_dropout)
                self.cross[f"{t}<{s}"] = Encoder(d, 2, cfg, drop)
            for s in [] if t == TEXT else [s for s in others if s != t]:
                self.parts[t].append(("enhanced", s))
                self.enhanced[f"{t}<{s}"] = nn.ModuleDict(
                    {
                        "lower": Encoder(d, 1, cfg, cfg.attn_dropout),
                        "upper": Encoder(d, 2, cfg, cfg.attn_dropout),
                    }
                )
        self.memory = nn.ModuleDict(
            {t: Encoder(d * len(self.parts[t]), 2, cfg, cfg.attn_dropout) for t in mods}
        )
        self.branches = list(mods)
        self.post_dims = {m: cfg.post_dims.get(m, cfg.post_dim) for m in mods}
        self.dropout = nn.ModuleDict(
            {s: nn.Dropout(cfg.dropouts.get(s, cfg.dropout)) for s in ["fusion", *mods]}
        )
        self.post = nn.ModuleDict({m: nn.Linear(d, self.post_dims[m]) for m in mods})
        fused_width = sum(d * len(p) for p in self.parts.values())
        self.post_fusion = nn.Linear(fused_width, cfg.post_fusion_dim)
        self.heads = nn.ModuleDict(
            {m: _mlp_head(self.post_dims[m], self.post_dims[m]) for m in mods}
        )
        self.head_fusion = _mlp_head(cfg.post_fusion_dim, cfg.post_fusion_dim)
        lo, hi = info.task.label_range or (-3.0, 3.0)
        self.bound = cfg.label_bound or max(abs(lo), abs(hi))

    def _project(
        self, m: str, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if m == TEXT:
            return conv_steps(self.proj_text, x, mask)
        enc = self.encoders[m]
        h, _ = enc["lstm"](x)  # a forward LSTM: its outputs up to a length ignore what follows
        return conv_steps(enc["conv"], h, mask)

    def _future(self, t: str, s: str, rows: int, cols: int, device) -> torch.Tensor | None:
        return (
            future_mask(rows, cols, self.full[t], self.full[s], device) if self.cfg.causal else None
        )

    def _attend(self, enc: Encoder, t: str, s: str, x: dict, valid: dict) -> torch.Tensor:
        """Encoder `enc` with target t's steps as queries, source s's as keys and values."""
        causal = self._future(t, s, x[t].shape[1], x[s].shape[1], x[t].device)
        return enc(x[t], x[s], valid[s], causal)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        x, valid = {}, {}
        for m in self.info.modalities:
            x[m], valid[m] = self._project(m, features[m], masks[m])  # (B, L_m', d)
        last = []
        for t, parts in self.parts.items():
            outs = []
            for kind, s in parts:
                if kind == "cross":
                    outs.append(self._attend(self.cross[f"{t}<{s}"], t, s, x, valid))
                    continue
                pair = self.enhanced[f"{t}<{s}"]
                # the source enhanced by the text, then read by the target
                c = self._attend(pair["lower"], s, TEXT, x, valid)  # (B, L_s', d)
                outs.append(self._attend(pair["upper"], t, s, {t: x[t], s: c}, valid))
            h = torch.cat(outs, dim=-1)  # (B, L_t', d x parts)
            h = self.memory[t](
                h, None, valid[t], self._future(t, t, h.shape[1], h.shape[1], h.device)
            )
            idx = (valid[t].sum(1) - 1).clamp_min(0)  # the last unpadded step
            last.append(h[torch.arange(h.shape[0]), idx])
        fused = torch.relu(self.post_fusion(self.dropout["fusion"](torch.cat(last, dim=-1))))
        out = ModelOutput(self.head_fusion(fused).squeeze(-1), representations={"fusion": fused})
        for m in self.branches:
            pooled = masked_max(x[m], valid[m])  # (B, d)
            f = torch.relu(self.post[m](self.dropout[m](pooled)))
            out.representations[m] = f
            out.unimodal_preds[m] = self.heads[m](f).squeeze(-1)
        return out
