"""Data for the models that read text through the shared front-end: synthetic audio and
text features beside real MiniLM word-piece ids, labels by sentence."""

import numpy as np
import pytest

from mmcl.data.dataset import Dataset, make_split
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.pretrained import load_tokenizer

SENTENCES = ["this movie was wonderful", "a dull and awful film", "it was fine", "great acting"]
SCORES = [2.0, -2.0, 0.4, 1.5]


@pytest.fixture(scope="module")
def with_tokens():
    """Synthetic audio + text features, real word-piece ids, labels by sentence."""
    tok = load_tokenizer("")
    base = make_synthetic(
        SynthConfig(n_train=16, n_valid=8, n_test=8, seq_len=4, dims={"text": 6, "audio": 3})
    )
    splits = {}
    for s, sp in base.splits.items():
        n = len(sp)
        enc = tok([SENTENCES[i % 4] for i in range(n)], padding=True, return_tensors="np")
        splits[s] = make_split(
            sp.features,
            np.array([SCORES[i % 4] for i in range(n)], dtype=np.float32),
            sp.ids,
            s,
            base.task,
            lengths=sp.lengths,
            tokens=enc["input_ids"],
            token_lengths=enc["attention_mask"].sum(1),
        )
    return Dataset(splits, base.task, name="tokens")


def quick_token_config(model, extra=()):
    """A few fast epochs of `model` on token data: a high rate for the text model too."""
    from mmcl.config import resolve_config

    return resolve_config(
        model=model,
        epochs=3,
        overrides=[
            f"{model}.text_lr=1e-3",
            "train.lr=1e-3",
            "train.batch_size=8",
            "train.diagnostics=false",
            "train.patience=0",
            *extra,
        ],
    )


def audio_moves_predictions(model, split) -> bool:
    """Whether louder audio (x 10 + 3) changes `model`'s predictions on `split`."""
    before = model.predict(split)
    kept = split.features["audio"]
    split.features["audio"] = kept * 10.0 + 3.0
    try:
        after = model.predict(split)
    finally:
        split.features["audio"] = kept
    return not np.allclose(before, after)
