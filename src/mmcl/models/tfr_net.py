"""TFR-Net, the Transformer-based Feature Reconstruction Network (Yuan et al., ACM MM 2021),
as MMSA builds it (models/missingTask/TFR_NET: crossmodal_attn alignment, linear generator,
c_gate fusion; trained by trains/missingTask/TFR_NET.py).

Training with missing steps: every unpadded step of every modality is dropped (set to 0)
with probability `missing_rate`; the model sees the incomplete inputs and learns to
reconstruct what was dropped. Each modality is projected to d by a Conv1d (no bias, padded
to keep its length), attends to itself and to every other modality (MulT's encoders, with
the causal mask), and the results are concatenated per modality (B, T, n x d). Two paths
read them:
- reconstruction: a temporal encoder whose tokens are the n x d channels and whose width is
  the modality's padded length (no positions; heads `temporal_heads`), then a Linear to the
  modality's features; the loss, on the dropped steps only, is SmoothL1 (summed) plus
  `cmd_weight` times the central moment discrepancy (3 moments), both divided by the number
  of dropped values, weighted per modality (`recon_weights`) and added from the second
  epoch on, as MMSA's trainer does;
- prediction: per modality a gated encoder (3-layer BiGRU over the steps; a Conv1d gate,
  sigmoid; tanh(Linear([input ; tanh(GRU) x gate])); max over the steps; dropout), the
  modalities concatenated, BatchNorm, Linear, LeakyReLU, Dropout, Linear.
At prediction time nothing is dropped: robustness to missing inputs is what training
teaches (`mmcl robustness` measures it).

Defaults are MMSA's MOSI configuration (config_regression.json, tfr_net/mosi): d 30, 6
heads, 3 levels, kernels 1/5/3, attention dropouts 0.2/0.1/0.0 (by source), relu 0.2, embed
0.2, residual 0.2, text dropout 0.2, fusion widths 36/20/48, 3 GRU layers, fusion dropout
0.2, classifier 128 (dropout 0), reconstruction weights 5/2/20, CMD weight 5, 25 temporal
heads. Deliberate differences from MMSA:
- MMSA's temporal encoders receive (batch, channels, time) as (sequence, batch, width), so
  they attend across the samples of a batch; here each sample's channels attend to each
  other. Their heads: the largest divisor of the modality's length up to `temporal_heads`
  (MMSA needs 25 to divide it).
- MMSA 2.x's data loader no longer makes the incomplete inputs its TFR-Net trainer reads
  (text_m, audio_m, ...); the dropping is done here, in the model, at `missing_rate` (ours,
  0.2 per step); text features are zeroed where MMSA's older loader put BERT's [UNK].
- Padded steps are masked out of attention and out of the max-pool (MMSA pools over them).
- Any set of two or more modalities works; the text (not fine-tuned BERT, unless
  text_encoder = "transformer") is the data's text features.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmcl.data.batching import Batch
from mmcl.models.base import (
    DataInfo,
    ModelOutput,
    TaskModel,
    attendable,
    masked_max,
    shape_predictions,
)
from mmcl.models.layers import hidden_dims
from mmcl.models.mult import Encoder, future_mask
from mmcl.models.text_frontend import TextInput


@dataclass
class TFRNetConfig(TextInput):
    d_model: int = 30  # dst_feature_dim_nheads[0]
    n_heads: int = 6
    layers: int = 3  # nlevels (every encoder has max(layers, 3))
    kernels: dict[str, int] = field(default_factory=lambda: {"text": 1, "audio": 5, "vision": 3})
    kernel: int = 3  # a modality `kernels` does not name
    attn_dropouts: dict[str, float] = field(  # by source modality (attn_dropout_a/_v)
        default_factory=lambda: {"text": 0.2, "audio": 0.1, "vision": 0.0}
    )
    attn_dropout: float = 0.2
    relu_dropout: float = 0.2
    res_dropout: float = 0.2
    embed_dropout: float = 0.2
    text_dropout: float = 0.2
    temporal_heads: int = 25  # num_temporal_head
    fusion_hiddens: dict[str, int] = hidden_dims(36, 20, 48)  # fusion_t/a/v_hid
    fusion_hidden: int = 32  # a modality `fusion_hiddens` does not name
    fusion_layers: int = 3  # fusion_gru_layers
    fusion_dropout: float = 0.2
    cls_hidden: int = 128
    cls_dropout: float = 0.0
    missing_rate: float = 0.2  # each unpadded step dropped with this probability (training)
    recon_weights: dict[str, float] = field(  # weight_gen_loss (t, a, v)
        default_factory=lambda: {"text": 5.0, "audio": 2.0, "vision": 20.0}
    )
    recon_weight: float = 5.0  # a modality `recon_weights` does not name
    cmd_weight: float = 5.0  # weight_sim_loss


def divisor_heads(width: int, most: int) -> int:
    """The largest number of heads up to `most` that divides `width`."""
    return max(h for h in range(1, min(width, most) + 1) if width % h == 0)


def cmd3(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MMSA's CMD with 3 moments over rows (N, d): ||mean_x - mean_y|| plus the norms of
    the differences of the 2nd and 3rd central moments."""
    mx, my = x.mean(0), y.mean(0)
    total = ((mx - my).pow(2).sum() + 1e-12).sqrt()
    for k in (2, 3):
        total = (
            total
            + (((x - mx).pow(k).mean(0) - (y - my).pow(k).mean(0)).pow(2).sum() + 1e-12).sqrt()
        )
    return total


