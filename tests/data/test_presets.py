import numpy as np
import pytest

from mmcl.data.dataset import DataError
from mmcl.data.presets import PRESETS, detect_regression_preset, get_preset


def test_get_preset_ignores_case_dashes_and_underscores():
    assert get_preset("MOSI").name == "mosi"
    assert get_preset("sims-v2").name == "simsv2"
    assert get_preset("iemocap_6").task.num_classes == 6
    with pytest.raises(DataError, match="unknown preset 'mosi2'; choose one of"):
        get_preset("mosi2")


def test_presets_tasks_are_consistent():
    for p in PRESETS.values():
        assert p.task.output_dim >= 1, p.name
        if p.task.kind == "regression":
            lo, hi = p.task.label_range
            assert lo < hi, p.name


def test_detect_regression_preset_from_split_sizes_then_label_range():
    labels = np.array([-3.0, 3.0])
    assert detect_regression_preset((16326, 1871, 4659), labels) == "mosei"
    # unknown sizes: the label range decides
    assert detect_regression_preset((10, 2, 2), np.array([-0.9, 1.0])) == "sims"
    assert detect_regression_preset((10, 2, 2), np.array([-2.5, 3.0])) == "mosi"
    assert detect_regression_preset((10, 2, 2), np.array([0.0, 27.0])) is None
