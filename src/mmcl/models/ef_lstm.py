"""Early-fusion LSTM (EF-LSTM) as MMSA builds it (models/singleTask/EF_LSTM.py): the
modalities concatenated step by step, a BatchNorm over the steps (MMSA's BatchNorm1d(seq_len):
each step normalised over the batch and the features), a stacked LSTM, Dropout, Linear +
ReLU, Dropout, Linear.

Defaults are MMSA's MOSI configuration (config_regression.json, ef_lstm/mosi: 4 layers of
128, dropout 0.5). Word-aligned data is concatenated as is; modalities of different lengths
are first resampled to each sample's longest (`layers.word_aligned`: an utterance vector on
each word), so the model also runs on unaligned and utterance-level data. The LSTM reads
the unpadded steps only (MMSA runs it over the padding too); one modality gives the unimodal LSTM.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import SequenceEncoder, word_aligned
from mmcl.models.text_frontend import TextInput


@dataclass
class EFLSTMConfig(TextInput):
    hidden: int = 128
    layers: int = 4
    dropout: float = 0.5  # between the LSTM layers and before each Linear


class EFLSTM(TaskModel):
    def __init__(self, cfg: EFLSTMConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.steps = max(info.seq_lens.values())
        self.norm = nn.BatchNorm1d(self.steps)
        self.encoder = SequenceEncoder(
            sum(info.dims.values()), cfg.hidden, layers=cfg.layers, dropout=cfg.dropout
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.linear = nn.Linear(cfg.hidden, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, info.task.output_dim)

    def output_layers(self) -> list[nn.Linear]:
        return [self.out]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        aligned, mask = word_aligned(features, masks)
        x = torch.cat(list(aligned.values()), dim=-1)
        # batches are cut to their longest sample: back to the full length for the step norm
        pad = self.steps - x.shape[1]
        if pad < 0:
            raise UserError(
                f"ef_lstm: a batch has {x.shape[1]} steps, more than the {self.steps} it was "
                "built for (its BatchNorm has one channel per step); pad the data to one length."
            )
        x = self.norm(F.pad(x, (0, 0, 0, pad)))
        mask = F.pad(mask, (0, pad))
        h = self.encoder(x, mask)
        h = self.drop(F.relu(self.linear(self.drop(h))))
        return ModelOutput(shape_predictions(self.out(h), self.info.task))
