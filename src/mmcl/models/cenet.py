"""CENET (Wang et al., IEEE TMM 2022: "Cross-modal Enhancement Network for Multimodal
Sentiment Analysis"), as MMSA builds and trains it (`singleTask/CENET.py`, MOSI settings of
config_regression.json).

The cross-modal enhancement (CE) module shifts the text's hidden states inside the text
transformer, before its second layer: each non-verbal modality goes through
Linear - ReLU - Linear to the text's width; a one-head attention whose queries are the
text's states and whose keys and values are that modality's steps (scores times 8, MMSA's
constant, not divided by the square root of the width) gives a text-length sequence per
modality; their concatenation, through a Linear, is added to the text states. The first
token's final state then goes through BERT's classification head: Dropout - Linear - tanh
- Dropout - Linear. As in MMSA, the embeddings run without gradient (they never train),
the whole rest of the text model trains at the model's rate, the loss is L1.

Deliberate differences from MMSA:
- The text model is the shared front-end's (`text_model`; MiniLM by default), not
  bert-base-uncased; single-segment text (MMSA's segment ids are all zero too).
- The non-verbal steps past each sample's length are not attended to (MMSA's attention
  reads the padding of its unaligned files as steps).
- The data's non-text modalities are used, whatever they are (MMSA hard-codes acoustic and
  visual): a transform and an attention each, the concatenation as wide as they are many.
- MMSA decays the CE module's biases and not the classifier's; here the model's own
  parameters all decay at train.weight_decay and the text model's biases and LayerNorm
  weights do not (the shared front-end's rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.data.batching import Batch
from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    attendable,
    masked_softmax,
    shape_predictions,
)
from mmcl.models.text_frontend import TEXT, InsideText, TextInput


@dataclass
class CENETConfig(TextInput):
    text_encoder: str = "transformer"  # CE acts inside the text transformer
    inject_after: int = 1  # CE on the first layer's output (MMSA's injection_index 1)
    score_scale: float = 8.0  # the attention scores' factor in MMSA's SelfAttention
    head_dropout: float = 0.1  # BERT's hidden_dropout_prob, in the classification head
    text_lr: float = 1e-5  # MMSA trains the text model and CE at one rate (learning_rate)
    text_weight_decay: float = 1e-4

    def validate(self) -> None:
        self.require_transformer("cenet", "its enhancement acts inside the text transformer")


class CrossAttention(nn.Module):
    """MMSA's one-head SelfAttention: text queries, another modality's keys and values."""

    def __init__(self, width: int, scale: float) -> None:
        super().__init__()
        self.wq, self.wk, self.wv = (nn.Linear(width, width) for _ in range(3))
        self.scale = scale

    def forward(self, text: torch.Tensor, other: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.wq(text) @ self.wk(other).transpose(1, 2) * self.scale  # (B, L_t, L_m)
        weights = masked_softmax(scores, attendable(mask)[:, None, :])
        return weights @ self.wv(other)  # (B, L_t, H)


class CrossModalEnhancement(nn.Module):
    """The CE module: text states (B, L_t, H) + each modality's (B, L_m, D_m) -> shifted text."""

    def __init__(self, width: int, dims: dict[str, int], scale: float) -> None:
        super().__init__()
        self.transforms = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, width))
                for m, d in dims.items()
            }
        )
        self.attend = nn.ModuleDict({m: CrossAttention(width, scale) for m in dims})
        self.connect = nn.Linear(width * len(dims), width)

    def forward(
        self, text: torch.Tensor, others: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        per_modality = [
            self.attend[m](text, self.transforms[m](x), masks[m]) for m, x in others.items()
        ]
        return text + self.connect(torch.cat(per_modality, dim=-1))


class CENET(InsideText):
    min_modalities = 2
    name = "cenet"
    why = "its enhancement shifts the text by the other modalities"

    def __init__(self, cfg: CENETConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        width = info.dims[TEXT]
        others = {m: d for m, d in info.dims.items() if m != TEXT}
        self.ce = CrossModalEnhancement(width, others, cfg.score_scale)
        self.drop = nn.Dropout(cfg.head_dropout)
        self.dense = nn.Linear(width, width)
        self.out = nn.Linear(width, info.task.output_dim)
        # BERT's initialisation, which MMSA's from_pretrained gives every layer it adds
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward_batch(self, batch: Batch) -> ModelOutput:
        frontend = self.frontend(batch)
        features, masks = self.inputs(batch), batch.masks
        others = {m: features[m] for m in self.ce.transforms}
        states = frontend.injected(
            batch.tokens,
            batch.token_mask,
            lambda h: self.ce(h, others, masks),
            self.cfg.inject_after,
            embeddings_learn=False,
        )
        first = self.drop(torch.tanh(self.dense(self.drop(states[:, 0]))))  # (B, H)
        return ModelOutput(shape_predictions(self.out(first), self.info.task))

    def output_layers(self) -> list[nn.Linear]:
        return [self.out]
