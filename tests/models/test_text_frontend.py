"""The shared text front-end: any model reads its text from the data's token ids through the
bundled MiniLM (loaded from site-packages with no network), fine-tuned at its own rate
(biases and LayerNorm weights without decay), in part on cached lower layers, or frozen."""

import warnings

import numpy as np
import pytest
import torch
from tests.models.conftest import SENTENCES
from torch import nn

from mmcl.config import resolve_config
from mmcl.data.loader import load_dataset
from mmcl.data.pickles import write_mmsa
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.experiments.runs import data_info, seed_everything, train_run
from mmcl.pretrained import load_text_model, load_tokenizer, resolve_text_model
from mmcl.run_folder import build, load_run


def _cfg(model, extra=()):
    small = {
        "tfn": ["tfn.hiddens={text=8, audio=4}", "tfn.text_out=4", "tfn.post_fusion_dim=8"],
        "mmcl": ["mmcl.d_model=16", "mmcl.ffn_dim=32", "mmcl.ac_batch_size=4"],
    }
    return resolve_config(
        model=model,
        epochs=2,
        overrides=[
            f'{model}.text_encoder="transformer"',
            f"{model}.text_lr=1e-3",
            *small.get(model, []),
            *extra,
            "train.batch_size=8",
            "train.weight_decay=0.01",
            "train.diagnostics=false",
            "train.patience=0",
        ],
    )


@pytest.mark.parametrize("model", ["late_fusion", "tfn", "mmcl"])
def test_any_model_fine_tunes_the_text_transformer(tmp_path, with_tokens, monkeypatch, model):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg(model)
    result = train_run(cfg, with_tokens, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    trained, _, _ = load_run(tmp_path)
    # the text modality is the transformer's states: 384 wide, as long as the token ids
    assert trained.info.dims["text"] == 384
    assert trained.info.seq_lens["text"] == data_info(with_tokens).token_len
    pretrained = load_text_model("").state_dict()
    tuned = trained.text_frontend.model.state_dict()
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in pretrained)


def test_text_parameters_have_their_own_rate_and_no_decay_for_biases_and_norms(
    with_tokens, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg("late_fusion", ["late_fusion.text_weight_decay=0.05"])
    model = build(cfg, data_info(with_tokens))
    groups = model.param_groups(cfg.train.lr, cfg.train.weight_decay)
    text = {id(p) for p in model.text_frontend.parameters()}
    rest, *text_groups = groups
    assert (rest["lr"], rest["weight_decay"]) == (cfg.train.lr, 0.01)
    assert not any(id(p) in text for p in rest["params"])
    assert {(g["lr"], g["weight_decay"]) for g in text_groups} == {(1e-3, 0.05), (1e-3, 0.0)}
    no_decay = next(g for g in text_groups if g["weight_decay"] == 0.0)
    names = {id(p): n for n, p in model.text_frontend.model.named_parameters()}
    assert all(
        names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in no_decay["params"]
    )
    decayed = next(g for g in text_groups if g["weight_decay"] > 0)
    assert all(p.dim() >= 2 for p in decayed["params"])  # weight matrices and embeddings
    # every parameter of the model is in exactly one group
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)


