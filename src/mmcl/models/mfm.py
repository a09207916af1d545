"""Multimodal Factorization Model (Tsai et al., ICLR 2019) as MMSA builds it
(models/singleTask/MFM.py, trained by trains/singleTask/MFM.py).

Generative-discriminative factors: a multimodal discriminative factor z_y from an MFN over
all modalities (its last hidden states and memory, through a Linear), and one generative
factor z_m per modality (an LSTM's last hidden state, through a Linear). Each factor passes
two Linear + ReLU layers (f_y, f_m); the prediction reads f_y alone; a decoder per modality
(an LSTM cell fed [f_y ; f_m], then its own output, one step per input step, through a
Linear) reconstructs that modality's sequence. The loss: the task loss, plus the weighted
mean squared reconstruction errors, plus `mmd_weight` times the maximum mean discrepancy
between each factor and Gaussian samples (MMSA's kernel, exp(-mean squared difference /
width)).

Defaults are MMSA's MOSI configuration (config_regression.json, mfm/mosi): MFN hidden 128/32/128,
memsize 64, NN1 32/0.7, NN2 64/0.0, gamma1 32/0.0, gamma2 64/0.5; z_y 80, z 64/80/80, f_y 64,
f 32/16/64, dropouts z_y->f_y 0.5, z->f 0.5/0.7/0.5, f_y->y 0.0; MMD weight 100,
reconstruction weights 0.5/0.01/0.5. MMSA marks it `need_data_aligned`: modalities of
different lengths are resampled to each sample's longest first, as `mfn` does. Deliberate
differences from MMSA:
- MMSA builds its MFN's output network (outConfig) and never uses its output; it is not
  built here.
- The encoders, the MFN and the reconstruction skip padded steps (MMSA reads and
  reconstructs the padding as steps).
- The task loss is the task's (L1 for regression, cross-entropy for classes); MMSA's trainer
  applies L1 whatever the task.
- Any modality set works (MMSA's is text, audio, vision).
MMSA's trainer builds Adam without a learning rate, so it trains at Adam's default 1e-3 and
not at the configured 2e-3; `mfm_mosi` uses 1e-3, the rate MMSA's runs use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mmcl.data.batching import Batch
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, shape_predictions
from mmcl.models.layers import SequenceEncoder, hidden_dims, masked_mse, mlp, word_aligned
from mmcl.models.mfn import MFN, MFNConfig
from mmcl.models.text_frontend import TextInput


@dataclass
class MFMConfig(TextInput):
    # the MFN that makes the discriminative factor (MMSA's MFN options for MFM on MOSI)
    hiddens: dict[str, int] = hidden_dims(128, 32, 128)
    hidden: int = 128  # a modality `hiddens` does not name
    memsize: int = 64
    att1_dim: int = 32
    att1_dropout: float = 0.7
    att2_dim: int = 64
    att2_dropout: float = 0.0
    gamma1_dim: int = 32
    gamma1_dropout: float = 0.0
    gamma2_dim: int = 64
    gamma2_dropout: float = 0.5
    # the factors: z_y and f_y (multimodal), z_m and f_m (per modality)
    zy_size: int = 80
    fy_size: int = 64
    zy_dropout: float = 0.5  # zy_to_fy
    y_dropout: float = 0.0  # fy_to_y
    z_sizes: dict[str, int] = hidden_dims(64, 80, 80)
    f_sizes: dict[str, int] = hidden_dims(32, 16, 64)
    f_dropouts: dict[str, float] = field(
        default_factory=lambda: {"text": 0.5, "audio": 0.7, "vision": 0.5}
    )
    z_size: int = 64  # for a modality the dicts do not name
    f_size: int = 32
    f_dropout: float = 0.5
    mmd_weight: float = 100.0  # lda_mmd
    recon_weights: dict[str, float] = field(  # lda_xl, lda_xa, lda_xv
        default_factory=lambda: {"text": 0.5, "audio": 0.01, "vision": 0.5}
    )
    recon_weight: float = 0.5  # for a modality `recon_weights` does not name

    def mfn(self) -> MFNConfig:
        """The options of the MFN inside."""
        names = ("hiddens", "hidden", "memsize", "att1_dim", "att1_dropout", "att2_dim")
        names += ("att2_dropout", "gamma1_dim", "gamma1_dropout", "gamma2_dim", "gamma2_dropout")
        return MFNConfig(**{k: getattr(self, k) for k in names})


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MMSA's kernel: exp(-mean over features of (x_i - y_j)^2 / width) -> (N_x, N_y)."""
    return torch.exp(-(x[:, None] - y[None]).pow(2).mean(-1) / x.shape[1])


