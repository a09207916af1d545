"""Multimodal Cyclic Translation Network (Pham et al., AAAI 2019) as MMSA builds it
(models/singleTask/MCTN.py, trained by trains/singleTask/MCTN.py).

Sequence-to-sequence translation from the source modality (text) to the others, learned
so that the source's encoding carries them: the first target (vision in MMSA) is translated
to from the source and back (the cycle: the same translation model reads its own output and
reconstructs the source); every further target (audio) is translated to from the previous
stage's encoding (the hierarchy). Each encoder is a bidirectional LSTM whose two
directions' outputs are summed (the "join"), its initial decoder query tanh(Linear(sum of
the last states)); each decoder step attends over the join (MMSA's additive attention),
runs a bidirectional LSTM from a zero state on [previous target step ; context], and reads
the next step through Linear([output ; context]). A regression head (an LSTM over the last
join, a tanh-softmax attention over its steps, a Linear) predicts from the encodings alone:
at prediction time only the source modality is read. The loss: the task loss plus
`recon_weight` times each translation's mean squared error.

Defaults are MMSA's MOSI configuration (config_regression.json, mctn/mosi, and the sizes
MCTN.py fixes): hidden width 32, no dropout, the first 20 steps, every modality zero-padded
to the widest one's width (MMSA pads vision 20 and audio 5 to BERT's 768, so that one
translation model reads both directions of the cycle), reconstruction weight 0.1. MMSA
marks it `need_data_aligned`: modalities of different lengths are resampled to each sample's
longest first (`layers.word_aligned`). Deliberate differences from MMSA:
- MMSA hands its LSTMs batch-major tensors as time-major ones, so its recurrences run
  across the samples of a batch, with the 20 steps as the batch; here they run over time.
- Padded steps: the encoders and the regression head skip them, attention never attends
  to them, and the translation loss leaves them out (MMSA reads the padding as steps).
- MMSA's decoders never predict a target's first step, and its loss compares that step
  with zeros; here the loss covers the steps the decoder predicts.
- Any modality set of two or more works: `source` names the source, `targets` the order
  of the others (MMSA's: text; vision, then audio; the source is skipped there); with one
  target, the cycle alone.
As in MMSA, the decoders always read the true previous target step (MMSA draws a
teacher-forcing coin but feeds the target either way).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    TaskModel,
    masked_softmax,
    shape_predictions,
)
from mmcl.models.layers import masked_mse, word_aligned
from mmcl.models.text_frontend import TextInput


@dataclass
class MCTNConfig(TextInput):
    hid_dim: int = 32
    dropout: float = 0.0
    max_steps: int = 20  # MMSA's training reads the first 20 steps only
    recon_weight: float = 0.1
    source: str = "text"
    # the order the other modalities are translated in (the source, when listed, is skipped:
    # `source = "audio"` alone works on audio + vision data)
    targets: list[str] = field(default_factory=lambda: ["vision", "audio"])


class Encoder(nn.Module):
    """Bidirectional LSTM over the unpadded steps -> the join (B, T, h), the two
    directions' outputs summed, and the decoder's first query tanh(Linear(h_fwd + h_bwd))."""

    def __init__(self, d_in: int, hid: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(d_in, hid, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.query = nn.Linear(hid, hid, bias=False)
        self.hid = hid

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        join = self.drop(out[..., : self.hid] + out[..., self.hid :])
        return join, torch.tanh(self.query(h[-1] + h[-2]))


class Attention(nn.Module):
    """MMSA's additive attention: softmax_t v^T tanh(W [s ; join_t]) over the unpadded steps."""

    def __init__(self, hid: int) -> None:
        super().__init__()
        self.attn = nn.Linear(2 * hid, hid, bias=False)
        self.v = nn.Linear(hid, 1, bias=False)

    def forward(self, s: torch.Tensor, join: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        query = s.unsqueeze(1).expand(-1, join.shape[1], -1)
        scores = self.v(torch.tanh(self.attn(torch.cat([query, join], dim=-1)))).squeeze(-1)
        return masked_softmax(scores, mask)  # (B, T)


class Decoder(nn.Module):
    """Per step: the context from attending over the join with the current query; a
    bidirectional LSTM from a zero state on [previous target step ; context] (its two
    directions summed: the next query); the step read by Linear([output ; context])."""

    def __init__(self, width: int, hid: int, dropout: float) -> None:
        super().__init__()
        self.attention = Attention(hid)
        self.lstm = nn.LSTM(width + hid, hid, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hid, width)
        self.hid = hid

    def forward(
        self, s: torch.Tensor, join: torch.Tensor, mask: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """Steps 1..T-1 of the translation (B, T - 1, width), each from the true previous
        step of `target` (B, T, width)."""
        steps = []
        for t in range(1, target.shape[1]):
            context = torch.bmm(self.attention(s, join, mask).unsqueeze(1), join)  # (B, 1, h)
            out, _ = self.lstm(torch.cat([target[:, t - 1 : t], context], dim=-1))
            s = out[:, 0, : self.hid] + out[:, 0, self.hid :]
            steps.append(self.out(torch.cat([s, context[:, 0]], dim=-1)))
        return torch.stack(steps, dim=1)


class Translation(nn.Module):
    """MMSA's Seq2Seq: an encoder and a decoder."""

    def __init__(self, d_in: int, width: int, hid: int, dropout: float) -> None:
        super().__init__()
        self.encoder = Encoder(d_in, hid, dropout)
        self.decoder = Decoder(width, hid, dropout)


class AttentiveRegression(nn.Module):
    """An LSTM over the join, tanh(Linear) scores softmaxed over its unpadded steps, the
    weighted sum through a Linear (MMSA's `Regression`)."""

    def __init__(self, hid: int, out: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(hid, hid, batch_first=True)
        self.score = nn.Linear(hid, 1)
        self.out = nn.Linear(hid, out)

    def forward(self, join: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        activations, _ = self.lstm(join)
        weights = masked_softmax(torch.tanh(self.score(activations)).squeeze(-1), mask)
        return self.out((activations * weights.unsqueeze(-1)).sum(1))


class MCTN(TaskModel):
    min_modalities = 2
    why = "it translates between modalities"

    def __init__(self, cfg: MCTNConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        if cfg.source not in info.dims:
            raise UserError(
                f"mctn.source = '{cfg.source}' is not among the data's modalities "
                f"{info.modalities}; set mctn.source to one of them."
            )
        rest = [m for m in info.modalities if m != cfg.source]
        self.targets = [m for m in cfg.targets if m in rest] + [
            m for m in rest if m not in cfg.targets
        ]
        self.width = max(info.dims.values())  # every modality zero-padded to it
        hid = cfg.hid_dim
        self.stages = nn.ModuleList(
            Translation(self.width if k == 0 else hid, self.width, hid, cfg.dropout)
            for k in range(len(self.targets))
        )
        self.head = AttentiveRegression(hid, info.task.output_dim)

    def output_layers(self) -> list[nn.Linear]:
        return [self.head.out]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        x, mask = word_aligned(features, masks)
        steps = min(mask.shape[1], self.cfg.max_steps)
        x = {m: F.pad(v[:, :steps], (0, self.width - v.shape[-1])) for m, v in x.items()}
        mask = mask[:, :steps]
        source = x[self.cfg.source]
        joins, queries, inputs = [], [], source
        for stage in self.stages:  # the hierarchy: each stage encodes the previous join
            join, s = stage.encoder(inputs, mask)
            joins.append(join)
            queries.append(s)
            inputs = join
        preds = shape_predictions(self.head(joins[-1], mask), self.info.task)
        if not self.training or steps < 2:  # translations serve training only
            return ModelOutput(preds)
        losses = {}
        later = mask[:, 1:]
        first = self.stages[0]
        for k, (stage, m) in enumerate(zip(self.stages, self.targets, strict=True)):
            translated = stage.decoder(queries[k], joins[k], mask, x[m])
            losses[m] = masked_mse(translated, x[m][:, 1:], later)
            if k == 0:  # the cycle: back from the translation (first step 0, as MMSA's)
                back_in = torch.cat([torch.zeros_like(x[m][:, :1]), translated], dim=1)
                back_join, back_s = first.encoder(back_in, mask)
                back = first.decoder(back_s, back_join, mask, source)
                losses[self.cfg.source] = masked_mse(back, source[:, 1:], later)
        aux = {f"recon_{m}": self.cfg.recon_weight * v for m, v in losses.items()}
        return ModelOutput(preds, aux_losses=aux)

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss_with_aux(batch, out)
