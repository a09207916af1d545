"""A restricted unpickler: plain containers and numpy arrays, nothing else.

A pickle is a program; loading one from the internet with `pickle.load` runs whatever it
names. This unpickler resolves only the globals numpy needs to rebuild arrays, dtypes and
scalars (and `_codecs.encode`, which Python 2 era pickles use for byte strings). Anything
else is refused before it is imported or called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

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


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")  # latin1: Python 2 numpy pickles
        self._source = source

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
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
            raise DataError(f"{path}: not a readable pickle ({e}).") from e
