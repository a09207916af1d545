"""Mini-batches of torch tensors with padding masks, drawn from a `Split`: the `Batch` is
what every model receives."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from mmcl.data.dataset import Split


@dataclass
class Batch:
    features: dict[str, torch.Tensor]  # m -> (B, L_m, D_m), trimmed to the batch's longest
    masks: dict[str, torch.Tensor]  # m -> (B, L_m) bool, True on real (unpadded) steps
    labels: torch.Tensor  # (B,) float | (B, K) long | (B,) long
    index: torch.Tensor  # (B,) row numbers in the split (ULGM keeps per-sample memory)
    tokens: torch.Tensor | None = None  # (B, L_tok) word-piece ids, trimmed
    token_mask: torch.Tensor | None = None  # (B, L_tok) bool
    unimodal: dict[str, torch.Tensor] | None = None  # m -> (B,) a modality's own label

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def steps(self) -> int:
        """The longest sequence of the batch (any modality, or the tokens)."""
        widths = [x.shape[1] for x in self.features.values()]
        return max([*widths, 0 if self.tokens is None else self.tokens.shape[1]])

    def to(self, device: torch.device | str) -> Batch:
        """The batch on `device` (itself when it is there already)."""
        if self.index.device == torch.device(device):
            return self

        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Batch(
            {m: x.to(device) for m, x in self.features.items()},
            {m: x.to(device) for m, x in self.masks.items()},
            self.labels.to(device),
            self.index.to(device),
            move(self.tokens),
            move(self.token_mask),
            None if self.unimodal is None else {m: y.to(device) for m, y in self.unimodal.items()},
        )


class BatchSource:
    """Holds a split as torch tensors once, and yields `Batch`es from it."""

    def __init__(self, split: Split) -> None:
        self.split = split
        # memory-mapped native arrays are read-only; torch only reads them, so its warning
        # about non-writable arrays does not apply
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.features = {
                m: torch.from_numpy(np.ascontiguousarray(x)) for m, x in split.features.items()
            }
        self.lengths = {
            m: torch.from_numpy(np.asarray(x, dtype=np.int64)) for m, x in split.lengths.items()
        }
        self.labels = torch.from_numpy(np.asarray(split.labels))
        self.tokens = None if split.tokens is None else torch.from_numpy(np.asarray(split.tokens))
        self.token_lengths = (
            None if split.tokens is None else torch.from_numpy(np.asarray(split.token_lengths))
        )
        self.unimodal = {
            m: torch.from_numpy(np.asarray(y, dtype=np.float32))
            for m, y in (split.unimodal_labels or {}).items()
        }

    def __len__(self) -> int:
        return len(self.split)

    def batch(self, index: torch.Tensor) -> Batch:
        feats, masks = {}, {}
        # modalities padded to the same length (word-aligned data) keep equal widths
        widths: dict[int, int] = {}
        for m, x in self.features.items():
            padded = x.shape[1]
            widths[padded] = max(widths.get(padded, 1), int(self.lengths[m][index].max()))
        for m, x in self.features.items():
            lens = self.lengths[m][index]
            width = widths[x.shape[1]]
            feats[m] = x[index, :width]
            masks[m] = torch.arange(width)[None, :] < lens[:, None]
        tokens = token_mask = None
        if self.tokens is not None:
            lens = self.token_lengths[index]
            tokens = self.tokens[index, : int(lens.max())]
            token_mask = torch.arange(tokens.shape[1])[None, :] < lens[:, None]
        unimodal = {m: y[index] for m, y in self.unimodal.items()} or None
        return Batch(feats, masks, self.labels[index], index, tokens, token_mask, unimodal)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Iterator[Batch]:
        """Batches of `batch_size` rows; with `shard = (rank, ranks)` this rank's slice of
        each such batch (data-parallel training: every rank draws the same order). A final
        batch too small to give every rank two rows is left out then, on every rank alike."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            if shard is not None:
                rank, ranks = shard
                if len(index) < 2 * ranks:
                    continue
                index = index.tensor_split(ranks)[rank]
            yield self.batch(index)
