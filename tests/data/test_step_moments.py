"""Feature statistics over unpadded steps, read in chunks (input normalisation, the training
means `mmcl predict` fills a missing modality with)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcl.data.dataset import TaskSpec, make_split


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 12),
    length=st.integers(1, 6),
    chunk=st.integers(1, 5),
    offset=st.sampled_from([0.0, 1e4]),
    seed=st.integers(0, 1000),
)
def test_chunked_moments_equal_those_of_all_unpadded_steps(n, length, chunk, offset, seed):
    rng = np.random.default_rng(seed)
    x = (offset + 1e-2 * rng.standard_normal((n, length, 3))).astype(np.float32)
    lengths = rng.integers(1, length + 1, n)
    x[np.arange(length)[None, :] >= lengths[:, None]] = 7.0  # padding must not count
    split = make_split(
        {"audio": x},
        np.zeros(n, np.float32),
        np.array([str(i) for i in range(n)]),
        "train",
        TaskSpec("regression", "regression"),
        lengths={"audio": lengths},
    )
    mean, std = split.step_moments(chunk=chunk)["audio"]
    rows = x[np.arange(length)[None, :] < lengths[:, None]].astype(np.float64)
    np.testing.assert_allclose(mean, rows.mean(0), rtol=1e-12)
    # far from zero (offset 1e4, spread 1e-2) a sum of squares would lose the spread
    np.testing.assert_allclose(std, rows.std(0), rtol=1e-6, atol=1e-12)