def test_a_frozen_transformer_stays_as_loaded(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg("late_fusion", ["late_fusion.text_finetune=false"])
    seed_everything(0)
    train_run(cfg, with_tokens, tmp_path)
    trained, _, _ = load_run(tmp_path)
    pretrained = load_text_model("").state_dict()
    tuned = trained.text_frontend.model.state_dict()
    assert all(torch.equal(pretrained[k], tuned[k]) for k in pretrained)
    trained.train()
    assert not trained.text_frontend.model.training  # no dropout in a frozen encoder
    assert not any(
        isinstance(m, nn.Dropout) and m.training for m in trained.text_frontend.modules()
    )


def test_transformer_text_without_tokens_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ds = make_synthetic(SynthConfig(n_train=8, n_valid=4, n_test=4))
    for model in ("tfn", "self_mm"):
        with pytest.raises(UserError, match="needs token ids in the data"):
            train_run(_cfg(model), ds, tmp_path / model)
    with pytest.raises(UserError, match="text_encoder = 'words'"):
        resolve_config(model="tfn", overrides=['tfn.text_encoder="words"'])


def test_top_layers_fine_tune_on_cached_lower_layers(tmp_path, with_tokens, monkeypatch):
    """text_train_layers = 2: the embeddings and the lower 4 MiniLM layers stay as loaded and
    are run once per text (cached); the front-end's output equals the whole model's."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from mmcl.models.text_frontend import TextFrontEnd

    net = load_text_model("")
    frontend = TextFrontEnd(net, finetune=True, train_layers=2).eval()
    tok = load_tokenizer("")
    enc = tok(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"].bool()
    # the same states at every real token (padding is masked out downstream; the cache keeps
    # zeros there)
    whole = net(input_ids=ids, attention_mask=mask.long()).last_hidden_state * mask[..., None]
    torch.testing.assert_close(frontend(ids, mask) * mask[..., None], whole)
    assert len(frontend.cache) == 4
    calls = []
    monkeypatch.setattr(frontend, "_run_frozen", lambda *a: calls.append(1))
    again = frontend(ids[:2], mask[:2]) * mask[:2, ..., None]  # from the cache
    torch.testing.assert_close(again, whole[:2])
    assert not calls
    monkeypatch.undo()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trainable = {n for n, p in frontend.named_parameters() if p.requires_grad}
    assert trainable and all(".layer.4." in n or ".layer.5." in n for n in trainable)

    cfg = _cfg("late_fusion", ["late_fusion.text_train_layers=2"])
    train_run(cfg, with_tokens, tmp_path)
    tuned = load_run(tmp_path)[0].text_frontend.model.state_dict()
    pretrained = load_text_model("").state_dict()
    lower = [k for k in pretrained if "embeddings" in k or any(f".{i}." in k for i in range(4))]
    upper = [k for k in pretrained if ".layer.4." in k or ".layer.5." in k]
    assert all(torch.equal(pretrained[k], tuned[k]) for k in lower)
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in upper)


def test_frozen_states_cache_stays_within_its_memory_limit(monkeypatch):
    """Once `text_cache_mb` is used up, later texts are not kept (one warning says so) and
    still give the whole model's states; 0 keeps nothing and says nothing."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from mmcl.models.text_frontend import TextFrontEnd

    net = load_text_model("")
    enc = load_tokenizer("")(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"].bool()
    whole = net(input_ids=ids, attention_mask=mask.long()).last_hidden_state * mask[..., None]
    sizes = mask.sum(1) * net.config.hidden_size * 4  # bytes per text's fp32 states
    room = int(sizes[:2].sum())  # the first two texts fit, the third does not
    frontend = TextFrontEnd(net, finetune=False, cache_mb=room / 2**20).eval()
    with pytest.warns(UserWarning, match="text_cache_mb"):
        first = frontend(ids, mask) * mask[..., None]
    torch.testing.assert_close(first, whole)
    assert len(frontend.cache) == 2 and frontend.cache_used == room
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not at every batch
        again = frontend(ids, mask) * mask[..., None]
    torch.testing.assert_close(again, whole)
    assert len(frontend.cache) == 2

    none = TextFrontEnd(net, finetune=False, cache_mb=0).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        torch.testing.assert_close(none(ids, mask) * mask[..., None], whole)
    assert not none.cache
    with pytest.raises(UserError, match="text_cache_mb = -1"):
        resolve_config(model="late_fusion", overrides=["late_fusion.text_cache_mb=-1"])


def test_bundled_minilm_resolves_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (resolve_text_model("") / "config.json").is_file()
    with pytest.raises(UserError, match="not a local Hugging Face model folder"):
        resolve_text_model("/nonexistent/model")


def test_self_mm_fine_tunes_the_text_transformer_and_reloads(tmp_path, with_tokens, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = _cfg("self_mm", ['self_mm.text_pool="cls"'])
    result = train_run(cfg, with_tokens, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    model, fresh = load_run(tmp_path)[0], load_run(tmp_path)[0]
    # the saved weights include the fine-tuned transformer: they differ from the pretrained ones
    pretrained = load_text_model("").state_dict()
    tuned = model.text_frontend.model.state_dict()
    assert any(not torch.equal(pretrained[k], tuned[k]) for k in pretrained if k in tuned)
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in model.state_dict().items())


def test_mmsa_text_bert_ids_round_trip(tmp_path):
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


def test_text_from_tokens_alone(tmp_path, with_tokens, monkeypatch):
    """Data with token ids and no text features: the front-end adds the text modality."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    audio_only = with_tokens.select_modalities(["audio"])
    cfg = _cfg("self_mm", ["self_mm.text_finetune=false"])
    result = train_run(cfg, audio_only, tmp_path)
    assert np.isfinite(result["test"]["MAE"])
    assert load_run(tmp_path)[0].info.modalities == ["text", "audio"]
