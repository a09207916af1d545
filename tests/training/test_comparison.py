"""MMCL (corrected) against single-modality models and late fusion on planted-signal data.

Every model gets the same recipe (the demo's), the best epoch is chosen on validation MAE,
and test MAEs are compared over 3 training seeds. The synthetic label mixes a common latent
that every modality carries with one specific latent per modality, so a model of one
modality cannot see the others' specific parts, and fusing them must help. No margin was
measured when the test was written: "better" means lower mean test MAE with a one-sided
Welch t-test over the seeds of this run at p < 0.05.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mmcl.config import resolve_config
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.experiments.runs import train_run

SEEDS = (0, 1, 2)


def _test_maes(ds, out: Path, model: str, extra: list[str]) -> np.ndarray:
    maes = []
    for s in SEEDS:
        cfg = resolve_config(
            "demo",
            model=model,
            epochs=30,
            overrides=[f"train.seed={s}", "train.diagnostics=false", *extra],
        )
        maes.append(train_run(cfg, ds, out / f"{model}{extra}-{s}")["test"]["MAE"])
    return np.array(maes)


def _clearly_lower(a: np.ndarray, b: np.ndarray) -> bool:
    """a's seeds below b's: one-sided Welch t-test, p < 0.05."""
    return bool(stats.ttest_ind(a, b, equal_var=False, alternative="less").pvalue < 0.05)


@pytest.mark.slow
def test_mmcl_corrected_beats_single_modalities_and_late_fusion(tmp_path):
    ds = make_synthetic(SynthConfig(n_train=300, n_valid=100, n_test=150, seed=0))
    mmcl = _test_maes(ds, tmp_path, "mmcl", [])
    late = _test_maes(ds, tmp_path, "late_fusion", [])
    singles = {
        m: _test_maes(ds, tmp_path, "late_fusion", [f'modalities=["{m}"]']) for m in ds.modalities
    }
    assert _clearly_lower(mmcl, late), (mmcl, late)
    assert all(_clearly_lower(mmcl, s) for s in singles.values()), (mmcl, singles)
    assert all(_clearly_lower(late, s) for s in singles.values()), (late, singles)
