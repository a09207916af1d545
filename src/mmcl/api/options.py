"""What every API function shares: overrides in Python form, and progress on request."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmcl.config import toml_value
from mmcl.errors import UserError
from mmcl.progress import silenced

# {"train.lr": 1e-3}, or the command line's "train.lr=1e-3" strings
Overrides = Mapping[str, Any] | Sequence[str] | None


def _quiet(_: str) -> None:
    return None


@contextmanager
def reporting(progress: bool) -> Iterator[Callable[[str], None]]:
    """The `say` callback for `progress` (print, or nothing), with progress bars to match."""
    with silenced(not progress):
        yield print if progress else _quiet


def settings(overrides: Overrides) -> list[str]:
    """{"train.lr": 1e-3, "modalities": ["text"]} -> ["train.lr=0.001", 'modalities=["text"]'];
    "key=value" strings (the CLI's --set) are taken as they are."""
    if overrides is None or isinstance(overrides, Mapping):
        return [f"{key}={toml_value(value)}" for key, value in (overrides or {}).items()]
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise UserError("overrides: give a mapping {key: value}, or a list of 'key=value'.")
    return list(overrides)


def data_spec(data: str | Path | None) -> str | None:
    return None if data is None else str(data)


def joined(items: str | Sequence[str] | None) -> str | None:
    return items if items is None or isinstance(items, str) else ",".join(items)
