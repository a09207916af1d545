"""A restricted unpickler: plain containers and numpy arrays, nothing else.

A pickle is a program; loading one from the internet with `pickle.load` runs whatever it
names. This unpickler resolves only the globals numpy needs to rebuild arrays, dtypes and
scalars (and `_codecs.encode`, which Python 2 era pickles use for byte strings). Anything
else is refused before it is imported or called.
"""

from __future__ import annotations

import io
import math
import pickle
from pathlib import Path

import numpy as np

from mmcl.data.dataset import DataError

_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_NUMERIC = ("numpy.core.numeric", "numpy._core.numeric")

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [(mod, "_reconstruct") for mod in _NUMPY_CORE]
    + [(mod, "scalar") for mod in _NUMPY_CORE]
    + [(mod, "_frombuffer") for mod in _NUMPY_NUMERIC]
    + [
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.dtypes", "Float32DType"),
        ("numpy.dtypes", "Float64DType"),
        ("numpy.dtypes", "Int64DType"),
        ("numpy.dtypes", "StrDType"),
        ("numpy.dtypes", "ObjectDType"),
        ("_codecs", "encode"),
        ("collections", "OrderedDict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
    ]
)


class UnsafePickleError(DataError):
    """The pickle references a global outside the allow-list; nothing in it was run."""


def _dtype_state_ok(dtype: np.dtype, state: object) -> bool:
    """Whether a pickled dtype state is the plain state of `dtype` itself. A crafted state
    (other flags, sizes or fields) would reach numpy's C internals unchecked and can
    corrupt memory, so only the state numpy itself writes for that dtype is accepted."""
    own = dtype.__reduce__()[2]
    if not isinstance(state, tuple) or len(state) != len(own):
        return False
    version, order, *rest = state
    return (
        version in (3, 4)
        and order in ("<", ">", "|", "=")
        and rest[:3] == [None, None, None]  # no subarray, names or fields
        and rest[3:] == list(own[5:])  # element size, alignment and flags as numpy's own
    )


def _array_state_ok(state: object) -> bool:
    """Whether a pickled ndarray state is self-consistent: a shape of non-negative ints, a
    dtype, and exactly the data that shape needs (a list of that many plain values for
    object arrays, bytes of the right size otherwise). numpy trusts these and can crash on
    a mismatch, e.g. an object array's shape longer than its list."""
    if not isinstance(state, tuple) or len(state) != 5:
        return False
    _, shape, dtype, _, data = state
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        return False
    if not isinstance(dtype, np.dtype):
        return False
    count = math.prod(shape)
    if dtype.hasobject:
        plain = (str, bytes, int, float, bool, type(None))
        return (
            isinstance(data, list)
            and len(data) == count
            and all(isinstance(v, plain) for v in data)
        )
    return isinstance(data, bytes | bytearray) and len(data) == count * dtype.itemsize


class RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its dispatch table can be extended) with an allow-list
    of globals and a check of every dtype state before numpy applies it."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")  # latin1: Python 2 numpy pickles
        self._source = source

    def load_build(self) -> None:
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype) and not _dtype_state_ok(inst, state):
            raise UnsafePickleError(
                f"{self._source}: refused to load this pickle: a dtype ({inst}) carries a state "
                f"numpy would not write ({str(state)[:100]}). Nothing in it was used."
            )
        if isinstance(inst, np.ndarray) and not _array_state_ok(state):
            raise DataError(
                f"{self._source}: a damaged array in this pickle (its shape, dtype and data "
                "do not agree); nothing was built from it."
            )
        super().load_build()

    dispatch = {**pickle._Unpickler.dispatch, pickle.BUILD[0]: load_build}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self._source}: refused to load this pickle: it references '{module}.{name}', "
            "which is not a plain container or numpy array. Nothing in it was run. If you trust "
            "the file, convert it in a separate Python session you control to npz, then use "
            "`mmcl data convert`."
        )


def safe_load(path: str | Path) -> object:
    """Load a pickle file through the restricted unpickler."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f, str(path)).load()
        except UnsafePickleError:
            raise
        except Exception as e:
            # only the file's bytes drive this code (and only allow-listed numpy functions
            # run): whatever fails here, a damaged or foreign pickle is the cause
            raise DataError(f"{path}: not a readable pickle ({type(e).__name__}: {e}).") from e
