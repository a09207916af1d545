"""The MMSA-faithful baselines at MMSA's default sizes (config_regression.json, MOSI): each
parameter count equals the count worked out by hand from MMSA's layer list."""

import pytest
import torch

from mmcl.data.dataset import TaskSpec
from mmcl.models.base import DataInfo
from mmcl.models.registry import build_model, model_config, parameter_count

# MMSA's MOSI features (BERT text 768, COVAREP audio 5, Facet vision 20), aligned to 50 steps
MOSI = DataInfo(
    {"text": 768, "audio": 5, "vision": 20},
    {"text": 50, "audio": 50, "vision": 50},
    TaskSpec("regression", "mosi", (-3.0, 3.0)),
)


def linear(i, o):
    return i * o + o


def batchnorm(c):
    return 2 * c  # weight and bias (the running statistics are buffers)


def lstm(i, h, layers=1, bidirectional=False):
    """nn.LSTM: per layer and direction 4 gates of (input x h + h x h + two biases of h)."""
    d = 2 if bidirectional else 1
    first = 4 * (i * h + h * h + 2 * h)
    later = 4 * (d * h * h + h * h + 2 * h)
    return d * (first + (layers - 1) * later)


def subnet(i, h):  # FeatureNets.SubNet: BatchNorm1d(in), Linear(in, h), Linear(h, h) x 2
    return batchnorm(i) + linear(i, h) + 2 * linear(h, h)


def text_subnet(i, h, out):  # FeatureNets.TextSubNet: 1-layer LSTM(in, h), Linear(h, out)
    return lstm(i, h) + linear(h, out)


def layernorm(d):
    return 2 * d


def attention(d):  # in_proj (3d x d + 3d) and out_proj (d x d + d), as MMSA's fairseq MHA
    return 3 * d * d + 3 * d + linear(d, d)


def mult_encoder(d, layers):
    """transformers_encoder.TransformerEncoder: per layer attention, fc1 (d -> 4d), fc2
    (4d -> d), two LayerNorms; a final LayerNorm."""
    layer = attention(d) + linear(d, 4 * d) + linear(4 * d, d) + 2 * layernorm(d)
    return layers * layer + layernorm(d)


def count(name):
    model = build_model(name, model_config(name), MOSI)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_tfn():
    # hidden_dims (t, a, v) = (128, 32, 128), text_out 32, post_fusion_dim 64; MMSA's two
    # frozen Parameters output_range / output_shift are constants here
    fused = (32 + 1) * (32 + 1) * (128 + 1)
    expected = (
        text_subnet(768, 128, 32)
        + subnet(5, 32)
        + subnet(20, 128)
        + linear(fused, 64)
        + linear(64, 64)
        + linear(64, 1)
    )
    assert count("tfn") == expected


def test_lmf():
    # hidden_dims (t, a, v) = (128, 16, 128), text_out = 128 // 2, rank 3, one output; the
    # factors (rank, 1 + d_m, 1), fusion_weights (1, rank) and fusion_bias (1, 1)
    rank = 3
    expected = (
        text_subnet(768, 128, 64)
        + subnet(5, 16)
        + subnet(20, 128)
        + rank * (64 + 1) + rank * (16 + 1) + rank * (128 + 1)
        + rank
        + 1
    )  # fmt: skip
    assert count("lmf") == expected


def test_lmf_trains_its_factors_at_factor_lr():
    model = build_model("lmf", model_config("lmf", {"factor_lr": 0.01}), MOSI)
    groups = model.param_groups(1e-3, 0.005)
    rates = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert {rates[id(p)] for p in model.factors.parameters()} == {0.01}
    assert {rates[id(p)] for p in model.fusion.parameters()} == {1e-3}
    assert len(rates) == sum(1 for _ in model.parameters())  # every parameter trains
    assert {g["weight_decay"] for g in groups} == {0.005}


