"""Multi-task LMF as MMSA builds it for CH-SIMS (models/multiTask/MLMF.py): LMF (`lmf`)
plus a head per modality on its encoding, each trained on the modality's own label
(CH-SIMS's unimodal labels), the loss the weighted sum of the four L1 losses.

MMSA configures it for CH-SIMS only, so the defaults are MMSA's CH-SIMS configuration
(config_regression.json, mlmf/sims): hidden widths 256/32/256 (text_out = 128, half the
text width, as MMSA fixes it), rank 3, factor_lr 1e-3, heads 8/4/32, dropouts 0.3 and 0.4,
loss weights M 0.2, T 1.0, A 0.4, V 0.8, encoder weight decays 1e-4/0/1e-4.
Deliberate differences from MMSA:
- MMSA's trainer builds its Adam groups from `parameters()[:3]` and `[3:5]`, which are
  parameters of the audio encoder, already in that encoder's group (PyTorch refuses a
  parameter in two groups); the heads and the fusion weights are in no group. Here: the
  factors at `factor_lr`, each encoder at its own weight decay, every other layer at the
  main rate.
- MMSA builds a `post_fusion_dropout` it never applies; it is not built here.
- The text LSTM reads the unpadded steps only, and any modality set works, as in `lmf`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmcl.models.base import DataInfo
from mmcl.models.layers import MultiTask, hidden_dims
from mmcl.models.lmf import LMF, LMFConfig


@dataclass
class MLMFConfig(LMFConfig):
    hiddens: dict[str, int] = hidden_dims(256, 32, 256)  # MMSA CH-SIMS (t, a, v)
    dropout: float = 0.3
    post_dims: dict[str, int] = hidden_dims(8, 4, 32)  # the unimodal heads' widths
    post_dim: int = 8  # a modality `post_dims` does not name
    post_dropout: float = 0.4
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"multimodal": 0.2, "text": 1.0, "audio": 0.4, "vision": 0.8}
    )
    modality_weight_decay: dict[str, float] = field(
        default_factory=lambda: {"text": 1e-4, "audio": 0.0, "vision": 1e-4}
    )


class MLMF(MultiTask, LMF):
    def __init__(self, cfg: MLMFConfig, info: DataInfo) -> None:
        super().__init__(cfg, info)
        self.add_heads()
