"""Graph-MFN (Zadeh et al., ACL 2018, with CMU-MOSEI) as MMSA builds it
(models/singleTask/Graph_MFN.py): MFN with its attention replaced by the Dynamic Fusion
Graph.

Each step, every modality's LSTM cell updates; its previous and new hidden states give a
singleton vertex, ReLU(Linear([h_prev ; h_new])) of the modality's hidden width. The graph
has a vertex for every set of two or more modalities: its network (Linear to 100, Linear to
`inner_node_dim`, no nonlinearity, as MMSA) reads every proper subset's vertex, each scaled
by an efficacy; the efficacies (one per edge, 19 for three modalities) come from a linear
network over the singletons. A top vertex reads all vertices the same way; its output is
what the step attended to, which the Multi-view Gated Memory of MFN takes (a proposed update
and two gates). The last hidden states and the memory feed a two-layer output network.

Defaults are MMSA's MOSI configuration (config_regression.json, graph_mfn/mosi: hidden_dims
256/32/256, memsize 300, inner_node_dim 64, NN 32/0.0, gamma1 128/0.5, gamma2 64/0.5, out
256/0.0). MMSA marks it `need_data_aligned`: modalities of different lengths are resampled
to each sample's longest first, as `mfn` does. Deliberate differences from MMSA:
- MMSA keeps the graph's vertex networks in a plain dict, so they are not registered
  modules: their weights stay at their random initial values and are not in the saved
  state. Here they are modules: they train and are saved.
- padded steps leave the cells and the memory unchanged (MMSA reads the padding as steps);
- any set of two or more modalities works (MMSA's is text, audio, vision).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import GatedMemory, hidden_dims, mlp, word_aligned
from mmcl.models.text_frontend import TextInput

NODE_IN = 100  # MMSA's fixed width inside every vertex network (its pattern model's input)


@dataclass
class GraphMFNConfig(TextInput):
    hiddens: dict[str, int] = hidden_dims(256, 32, 256)  # MMSA MOSI (t, a, v)
    hidden: int = 128  # a modality `hiddens` does not name
    memsize: int = 300
    inner_node_dim: int = 64
    nn_dim: int = 32  # NNConfig: the proposed memory update
    nn_dropout: float = 0.0
    gamma1_dim: int = 128  # gamma1Config: the retain gate
    gamma1_dropout: float = 0.5
    gamma2_dim: int = 64  # gamma2Config: the update gate
    gamma2_dropout: float = 0.5
    out_dim: int = 256  # outConfig
    out_dropout: float = 0.0


def proper_subsets(vertex: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The non-empty proper subsets of a vertex, smallest first (MMSA's order)."""
    return [s for r in range(1, len(vertex)) for s in combinations(vertex, r)]


class DynamicFusionGraph(nn.Module):
    """Singleton vertices (B, d_i) -> the top vertex's output (B, inner)."""

    def __init__(self, dims: list[int], inner: int) -> None:
        super().__init__()
        n = len(dims)
        self.vertices = [v for r in range(2, n + 1) for v in combinations(range(n), r)]
        self.top = tuple(range(n))
        width = {(i,): d for i, d in enumerate(dims)}
        for v in self.vertices:
            width[v] = inner
        self.nets = nn.ModuleDict()
        n_efficacies = 0
        for v in self.vertices:
            d_in = sum(width[s] for s in proper_subsets(v))
            self.nets[self.key(v)] = self.vertex_net(d_in, inner)
            n_efficacies += len(proper_subsets(v))
        # the top vertex reads every vertex: the singletons and the multimodal ones
        top_in = sum(width[s] for s in [*proper_subsets(self.top), self.top])
        self.top_net = self.vertex_net(top_in, inner)
        n_efficacies += len(proper_subsets(self.top)) + 1
        self.efficacy = nn.Sequential(
            nn.Linear(sum(dims), NODE_IN), nn.Linear(NODE_IN, inner), nn.Linear(inner, n_efficacies)
        )

    @staticmethod
    def key(v: tuple[int, ...]) -> str:
        return "".join(str(i) for i in v)

    @staticmethod
    def vertex_net(d_in: int, inner: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(d_in, NODE_IN), nn.Linear(NODE_IN, inner))

    def forward(self, singletons: list[torch.Tensor]) -> torch.Tensor:
        out = {(i,): x for i, x in enumerate(singletons)}
        efficacies = self.efficacy(torch.cat(singletons, dim=-1))  # (B, n_efficacies)
        k = 0

        def weighted(sources: list[tuple[int, ...]]) -> torch.Tensor:
            nonlocal k
            parts = [out[s] * efficacies[:, k + j : k + j + 1] for j, s in enumerate(sources)]
            k += len(sources)
            return torch.cat(parts, dim=-1)

        for v in self.vertices:
            out[v] = self.nets[self.key(v)](weighted(proper_subsets(v)))
        return self.top_net(weighted([*proper_subsets(self.top), self.top]))


class GraphMFN(TaskModel):
    min_modalities = 2
    why = "its fusion graph joins modalities"

    def __init__(self, cfg: GraphMFNConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        widths = {m: cfg.hiddens.get(m, cfg.hidden) for m in info.modalities}
        self.cells = nn.ModuleDict({m: nn.LSTMCell(d, widths[m]) for m, d in info.dims.items()})
        # the singleton vertices: [h_prev ; h_new] -> the modality's hidden width
        self.singletons = nn.ModuleDict({m: nn.Linear(2 * w, w) for m, w in widths.items()})
        self.graph = DynamicFusionGraph(list(widths.values()), cfg.inner_node_dim)
        self.memory = GatedMemory(
            cfg.inner_node_dim,
            cfg.memsize,
            (cfg.nn_dim, cfg.gamma1_dim, cfg.gamma2_dim),
            (cfg.nn_dropout, cfg.gamma1_dropout, cfg.gamma2_dropout),
        )
        total = sum(widths.values())
        self.out = mlp(total + cfg.memsize, cfg.out_dim, info.task.output_dim, cfg.out_dropout)

    def output_layers(self) -> list[nn.Linear]:
        return [self.out[-1]]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        x, mask = word_aligned(features, masks)  # (B, T, D_m), (B, T)
        first = next(iter(x.values()))
        b, steps = first.shape[:2]
        h = {m: first.new_zeros(b, cell.hidden_size) for m, cell in self.cells.items()}
        c = {m: first.new_zeros(b, cell.hidden_size) for m, cell in self.cells.items()}
        memory = first.new_zeros(b, self.cfg.memsize)
        for t in range(steps):
            keep = mask[:, t : t + 1]  # (B, 1): padded steps change nothing
            new = {m: cell(x[m][:, t], (h[m], c[m])) for m, cell in self.cells.items()}
            singletons = [
                F.relu(self.singletons[m](torch.cat([h[m], new[m][0]], dim=-1))) for m in self.cells
            ]
            attended = self.graph(singletons)
            memory = torch.where(keep, self.memory(attended, memory), memory)
            h = {m: torch.where(keep, new[m][0], h[m]) for m in self.cells}
            c = {m: torch.where(keep, new[m][1], c[m]) for m in self.cells}
        last = torch.cat([*h.values(), memory], dim=-1)
        return ModelOutput(shape_predictions(self.out(last), self.info.task))
