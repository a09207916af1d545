"""BERT-MAG (Rahman et al., ACL 2020: "Integrating Multimodal Information in Large
Pretrained Transformers"), as MMSA builds it (`singleTask/BERT_MAG.py`, MOSI settings of
config_regression.json).

The Multimodal Adaptation Gate shifts each token's embedding by what the non-verbal
modalities say at that token: for each modality m, a gate g_m = ReLU(W_gm [x_m ; e]) and a
shift W_m x_m; h = sum_m g_m * W_m x_m; the shift is scaled so that it is never larger than
beta_shift times the embedding, alpha = min(|e| / |h| * beta_shift, 1); out =
Dropout(LayerNorm(e + alpha h)). MMSA applies it to the embeddings' output, before the
first transformer layer (`inject_after = 0`), then reads BERT's pooled output (the tanh
Linear on the first token), Dropout(0.1), Linear(H, 1).

Deliberate differences from MMSA:
- The text model is the shared front-end's (`text_model`; MiniLM by default, 384 wide),
  not bert-base-uncased; MMSA's segment ids are not read (single-segment text: all zero).
- The non-verbal sequences are stretched over each sample's own tokens (nearest step; the
  token padding gets zeros), as MMSA's word-aligned files have them; the data's modalities are used,
  whatever they are (MMSA hard-codes acoustic and visual): a gate and a shift each.
- MMSA's |h| == 0 guard (a norm of 0 read as 1) is kept; its `requires_grad` ones are plain
  constants here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.data.batching import Batch
from mmcl.models.base import DataInfo, ModelOutput, shape_predictions
from mmcl.models.layers import resample
from mmcl.models.text_frontend import TEXT, InsideText, TextInput


@dataclass
class BertMAGConfig(TextInput):
    text_encoder: str = "transformer"  # the gate acts inside the text transformer
    text_pooler: bool = True  # BERT's pooler trains with the rest, as in MMSA
    beta_shift: float = 1.0
    dropout: float = 0.3  # the gate's (MMSA's dropout_prob on MOSI)
    head_dropout: float = 0.1  # before the output layer (BERT's hidden_dropout_prob)
    inject_after: int = 0  # the gate on the embeddings' output (0) or after layer k
    text_lr: float = 2e-5  # MMSA trains BERT and the gate at one rate (learning_rate)

    def validate(self) -> None:
        self.require_transformer("bert_mag", "the gate acts inside the text transformer")


class MAG(nn.Module):
    """The Multimodal Adaptation Gate over token embeddings (B, L, H), given each other
    modality's features at the same L steps."""

    def __init__(self, hidden: int, dims: dict[str, int], beta_shift: float, dropout: float):
        super().__init__()
        self.gates = nn.ModuleDict({m: nn.Linear(d + hidden, hidden) for m, d in dims.items()})
        self.shifts = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in dims.items()})
        self.beta_shift = beta_shift
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, text: torch.Tensor, others: dict[str, torch.Tensor]) -> torch.Tensor:
        h = sum(
            torch.relu(self.gates[m](torch.cat([x, text], dim=-1))) * self.shifts[m](x)
            for m, x in others.items()
        )  # (B, L, H)
        h_norm = h.norm(dim=-1)
        h_norm = torch.where(h_norm == 0, torch.ones_like(h_norm), h_norm)
        alpha = (text.norm(dim=-1) / (h_norm + 1e-6) * self.beta_shift).clamp(max=1.0)
        return self.drop(self.norm(alpha.unsqueeze(-1) * h + text))


class BertMAG(InsideText):
    min_modalities = 2
    name = "bert_mag"
    why = "the gate shifts the text by the other modalities"

    def __init__(self, cfg: BertMAGConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        hidden = info.dims[TEXT]
        others = {m: d for m, d in info.dims.items() if m != TEXT}
        self.mag = MAG(hidden, others, cfg.beta_shift, cfg.dropout)
        self.drop = nn.Dropout(cfg.head_dropout)
        self.out = nn.Linear(hidden, info.task.output_dim)

    def forward_batch(self, batch: Batch) -> ModelOutput:
        frontend = self.frontend(batch)
        features, masks = self.inputs(batch), batch.masks
        length = batch.tokens.shape[1]
        words = batch.token_mask.sum(1)  # (B,): each sample's own tokens, padding left out
        others = {m: resample(features[m], masks[m], length, words) for m in self.mag.gates}
        states = frontend.injected(
            batch.tokens, batch.token_mask, lambda e: self.mag(e, others), self.cfg.inject_after
        )
        pooled = frontend.pooled(states)  # (B, H)
        return ModelOutput(shape_predictions(self.out(self.drop(pooled)), self.info.task))

    def output_layers(self) -> list[nn.Linear]:
        return [self.out]
