"""Rows of a feature table, read only when a caller asks for them.

`mmcl data assemble` joins feature tables (tens of thousands of utterances x 50 steps x 384)
with a labels file. Copying each split's rows out of the table would hold the table in memory
and store it twice on disk; a `TableRows` instead keeps the table's file and the row numbers
of one split, and the native format stores only those row numbers (`rows.<m>.npy`) with a
reference to the table. Indexing reads just the rows asked for; `np.asarray` reads them all
(what training does once, when it moves a split to tensors).

Rows are read with `pread` into the result rather than through a memory map: pages of a
mapped file count as the process's resident memory once touched, so scanning a 1.5 GB table
through a map (to check it for NaN, or to copy it) would show a 1.5 GB resident process even
though nothing needs to stay in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BLOCK_BYTES = 32 * 2**20  # what one block of a view holds when it is read, checked or copied


def rows_per_block(x: object) -> int:
    """How many samples of array-like `x` make a block of about BLOCK_BYTES."""
    row_bytes = int(np.prod(x.shape[1:], dtype=np.int64)) * np.dtype(x.dtype).itemsize
    return max(1, BLOCK_BYTES // max(row_bytes, 1))


class TableRows:
    """Rows `rows` of the C-ordered .npy table `path` (features.npy of a table folder), as a
    read-only array-like of len(rows) samples."""

    def __init__(self, path: Path, rows: np.ndarray) -> None:
        self.path = Path(path)
        header = np.load(self.path, mmap_mode="r", allow_pickle=False)  # reads the header only
        if not header.flags.c_contiguous or header.ndim < 1:
            raise ValueError(f"{self.path}: expected a C-ordered array of rows")
        self.row_shape, self._dtype = tuple(header.shape[1:]), header.dtype
        self._offset, self._n_table = int(header.offset), int(header.shape[0])
        del header
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= self._n_table)):
            raise ValueError(f"row numbers out of range for a table of {self._n_table} rows")
        self.rows = rows

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.row_shape)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: object) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        picked = self.rows[first]
        if np.ndim(picked) == 0:
            return self._read(np.array([picked]))[0][rest]
        out = self._read(np.asarray(picked))
        return out[(slice(None), *rest)] if rest else out

    def _read(self, picked: np.ndarray) -> np.ndarray:
        """Table rows `picked` (any order, repeats allowed), one read per run of rows that
        are consecutive in the file."""
        order = np.argsort(picked, kind="stable")
        ordered = picked[order]
        got = np.empty((len(picked), *self.row_shape), dtype=self._dtype)
        row_bytes = got[:1].nbytes
        # a new run starts where the next row is not the one after the previous
        starts = np.flatnonzero(np.diff(ordered, prepend=-2) != 1)
        with open(self.path, "rb") as f:
            for a, b in zip(starts, [*starts[1:], len(ordered)], strict=True):
                buf = memoryview(got[a:b]).cast("B")
                at = self._offset + int(ordered[a]) * row_bytes
                if os.preadv(f.fileno(), [buf], at) != buf.nbytes:
                    raise OSError(f"{self.path}: the file ends early (a truncated table?)")
        out = np.empty_like(got)
        out[order] = got
        return out

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        out = np.empty(self.shape, dtype=dtype or self.dtype)
        step = rows_per_block(self)
        for i in range(0, len(self), step):
            out[i : i + step] = self[i : i + step]
        return out


def copy_rows(x: object, path: Path) -> None:
    """Write `x` (an array, a memory map or a `TableRows`) as a float32 .npy file `path`, block
    by block with plain writes, so that writing never holds the whole array in memory."""
    shape = tuple(x.shape)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": shape,
    }
    with open(path, "wb") as f:
        np.lib.format.write_array_header_2_0(f, header)
        step = rows_per_block(x)
        for i in range(0, shape[0], step):
            np.ascontiguousarray(x[i : i + step], dtype=np.float32).tofile(f)
