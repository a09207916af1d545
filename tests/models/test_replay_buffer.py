"""The replay buffer keeps each state once and holds exactly the transitions a buffer with a
state and an s' per transition would hold."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcl.errors import UserError
from mmcl.models.replay_buffer import ReplayBuffer

LENS, D = {"text": 3, "audio": 2}, 4


def _rows(b: int, step: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(step)
    rows = {"reward": torch.randn(b, generator=g)}
    for m, length in LENS.items():
        used = 1 + step % length  # batches are cut to their longest sequence: pad in the buffer
        rows[f"state.{m}"] = torch.randn(b, used, D, generator=g)
        rows[f"mask.{m}"] = torch.rand(b, used, generator=g) > 0.3
        rows[f"action.{m}"] = torch.rand(b, used, generator=g)
    return rows


def _padded(value: torch.Tensor, length: int) -> torch.Tensor:
    out = torch.zeros(value.shape[0], length, *value.shape[2:], dtype=value.dtype)
    out[:, : value.shape[1]] = value
    return out


def _naive(steps: list[dict], capacity: int, bootstrap: bool) -> dict[str, torch.Tensor]:
    """The transitions written out in full, one state and one s' each (the last `capacity`)."""
    held: list[dict] = []
    for i, rows in enumerate(steps):
        if bootstrap and i == 0:
            continue
        source = steps[i - 1] if bootstrap else rows
        b = min(len(rows["reward"]), len(source["reward"])) if bootstrap else len(rows["reward"])
        for r in range(b):
            t = {"reward": source["reward"][r]}
            for m, length in LENS.items():
                for key in ("state", "mask", "action"):
                    t[f"{key}.{m}"] = _padded(source[f"{key}.{m}"][r : r + 1], length)[0]
                if bootstrap:
                    for key in ("state", "mask"):
                        t[f"next_{key}.{m}"] = _padded(rows[f"{key}.{m}"][r : r + 1], length)[0]
            held.append(t)
    held = held[-capacity:]
    return {k: torch.stack([t[k] for t in held]) for k in held[0]}


def _in_write_order(buf: ReplayBuffer) -> dict[str, torch.Tensor]:
    """The ring's transitions from the oldest to the newest."""
    held = buf.transitions()
    order = [(buf.ptr - buf.size + i) % buf.capacity for i in range(buf.size)]
    return {k: v[order] for k, v in held.items()}


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 7), min_size=2, max_size=12),
    capacity=st.integers(1, 12),
    bootstrap=st.booleans(),
)
def test_the_buffer_holds_what_a_state_and_next_state_per_transition_would(
    sizes, capacity, bootstrap
):
    buf = ReplayBuffer(capacity, LENS, D, bootstrap)
    steps = [_rows(b, i) for i, b in enumerate(sizes)]
    for rows in steps:
        buf.push(rows)
    if buf.size == 0:
        return
    expected = _naive(steps, capacity, bootstrap)
    got = _in_write_order(buf)
    assert sorted(got) == sorted(expected)
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v.to(got[k].dtype), msg=k)
    # every slot a transition (or the pending step) points at is counted, and no other
    pointed = [s for s in buf.state_slot + buf.next_slot if s >= 0]
    pointed += buf.pending["slots"] if buf.pending is not None else []
    assert buf.refs == [pointed.count(s) for s in range(len(buf.refs))]


def test_each_state_is_stored_once_in_the_reference_scheme():
    capacity, b = 20, 4
    buf = ReplayBuffer(capacity, LENS, D, bootstrap=True)
    for i in range(30):
        buf.push(_rows(b, i))
    # the live transitions' states, the pending step and the next rows: not 2 x capacity
    assert len(buf.refs) == capacity + 2 * b
    assert buf.store["state.text"].shape[0] == capacity + 2 * b < 2 * capacity


def test_sampling_draws_the_same_transitions_as_the_ring_positions():
    buf = ReplayBuffer(8, LENS, D, bootstrap=True)
    for i in range(5):
        buf.push(_rows(3, i))
    torch.manual_seed(3)
    drawn = buf.sample(5)
    torch.manual_seed(3)
    positions = torch.randperm(buf.size)[:5]
    for k, v in buf.transitions().items():
        torch.testing.assert_close(drawn[k], v[positions])


def test_a_resumed_buffer_continues_exactly():
    a = ReplayBuffer(6, LENS, D, bootstrap=True)
    for i in range(4):
        a.push(_rows(3, i))
    b = ReplayBuffer(6, LENS, D, bootstrap=True)
    b.load_state_dict(a.state_dict())
    for i in range(4, 7):
        a.push(_rows(2 + i % 2, i))
        b.push(_rows(2 + i % 2, i))
    for k, v in a.transitions().items():
        torch.testing.assert_close(b.transitions()[k], v)


def test_a_checkpoint_of_the_older_buffer_is_refused_with_a_message():
    old = {"size": 1, "ptr": 1, "data": {"reward": torch.zeros(4)}}
    with pytest.raises(UserError, match="older version"):
        ReplayBuffer(4, LENS, D, bootstrap=True).load_state_dict(old)
