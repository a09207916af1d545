import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcl.data.dataset import random_split


@settings(max_examples=50, deadline=None)
@given(
    strata=st.lists(st.sampled_from("abcd"), min_size=1, max_size=200),
    seed=st.integers(0, 10),
)
def test_stratified_split_is_a_seeded_partition_with_each_stratum_split_70_15_15(strata, seed):
    split = random_split(len(strata), seed, strata=strata)
    rows = np.concatenate(list(split.values()))
    assert sorted(rows.tolist()) == list(range(len(strata)))  # every row exactly once
    again = random_split(len(strata), seed, strata=strata)
    assert all(np.array_equal(split[s], again[s]) for s in split)
    labels = np.asarray(strata)
    for v in set(strata):
        n = int((labels == v).sum())
        assert int((labels[split["train"]] == v).sum()) == int(0.7 * n)
        assert int((labels[split["test"]] == v).sum()) == n - int(0.85 * n)


def test_unstratified_split_sizes():
    split = random_split(100, 0)
    assert [len(split[s]) for s in ("train", "valid", "test")] == [70, 15, 15]