def test_mfn():
    # hidden_dims (t, a, v) = (256, 32, 256), memsize 400, window 2; NN1 32, NN2 64,
    # gamma1 256, gamma2 32, out 128 (MMSA's MFN.py layer list)
    total, mem = 256 + 32 + 256, 400
    att_in, gamma_in = 2 * total, 2 * total + mem
    expected = (
        lstm(768, 256) + lstm(5, 32) + lstm(20, 256)  # LSTMCell = one LSTM layer's weights
        + linear(att_in, 32) + linear(32, att_in)
        + linear(att_in, 64) + linear(64, mem)
        + linear(gamma_in, 256) + linear(256, mem)
        + linear(gamma_in, 32) + linear(32, mem)
        + linear(total + mem, 128) + linear(128, 1)
    )  # fmt: skip
    assert count("mfn") == expected


def test_graph_mfn():
    # hidden_dims (t, a, v) = (256, 32, 256), memsize 300, inner_node_dim 64; NN 32,
    # gamma1 128, gamma2 64, out 256 (MMSA's Graph_MFN.py layer list). Every vertex network
    # is Linear(in, 100), Linear(100, 64); a vertex reads its proper subsets' vertices.
    t, a, v, inner, mem = 256, 32, 256, 64, 300

    def vertex(i):
        return linear(i, 100) + linear(100, inner)

    expected = (
        lstm(768, t) + lstm(5, a) + lstm(20, v)
        + linear(2 * t, t) + linear(2 * a, a) + linear(2 * v, v)  # singleton transforms
        + vertex(t + a) + vertex(t + v) + vertex(a + v)  # the three pairs
        + vertex(t + a + v + 3 * inner)  # the triple: singletons and pairs
        + vertex(t + a + v + 4 * inner)  # the top vertex: every vertex
        + linear(t + a + v, 100) + linear(100, inner) + linear(inner, 19)  # efficacies
        + linear(inner, 32) + linear(32, mem)
        + linear(inner + mem, 128) + linear(128, mem)
        + linear(inner + mem, 64) + linear(64, mem)
        + linear(t + a + v + mem, 256) + linear(256, 1)
    )  # fmt: skip
    assert count("graph_mfn") == expected


def test_mfm():
    # MMSA's MFM.py at mfm/mosi: encoders LSTMCell(d, z) + Linear(z, z) with z 64/80/80;
    # decoders LSTMCell(f_y + f_m, same) + Linear(that, d) with f_y 64, f 32/16/64; the MFN
    # (hidden 128/32/128, memsize 64, NN1 32, NN2 64, gamma1 32, gamma2 64) without the
    # output network MMSA builds and never uses; Linear(MFN state, z_y 80); z -> f: two
    # Linear; f_y -> y: Linear(64, 64), Linear(64, 1)
    total, mem = 128 + 32 + 128, 64
    window = 2 * total
    mfn = (
        lstm(768, 128) + lstm(5, 32) + lstm(20, 128)
        + linear(window, 32) + linear(32, window)
        + linear(window, 64) + linear(64, mem)
        + linear(window + mem, 32) + linear(32, mem)
        + linear(window + mem, 64) + linear(64, mem)
    )  # fmt: skip
    expected = (
        lstm(768, 64) + linear(64, 64) + lstm(5, 80) + linear(80, 80)
        + lstm(20, 80) + linear(80, 80)
        + lstm(96, 96) + linear(96, 768) + lstm(80, 80) + linear(80, 5)
        + lstm(128, 128) + linear(128, 20)
        + mfn
        + linear(total + mem, 80)
        + linear(80, 64) + linear(64, 64)
        + linear(64, 32) + linear(32, 32) + linear(80, 16) + linear(16, 16)
        + linear(80, 64) + linear(64, 64)
        + linear(64, 64) + linear(64, 1)
    )  # fmt: skip
    assert count("mfm") == expected


