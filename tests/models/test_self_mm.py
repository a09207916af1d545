import numpy as np
import pytest
import torch

from mmcl.data.batching import BatchSource
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError
from mmcl.models.base import DataInfo
from mmcl.models.layers import coral_loss, covariance
from mmcl.models.registry import build_model
from mmcl.models.self_mm import ULGM, SelfMM, SelfMMConfig
from mmcl.models.shared_private_cov import SharedPrivateCov, SharedPrivateCovConfig, resolve_pairs


def test_covariance_loss_equals_the_formula_by_hand():
    hx = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    hy = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 3.0]])
    # C_x = ([[2,1],[1,2]] - [[4/3,4/3],[4/3,4/3]]) / 2 ; C_y = [[0,0],[0,3]]
    torch.testing.assert_close(covariance(hx), torch.tensor([[1 / 3, -1 / 6], [-1 / 6, 1 / 3]]))
    torch.testing.assert_close(covariance(hy), torch.tensor([[0.0, 0.0], [0.0, 3.0]]))
    np.testing.assert_allclose(covariance(hx).numpy(), np.cov(hx.numpy().T), rtol=1e-6)
    # ||C_x - C_y||_F^2 = 1/9 + 2/36 + 64/9 = 131/18, divided by 4 d^2 = 16
    assert float(coral_loss(hx, hy)) == pytest.approx(131 / 288)


def test_covariance_loss_zero_for_identical_and_shift_invariant():
    g = torch.Generator().manual_seed(0)
    hx, hy = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    assert float(coral_loss(hx, hx.clone())) == 0.0
    base = float(coral_loss(hx, hy))
    assert base > 0
    assert float(coral_loss(hx + 3.0, hy)) == pytest.approx(base, rel=1e-5)
    assert float(coral_loss(hx, hy - torch.arange(5.0))) == pytest.approx(base, rel=1e-5)


def test_covariance_loss_gradient_finite_for_batch_of_two():
    hx = torch.randn(2, 4, requires_grad=True)
    hy = torch.randn(2, 4, requires_grad=True)
    coral_loss(hx, hy).backward()
    assert torch.isfinite(hx.grad).all() and torch.isfinite(hy.grad).all()
    assert hx.grad.abs().sum() > 0


def _ulgm(bound=3.0):
    y = torch.tensor([1.0, -1.0, 2.0, -2.0])
    u = ULGM({"fusion": 1, "text": 1}, y, bound, exclude_zero=True)
    # epoch 1: features stored, centres computed, labels untouched
    u.update(
        {
            "fusion": torch.tensor([[1.0], [-1.0], [2.0], [-2.0]]),
            "text": torch.tensor([[0.5], [-0.5], [1.0], [-1.0]]),
        },
        torch.arange(4),
        epoch=1,
    )
    return u, y


def test_ulgm_labels_start_equal_and_epoch_one_only_updates_centres():
    u, y = _ulgm()
    assert torch.equal(u.labels["text"], y) and torch.equal(u.labels["fusion"], y)
    assert float(u.centres["fusion"]["pos"]) == 1.5 and float(u.centres["fusion"]["neg"]) == -1.5
    assert float(u.centres["text"]["pos"]) == 0.75 and float(u.centres["text"]["neg"]) == -0.75


