"""Multi-task TFN as MMSA builds it for CH-SIMS (models/multiTask/MTFN.py): TFN (`tfn`)
plus a head per modality on its encoding, each trained on the modality's own label
(CH-SIMS's unimodal labels), the loss the weighted sum of the four L1 losses. The fused
output is squashed to the label range as `tfn`'s.

MMSA configures it for CH-SIMS only, so the defaults are MMSA's CH-SIMS configuration
(config_regression.json, mtfn/sims): hidden widths 256/32/256, text_out 256,
post_fusion_dim 64, heads 64/4/8, dropouts 0.2, loss weights M 0.6, T 0.4, A 0.0, V 1.0,
encoder weight decays 1e-3/1e-4/1e-5. Deliberate differences from MMSA:
- MMSA's trainer gives Adam only the three encoders' parameters (the fusion layers and the
  heads keep their initial values); here every layer trains.
- MMSA squashes with x 6 - 3 whatever the labels; here to the task's label range (CH-SIMS:
  [-1, 1]), as `tfn`.
- The text LSTM reads the unpadded steps only, and any modality set works, as in `tfn`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmcl.models.base import DataInfo
from mmcl.models.layers import MultiTask, hidden_dims
from mmcl.models.tfn import TFN, TFNConfig


@dataclass
class MTFNConfig(TFNConfig):
    hiddens: dict[str, int] = hidden_dims(256, 32, 256)  # MMSA CH-SIMS (t, a, v)
    text_out: int = 256
    post_fusion_dim: int = 64
    dropout: float = 0.2
    post_fusion_dropout: float = 0.2
    post_dims: dict[str, int] = hidden_dims(64, 4, 8)  # the unimodal heads' widths
    post_dim: int = 64  # a modality `post_dims` does not name
    post_dropout: float = 0.2
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"multimodal": 0.6, "text": 0.4, "audio": 0.0, "vision": 1.0}
    )
    modality_weight_decay: dict[str, float] = field(
        default_factory=lambda: {"text": 1e-3, "audio": 1e-4, "vision": 1e-5}
    )


class MTFN(MultiTask, TFN):
    def __init__(self, cfg: MTFNConfig, info: DataInfo) -> None:
        super().__init__(cfg, info)
        self.add_heads()