def test_mctn():
    # MMSA's MCTN.py (hid_dim 32, every modality padded to 768): two Seq2Seq, each an
    # Encoder (BiLSTM(in, 32), Linear(32, 32) without bias) and a Decoder (Attention:
    # Linear(64, 32) and Linear(32, 1), both without bias; BiLSTM(768 + 32, 32); Linear(64,
    # 768)); the first encoder reads the text, the second the first's join; Regression:
    # LSTM(32, 32), Linear(32, 1) for the attention scores, Linear(32, 1)
    h, w = 32, 768

    def decoder():
        return 2 * h * h + h + lstm(w + h, h, bidirectional=True) + linear(2 * h, w)

    expected = (
        lstm(w, h, bidirectional=True) + h * h + decoder()
        + lstm(h, h, bidirectional=True) + h * h + decoder()
        + lstm(h, h) + linear(h, 1) + linear(h, 1)
    )  # fmt: skip
    assert count("mctn") == expected


def test_mctn_predicts_from_the_source_alone():
    torch.manual_seed(0)
    info = DataInfo({"text": 6, "audio": 3}, {"text": 5, "audio": 5}, MOSI.task)
    model = build_model("mctn", model_config("mctn", {"hid_dim": 4}), info).eval()
    x = {"text": torch.randn(2, 5, 6), "audio": torch.randn(2, 5, 3)}
    mask = torch.ones(2, 5, dtype=torch.bool)
    masks = {"text": mask, "audio": mask}
    other = {"text": x["text"], "audio": torch.randn(2, 5, 3) * 10}
    torch.testing.assert_close(model(x, masks).preds, model(other, masks).preds)


def test_mctn_source_may_be_listed_among_the_default_targets():
    """`source = "audio"` alone on audio + vision (the MMMO table's setting): audio, which
    the default target order lists, is skipped there."""
    info = DataInfo({"audio": 3, "vision": 4}, {"audio": 5, "vision": 5}, MOSI.task)
    model = build_model("mctn", model_config("mctn", {"hid_dim": 4, "source": "audio"}), info)
    assert model.targets == ["vision"]


def gru(i, h, layers):  # bidirectional nn.GRU: per layer and direction 3 gates
    first = 3 * (i * h + h * h + 2 * h)
    later = 3 * (2 * h * h + h * h + 2 * h)
    return 2 * (first + (layers - 1) * later)


def test_tfr_net():
    # MMSA's TFR_NET at tfr_net/mosi on its unaligned MOSI (text 50 BERT steps, audio 375,
    # vision 500; BERT itself not counted): Conv1d to d 30 (kernels 1/5/3, no bias); six
    # crossmodal and three self-attention encoders of width 30, 3 layers each; a temporal
    # encoder per modality of width = its length, 3 layers; generators Linear(90, D_m);
    # C_GATE per modality: BiGRU(90, hid, 3), Conv1d(2 hid, 1, 3), Linear(2 hid + 90, hid)
    # with hid 36/20/48; classifier BatchNorm(104), Linear(104, 128), Linear(128, 1)
    info = DataInfo(MOSI.dims, {"text": 50, "audio": 375, "vision": 500}, MOSI.task)
    d = 30

    def gate(hid):
        return gru(3 * d, hid, 3) + 2 * hid * 3 + 1 + linear(2 * hid + 3 * d, hid)

    expected = (
        768 * d * 1 + 5 * d * 5 + 20 * d * 3
        + 6 * mult_encoder(d, 3) + 3 * mult_encoder(d, 3)
        + mult_encoder(50, 3) + mult_encoder(375, 3) + mult_encoder(500, 3)
        + linear(3 * d, 768) + linear(3 * d, 5) + linear(3 * d, 20)
        + gate(36) + gate(20) + gate(48)
        + batchnorm(104) + linear(104, 128) + linear(128, 1)
    )  # fmt: skip
    assert parameter_count("tfr_net", model_config("tfr_net"), info) == expected


