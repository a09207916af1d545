"""Multi-task LF-DNN as MMSA builds it for CH-SIMS (models/multiTask/MLF_DNN.py): LF-DNN
(`lf_dnn`) plus a head per modality on its encoding, each trained on the modality's own
label (CH-SIMS's unimodal labels), the loss the weighted sum of the four L1 losses.

MMSA configures it for CH-SIMS only (its trainer asserts the dataset is 'sims'), so the
defaults are MMSA's CH-SIMS configuration (config_regression.json, mlf_dnn/sims): hidden
widths 64/32/64, text_out 32, post_fusion_dim 32, heads 16/4/32, dropouts 0.3 and 0.5,
loss weights M 0.6, T 0.2, A 0.8, V 0.8, encoder weight decays 1e-4/1e-3/1e-4.
Deliberate differences from MMSA:
- MMSA's trainer gives Adam only the three encoders' parameters, so the fusion layers and
  the unimodal heads keep their random initial values; here every layer trains (the
  encoders at their own weight decay, the rest at `train.weight_decay`), and the outputs'
  biases start at the label mean, as every output here does.
- The text LSTM reads the unpadded steps only, and any modality set works, as in `lf_dnn`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmcl.models.base import DataInfo
from mmcl.models.layers import MultiTask, hidden_dims
from mmcl.models.lf_dnn import LFDNN, LFDNNConfig


@dataclass
class MLFDNNConfig(LFDNNConfig):
    hiddens: dict[str, int] = hidden_dims(64, 32, 64)  # MMSA CH-SIMS (t, a, v)
    text_out: int = 32
    post_fusion_dim: int = 32
    dropout: float = 0.3
    post_fusion_dropout: float = 0.5
    post_dims: dict[str, int] = hidden_dims(16, 4, 32)  # the unimodal heads' widths
    post_dim: int = 16  # a modality `post_dims` does not name
    post_dropout: float = 0.5
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"multimodal": 0.6, "text": 0.2, "audio": 0.8, "vision": 0.8}
    )
    modality_weight_decay: dict[str, float] = field(
        default_factory=lambda: {"text": 1e-4, "audio": 1e-3, "vision": 1e-4}
    )


class MLFDNN(MultiTask, LFDNN):
    def __init__(self, cfg: MLFDNNConfig, info: DataInfo) -> None:
        super().__init__(cfg, info)
        self.add_heads()
