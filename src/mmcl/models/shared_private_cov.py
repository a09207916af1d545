"""Shared-private learning with covariance alignment (Lai et al., arXiv 2305.08473).

Self-MM (the unimodal heads trained on ULGM labels are the private part) plus a deep modal
shared-information loss: for chosen modality pairs (x, y), Deep CORAL between the batch
covariances of their unimodal representations,

    L_cov = ||C_x - C_y||_F^2 / (4 d^2),   L = L_SelfMM + lambda_cov * sum_pairs L_cov.

The paper publishes no code; pairs and lambda_cov are configuration, to be tuned on
validation data. Audio-visual ("av") is the paper's main pair and the default.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from mmcl.data.batching import Batch
from mmcl.errors import UserError
from mmcl.models.base import DataInfo, ModelOutput
from mmcl.models.layers import coral_loss
from mmcl.models.self_mm import SelfMM, SelfMMConfig


@dataclass
class SharedPrivateCovConfig(SelfMMConfig):
    # "av" (first letters) or "audio-vision" (names); any number of pairs
    pairs: list[str] = field(default_factory=lambda: ["av"])
    lambda_cov: float = 1.0


def resolve_pairs(specs: list[str], modalities: list[str]) -> list[tuple[str, str]]:
    """['av', 'text-audio'] -> [('audio', 'vision'), ('text', 'audio')] for these modalities.

    A pair naming a modality the data lacks is dropped with a warning, so the default "av"
    still runs on, say, text + audio data (with no covariance term)."""
    pairs = []
    for spec in specs:
        if "-" in spec:
            a, b = spec.split("-", 1)
        elif len(spec) == 2:
            matches = [[m for m in modalities if m.startswith(c)] for c in spec]
            if any(len(x) == 0 for x in matches) and spec in ("av", "ta", "tv", "at", "va", "vt"):
                warnings.warn(
                    f"shared_private_cov.pairs: '{spec}' names a modality the data lacks (the "
                    f"data has {modalities}); no covariance term for it.",
                    stacklevel=2,
                )
                continue
            if any(len(x) != 1 for x in matches):
                raise UserError(
                    f"shared_private_cov.pairs: '{spec}' does not name two of {modalities} "
                    "by their first letters; write 'name-name'."
                )
            a, b = matches[0][0], matches[1][0]
        else:
            raise UserError(f"shared_private_cov.pairs: '{spec}' is not 'xy' or 'name-name'.")
        for m in (a, b):
            if m not in modalities:
                raise UserError(f"shared_private_cov.pairs: '{m}' is not among {modalities}.")
        if a == b:
            raise UserError(f"shared_private_cov.pairs: '{spec}' pairs a modality with itself.")
        pairs.append((a, b))
    return pairs


class SharedPrivateCov(SelfMM):
    def __init__(self, cfg: SharedPrivateCovConfig, info: DataInfo) -> None:
        super().__init__(cfg, info)
        self.pairs = resolve_pairs(cfg.pairs, self.branches)
        for a, b in self.pairs:
            if self.post_dims[a] != self.post_dims[b]:
                raise UserError(
                    f"covariance alignment of {a} and {b} needs equal representation widths; "
                    f"post_dims give {self.post_dims[a]} and {self.post_dims[b]}."
                )

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        total, logs = super().loss(batch, out)
        if self.pairs and self.cfg.lambda_cov > 0:
            cov = sum(
                coral_loss(out.representations[a], out.representations[b]) for a, b in self.pairs
            )
            total = total + self.cfg.lambda_cov * cov
            logs["cov_loss"] = float(cov.detach())
        return total, logs
