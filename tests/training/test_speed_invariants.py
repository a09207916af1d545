"""What the speed work (precision, devices, narrower feed-forward) must not change."""

import pytest

from mmcl.config import resolve_config
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.experiments.runs import data_info, seed_everything
from mmcl.models.registry import build_model
from mmcl.training.trainer import Trainer

# One fp32 training epoch of a tiny MMCL (4 steps of 16 samples, actor-critic included),
# recorded at commit 3f37986, before the speed work. The speed work may reorder the
# computation, not change it: the losses must stay these up to float rounding.
PINNED = {
    "reference": {
        "train_loss": 5.644145846366882,
        "train_pred_loss": 0.8063065558671951,
        "train_critic_loss": 18.777775764465332,
        "train_actor_loss": 2.3000505566596985,
        "train_reward": 1.4226014316082,
    },
    "corrected": {
        "train_loss": 5.268265724182129,
        "train_pred_loss": 0.7526094019412994,
        "train_critic_loss": 25.963240146636963,
        "train_actor_loss": -0.5509743434377015,
        "train_reward": 2.001812607049942,
    },
}
TINY_MMCL = ["mmcl.d_model=16", "mmcl.n_heads=2", "mmcl.ffn_dim=64", "mmcl.ac_batch_size=16"]


def tiny_mmcl_epoch(tmp_path, variant, extra=()):
    ds = make_synthetic(
        SynthConfig(task="iemocap", n_train=64, n_valid=16, n_test=16, seq_len=8, seed=2)
    )
    overrides = [f'mmcl.variant="{variant}"', *TINY_MMCL, "train.batch_size=16", *extra]
    cfg = resolve_config(model="mmcl", epochs=1, overrides=[*overrides, "train.diagnostics=false"])
    seed_everything(0)
    model = build_model("mmcl", cfg.model_cfg(), data_info(ds))
    trainer = Trainer(model, ds, cfg.train, tmp_path)
    model.on_fit_start(trainer.sources["train"].labels)
    return trainer, trainer.train_epoch()


@pytest.mark.parametrize("variant", ["reference", "corrected"])
def test_the_mmcl_step_gives_the_losses_it_gave_before_the_speed_work(tmp_path, variant):
    _, logs = tiny_mmcl_epoch(tmp_path, variant)
    assert logs == pytest.approx(PINNED[variant], rel=1e-4)
