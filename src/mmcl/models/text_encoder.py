"""A pretrained text transformer inside a model, fine-tuned on the data's word-piece ids.

The network itself comes from `mmcl.pretrained` (local folders only); the model that uses
this module receives it when it is built and never reads files.
"""

from __future__ import annotations

import torch
from torch import nn


class PretrainedTextEncoder(nn.Module):
    """Token ids (B, L) + mask -> the [CLS] state or the masked mean of the last layer."""

    def __init__(self, backbone: nn.Module, pool: str = "cls") -> None:
        super().__init__()
        self.model = backbone
        self.pool = pool
        self.out_dim = int(backbone.config.hidden_size)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        if self.pool == "cls":
            return states[:, 0]
        w = mask.unsqueeze(-1).to(states.dtype)
        return (states * w).sum(1) / w.sum(1).clamp_min(1.0)