def test_ulgm_update_by_hand_epochs_two_and_three():
    u, _ = _ulgm()
    # epoch 2, sample 0 (y_m = 1): delta_f = (2.5 - 0.5) / 0.5 = 4,
    # delta_t = (2.25 - 0.75) / 0.75 = 2
    # new = 0.5 * (2 / 4) * 1 + 0.5 * (1 + 2 - 4) = -0.25 ; y = 1/3 * 1 + 2/3 * new = 1/6
    u.update(
        {"fusion": torch.tensor([[1.0]]), "text": torch.tensor([[1.5]])}, torch.tensor([0]), epoch=2
    )
    assert float(u.labels["text"][0]) == pytest.approx(1 / 6, abs=1e-6)
    assert float(u.labels["fusion"][0]) == 1.0  # the multimodal label never moves
    # centres refreshed with the new feature: text pos = mean(1.5, 1.0)
    assert float(u.centres["text"]["pos"]) == pytest.approx(1.25)
    # epoch 3, sample 1 (y_m = -1): delta_f = (0.5 - 2.5) / 2.5 = -0.8 ;
    # text feature -3: d_p = 4.25, d_n = 2.25 -> delta_t = -2 / 4.25
    u.update(
        {"fusion": torch.tensor([[-1.0]]), "text": torch.tensor([[-3.0]])},
        torch.tensor([1]),
        epoch=3,
    )
    dt, df = -2 / 4.25, -0.8
    new = 0.5 * (dt / df) * -1 + 0.5 * (-1 + dt - df)
    assert float(u.labels["text"][1]) == pytest.approx(0.5 * -1 + 0.5 * new, abs=1e-6)


def test_ulgm_clips_to_h():
    u, _ = _ulgm(bound=0.2)
    u.update(
        {"fusion": torch.tensor([[1.0]]), "text": torch.tensor([[1.5]])}, torch.tensor([0]), epoch=2
    )
    # new = -0.25 is clipped to -0.2: 1/3 + 2/3 * -0.2 = 0.2
    assert float(u.labels["text"][0]) == pytest.approx(0.2, abs=1e-6)


def _info(ds):
    return DataInfo(ds.dims(), ds.seq_lens(), ds.task)


def test_self_mm_loss_is_multimodal_l1_while_labels_equal():
    ds = make_synthetic(SynthConfig(n_train=16, n_valid=4, n_test=4))
    model = SelfMM(SelfMMConfig(), _info(ds))
    src = BatchSource(ds.splits["train"])
    model.on_fit_start(src.labels)
    batch = src.batch(torch.arange(8))
    out = model(batch.features, batch.masks)
    loss, logs = model.loss(batch, out)
    expected = (out.preds - batch.labels).abs().mean()
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert logs["audio_loss"] == 0.0


def test_self_mm_refuses_classification_and_cov_checks_pairs():
    iemocap = make_synthetic(SynthConfig(task="iemocap", n_train=8, n_valid=4, n_test=4))
    with pytest.raises(UserError, match="needs a regression task"):
        build_model("self_mm", SelfMMConfig(), _info(iemocap))
    assert resolve_pairs(["av", "text-vision"], ["text", "audio", "vision"]) == [
        ("audio", "vision"),
        ("text", "vision"),
    ]
    with pytest.raises(UserError, match="'xz'"):
        resolve_pairs(["xz"], ["text", "audio", "vision"])
    reg = make_synthetic(SynthConfig(n_train=8, n_valid=4, n_test=4))
    with pytest.raises(UserError, match="equal representation widths"):
        SharedPrivateCov(SharedPrivateCovConfig(post_dims={"audio": 16}), _info(reg))


def test_cov_loss_enters_the_training_loss():
    ds = make_synthetic(SynthConfig(n_train=16, n_valid=4, n_test=4))
    torch.manual_seed(0)
    model = SharedPrivateCov(SharedPrivateCovConfig(lambda_cov=5.0), _info(ds))
    src = BatchSource(ds.splits["train"])
    model.on_fit_start(src.labels)
    batch = src.batch(torch.arange(8))
    out = model(batch.features, batch.masks)
    loss, logs = model.loss(batch, out)
    expected = coral_loss(out.representations["audio"], out.representations["vision"])
    assert logs["cov_loss"] == pytest.approx(float(expected.detach()))
    with torch.no_grad():
        total = (out.preds - batch.labels).abs().mean() + 5.0 * expected
    assert float(loss.detach()) == pytest.approx(float(total), rel=1e-5)
