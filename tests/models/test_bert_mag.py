"""BERT-MAG as MMSA builds it: the gate's parameters counted by hand from MMSA's layer list,
the gate inside the shared text front-end (after the embeddings), training on token ids."""

import numpy as np
import pytest
import torch
from tests.models.conftest import SENTENCES, audio_moves_predictions, quick_token_config
from tests.models.test_mmsa_baselines import MOSI, layernorm, linear

from mmcl.errors import UserError
from mmcl.experiments.runs import train_run
from mmcl.models.bert_mag import BertMAG
from mmcl.models.registry import model_config
from mmcl.models.text_frontend import TextFrontEnd
from mmcl.pretrained import load_text_model, load_tokenizer
from mmcl.run_folder import load_run


def test_parameters_are_mmsas_gate_and_classifier():
    """MMSA's MAG: W_hv (20 + 768 -> 768), W_ha (5 + 768 -> 768), W_v (20 -> 768), W_a
    (5 -> 768), LayerNorm(768); then the classifier Linear(768, 1). BERT (its pooler
    included) is the text front-end's, counted apart."""
    model = BertMAG(model_config("bert_mag"), MOSI)
    mag = linear(20 + 768, 768) + linear(5 + 768, 768) + linear(20, 768) + linear(5, 768)
    expected = mag + layernorm(768) + linear(768, 1)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_injecting_nothing_gives_the_whole_models_states(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    frontend = TextFrontEnd(load_text_model(""), finetune=True).eval()
    enc = load_tokenizer("")(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"].bool()
    with torch.no_grad():
        whole = frontend(ids, mask)
        for after in (0, 3, 6):
            same = frontend.injected(ids, mask, lambda h: h, after)
            torch.testing.assert_close(same[mask], whole[mask], rtol=1e-4, atol=1e-4)
        shifted = frontend.injected(ids, mask, lambda h: h + 1.0, 0)
    assert not torch.allclose(shifted[mask], whole[mask], atol=1e-3)
    with pytest.raises(UserError, match="cannot inject after 7"):
        frontend.injected(ids, mask, lambda h: h, 7)


def _cfg(extra=()):
    return quick_token_config("bert_mag", extra)


def test_trains_on_token_ids_with_the_audio_resampled_to_them(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # audio has 4 steps, the token ids more: each sample's steps are stretched to them
    assert with_tokens.splits["train"].tokens.shape[1] != 4
    result = train_run(_cfg(), with_tokens, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    trained, _, _ = load_run(tmp_path)
    pooler = trained.text_frontend.model.pooler.dense.weight
    pretrained = load_text_model("").pooler.dense.weight
    assert pooler.requires_grad and not torch.equal(pooler, pretrained)  # it trains, as MMSA's
    # the audio steers the text through the gate
    assert audio_moves_predictions(trained, with_tokens.splits["test"])