def test_tfr_net_reconstructs_only_dropped_steps_and_from_the_second_epoch():
    torch.manual_seed(0)
    info = DataInfo({"text": 6, "audio": 3}, {"text": 5, "audio": 5}, MOSI.task)
    small = {"d_model": 6, "n_heads": 2, "fusion_hiddens": {"text": 4, "audio": 4}}
    model = build_model("tfr_net", model_config("tfr_net", {**small, "missing_rate": 0.0}), info)
    x = {"text": torch.randn(4, 5, 6), "audio": torch.randn(4, 5, 3)}
    masks = {m: torch.ones(4, 5, dtype=torch.bool) for m in x}
    assert model(x, masks).aux_losses == {}  # nothing dropped, nothing to rebuild
    model = build_model("tfr_net", model_config("tfr_net", {**small, "missing_rate": 0.5}), info)
    out = model(x, masks)
    assert set(out.aux_losses) == {"recon_text", "recon_audio"}
    from mmcl.data.batching import Batch

    batch = Batch(x, masks, torch.zeros(4), torch.arange(4))
    model.on_epoch_start(0)
    first, _ = model.loss(batch, out)
    model.on_epoch_start(1)
    later, _ = model.loss(batch, out)
    assert float(later.detach()) > float(first.detach())
    model.eval()  # prediction drops nothing and is deterministic
    torch.testing.assert_close(model(x, masks).preds, model(x, masks).preds)


