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
import struct
from pathlib import Path

import numpy as np

from mmcl.data.dataset import DataError
from mmcl.errors import UserError
from mmcl.limits import Budget

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


_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's own, wherever this numpy keeps it


class _Bounded:
    """A file whose `read(n)` refuses an `n` larger than the whole file: a length field in a
    pickle may declare terabytes, and a buffered read allocates what it is asked for."""

    def __init__(self, file: io.BufferedIOBase, size: int, source: str) -> None:
        self.file, self.size, self.source = file, size, source

    def read(self, n: int = -1) -> bytes:
        self.check(n)
        return self.file.read(n)

    def readinto(self, buf: bytearray) -> int:
        return self.file.readinto(buf)

    def readline(self) -> bytes:
        return self.file.readline(self.size + 1)

    def check(self, n: int) -> None:
        if n > self.size:
            raise DataError(
                f"{self.source}: declares a value of {n} bytes in a file of {self.size}; "
                "the file is damaged or crafted."
            )


def _count(shape: object) -> int:
    """The element count of a shape given to numpy (an int or a tuple of ints)."""
    dims = shape if isinstance(shape, tuple | list) else (shape,)
    if not all(type(n) is int and n >= 0 for n in dims):
        raise DataError(f"an array shape {str(shape)[:80]} is not a tuple of counts.")
    return math.prod(dims)


def _itemsize(dtype: object) -> int:
    try:
        return max(1, np.dtype(dtype).itemsize)
    except (TypeError, ValueError):
        return 8


def expanded_bytes(obj: object) -> int:
    """Bytes the arrays, strings and containers in `obj` amount to when every reference is
    counted each time it is used (what stacking or copying them would allocate): a list of
    one array a thousand times counts the array a thousand times. Each object is sized once
    (by identity), so nested sharing costs no more than the objects themselves to measure."""
    sizes: dict[int, int] = {}
    keep = []  # ids are only unique among live objects

    def size(o: object) -> int:
        key = id(o)
        if key in sizes:
            return sizes[key]
        if isinstance(o, np.ndarray):
            n = o.nbytes
        elif isinstance(o, str | bytes | bytearray):
            n = len(o)
        elif isinstance(o, dict):
            sizes[key] = 0  # a cycle counts nothing more
            n = sum(size(k) + size(v) for k, v in o.items())
        elif isinstance(o, list | tuple | set | frozenset):
            sizes[key] = 0
            n = 8 * len(o) + sum(size(v) for v in o)
        else:
            n = 8
        sizes[key] = n
        keep.append(o)
        return n

    return size(obj)


class RestrictedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its dispatch table can be extended) with an allow-list
    of globals, a check of every dtype state before numpy applies it, and the size of every
    allocation it asks numpy or Python for charged to a memory budget first."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        # a pipe or device has no size to bound a length field by
        size = Path(source).stat().st_size if Path(source).is_file() else 1 << 62
        self._bounded = _Bounded(file, size, source)
        super().__init__(self._bounded, encoding="latin1")  # latin1: Python 2 numpy pickles
        self._source = source
        self._budget = Budget(source)

    def _charge_call(self, func: object, args: object) -> None:
        """Charge what calling an allowed global with `args` allocates (numpy's array
        constructors make arrays of the shape they are given; bytearray(n) n bytes)."""
        if not isinstance(args, tuple):
            return
        if func is np.ndarray and args:  # ndarray(shape[, dtype, ...])
            shape, dtype = args[0], (args[1] if len(args) > 1 else float)
        elif func is _RECONSTRUCT and len(args) >= 3:  # _reconstruct(subtype, shape, dtype)
            shape, dtype = args[1], args[2]
        else:
            shape = None
        if shape is not None:
            self._budget.charge(_count(shape) * _itemsize(dtype), f"an array of shape {shape}")
        if func is bytearray and args and type(args[0]) is int:
            self._budget.charge(args[0], "a byte array")

    def load_reduce(self) -> None:
        self._charge_call(self.stack[-2], self.stack[-1])
        super().load_reduce()

    def load_newobj(self) -> None:
        self._charge_call(self.stack[-2], self.stack[-1])
        super().load_newobj()

    def load_newobj_ex(self) -> None:
        self._charge_call(self.stack[-3], self.stack[-2])
        super().load_newobj_ex()

    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self._bounded.check(n)
        b = bytearray(n)
        self.readinto(b)
        self.append(b)

    def load_build(self) -> None:
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype) and not _dtype_state_ok(inst, state):
            raise UnsafePickleError(
                f"{self._source}: refused to load this pickle: a dtype ({inst}) carries a state "
                f"numpy would not write ({str(state)[:100]}). Nothing in it was used."
            )
        if isinstance(inst, np.ndarray):
            if not _array_state_ok(state):
                raise DataError(
                    f"{self._source}: a damaged array in this pickle (its shape, dtype and data "
                    "do not agree); nothing was built from it."
                )
            count = math.prod(state[1]) * state[2].itemsize
            self._budget.charge(count, f"an array of shape {state[1]}")
        super().load_build()

    dispatch = {
        **pickle._Unpickler.dispatch,
        pickle.BUILD[0]: load_build,
        pickle.REDUCE[0]: load_reduce,
        pickle.NEWOBJ[0]: load_newobj,
        pickle.NEWOBJ_EX[0]: load_newobj_ex,
        pickle.BYTEARRAY8[0]: load_bytearray8,
    }

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
    """Load a pickle file through the restricted unpickler; what it holds, with every shared
    reference counted at each use, must fit the file's memory budget too."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            obj = RestrictedUnpickler(f, str(path)).load()
        except UserError:
            raise
        except Exception as e:
            # only the file's bytes drive this code (and only allow-listed numpy functions
            # run): whatever fails here, a damaged or foreign pickle is the cause
            raise DataError(f"{path}: not a readable pickle ({type(e).__name__}: {e}).") from e
    Budget(path).charge(expanded_bytes(obj), "what the pickle holds, each shared array counted")
    return obj
