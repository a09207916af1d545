"""MMCL's replay buffer: actor-critic transitions in preallocated tensors, sampled by index.

A transition is (reward, action, state) and, in the reference's scheme, a next state s': the
NEXT training step's row at the same position (the reference's next, unrelated batch). That
row is also the state of a transition of its own one step later, so storing s and s' per
transition would hold almost every state twice. States therefore live once in a store of
slots that the transitions point into: in the reference's scheme the buffer holds about
capacity + 2 batches of states instead of 2 x capacity (at 500 steps and 1000 transitions,
0.8 GiB instead of 1.4 GiB in fp32). The arithmetic is unchanged: a sample is the same
transitions, with the same values, as with a state and an s' per transition.

The bookkeeping (which transition points at which slot, how many point at each slot) is a
handful of integers per transition, kept on the host like the ring's pointer, so that writing
and sampling need no device synchronisation.
"""

from __future__ import annotations

import torch

from mmcl.errors import UserError


class ReplayBuffer:
    """The last `capacity` transitions, written as a ring and drawn without replacement."""

    def __init__(self, capacity: int, seq_lens: dict[str, int], d: int, bootstrap: bool) -> None:
        self.capacity, self.seq_lens, self.d, self.bootstrap = capacity, seq_lens, d, bootstrap
        self.size, self.ptr = 0, 0
        # allocated on the CPU; `to(device)` moves it with the model (train.device)
        self.device, self.states_dtype = torch.device("cpu"), torch.float32
        self.data: dict[str, torch.Tensor] = {"reward": torch.zeros(capacity)}
        for m, length in seq_lens.items():
            self.data[f"action.{m}"] = torch.zeros(capacity, length)
        # per transition: its state's slot and its s' slot (-1: none)
        self.state_slot = [-1] * capacity
        self.next_slot = [-1] * capacity
        # the store: state.m (S, L_m, d) and mask.m (S, L_m), sized at the first push (it
        # needs the batch size); refs[s] = the transitions and the pending step pointing at s
        self.store: dict[str, torch.Tensor] = {}
        self.refs: list[int] = []
        # bootstrap: the last step's rows (reward, action.m, their slots), waiting for s'
        self.pending: dict[str, object] | None = None

    # -- writing -----------------------------------------------------------------------
    def push(self, rows: dict[str, torch.Tensor]) -> None:
        """One training step's B rows: reward, action.m, state.m, mask.m (sequences shorter
        than the buffer's length are zero/False padded). Without bootstrap each row becomes a
        transition now; with it, when the next step's rows arrive and give it its s'."""
        rows = {k: v.detach() for k, v in rows.items()}
        b = rows["reward"].shape[0]
        if not self.bootstrap:
            done = b
        elif self.pending is None:
            done = 0
        else:
            done = min(b, len(self.pending["slots"]))
        # the transitions about to be overwritten let go of their slots first
        self._evict(min(done, self.capacity))
        slots = self._write_states(rows)
        step = {
            "reward": rows["reward"],
            **{k: v for k, v in rows.items() if k.startswith("action.")},
            "slots": slots,
        }
        if not self.bootstrap:
            self._append(step, None)
            return
        if self.pending is not None:
            self._append({k: v[:done] for k, v in self.pending.items()}, slots[:done])
            self._count(self.pending["slots"], -1)  # no longer held as pending
        self._count(slots, +1)
        self.pending = step

    def _evict(self, n: int) -> None:
        for i in range(n):
            pos = (self.ptr + i) % self.capacity
            if self.state_slot[pos] >= 0:
                self._count([self.state_slot[pos]], -1)
                if self.next_slot[pos] >= 0:
                    self._count([self.next_slot[pos]], -1)
                self.state_slot[pos] = self.next_slot[pos] = -1

    def _count(self, slots: list[int], delta: int) -> None:
        for s in slots:
            self.refs[s] += delta

    def _write_states(self, rows: dict[str, torch.Tensor]) -> list[int]:
        b = rows["reward"].shape[0]
        free = [s for s, n in enumerate(self.refs) if n == 0]
        if len(free) < b:
            # the first push sizes the store: in the reference's scheme the live transitions'
            # states, the pending step's rows and the new rows; more only if batch sizes
            # vary so that rows are kept only as someone's s'
            spare = 2 * b if self.bootstrap else 0
            grow = max(b - len(free), self.capacity + spare - len(self.refs))
            free += list(range(len(self.refs), len(self.refs) + grow))
            self._grow(grow)
        slots = free[:b]
        index = torch.tensor(slots, device=self.device)
        for m in self.seq_lens:
            for key in (f"state.{m}", f"mask.{m}"):
                value, buf = rows[key], self.store[key]
                buf[index] = 0
                buf[index, : value.shape[1]] = value.to(buf.dtype)
        return slots

    def _grow(self, n: int) -> None:
        self.refs += [0] * n
        for m, length in self.seq_lens.items():
            for key, shape, dtype in (
                (f"state.{m}", (n, length, self.d), self.states_dtype),
                (f"mask.{m}", (n, length), torch.bool),
            ):
                more = torch.zeros(shape, dtype=dtype, device=self.device)
                self.store[key] = torch.cat([self.store[key], more]) if key in self.store else more

    def _append(self, step: dict[str, object], next_slots: list[int] | None) -> None:
        n = len(step["slots"])
        keep = min(n, self.capacity)
        positions = [(self.ptr + i) % self.capacity for i in range(keep)]
        index = torch.tensor(positions, device=self.device)
        for key, buf in self.data.items():
            value = step[key][n - keep :].to(buf.dtype)
            buf[index] = 0
            if value.dim() == 1:
                buf[index] = value
            else:
                buf[index, : value.shape[1]] = value
        for i, pos in enumerate(positions):
            self.state_slot[pos] = step["slots"][n - keep + i]
            self.next_slot[pos] = -1 if next_slots is None else next_slots[n - keep + i]
        self._count(step["slots"][n - keep :], +1)
        if next_slots is not None:
            self._count(next_slots[n - keep :], +1)
        self.ptr = (self.ptr + keep) % self.capacity
        self.size = min(self.size + keep, self.capacity)

    # -- reading -----------------------------------------------------------------------
    def sample(self, n: int) -> dict[str, torch.Tensor]:
        """n distinct transitions (without replacement, as the reference draws them):
        reward, action.m, state.m, mask.m and, with bootstrap, next_state.m, next_mask.m."""
        return self._gather(torch.randperm(self.size)[: min(n, self.size)].tolist())

    def transitions(self) -> dict[str, torch.Tensor]:
        """Every transition held, in the order they were written to the ring."""
        return self._gather(list(range(self.size)))

    def _gather(self, positions: list[int]) -> dict[str, torch.Tensor]:
        index = torch.tensor(positions, dtype=torch.long, device=self.device)
        out = {k: v[index] for k, v in self.data.items()}
        parts = [("", self.state_slot)] + ([("next_", self.next_slot)] if self.bootstrap else [])
        for prefix, slot_of in parts:
            slots = torch.tensor([slot_of[p] for p in positions], device=self.device)
            for key, buf in self.store.items():
                out[prefix + key] = buf[slots]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held in tensors: the transitions and the state store."""
        tensors = [*self.data.values(), *self.store.values()]
        return sum(t.numel() * t.element_size() for t in tensors)

    # -- device, dtype and exact resume --------------------------------------------------
    def to(self, device: torch.device, states: torch.dtype = torch.float32) -> None:
        """Move to `device`, with the stored states in `states` (bf16 halves the store)."""
        self.device, self.states_dtype = torch.device(device), states
        self.data = {k: v.to(device) for k, v in self.data.items()}
        self.store = {
            k: v.to(device, states if k.startswith("state.") else v.dtype)
            for k, v in self.store.items()
        }
        if self.pending is not None:
            self.pending = {k: v if k == "slots" else v.to(device) for k, v in self.pending.items()}

    def state_dict(self) -> dict[str, object]:
        return {
            "size": self.size,
            "ptr": self.ptr,
            "data": dict(self.data),
            "store": dict(self.store),
            "state_slot": list(self.state_slot),
            "next_slot": list(self.next_slot),
            "refs": list(self.refs),
            "pending": None if self.pending is None else dict(self.pending),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        if "store" not in state:
            raise UserError(
                "this checkpoint's replay buffer was written by an older version of mmcl "
                "(a state and a next state per transition); it cannot be resumed: train the "
                "run again from the start (delete its folder or choose another --out)"
            )
        self.size, self.ptr = int(state["size"]), int(state["ptr"])
        for k, v in self.data.items():
            v.copy_(state["data"][k])
        self.store = {
            k: v.to(self.device, self.states_dtype if k.startswith("state.") else v.dtype)
            for k, v in state["store"].items()
        }
        self.state_slot, self.next_slot = list(state["state_slot"]), list(state["next_slot"])
        self.refs = list(state["refs"])
        self.pending = None if state["pending"] is None else dict(state["pending"])
