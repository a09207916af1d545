"""Memory Fusion Network (Zadeh et al., AAAI 2018) as MMSA builds it
(models/singleTask/MFN.py).

A system of LSTHMs: one LSTM cell per modality reads its step; the Delta-memory Attention
Network looks at the cell states of the last two steps (MMSA's window of 2) of all
modalities, attends over them (softmax of a two-layer network), and proposes a memory
update; two gates (retain, update) write it into the Multi-view Gated Memory. The last
hidden states and the memory feed a two-layer output network.

Defaults are MMSA's MOSI configuration (config_regression.json, mfn/mosi: hidden_dims
256/32/256, memsize 400, NN1 32/0.2, NN2 64/0.0, gamma1 256/0.7, gamma2 32/0.5, out
128/0.0). MMSA marks MFN `need_data_aligned`: modalities of different lengths are resampled
to each sample's longest (`layers.word_aligned`), as `ef_lstm` does. Deliberate differences
from MMSA:
- padded steps leave the cells and the memory unchanged (MMSA reads the padding as steps);
- the window is fixed at 2, as MMSA's code fixes it (its `windowsize` option changes only a
  layer width, which breaks the model for any other value), so it is not an option here;
- any modality set works (MMSA's is text, audio, vision).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import GatedMemory, hidden_dims, mlp, word_aligned
from mmcl.models.text_frontend import TextInput


@dataclass
class MFNConfig(TextInput):
    hiddens: dict[str, int] = hidden_dims(256, 32, 256)  # MMSA MOSI (t, a, v)
    hidden: int = 128  # a modality `hiddens` does not name
    memsize: int = 400
    att1_dim: int = 32  # NN1Config: the attention over the two steps' cell states
    att1_dropout: float = 0.2
    att2_dim: int = 64  # NN2Config: the proposed memory update
    att2_dropout: float = 0.0
    gamma1_dim: int = 256  # gamma1Config: the retain gate
    gamma1_dropout: float = 0.7
    gamma2_dim: int = 32  # gamma2Config: the update gate
    gamma2_dropout: float = 0.5
    out_dim: int = 128  # outConfig
    out_dropout: float = 0.0


class MFN(TaskModel):
    def __init__(self, cfg: MFNConfig, info: DataInfo, head: bool = True) -> None:
        """`head = False`: no output network (MFM reads the last state, `last_state`)."""
        super().__init__()
        self.cfg, self.info = cfg, info
        widths = {m: cfg.hiddens.get(m, cfg.hidden) for m in info.modalities}
        self.cells = nn.ModuleDict({m: nn.LSTMCell(d, widths[m]) for m, d in info.dims.items()})
        total, mem = sum(widths.values()), cfg.memsize
        window = 2 * total  # the cell states of the previous and the current step
        self.attention = mlp(window, cfg.att1_dim, window, cfg.att1_dropout)
        self.memory = GatedMemory(
            window,
            mem,
            (cfg.att2_dim, cfg.gamma1_dim, cfg.gamma2_dim),
            (cfg.att2_dropout, cfg.gamma1_dropout, cfg.gamma2_dropout),
        )
        self.state_dim = total + mem
        if head:
            self.out = mlp(total + mem, cfg.out_dim, info.task.output_dim, cfg.out_dropout)

    def output_layers(self) -> list[nn.Linear]:
        return [self.out[-1]]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        last = self.last_state(*word_aligned(features, masks))
        return ModelOutput(shape_predictions(self.out(last), self.info.task))

    def last_state(self, x: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """Word-aligned inputs (B, T, D_m) and their mask (B, T) -> the last hidden states
        and the memory, concatenated (B, sum of hiddens + memsize)."""
        first = next(iter(x.values()))
        b, steps = first.shape[:2]
        h = {m: first.new_zeros(b, cell.hidden_size) for m, cell in self.cells.items()}
        c = {m: first.new_zeros(b, cell.hidden_size) for m, cell in self.cells.items()}
        memory = first.new_zeros(b, self.cfg.memsize)
        for t in range(steps):
            keep = mask[:, t : t + 1]  # (B, 1): padded steps change nothing
            new = {m: cell(x[m][:, t], (h[m], c[m])) for m, cell in self.cells.items()}
            c_star = torch.cat([*c.values(), *(new[m][1] for m in self.cells)], dim=-1)
            attended = F.softmax(self.attention(c_star), dim=-1) * c_star
            memory = torch.where(keep, self.memory(attended, memory), memory)
            h = {m: torch.where(keep, new[m][0], h[m]) for m in self.cells}
            c = {m: torch.where(keep, new[m][1], c[m]) for m in self.cells}
        return torch.cat([*h.values(), memory], dim=-1)