def mmd_to_gaussian(z: torch.Tensor) -> torch.Tensor:
    """Maximum mean discrepancy between a batch of factors and as many N(0, I) samples."""
    real = torch.randn_like(z)
    return (
        gaussian_kernel(real, real).mean()
        + gaussian_kernel(z, z).mean()
        - 2 * gaussian_kernel(real, z).mean()
    )


class Decoder(nn.Module):
    """An LSTM cell fed the factors first, then its own output; a Linear reads each step."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(d_in, d_in)
        self.out = nn.Linear(d_in, d_out)

    def forward(self, f: torch.Tensor, steps: int) -> torch.Tensor:
        h, c, x, outs = torch.zeros_like(f), torch.zeros_like(f), f, []
        for _ in range(steps):
            h, c = self.cell(x, (h, c))
            outs.append(h)
            x = h
        return self.out(torch.stack(outs, dim=1))  # (B, steps, d_out)


def factor_mlp(d_in: int, d_out: int, dropout: float) -> nn.Sequential:
    """z -> f: Linear, ReLU, Dropout, Linear, ReLU (MMSA's `*_to_*_fc1/fc2`)."""
    return nn.Sequential(mlp(d_in, d_out, d_out, dropout), nn.ReLU())


class MFM(TaskModel):
    def __init__(self, cfg: MFMConfig, info: DataInfo) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        mods = info.modalities
        z = {m: cfg.z_sizes.get(m, cfg.z_size) for m in mods}
        f = {m: cfg.f_sizes.get(m, cfg.f_size) for m in mods}
        self.encoders = nn.ModuleDict({m: SequenceEncoder(info.dims[m], z[m]) for m in mods})
        self.to_z = nn.ModuleDict({m: nn.Linear(z[m], z[m]) for m in mods})
        self.mfn = MFN(cfg.mfn(), info, head=False)
        self.to_zy = nn.Linear(self.mfn.state_dim, cfg.zy_size)
        self.to_fy = factor_mlp(cfg.zy_size, cfg.fy_size, cfg.zy_dropout)
        self.to_f = nn.ModuleDict(
            {m: factor_mlp(z[m], f[m], cfg.f_dropouts.get(m, cfg.f_dropout)) for m in mods}
        )
        self.decoders = nn.ModuleDict({m: Decoder(cfg.fy_size + f[m], info.dims[m]) for m in mods})
        self.out = mlp(cfg.fy_size, cfg.fy_size, info.task.output_dim, cfg.y_dropout)

    def output_layers(self) -> list[nn.Linear]:
        return [self.out[-1]]

    def forward(
        self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
    ) -> ModelOutput:
        x, mask = word_aligned(features, masks)  # (B, T, D_m), (B, T)
        z = {m: self.to_z[m](enc(x[m], mask)) for m, enc in self.encoders.items()}
        zy = self.to_zy(self.mfn.last_state(x, mask))
        fy = self.to_fy(zy)
        preds = shape_predictions(self.out(fy), self.info.task)
        if not self.training:  # the generative terms serve training only
            return ModelOutput(preds)
        mmd = sum(mmd_to_gaussian(v) for v in [*z.values(), zy])
        steps = mask.shape[1]
        recon = fy.new_zeros(())
        for m, decoder in self.decoders.items():
            x_hat = decoder(torch.cat([fy, self.to_f[m](z[m])], dim=-1), steps)
            error = masked_mse(x_hat, x[m], mask)  # the unpadded steps only
            recon = recon + self.cfg.recon_weights.get(m, self.cfg.recon_weight) * error
        return ModelOutput(preds, aux_losses={"mmd": self.cfg.mmd_weight * mmd, "recon": recon})

    def loss(self, batch: Batch, out: ModelOutput) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss_with_aux(batch, out)
