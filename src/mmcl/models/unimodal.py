"""One modality alone: an LSTM over its unpadded steps and the shared head. Train it with
`modalities = ["text"]` (or audio, vision, ...) for the modality-contribution rows."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmcl.models.base import DataInfo, ModelOutput, PredictionHead, TaskModel, shape_predictions
from mmcl.models.layers import SequenceEncoder
from mmcl.models.text_frontend import TextInput


@dataclass
class UnimodalConfig(TextInput):
    hidden: int = 64
    dropout: float = 0.3


class Unimodal(TaskModel):
    max_modalities = 1
    why = 'it sees one modality: choose it with --set modalities=["text"] or unimodal:text'

    def __init__(self, cfg: UnimodalConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.modality = info.modalities[0]
        self.encoder = SequenceEncoder(info.dims[self.modality], cfg.hidden)
        self.head = PredictionHead(cfg.hidden, cfg.hidden, info.task.output_dim, cfg.dropout)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        h = self.encoder(features[self.modality], masks[self.modality])
        return ModelOutput(shape_predictions(self.head(h), self.info.task))