class GatedPool(nn.Module):
    """MMSA's C_GATE: BiGRU over the unpadded steps, a Conv1d(k=3) sigmoid gate on it,
    tanh(Linear([x ; tanh(GRU) x gate])), the max over the unpadded steps, dropout."""

    def __init__(self, d_in: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.gru = nn.GRU(d_in, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.gate = nn.Conv1d(2 * hidden, 1, kernel_size=3, padding=1)
        self.fc = nn.Linear(2 * hidden + d_in, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        gate = torch.sigmoid(self.gate(out.transpose(1, 2)).transpose(1, 2))
        rep = torch.tanh(self.fc(torch.cat([x, torch.tanh(out) * gate], dim=-1)))
        return self.drop(masked_max(rep, attendable(mask)))


class TFRNet(TaskModel):
    min_modalities = 2
    why = "each modality attends to the others"

    def __init__(self, cfg: TFRNetConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        d, mods = cfg.d_model, info.modalities
        self.kernels = {m: cfg.kernels.get(m, cfg.kernel) for m in mods}
        # MMSA projects only a modality whose width differs from d (padded: same length)
        self.proj = nn.ModuleDict(
            {
                m: nn.Conv1d(
                    dim, d, self.kernels[m], padding=(self.kernels[m] - 1) // 2, bias=False
                )
                for m, dim in info.dims.items()
                if dim != d
            }
        )
        layers = max(cfg.layers, 3)
        self.cross = nn.ModuleDict(
            {
                f"{t}<{s}": Encoder(d, layers, cfg, cfg.attn_dropouts.get(s, cfg.attn_dropout))
                for t in mods
                for s in mods
                if s != t
            }
        )
        self.own = nn.ModuleDict({m: Encoder(d, layers, cfg, cfg.attn_dropout) for m in mods})
        width = d * len(mods)  # itself and every other modality
        self.temporal = nn.ModuleDict(
            {
                m: Encoder(
                    info.seq_lens[m],
                    layers,
                    cfg,
                    cfg.attn_dropout,
                    heads=divisor_heads(info.seq_lens[m], cfg.temporal_heads),
                    positions=False,
                )
                for m in mods
            }
        )
        self.generators = nn.ModuleDict({m: nn.Linear(width, info.dims[m]) for m in mods})
        hid = {m: cfg.fusion_hiddens.get(m, cfg.fusion_hidden) for m in mods}
        self.pools = nn.ModuleDict(
            {m: GatedPool(width, hid[m], cfg.fusion_layers, cfg.fusion_dropout) for m in mods}
        )
        total = sum(hid.values())
        self.classifier = nn.Sequential(
            nn.BatchNorm1d(total),
            nn.Linear(total, cfg.cls_hidden),
            nn.LeakyReLU(),
            nn.Dropout(cfg.cls_dropout),
            nn.Linear(cfg.cls_hidden, info.task.output_dim),
        )
        self.text_drop = nn.Dropout(cfg.text_dropout)
        self.epoch = 0

    def output_layers(self) -> list[nn.Linear]:
        return [self.classifier[-1]]

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def _causal(self, rows: int, cols: int, device: torch.device) -> torch.Tensor:
        return future_mask(rows, cols, rows, cols, device)

    def align(
        self, x: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Each modality attending to itself and to the others: m -> (B, T_m, n x d)."""
        seq = {}
        for m, v in x.items():
            v = self.text_drop(v) if m == "text" else v
            seq[m] = self.proj[m](v.transpose(1, 2)).transpose(1, 2) if m in self.proj else v
        out = {}
        for t in seq:
            rows = seq[t].shape[1]
            parts = [self.own[t](seq[t], None, masks[t], self._causal(rows, rows, seq[t].device))]
            for s in seq:
                if s != t:
                    causal = self._causal(rows, seq[s].shape[1], seq[t].device)
                    parts.append(self.cross[f"{t}<{s}"](seq[t], seq[s], masks[s], causal))
            out[t] = torch.cat(parts, dim=-1) * masks[t].unsqueeze(-1)
        return out

    def reconstruct(self, m: str, h: torch.Tensor) -> torch.Tensor:
        """(B, T, n x d) -> the modality's features (B, T, D_m), through the temporal encoder
        over the channels at the modality's full length."""
        steps, full = h.shape[1], self.info.seq_lens[m]
        channels = F.pad(h, (0, 0, 0, full - steps)).transpose(1, 2)  # (B, n x d, full)
        every = torch.ones(channels.shape[:2], dtype=torch.bool, device=h.device)
        causal = self._causal(channels.shape[1], channels.shape[1], h.device)
        out = self.temporal[m](channels, None, every, causal).transpose(1, 2)[:, :steps]
        return self.generators[m](out)

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        dropped = {}
        if self.training and self.cfg.missing_rate > 0:
            for m, mask in masks.items():
                drop = (torch.rand(mask.shape, device=mask.device) < self.cfg.missing_rate) & mask
                dropped[m] = drop
            x = {m: v.masked_fill(dropped[m].unsqueeze(-1), 0.0) for m, v in features.items()}
        else:
            x = features
        h = self.align(x, masks)
        reps = torch.cat([self.pools[m](h[m], masks[m]) for m in h], dim=-1)
        preds = shape_predictions(self.classifier(reps), self.info.task)
        if not dropped:
            return ModelOutput(preds)
        aux = {}
        for m, drop in dropped.items():
            weight = drop.unsqueeze(-1).to(h[m].dtype)
            count = weight.sum() * features[m].shape[-1] + 1e-4
            pred, target = self.reconstruct(m, h[m]) * weight, features[m] * weight
            loss = F.smooth_l1_loss(pred, target, reduction="sum") / count
            flat = (pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1]))
            loss = loss + self.cfg.cmd_weight * cmd3(*flat) / count
            aux[f"recon_{m}"] = self.cfg.recon_weights.get(m, self.cfg.recon_weight) * loss
        return ModelOutput(preds, aux_losses=aux)

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        # MMSA adds the reconstruction from the second epoch on
        return self.loss_with_aux(batch, out, with_aux=self.epoch >= 1)
