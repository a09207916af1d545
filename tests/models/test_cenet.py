"""CENET as MMSA builds it: the enhancement module and classification head counted by hand
from MMSA's layer list; the enhancement inside the text front-end before its second layer;
the embeddings kept fixed; training on token ids."""

import numpy as np
import torch
from tests.models.conftest import audio_moves_predictions, quick_token_config
from tests.models.test_mmsa_baselines import MOSI, linear

from mmcl.experiments.runs import train_run
from mmcl.models.cenet import CENET
from mmcl.models.registry import model_config
from mmcl.pretrained import load_text_model
from mmcl.run_folder import load_run


def test_parameters_are_mmsas_enhancement_and_head():
    """MMSA's CE at BERT's 768: visual_transform Linear(20, 768), Linear(768, 768);
    acoustic_transform Linear(5, 768), Linear(768, 768); two SelfAttentions of three
    Linear(768, 768); cat_connect Linear(1536, 768); then BertClassificationHead's
    dense Linear(768, 768) and out_proj Linear(768, 1). BERT is counted apart."""
    model = CENET(model_config("cenet"), MOSI)
    transforms = linear(20, 768) + linear(5, 768) + 2 * linear(768, 768)
    attention = 2 * 3 * linear(768, 768)
    expected = transforms + attention + linear(2 * 768, 768) + linear(768, 768) + linear(768, 1)
    assert sum(p.numel() for p in model.parameters()) == expected


def _cfg(extra=()):
    return quick_token_config("cenet", extra)


def test_trains_on_token_ids_with_fixed_embeddings(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = train_run(_cfg(), with_tokens, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    trained, _, _ = load_run(tmp_path)
    text, pretrained = trained.text_frontend.model, load_text_model("")
    # the embeddings never train (MMSA runs them without gradient), the layers do
    emb = "embeddings.word_embeddings.weight"
    assert torch.equal(text.get_parameter(emb), pretrained.get_parameter(emb))
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(text.get_parameter(layer), pretrained.get_parameter(layer))
    assert audio_moves_predictions(trained, with_tokens.splits["test"])  # it steers the text


def test_padded_steps_of_the_other_modality_are_not_attended():
    torch.manual_seed(0)
    model = CENET(model_config("cenet"), MOSI).eval()
    text = torch.randn(2, 7, 768)
    audio, vision = torch.randn(2, 5, 5), torch.randn(2, 5, 20)
    masks = {m: torch.tensor([[True] * 3 + [False] * 2] * 2) for m in ("audio", "vision")}
    shifted = model.ce(text, {"audio": audio, "vision": vision}, masks)
    audio[:, 3:], vision[:, 3:] = 100.0, -100.0  # what lies past the length
    again = model.ce(text, {"audio": audio, "vision": vision}, masks)
    torch.testing.assert_close(shifted, again)
