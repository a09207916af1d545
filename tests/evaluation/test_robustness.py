import numpy as np
import pytest

from mmcl.data.dataset import TaskSpec, make_split
from mmcl.evaluation.robustness import dropped, robustness_report, shifted
from mmcl.models.base import DataInfo, ModelOutput, TaskModel, masked_mean

TASK = TaskSpec("regression", "mosi", (-3.0, 3.0))


class AudioMean(TaskModel):
    """A toy model whose answer is known: the mean of audio feature 0 over unpadded steps."""

    def __init__(self) -> None:
        super().__init__()
        self.info = DataInfo({"text": 2, "audio": 2}, {"text": 4, "audio": 4}, TASK)

    def forward(self, features, masks):
        return ModelOutput(masked_mean(features["audio"], masks["audio"])[:, 0])


def _split():
    rng = np.random.default_rng(0)
    y = rng.uniform(-2, 2, 30).astype(np.float32)
    lengths = rng.integers(2, 5, 30)
    audio = np.zeros((30, 4, 2), np.float32)
    for i, n in enumerate(lengths):
        audio[i, :n, 0] = y[i]  # every unpadded step carries the label
    text = rng.normal(size=(30, 4, 2)).astype(np.float32)
    return (
        make_split(
            {"text": text, "audio": audio},
            y,
            None,
            "toy",
            TASK,
            lengths={"text": np.full(30, 4), "audio": lengths},
        ),
        y,
        lengths,
    )


def test_shift_and_drop_transforms():
    split, y, lengths = _split()
    s = shifted(split, "audio", 1)
    n = int(lengths[0])
    assert s.features["audio"][0, 0, 0] == 0 and (s.features["audio"][0, 1:n, 0] == y[0]).all()
    assert not s.features["audio"][0, n:].any()
    d = dropped(split, "audio")
    assert d.features["audio"].shape == (30, 1, 2) and (d.lengths["audio"] == 1).all()


def test_report_numbers_on_a_model_with_known_answers():
    split, y, lengths = _split()
    rows = robustness_report(AudioMean(), split, "mosi", shifts=(1,), sigmas=(0.1, 1.0))
    assert rows["clean"]["MAE"] == pytest.approx(0.0, abs=1e-6)
    assert rows["text zeroed"]["MAE"] == pytest.approx(0.0, abs=1e-6)  # the model ignores text
    assert rows["audio zeroed"]["MAE"] == pytest.approx(np.mean(np.abs(y)), rel=1e-5)
    assert rows["audio dropped"]["MAE"] == pytest.approx(np.mean(np.abs(y)), rel=1e-5)
    # shifted by one: one of n steps becomes 0, so the mean is y (n - 1) / n
    assert rows["audio shifted +1"]["MAE"] == pytest.approx(np.mean(np.abs(y) / lengths), rel=1e-5)
    assert 0 < rows["noise sigma=0.1"]["MAE"] < rows["noise sigma=1.0"]["MAE"]
    assert list(rows)[0] == "clean"