def test_mfm_mmd_is_zero_for_identical_samples_and_positive_apart():
    from mmcl.models.mfm import gaussian_kernel

    torch.manual_seed(0)
    x = torch.randn(64, 8)

    def mmd(a, b):
        k = gaussian_kernel
        return k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()

    assert float(mmd(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(mmd(x, x + 3.0)) > 0.1


@pytest.mark.parametrize("name", ["mfn", "graph_mfn", "mfm", "mctn"])
def test_mfn_padded_steps_change_nothing(name):
    torch.manual_seed(0)
    info = DataInfo({"text": 3, "audio": 2}, {"text": 4, "audio": 4}, MOSI.task)
    small = {"hiddens": {"text": 4, "audio": 4}, "memsize": 4}
    cfg = model_config(name, {"hid_dim": 4} if name == "mctn" else small)
    model = build_model(name, cfg, info).eval()
    x = {"text": torch.randn(2, 4, 3), "audio": torch.randn(2, 4, 2)}
    mask = torch.tensor([[True, True, False, False]] * 2)
    padded = model({m: v.clone() for m, v in x.items()}, {"text": mask, "audio": mask})
    x2 = {m: v.clone() for m, v in x.items()}
    for v in x2.values():
        v[:, 2:] = 100.0  # what the padding holds must not matter
    changed = model(x2, {"text": mask, "audio": mask})
    short = model({m: v[:, :2] for m, v in x.items()}, {"text": mask[:, :2], "audio": mask[:, :2]})
    torch.testing.assert_close(padded.preds, changed.preds)
    torch.testing.assert_close(padded.preds, short.preds)


def test_lf_dnn():
    # hidden_dims (t, a, v) = (128, 16, 128), text_out 256, post_fusion_dim 128
    expected = (
        text_subnet(768, 128, 256)
        + subnet(5, 16)
        + subnet(20, 128)
        + linear(256 + 16 + 128, 128)
        + linear(128, 128)
        + linear(128, 1)
    )
    assert count("lf_dnn") == expected


def test_ef_lstm():
    # BatchNorm1d(seq_len 50), LSTM(793, 128, num_layers 4), Linear(128, 128), Linear(128, 1)
    expected = batchnorm(50) + lstm(768 + 5 + 20, 128, layers=4) + linear(128, 128) + linear(128, 1)
    assert count("ef_lstm") == expected


def test_mult():
    # dst_feature_dim 50, 10 heads, nlevels 4, conv1d kernels 5/5/5 (no bias): six crossmodal
    # encoders of width 50, three self-attention encoders of width 100 with max(4, 3) layers,
    # proj1/proj2 (300 -> 300) and the output layer
    d = 50
    expected = (
        (768 + 5 + 20) * d * 5
        + 6 * mult_encoder(d, 4)
        + 3 * mult_encoder(2 * d, 4)
        + 2 * linear(6 * d, 6 * d)
        + linear(6 * d, 1)
    )
    assert count("mult") == expected


def test_misa():
    # hidden_size 128; audio/vision: BiLSTM(D, D), LayerNorm(2D), BiLSTM(2D, D) with D the input
    # width; text: its (BERT) states averaged, not counted (the encoder is the features'); the
    # fusion layer is PyTorch's TransformerEncoderLayer(128, 2) at its default width 2048.
    # MMSA also creates two layers it never uses, not built here: tlayer_norm
    # (LayerNorm(2 x 768)) and sp_discriminator (Linear(128, 4), no loss in its trainer).
    h = 128

    def utterance_lstm(d):
        return (
            lstm(d, d, bidirectional=True) + layernorm(2 * d) + lstm(2 * d, d, bidirectional=True)
        )

    def project(i):
        return linear(i, h) + layernorm(h)

    fusion_layer = attention(h) + linear(h, 2048) + linear(2048, h) + 2 * layernorm(h)
    expected = (
        utterance_lstm(5)
        + utterance_lstm(20)
        + project(768)
        + project(4 * 5)
        + project(4 * 20)
        + 3 * linear(h, h)  # private encoders
        + linear(h, h)  # shared encoder
        + 3 * linear(h, h)  # reconstruction
        + fusion_layer
        + linear(6 * h, 3 * h)
        + linear(3 * h, 1)
    )
    assert count("misa") == expected


def test_misa_difference_loss_is_mmsas():
    from mmcl.models.misa import difference_loss

    torch.manual_seed(0)
    a, b = torch.randn(6, 3, requires_grad=True), torch.randn(6, 4)

    def by_hand(detach):
        ac, bc = a - a.mean(0), b - b.mean(0)
        na, nb = ac.norm(dim=1, keepdim=True), bc.norm(dim=1, keepdim=True)
        if detach:
            na, nb = na.detach(), nb.detach()
        return ((ac / (na + 1e-6)).t() @ (bc / (nb + 1e-6))).pow(2).mean()

    loss = difference_loss(a, b)
    assert float(loss.detach()) == pytest.approx(float(by_hand(True).detach()))
    # MMSA holds the norms constant: its gradient, not the one through the norms
    (grad,) = torch.autograd.grad(loss, a)
    (same,) = torch.autograd.grad(by_hand(True), a)
    (through,) = torch.autograd.grad(by_hand(False), a)
    torch.testing.assert_close(grad, same)
    assert not torch.allclose(grad, through)


def test_mult_causal_mask_is_mmsas():
    from mmcl.models.mult import future_mask

    # MMSA: triu(-inf, 1 + |dim2 - dim1|) over the full lengths; cutting to a batch's
    # lengths keeps the same offsets
    full = future_mask(4, 6, 4, 6, "cpu")
    expected = torch.triu(torch.ones(4, 6, dtype=torch.bool), 1 + 2)
    assert torch.equal(full, expected)
    assert torch.equal(future_mask(3, 5, 4, 6, "cpu"), expected[:3, :5])


def test_tfn_output_is_squashed_to_the_label_range_and_its_bias_starts_at_the_mean():
    torch.manual_seed(0)
    info = DataInfo({"text": 6, "audio": 3}, {"text": 4, "audio": 1}, MOSI.task)
    cfg = model_config("tfn", {"hiddens": {"text": 4, "audio": 4}, "text_out": 4})
    model = build_model("tfn", cfg, info).eval()
    feats = {"text": torch.randn(5, 4, 6) * 50, "audio": torch.randn(5, 1, 3) * 50}
    masks = {m: torch.ones(x.shape[:2], dtype=torch.bool) for m, x in feats.items()}
    preds = model(feats, masks).preds
    assert ((preds > -3) & (preds < 3)).all()
    with torch.no_grad():
        model.post_fusion[-1].weight.zero_()
    model.init_output_bias(1.5)
    torch.testing.assert_close(model(feats, masks).preds, torch.full((5,), 1.5))


@pytest.mark.parametrize("name", ["tfn", "lf_dnn", "ef_lstm"])  # one modality
def test_text_only_data_runs(name):
    info = DataInfo({"text": 6}, {"text": 4}, MOSI.task)
    small = {"tfn": {"text_out": 4}, "lf_dnn": {"text_out": 4}, "ef_lstm": {"hidden": 8}}
    model = build_model(name, model_config(name, small[name]), info).eval()
    out = model({"text": torch.randn(3, 4, 6)}, {"text": torch.ones(3, 4, dtype=torch.bool)})
    assert out.preds.shape == (3,)


# MMSA runs its multi-task models on CH-SIMS only: BERT text 768, audio 33, vision 709
SIMS = DataInfo(
    {"text": 768, "audio": 33, "vision": 709},
    {"text": 39, "audio": 400, "vision": 55},
    TaskSpec("regression", "sims", (-1.0, 1.0)),
    unimodal_labels=["audio", "text", "vision"],
)


def head(i, d):  # post_<m>_layer_1..3: Linear(i, d), Linear(d, d), Linear(d, 1)
    return linear(i, d) + linear(d, d) + linear(d, 1)


def sims_count(name):  # on the meta device: MTFN at these sizes has 140 M parameters
    return parameter_count(name, model_config(name), SIMS)


def test_mlf_dnn():
    # hidden_dims (t, a, v) = (64, 32, 64), text_out 32, post_fusion_dim 32, heads 16/4/32
    expected = (
        text_subnet(768, 64, 32) + subnet(33, 32) + subnet(709, 64)
        + linear(32 + 32 + 64, 32) + linear(32, 32) + linear(32, 1)
        + head(32, 16) + head(32, 4) + head(64, 32)
    )  # fmt: skip
    assert sims_count("mlf_dnn") == expected


def test_mtfn():
    # hidden_dims (t, a, v) = (256, 32, 256), text_out 256, post_fusion_dim 64, heads 64/4/8;
    # MMSA's frozen output_range / output_shift Parameters are constants here
    fused = (256 + 1) * (32 + 1) * (256 + 1)
    expected = (
        text_subnet(768, 256, 256) + subnet(33, 32) + subnet(709, 256)
        + linear(fused, 64) + linear(64, 64) + linear(64, 1)
        + head(256, 64) + head(32, 4) + head(256, 8)
    )  # fmt: skip
    assert sims_count("mtfn") == expected


def test_mlmf():
    # hidden_dims (t, a, v) = (256, 32, 256), text_out = 256 // 2, rank 3, heads 8/4/32
    rank = 3
    expected = (
        text_subnet(768, 256, 128) + subnet(33, 32) + subnet(709, 256)
        + rank * (128 + 1) + rank * (32 + 1) + rank * (256 + 1) + rank + 1
        + head(128, 8) + head(32, 4) + head(256, 32)
    )  # fmt: skip
    assert sims_count("mlmf") == expected


def test_multi_task_models_train_every_layer_with_mmsas_per_modality_weight_decay():
    small = {"hiddens": {"text": 8, "audio": 4, "vision": 4}}
    model = build_model("mlmf", model_config("mlmf", small), SIMS)
    groups = model.param_groups(1e-3, 0.005)
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == sum(1 for _ in model.parameters())
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    for m, wd in {"text": 1e-4, "audio": 0.0, "vision": 1e-4}.items():
        assert {decay[id(p)] for p in model.encoders[m].parameters()} == {wd}
    assert {decay[id(p)] for p in model.heads.parameters()} == {0.005}
    assert {rate[id(p)] for p in model.factors.parameters()} == {model.cfg.factor_lr}


def test_multi_task_loss_is_the_weighted_sum_of_the_l1_losses():
    from mmcl.models.layers import multitask_loss

    preds, labels = torch.tensor([0.5, -1.0]), torch.tensor([0.0, 0.0])
    uni = {"text": torch.tensor([1.0, 1.0]), "audio": torch.tensor([0.0, 2.0])}
    uni_labels = {"text": torch.tensor([0.0, 0.0]), "audio": torch.tensor([0.0, 0.0])}
    weights = {"multimodal": 0.6, "text": 0.2, "audio": 0.8}
    loss, logs = multitask_loss(preds, labels, uni, uni_labels, weights)
    assert float(loss) == pytest.approx(0.6 * 0.75 + 0.2 * 1.0 + 0.8 * 1.0)
    assert set(logs) == {"pred_loss", "text_loss", "audio_loss"}


def test_multi_task_models_refuse_data_without_unimodal_labels():
    from mmcl.errors import UserError

    info = DataInfo(SIMS.dims, SIMS.seq_lens, SIMS.task)
    for name in ("mlf_dnn", "mtfn", "mlmf"):
        with pytest.raises(UserError, match="unimodal labels"):
            build_model(name, model_config(name, {"text_out": 4} if name != "mlmf" else {}), info)


@pytest.mark.parametrize("name", ["tfn", "lf_dnn", "lmf", "mlf_dnn", "mtfn", "mlmf"])
def test_the_text_encoder_has_no_dropout_as_mmsas(name):
    # MMSA's TextSubNet sets its dropout to 0 for a one-layer LSTM, so its text path has none
    dims, lens = {"text": 6, "audio": 3}, {"text": 4, "audio": 1}
    info = DataInfo(dims, lens, MOSI.task, unimodal_labels=["text", "audio"])
    small = {"hiddens": {"text": 8, "audio": 4}, **({} if "lmf" in name else {"text_out": 4})}
    model = build_model(name, model_config(name, {**small, "dropout": 0.9}), info).train()
    x, mask = torch.randn(5, 4, 6), torch.ones(5, 4, dtype=torch.bool)
    text = model.encoders["text"]
    torch.testing.assert_close(text(x, mask), text(x, mask))
    assert not any(isinstance(m, torch.nn.Dropout) for m in text.modules())


def test_word_aligned_puts_a_one_step_modality_on_each_word_without_stretching_the_words():
    from mmcl.models.layers import word_aligned

    text = torch.arange(2 * 5, dtype=torch.float).reshape(2, 5, 1)
    audio = torch.tensor([[[7.0]], [[9.0]]])  # one utterance vector per sample
    words = torch.tensor([[True, True, True, False, False], [True, True, False, False, False]])
    x, mask = word_aligned({"text": text, "audio": audio}, {"text": words, "audio": words[:, :1]})
    assert mask.tolist() == [[True, True, True], [True, True, False]]  # each sample's words
    torch.testing.assert_close(x["text"][0], text[0, :3])  # the words as they are
    torch.testing.assert_close(x["text"][1, :2], text[1, :2])
    assert x["audio"][:, :, 0].tolist() == [[7.0, 7.0, 7.0], [9.0, 9.0, 0.0]]


@pytest.mark.parametrize("name", ["mfn", "graph_mfn", "mfm", "mctn", "ef_lstm"])
def test_an_utterance_vector_is_read_as_the_same_vector_on_every_word(name):
    torch.manual_seed(0)
    info = DataInfo({"text": 3, "audio": 2}, {"text": 6, "audio": 6}, MOSI.task)
    sizes = {"hiddens": {"text": 4, "audio": 4}, "memsize": 4}
    cfg = model_config(
        name, {"hid_dim": 4} if name == "mctn" else {} if name == "ef_lstm" else sizes
    )
    model = build_model(name, cfg, info).eval()
    text, audio = torch.randn(2, 6, 3), torch.randn(2, 1, 2)
    words = torch.tensor([[True] * 4 + [False] * 2, [True] * 3 + [False] * 3])
    one_step = model({"text": text, "audio": audio}, {"text": words, "audio": words[:, :1]})
    repeated = model(
        {"text": text, "audio": audio.expand(-1, 6, -1)}, {"text": words, "audio": words}
    )
    torch.testing.assert_close(one_step.preds, repeated.preds)
