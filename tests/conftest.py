import pytest

from mmcl.data.synthetic import SynthConfig, make_synthetic


@pytest.fixture(scope="session")
def synth_regression():
    return make_synthetic(SynthConfig(n_train=60, n_valid=20, n_test=20, seed=1))


@pytest.fixture(scope="session")
def synth_iemocap():
    return make_synthetic(SynthConfig(task="iemocap", n_train=60, n_valid=20, n_test=20, seed=2))
