"""Hostile and careless inputs against every reader and command that takes a path.

    .venv/bin/python scripts/hostile_inputs.py [--only GROUP,...] [--work DIR] [--markdown F]

Builds small valid inputs once (datasets in every format, feature tables, WAVs, a trained
run), then runs `mmcl` in a fresh process per case on a broken or hostile variant, and
records its exit code, whether a traceback was printed, its peak resident memory (wait4),
what changed on disk outside the case's output path, and whether the bytes of a secret file
that lies outside every input reached any output. A case is acceptable when:

- it exits 0 as expected (or 2 for an input the toolkit must refuse), with no traceback;
- on exit 2, stderr ends in one `error:` line naming the file or option (`names`);
- nothing outside its output path was written, moved or removed, and the secret never
  shows up in an output, stdout or stderr;
- its peak resident memory stays under 2 GB, and it ends within the time limit.

Prints one line per unacceptable case, then a table per reader/command (cases, acceptable,
largest peak RSS); `--markdown FILE` writes that table for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf

from mmcl.data.csd import mosi_folds
from mmcl.data.native import write_native
from mmcl.data.pickles import write_mmsa, write_mult
from mmcl.data.synthetic import SynthConfig, make_synthetic

RSS_LIMIT_KB = 2 * 1024 * 1024  # 2 GB
TIMEOUT = 300.0
SECRET = b"MMCL-CANARY-7f3a9c-do-not-read"


@dataclass
class Case:
    group: str  # the reader or command, a row of the table
    name: str
    argv: list[str]  # mmcl's arguments; {in}, {out}, {fx} are replaced by paths
    setup: Callable[[Path, Path], None] | None = None  # setup(in_folder, fixtures)
    expect: str = "error"  # error: exit 2 | ok: exit 0 | any: either, both acceptable
    names: str = ""  # what the error line must mention (a file name or an option)
    stdout_has: str = ""  # printed as written (no markup applied)
    out: str = "out"  # the output path inside the case's input folder: all it may change


# ---------------------------------------------------------------- fixtures (built once)


def _write_csd(path: Path, root: str, seqs: dict) -> None:
    with h5py.File(path, "w") as f:
        data = f.create_group(root).create_group("data")
        for vid, (feats, iv) in seqs.items():
            v = data.create_group(vid)
            v.create_dataset("features", data=feats)
            v.create_dataset("intervals", data=iv)


def make_csd(folder: Path) -> None:
    rng = np.random.default_rng(0)
    folds = mosi_folds()
    labels, audio = {}, {}
    for s, k in (("train", 6), ("valid", 3), ("test", 3)):
        for vid in folds[s][:k]:
            iv = np.stack([np.arange(4) * 2.0, np.arange(4) * 2.0 + 2.0], 1)
            labels[vid] = (rng.uniform(-3, 3, (4, 1)).astype(np.float32), iv)
            t = np.arange(0, 8.0, 0.25)
            audio[vid] = (
                rng.normal(size=(len(t), 5)).astype(np.float32),
                np.stack([t, t + 0.25], 1),
            )
    folder.mkdir(parents=True)
    _write_csd(folder / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    _write_csd(folder / "CMU_MOSI_COVAREP.csd", "COVAREP", audio)


def make_mfn(folder: Path, ds) -> None:
    folder.mkdir(parents=True)
    for s, sp in ds.splits.items():
        with h5py.File(folder / f"y_{s}.h5", "w") as f:
            f.create_dataset("d1", data=np.asarray(sp.labels, dtype=np.float64).reshape(-1, 1))
        for stem, m in (("audio", "audio"), ("video", "vision"), ("text_emb", "text")):
            with h5py.File(folder / f"{stem}_{s}.h5", "w") as f:
                f.create_dataset("d1", data=np.asarray(sp.features[m], dtype=np.float64))


def make_wavs(folder: Path, n: int = 12) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        y = 0.1 * np.sin(np.arange(16000) * (0.01 + 0.002 * i)) + 0.01 * rng.normal(size=16000)
        sf.write(folder / f"u{i:02d}.wav", y.astype(np.float32), 16000, subtype="PCM_16")


def mmcl(*args: str, cwd: Path | None = None) -> None:
    subprocess.run([sys.executable, "-m", "mmcl", *args], check=True, cwd=cwd, env=ENV)


def build_fixtures(fx: Path) -> None:
    small = SynthConfig(n_train=40, n_valid=12, n_test=12, seq_len=4)
    small.dims = {"text": 8, "audio": 4, "vision": 4}
    ds = make_synthetic(small)
    write_native(ds, fx / "native")
    write_mmsa(ds, fx / "mmsa.pkl")
    write_mult(ds, fx / "mult.pkl")
    make_csd(fx / "csd")
    make_mfn(fx / "mfn", ds)
    make_wavs(fx / "wavs")
    ids = [f"u{i:02d}" for i in range(12)]
    words = ["good", "bad", "fine", "awful", "great", "poor"]
    with open(fx / "texts.csv", "w", encoding="utf-8") as f:
        f.write("id,text,label,split\n")
        for i, u in enumerate(ids):
            split = ("train", "train", "train", "train", "valid", "test")[i % 6]
            f.write(f"{u},this is {words[i % 6]},{(i % 7) - 3},{split}\n")
    mmcl("extract", "text", "--in", str(fx / "texts.csv"), "--out", str(fx / "text_table"))
    mmcl("extract", "audio", "--wav-dir", str(fx / "wavs"), "--out", str(fx / "audio_table"))
    mmcl(
        "data",
        "assemble",
        "--labels",
        str(fx / "texts.csv"),
        "--features",
        f"text={fx / 'text_table'}",
        "--features",
        f"audio={fx / 'audio_table'}",
        "--out",
        str(fx / "assembled"),
    )
    mmcl(
        "train",
        "--data",
        str(fx / "native"),
        "--model",
        "late_fusion",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--out",
        str(fx / "run"),
        "--set",
        "train.diagnostics=false",
    )
    mmcl(
        "train",
        "--data",
        str(fx / "assembled"),
        "--model",
        "late_fusion",
        "--epochs",
        "1",
        "--out",
        str(fx / "raw_run"),
        "--set",
        "train.diagnostics=false",
        "--set",
        "train.batch_size=4",
    )
    (fx / "outside").mkdir()
    (fx / "outside" / "secret.txt").write_bytes(SECRET * 4096)


# ---------------------------------------------------------------- helpers for setups


def copy(name: str, to: str | None = None) -> Callable[[Path, Path], Path]:
    def setup(d: Path, fx: Path) -> Path:
        src, dst = fx / name, d / (to or Path(name).name)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy(src, dst)
        return dst

    return setup


def then(*steps: Callable) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        for step in steps:
            step(d, fx)

    return setup


def write(rel: str, data: bytes | str) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def edit(rel: str, fn: Callable[[bytes], bytes]) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        p = d / rel
        p.write_bytes(fn(p.read_bytes()))

    return setup


def edit_json(rel: str, fn: Callable[[dict], object]) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        p = d / rel
        p.write_text(json.dumps(fn(json.loads(p.read_text()))))

    return setup


def flip(seed: int) -> Callable[[bytes], bytes]:
    def fn(raw: bytes) -> bytes:
        rng = np.random.default_rng(seed)
        b = bytearray(raw)
        for i in rng.integers(0, len(b), size=int(rng.integers(1, 9))):
            b[int(i)] = int(rng.integers(0, 256))
        return bytes(b)

    return fn


def truncate(frac: float) -> Callable[[bytes], bytes]:
    return lambda raw: raw[: int(len(raw) * frac)]


def h5(rel: str, fn: Callable[[h5py.File, Path], None]) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        with h5py.File(d / rel, "a") as f:
            fn(f, fx)

    return setup


def first_video(f: h5py.File) -> tuple[h5py.Group, str]:
    """Where an attack goes: a .csd's first video's 'features', or an MFN file's 'd1'."""
    if "d1" in f:
        return f, "d1"
    root = f[next(iter(f.keys()))]
    return next(iter(root["data"].values())), "features"


def attack(fn: Callable[[h5py.Group, str, int, Path], None]) -> Callable[[h5py.File, Path], None]:
    """`fn(group, key, rows, fixtures)` replaces group[key] (which held `rows` rows)."""

    def apply(f: h5py.File, fx: Path) -> None:
        group, key = first_video(f)
        rows = group[key].shape[0]
        del group[key]
        fn(group, key, rows, fx)

    return apply


@attack
def _external_storage(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    secret = str(fx / "outside" / "secret.txt")
    g.create_dataset(key, shape=(n, 5), dtype="f4", external=[(secret, 0, n * 20)])


@attack
def _external_link(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    g[key] = h5py.ExternalLink(str(fx / "outside" / "other.h5"), "/d")


@attack
def _soft_link(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    g[key] = h5py.SoftLink("/elsewhere")


@attack
def _virtual(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    layout = h5py.VirtualLayout(shape=(n, 5), dtype="f4")
    layout[:] = h5py.VirtualSource(str(fx / "outside" / "other.h5"), "d", shape=(n, 5))
    g.create_virtual_dataset(key, layout, fillvalue=0)


@attack
def _string_dtype(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    g.create_dataset(key, data=np.array([["x"] * 5] * n, dtype="S4"))


@attack
def _compound_dtype(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    g.create_dataset(key, shape=(n, 5), dtype=np.dtype([("a", "f4"), ("b", "i4")]))


@attack
def _bomb(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    big = (40_000, 5_000)  # 800 MB of zeros: kilobytes when compressed
    g.create_dataset(key, shape=big, dtype="f4", chunks=(1000, 1000), compression="gzip")


@attack
def _declared_huge(g: h5py.Group, key: str, n: int, fx: Path) -> None:
    g.create_dataset(key, shape=(10**9, 10**4), dtype="f4", chunks=(1, 16))


def pickle_bytes(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def shared_reference_bomb(d: Path, fx: Path) -> None:
    a = np.zeros((1000, 1000), np.float32)  # one 4 MB array referred to 200 times
    splits = {s: {"raw_text": [], "vision": [a] * 200} for s in ("train", "valid", "test")}
    (d / "bomb.pkl").write_bytes(pickle.dumps(splits, protocol=4))


def sparse_npy(rel: str, shape: tuple, dtype: str = "<f4") -> Callable[[Path, Path], None]:
    """A .npy whose header declares `shape` over a sparse (hole-filled) file."""

    def setup(d: Path, fx: Path) -> None:
        p = d / rel
        header = {"descr": dtype, "fortran_order": False, "shape": shape}
        with open(p, "wb") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.truncate(f.tell() + int(np.prod(shape)) * np.dtype(dtype).itemsize)

    return setup


def npy_array(rel: str, arr: np.ndarray) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        np.save(d / rel, arr, allow_pickle=arr.dtype.hasobject)

    return setup


def wav(rel: str, y: np.ndarray, sr: int, subtype: str = "PCM_16") -> Callable:
    def setup(d: Path, fx: Path) -> None:
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, y, sr, subtype=subtype)

    return setup


def symlink(rel: str, target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        link = d / rel
        where = target(d, fx)
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        link.symlink_to(where)

    return setup


def read_only(rel: str) -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        (d / rel).mkdir(parents=True, exist_ok=True)
        (d / rel).chmod(0o555)

    return setup


# root writes into read-only folders: there the same case must succeed
READ_ONLY = "ok" if os.geteuid() == 0 else "error"


def nest(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + "1" + closer * depth


# ---------------------------------------------------------------- the cases


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.append
    inspect = ["data", "inspect"]
    convert = ["data", "convert"]

    # pickles: MMSA and MulT
    for kind in ("mmsa", "mult"):
        pkl = copy(f"{kind}.pkl", "d.pkl")
        g = f"pickle ({kind})"
        add(Case(g, "valid", [*inspect, "{in}/d.pkl"], pkl, "ok"))
        add(Case(g, "valid convert", [*convert, "{in}/d.pkl", "{out}"], pkl, "ok"))
        for frac in (0.0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            setup = then(pkl, edit("d.pkl", truncate(frac)))
            add(Case(g, f"truncated {frac}", [*inspect, "{in}/d.pkl"], setup, names="d.pkl"))
        for seed in range(12):
            setup = then(pkl, edit("d.pkl", flip(seed)))
            add(
                Case(
                    g,
                    f"bit flips {seed}",
                    [*convert, "{in}/d.pkl", "{out}"],
                    setup,
                    "any",
                    names="d.pkl",
                )
            )
    g = "pickle (hostile)"
    hostile = {
        "os.system": b"cos\nsystem\n(S'touch pwned'\ntR",
        "subprocess": b"csubprocess\nPopen\n((S'touch'\nS'pwned'\nltR",
        "eval": b"cbuiltins\neval\n(S'1+1'\ntR",
        "reconstruct 1e9 objects": b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"J\x00\xca\x9a;\x85U\x01O\x87R",
        "ndarray 1e10 floats": b"cnumpy\nndarray\n\x8a\x05\x00\xe4\x0bT\x02\x85R",
        "bytearray 8 GB": b"cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\x00\x02\x85R",
    }
    for name, body in hostile.items():
        add(
            Case(
                g, name, [*inspect, "{in}/h.pkl"], write("h.pkl", pickle_bytes(body)), names="h.pkl"
            )
        )
    add(
        Case(
            g,
            "BINBYTES8 64 GB",
            [*inspect, "{in}/h.pkl"],
            write("h.pkl", b"\x80\x04\x8e\x00\x00\x00\x00\x10\x00\x00\x00."),
            names="h.pkl",
        )
    )
    add(
        Case(
            g,
            "BYTEARRAY8 64 GB",
            [*inspect, "{in}/h.pkl"],
            write("h.pkl", b"\x80\x05\x96\x00\x00\x00\x00\x10\x00\x00\x00."),
            names="h.pkl",
        )
    )
    add(
        Case(
            g,
            "FRAME 64 GB",
            [*inspect, "{in}/h.pkl"],
            write("h.pkl", b"\x80\x04\x95\x00\x00\x00\x00\x10\x00\x00\x00N."),
            names="h.pkl",
        )
    )
    add(
        Case(
            g,
            "shared references (220 KB -> 2.4 GB)",
            [*inspect, "{in}/bomb.pkl"],
            shared_reference_bomb,
            names="bomb.pkl",
        )
    )
    add(Case(g, "empty file", [*inspect, "{in}/h.pkl"], write("h.pkl", b""), names="h.pkl"))
    add(Case(g, "text file", [*inspect, "{in}/h.pkl"], write("h.pkl", "hello\n"), names="h.pkl"))
    add(
        Case(
            g,
            "a folder named d.pkl",
            [*inspect, "{in}/d.pkl"],
            write("d.pkl/x", "1"),
            names="d.pkl",
        )
    )
    add(Case(g, "missing file", [*inspect, "{in}/nothing.pkl"], None, names="nothing.pkl"))
    add(
        Case(
            g,
            "a list, not splits",
            [*inspect, "{in}/h.pkl"],
            write("h.pkl", pickle.dumps([1, 2, 3])),
            names="h.pkl",
        )
    )
    add(
        Case(
            g,
            "deep nesting",
            [*inspect, "{in}/h.pkl"],
            write("h.pkl", b"\x80\x02" + b"]" * 100000 + b"."),
            names="h.pkl",
        )
    )

    # CMU .csd folders (HDF5)
    g = "csd (HDF5)"
    csd = copy("csd", "csd")
    cov = "csd/CMU_MOSI_COVAREP.csd"
    add(Case(g, "valid", [*convert, "{in}/csd", "{out}"], csd, "ok"))
    attacks = {
        "external raw storage (a file outside)": _external_storage,
        "external link": _external_link,
        "soft link": _soft_link,
        "virtual dataset": _virtual,
        "string dtype": _string_dtype,
        "compound dtype": _compound_dtype,
        "gzip bomb (800 MB of zeros)": _bomb,
        "declares 40 TB": _declared_huge,
    }
    for name, attack in attacks.items():
        add(
            Case(
                g,
                name,
                [*convert, "{in}/csd", "{out}"],
                then(csd, h5(cov, attack)),
                names="COVAREP",
            )
        )
    for frac in (0.0, 0.05, 0.3, 0.6, 0.95):
        add(
            Case(
                g,
                f"truncated {frac}",
                [*convert, "{in}/csd", "{out}"],
                then(csd, edit(cov, truncate(frac))),
                names="COVAREP",
            )
        )
    for seed in range(10):
        add(
            Case(
                g,
                f"bit flips {seed}",
                [*convert, "{in}/csd", "{out}"],
                then(csd, edit(cov, flip(seed))),
                "any",
                names="csd",
            )
        )
    bad_folds = {
        "not JSON": "{",
        "a list": "[1, 2]",
        "no test": '{"train": [], "valid": []}',
        "ids not strings": '{"train": [1], "valid": [2], "test": [3]}',
        "a string per split": '{"train": "a", "valid": "b", "test": "c"}',
        "nested 100000 deep": "[" * 100000 + "]" * 100000,
        "not UTF-8": b"\xff\xfe\x00{",
    }
    for name, text in bad_folds.items():
        add(
            Case(
                g,
                f"folds.json {name}",
                [*convert, "{in}/csd", "{out}"],
                then(csd, write("csd/folds.json", text)),
                names="folds.json",
            )
        )
    add(
        Case(
            g,
            "no label sequence",
            [*convert, "{in}/csd", "{out}"],
            then(csd, lambda d, fx: (d / "csd/CMU_MOSI_Opinion_Labels.csd").unlink()),
            names="label",
        )
    )
    add(
        Case(
            g,
            "a .csd that is a folder",
            [*convert, "{in}/csd", "{out}"],
            then(csd, write("csd/x.csd/y", "1")),
            names="x.csd",
        )
    )

    # MFN folders (HDF5)
    g = "MFN (HDF5)"
    mfn = copy("mfn", "mfn")
    a_file = "mfn/audio_train.h5"
    add(Case(g, "valid", [*convert, "{in}/mfn", "{out}"], mfn, "ok"))
    for name in (
        "external raw storage (a file outside)",
        "external link",
        "soft link",
        "virtual dataset",
        "string dtype",
        "gzip bomb (800 MB of zeros)",
        "declares 40 TB",
    ):
        add(
            Case(
                g,
                name,
                [*convert, "{in}/mfn", "{out}"],
                then(mfn, h5(a_file, attacks[name])),
                names="audio_train",
            )
        )
    for frac in (0.0, 0.3, 0.9):
        add(
            Case(
                g,
                f"truncated {frac}",
                [*convert, "{in}/mfn", "{out}"],
                then(mfn, edit(a_file, truncate(frac))),
                names="audio_train",
            )
        )
    for seed in range(5):
        add(
            Case(
                g,
                f"bit flips {seed}",
                [*convert, "{in}/mfn", "{out}"],
                then(mfn, edit(a_file, flip(seed))),
                "any",
                names="mfn",
            )
        )
    add(
        Case(
            g,
            "labels are text",
            [*convert, "{in}/mfn", "{out}"],
            then(mfn, lambda d, fx: _h5_replace(d / "mfn/y_train.h5", np.array([b"x"] * 40))),
            names="y_train",
        )
    )

    # native folders
    g = "native folder"
    nat = copy("native", "nat")
    add(Case(g, "valid", [*inspect, "{in}/nat"], nat, "ok"))
    manifests = {
        "not JSON": "{",
        "a list": "[]",
        "no task": '{"format": "mmcl-native", "version": 1, "modalities": {}}',
        "nested 100000 deep": "[" * 100000 + "]" * 100000,
        "not UTF-8": b"\xff\xfe{}",
        "empty": "",
    }
    for name, text in manifests.items():
        add(
            Case(
                g,
                f"manifest {name}",
                [*inspect, "{in}/nat"],
                then(nat, write("nat/manifest.json", text)),
                names="manifest.json",
            )
        )
    for key, value in (
        ("modalities", 5),
        ("modalities", "text"),
        ("task", 3),
        ("task", {"kind": "magic"}),
        ("tables", [1]),
    ):
        add(
            Case(
                g,
                f"manifest {key} = {value!r}",
                [*inspect, "{in}/nat"],
                then(nat, edit_json("nat/manifest.json", lambda m, k=key, v=value: {**m, k: v})),
                names="nat",
            )
        )
    add(
        Case(
            g,
            "a table at an absolute path",
            [*inspect, "{in}/nat"],
            then(
                copy("assembled", "nat"),
                edit_json(
                    "nat/manifest.json",
                    lambda m: {
                        **m,
                        "tables": {k: {**v, "path": "/etc"} for k, v in m["tables"].items()},
                    },
                ),
            ),
            names="absolute",
        )
    )
    add(
        Case(
            g,
            "a table without content hash",
            [*inspect, "{in}/nat"],
            then(
                copy("assembled", "nat"),
                copy("text_table", "text_table"),
                copy("audio_table", "audio_table"),
                edit_json(
                    "nat/manifest.json",
                    lambda m: {
                        **m,
                        "tables": {
                            k: {"path": v["path"], "content_hash": None}
                            for k, v in m["tables"].items()
                        },
                    },
                ),
            ),
            names="content_hash",
        )
    )
    for arr in ("features.text", "labels", "ids", "lengths.audio"):
        rel = f"nat/train/{arr}.npy"
        add(
            Case(
                g,
                f"{arr}.npy sparse, declares 20 GB",
                [*inspect, "{in}/nat"],
                then(
                    nat,
                    sparse_npy(rel, (5_000_000, 1000) if "features" in arr else (5_000_000_000,)),
                ),
                names="nat",
            )
        )
        add(
            Case(
                g,
                f"{arr}.npy truncated",
                [*inspect, "{in}/nat"],
                then(nat, edit(rel, truncate(0.5))),
                names=arr,
            )
        )
        add(
            Case(
                g,
                f"{arr}.npy object array",
                [*inspect, "{in}/nat"],
                then(nat, npy_array(rel, np.array([None] * 40, dtype=object))),
                names=arr,
            )
        )
        add(
            Case(
                g,
                f"{arr}.npy wrong shape",
                [*inspect, "{in}/nat"],
                then(nat, npy_array(rel, np.zeros((3, 2, 2, 2), np.float32))),
                names="nat",
            )
        )
    add(
        Case(
            g,
            "split folder missing",
            [*inspect, "{in}/nat"],
            then(nat, lambda d, fx: shutil.rmtree(d / "nat/valid")),
            names="valid",
        )
    )
    add(
        Case(
            g,
            "labels NaN",
            [*inspect, "{in}/nat"],
            then(nat, npy_array("nat/train/labels.npy", np.full(40, np.nan, np.float32))),
            "any",
            names="nat",
        )
    )

    # extract text: CSV input and the output folder
    g = "extract text"
    ext = ["extract", "text", "--in", "{in}/t.csv", "--out", "{out}"]
    good = "id,text\na,hello there\nb,how are you\n"
    add(Case(g, "valid", ext, write("t.csv", good), "ok"))
    add(Case(g, "byte-order mark", ext, write("t.csv", "\ufeff" + good), "ok"))
    add(
        Case(
            g,
            "formula ids and markup text are kept",
            ext,
            write("t.csv", "id,text\n=1+1,[bold]x[/bold] [/x]\n"),
            "ok",
        )
    )
    csvs = {
        "empty": "",
        "header only": "id,text\n",
        "short row": "id,text\na\n",
        "no text column": "id,words\na,b\n",
        "duplicate ids": "id,text\na,x\na,y\n",
        "not UTF-8": b"id,text\na,\xff\xfe\n",
        "NUL bytes": "id,text\na,x\x00y\n",
        "binary": bytes(range(256)) * 4,
    }
    for name, text in csvs.items():
        expect = "any" if name in ("header only", "NUL bytes") else "error"
        add(Case(g, f"CSV {name}", ext, write("t.csv", text), expect, names="t.csv"))
    add(Case(g, "--in is a folder", ext, write("t.csv/x", "1"), names="t.csv"))
    add(Case(g, "--in missing", ext, None, names="t.csv"))
    add(
        Case(
            g,
            "--out holds a user's files",
            ext,
            then(write("t.csv", good), write("out/thesis.txt", "mine")),
            names="--out",
        )
    )
    add(
        Case(
            g,
            "--out holds a user's files, --overwrite",
            [*ext, "--overwrite"],
            then(write("t.csv", good), write("out/thesis.txt", "mine")),
            "ok",
        )
    )
    add(
        Case(
            g,
            "--out is an existing file",
            ext,
            then(write("t.csv", good), write("out", "my file")),
            names="out",
        )
    )
    add(
        Case(
            g,
            "--out in a read-only folder",
            [*ext[:-1], "{out}/sub/t"],
            then(write("t.csv", good), read_only("out/sub")),
            READ_ONLY,
            names="sub",
        )
    )
    add(
        Case(
            g,
            "--out under a file",
            [*ext[:-1], "{out}/f/t"],
            then(write("t.csv", good), write("out/f", "x")),
            names="f",
        )
    )
    add(
        Case(
            g,
            "--out is '.', --overwrite",
            [*ext[:-1], ".", "--overwrite"],
            write("t.csv", good),
            names=".",
        )
    )
    add(
        Case(
            g,
            "a killed writer's temporary is removed",
            ext,
            then(write("t.csv", good), write(".out.mmcl-tmp-abc123/features.npy", "x" * 1000)),
            "ok",
        )
    )

    # extract audio: WAV files
    g = "extract audio"
    exa = ["extract", "audio", "--wav-dir", "{in}/w", "--out", "{out}"]
    tone = (0.1 * np.sin(np.arange(8000) * 0.05)).astype(np.float32)
    add(Case(g, "valid", exa, wav("w/a.wav", tone, 16000), "ok"))
    add(
        Case(
            g, "1 Hz, 20 hours", exa, wav("w/a.wav", np.zeros(72000, np.float32), 1), names="a.wav"
        )
    )
    add(
        Case(
            g, "8 Hz, 2.5 hours", exa, wav("w/a.wav", np.zeros(72000, np.float32), 8), names="a.wav"
        )
    )
    add(Case(g, "empty", exa, wav("w/a.wav", np.zeros(0, np.float32), 16000), names="a.wav"))
    add(
        Case(
            g,
            "NaN samples",
            exa,
            wav("w/a.wav", np.full(8000, np.nan, np.float32), 16000, "FLOAT"),
            names="a.wav",
        )
    )
    add(
        Case(
            g,
            "huge samples",
            exa,
            wav("w/a.wav", np.full(8000, 1e30, np.float32), 16000, "FLOAT"),
            names="a.wav",
        )
    )
    add(Case(g, "not audio", exa, write("w/a.wav", "hello"), names="a.wav"))
    add(
        Case(
            g,
            "truncated",
            exa,
            then(wav("w/a.wav", tone, 16000), edit("w/a.wav", truncate(0.02))),
            "any",
            names="a.wav",
        )
    )
    add(
        Case(
            g,
            "header declares 4 GB",
            exa,
            then(
                wav("w/a.wav", tone, 16000),
                edit("w/a.wav", lambda b: b[:40] + (2**32 - 1).to_bytes(4, "little") + b[44:]),
            ),
            "any",
            names="a.wav",
        )
    )
    add(
        Case(
            g,
            "a folder named x.wav",
            exa,
            then(wav("w/a.wav", tone, 16000), write("w/x.wav/y", "1")),
            "ok",
        )
    )
    add(Case(g, "only a folder named x.wav", exa, write("w/x.wav/y", "1"), names="w"))
    add(Case(g, "--wav-dir is a file", exa, write("w", "x"), names="w"))
    add(
        Case(
            g,
            "--out holds a user's files",
            exa,
            then(wav("w/a.wav", tone, 16000), write("out/notes.txt", "mine")),
            names="--out",
        )
    )
    add(
        Case(
            g,
            "--out is an existing file",
            exa,
            then(wav("w/a.wav", tone, 16000), write("out", "mine")),
            names="out",
        )
    )
    add(
        Case(
            g, "stereo 8-bit", exa, wav("w/a.wav", np.stack([tone, tone], 1), 8000, "PCM_U8"), "ok"
        )
    )

    # data assemble: labels CSV and feature tables
    g = "data assemble"
    asm = [
        "data",
        "assemble",
        "--labels",
        "{in}/l.csv",
        "--features",
        "text={in}/text_table",
        "--out",
        "{out}",
    ]
    tt = copy("text_table", "text_table")

    def labels_csv(text: str | bytes) -> Callable:
        return then(tt, write("l.csv", text))

    good_labels = "id,label,split\n" + "".join(
        f"u{i:02d},{(i % 7) - 3},{('train', 'train', 'train', 'valid', 'test')[i % 5]}\n"
        for i in range(12)
    )
    add(Case(g, "valid", asm, labels_csv(good_labels), "ok"))
    add(Case(g, "byte-order mark", asm, labels_csv("\ufeff" + good_labels), "ok"))
    bad_labels = {
        "label not a number": good_labels.replace("u00,-3", "u00,abc"),
        "label NaN": good_labels.replace("u00,-3", "u00,nan"),
        "label inf": good_labels.replace("u00,-3", "u00,inf"),
        "short row": good_labels + "u99\n",
        "unknown split": good_labels.replace("u00,-3,train", "u00,-3,holdout"),
        "no label column": good_labels.replace("id,label,split", "id,score,split"),
        "duplicate id": good_labels + "u00,1,train\n",
        "id not in the table": good_labels + "zz,1,train\n",
        "empty": "",
        "binary": bytes(range(256)),
    }
    for name, text in bad_labels.items():
        named = "zz" if name == "id not in the table" else "l.csv"
        add(Case(g, f"labels {name}", asm, labels_csv(text), names=named))
    add(
        Case(
            g,
            "--features without =",
            [*asm[:5], "text", *asm[6:]],
            labels_csv(good_labels),
            names="--features",
        )
    )
    add(
        Case(
            g,
            "--features a missing folder",
            [*asm[:5], "text={in}/none", *asm[6:]],
            labels_csv(good_labels),
            names="none",
        )
    )
    add(
        Case(
            g,
            "--features a folder that is no table",
            [*asm[:5], "text={in}/x", *asm[6:]],
            then(labels_csv(good_labels), write("x/a", "1")),
            names="x",
        )
    )
    add(
        Case(
            g,
            "table manifest not JSON",
            asm,
            then(labels_csv(good_labels), write("text_table/manifest.json", "{")),
            names="manifest.json",
        )
    )
    add(
        Case(
            g,
            "table manifest nested deep",
            asm,
            then(labels_csv(good_labels), write("text_table/manifest.json", "[" * 50000)),
            names="manifest.json",
        )
    )
    add(
        Case(
            g,
            "table ids truncated",
            asm,
            then(labels_csv(good_labels), edit("text_table/ids.npy", truncate(0.5))),
            names="ids.npy",
        )
    )
    add(
        Case(
            g,
            "--out holds a user's files",
            asm,
            then(labels_csv(good_labels), write("out/mine.txt", "x")),
            names="out",
        )
    )
    add(
        Case(
            g,
            "a killed writer's temporary is removed",
            [*asm, "--copy"],
            then(labels_csv(good_labels), write(".out.mmcl-tmp-zz/train/x.npy", "x" * 4096)),
            "ok",
        )
    )

    # data import (the shared sets' folder layouts)
    g = "data import"
    for name in ("mosi", "mmmo", "youtube", "iemocap", "cmdc"):
        add(
            Case(
                g,
                f"{name}: empty folder",
                ["data", "import", name, "{in}/src", "{out}"],
                write("src/.keep", ""),
                names="src",
            )
        )
        add(
            Case(
                g,
                f"{name}: SRC is a file",
                ["data", "import", name, "{in}/src", "{out}"],
                write("src", "x"),
                names="src",
            )
        )
    add(
        Case(
            g,
            "mosi: npz bomb",
            ["data", "import", "mosi", "{in}/src", "{out}"],
            _mosi_npz_bomb,
            names="audio_utterance73.npz",
        )
    )
    add(
        Case(
            g,
            "mmmo: npz bomb",
            ["data", "import", "mmmo", "{in}/src", "{out}"],
            _split_npz_bomb,
            names="train.npz",
        )
    )
    add(Case(g, "unknown set", ["data", "import", "imdb", "{in}", "{out}"], None, names="imdb"))

    # data synth
    g = "data synth"
    syn = ["data", "synth", "--out", "{out}"]
    add(Case(g, "valid", [*syn, "--n-train", "20"], None, "ok"))
    for opt, value in (
        ("--n-train", "100000000"),
        ("--seq-len", "100000"),
        ("--dims", "t=100000000"),
        ("--num-classes", "100000000"),
        ("--n-train", "-5"),
        ("--n-valid", "0"),
        ("--dims", "t=-1"),
        ("--dims", "t=x"),
        ("--noise", "nan"),
        ("--common", "z"),
        ("--format", "hdf5"),
        ("--task", "magic"),
    ):
        args = [*syn, opt, value]
        if opt == "--num-classes":
            args += ["--task", "classification"]
        expect = "any" if opt == "--noise" else "error"
        add(Case(g, f"{opt} {value}", args, None, expect, names=opt.lstrip("-").split("-")[0]))
    add(
        Case(
            g,
            "--out holds a user's files",
            [*syn, "--n-train", "20"],
            write("out/mine.txt", "x"),
            names="out",
        )
    )
    add(
        Case(
            g,
            "--out is a file (mmsa)",
            [*syn, "--format", "mmsa"],
            write("out", "mine"),
            names="out",
        )
    )
    add(Case(g, "--out is a file (native)", syn, write("out", "mine"), names="out"))

    # train: recipes, --set values and the output folder
    g = "train options"
    tr = [
        "train",
        "--data",
        "{fx}/native",
        "--model",
        "late_fusion",
        "--epochs",
        "1",
        "--out",
        "{out}",
        "--set",
        "train.diagnostics=false",
    ]
    add(Case(g, "valid", tr, None, "ok"))
    sets = {
        "train.lr=nan": "train.lr",
        "train.lr=inf": "train.lr",
        "train.lr=1e400": "train.lr",
        "train.lr=-1": "train.lr",
        "train.lr=0": "train.lr",
        "train.weight_decay=nan": "weight_decay",
        "train.weight_decay=-1": "weight_decay",
        "train.grad_clip=inf": "grad_clip",
        "train.batch_size=0": "batch_size",
        "train.batch_size=-4": "batch_size",
        "train.epochs=-1": "epochs",
        "train.patience=-2": "patience",
        "train.threads=-1": "threads",
        "train.plateau_factor=nan": "plateau_factor",
        "train.precision=fp8": "precision",
        "train.device=tpu": "device",
        "late_fusion.hidden=0": "hidden",
        "late_fusion.hidden=-8": "hidden",
        "late_fusion.hidden=10000000": "late_fusion",
        "late_fusion.dropout=1.5": "dropout",
        "late_fusion.dropout=-0.1": "dropout",
        "late_fusion.dropout=nan": "dropout",
        "late_fusion.hidden=1.5": "hidden",
        "late_fusion.hidden=true": "hidden",
        "late_fusion.unknown=1": "unknown",
        "nosuch.section=1": "nosuch",
        f"train.lr={nest(5000)}": "--set",
        f"train.lr={nest(5000, '{a=', '}')}": "--set",
        "train=3": "train",
        "train.lr": "--set",
        "=3": "--set",
    }
    for assignment, name in sets.items():
        label = assignment if len(assignment) < 40 else assignment[:30] + "... (deep)"
        add(Case(g, f"--set {label}", [*tr, "--set", assignment], None, names=name))
    for model, assignment, name in (
        ("mmcl", "mmcl.d_model=10000000", "mmcl"),
        ("mmcl", "mmcl.n_heads=0", "n_heads"),
        ("mmcl", "mmcl.n_heads=3", "n_heads"),
        ("mmcl", "mmcl.d_model=-128", "d_model"),
        ("mmcl", "mmcl.ffn_dim=100000000", "mmcl"),
        ("mult", "mult.n_heads=7", "n_heads"),
        ("mult", "mult.layers=0", "layers"),
        ("tfn", "tfn.post_fusion_dim=1000000", "tfn"),
        ("misa", "misa.hidden=0", "hidden"),
        ("self_mm", "self_mm.post_dim=-1", "post_dim"),
    ):
        add(
            Case(
                g,
                f"{model} --set {assignment}",
                [*tr[:4], model, *tr[5:], "--set", assignment],
                None,
                names=name,
            )
        )
    recipes = {
        "d_model 10**7": 'model = "mmcl"\n[mmcl]\nd_model = 10000000\n',
        "not TOML": "model = \n",
        "deep arrays": f"x = {nest(100000)}\n",
        "deep tables": "x = " + "{a=" * 2000 + "1" + "}" * 2000 + "\n",
        "not UTF-8": b"model = '\xff'\n",
        "4 MB": "# " + "x" * (4 << 20) + "\n",
        "unknown model": 'model = "gpt"\n',
        "train a list": "train = [1]\n",
    }
    for name, text in recipes.items():
        add(
            Case(
                g,
                f"recipe {name}",
                [*tr[:3], *tr[5:], "--recipe", "{in}/r.toml"],
                write("r.toml", text),
                names={
                    "unknown model": "gpt",
                    "train a list": "train",
                    "d_model 10**7": "mmcl",
                }.get(name, "r.toml"),
            )
        )
    add(
        Case(
            g,
            "recipe is a folder",
            [*tr, "--recipe", "{in}/r.toml"],
            write("r.toml/x", "1"),
            names="r.toml",
        )
    )
    add(Case(g, "--data missing", [*tr[:2], "{in}/none", *tr[3:]], None, names="none"))
    add(
        Case(
            g, "--data an empty folder", [*tr[:2], "{in}/e", *tr[3:]], write("e/.k", ""), names="e"
        )
    )
    add(Case(g, "--out is a file", tr, write("out", "mine"), names="out"))
    add(
        Case(
            g,
            "--out holds a user's summary.md",
            tr,
            write("out/summary.md", "mine"),
            names="summary.md",
        )
    )
    add(
        Case(
            g, "--out lock not JSON", tr, write("out/.mmcl.lock", "{"), "error", names=".mmcl.lock"
        )
    )
    add(
        Case(
            g,
            "--out lock a list",
            tr,
            write("out/.mmcl.lock", "[1, 2]"),
            "error",
            names=".mmcl.lock",
        )
    )
    add(
        Case(
            g,
            "--out lock nested deep",
            tr,
            write("out/.mmcl.lock", "[" * 100000),
            "error",
            names=".mmcl.lock",
        )
    )
    add(
        Case(
            g,
            "--out lock of a live process elsewhere",
            tr,
            write("out/.mmcl.lock", '{"pid": 1, "host": "other-host", "started": "x"}'),
            names="out",
        )
    )
    add(
        Case(
            g,
            "--resume with another model",
            [*tr[:4], "lf_dnn", *tr[5:], "--resume"],
            copy("run", "out"),
            names="model",
        )
    )
    add(
        Case(
            g,
            "--resume with other data",
            [*tr[:2], "{fx}/assembled", *tr[3:], "--resume"],
            copy("run", "out"),
            names="data",
        )
    )
    add(
        Case(
            g,
            "--resume with fewer seeds keeps both in the summary",
            [*tr, "--resume", "--seeds", "1"],
            copy("run", "out"),
            "ok",
            stdout_has="seeds [0, 1]",
        )
    )

    # grids and search spaces
    g = "compare / ablate / tune"
    cmp = [
        "compare",
        "--data",
        "{fx}/native",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--out",
        "{out}",
        "--set",
        "train.diagnostics=false",
    ]
    add(Case(g, "compare valid", [*cmp, "--models", "late_fusion"], None, "ok"))
    add(
        Case(
            g,
            "compare --out holds a user's compare.md",
            [*cmp, "--models", "late_fusion"],
            write("out/compare.md", "mine"),
            names="compare.md",
        )
    )
    add(
        Case(
            g,
            "compare --out is a file",
            [*cmp, "--models", "late_fusion"],
            write("out", "mine"),
            names="out",
        )
    )
    grids = {
        "includes itself": 'grid = "{in}/g.toml"\nmodels = ["late_fusion"]\n',
        "not TOML": "models = [\n",
        "models a number": "models = 5\n",
        "seeds text": 'models = ["late_fusion"]\nseeds = "x"\n',
        "settings not strings": 'models = ["late_fusion"]\nsettings = [1]\n',
        "unknown model": 'models = ["gpt"]\n',
        "deep": f"models = {nest(50000)}\n",
        "grid a number": "grid = 5\nmodels = ['late_fusion']\n",
        "unknown key": "models = ['late_fusion']\nfoo = 1\n",
    }
    for name, text in grids.items():
        add(
            Case(
                g,
                f"grid {name}",
                [*cmp, "--grid", "{in}/g.toml"],
                _grid_file(text),
                names="g.toml" if name not in ("unknown model",) else "gpt",
            )
        )
    add(
        Case(
            g,
            "two grids include each other",
            [*cmp, "--grid", "{in}/g.toml"],
            then(
                _grid_file('grid = "{in}/h.toml"\nmodels = ["late_fusion"]\n'),
                _grid_file('grid = "{in}/g.toml"\nmodels = ["late_fusion"]\n', "h.toml"),
            ),
            names="g.toml",
        )
    )
    add(
        Case(
            g,
            "ablate --only unknown",
            ["ablate", "--data", "{fx}/native", "--out", "{out}", "--only", "zz"],
            None,
            names="--only",
        )
    )
    tune = [
        "tune",
        "--data",
        "{fx}/native",
        "--model",
        "late_fusion",
        "--trials",
        "1",
        "--epochs",
        "1",
        "--out",
        "{out}",
    ]
    spaces = {
        "not TOML": "[params\n",
        "no params": "x = 1\n",
        "low text": '[params]\n"train.lr" = {low = "a", high = 1}\n',
        "low > high": '[params]\n"train.lr" = {low = 2, high = 1}\n',
        "deep": f"[params]\nx = {nest(50000)}\n",
    }
    for name, text in spaces.items():
        add(
            Case(
                g,
                f"tune space {name}",
                [*tune, "--space", "{in}/s.toml"],
                write("s.toml", text),
                names="s.toml",
            )
        )
    add(
        Case(
            g,
            "tune storage password is masked",
            [*tune, "--storage", "postgresql://me:hunter2secret@127.0.0.1:1/db"],
            None,
            names="***",
        )
    )
    add(
        Case(
            g,
            "tune storage in a read-only folder",
            [*tune, "--storage", "{out}/ro/x/study.db"],
            read_only("out/ro"),
            READ_ONLY,
            names="ro",
        )
    )

    # run folders: evaluate, predict, robustness
    g = "run folders"
    run = copy("run", "run")
    ev = ["evaluate", "{in}/run"]
    add(Case(g, "evaluate valid", ev, run, "ok", out="run"))
    add(Case(g, "robustness valid", ["robustness", "{in}/run", "--out", "{out}"], run, "ok"))
    add(
        Case(
            g,
            "seed-0 a symlink out of the run",
            ev,
            then(run, symlink("run/seed-0", lambda d, fx: _outside_copy(d, fx, "run/seed-0"))),
            names="seed-0",
            out="run",
        )
    )
    add(
        Case(
            g,
            "config.json a symlink out of the run",
            ev,
            then(run, lambda d, fx: _link_out(d, fx, "run/seed-1/config.json")),
            names="config.json",
            out="run",
        )
    )
    rob = ["robustness", "{in}/run", "--out", "{out}"]
    add(
        Case(
            g,
            "robustness --out holds a user's robustness.md",
            rob,
            then(run, write("out/robustness.md", "mine")),
            names="--overwrite",
        )
    )
    add(Case(g, "robustness --out is a file", rob, then(run, write("out", "mine")), names="out"))
    add(
        Case(
            g,
            "evaluate --data a pickle with shared references",
            [*ev, "--data", "{in}/bomb.pkl"],
            then(run, shared_reference_bomb),
            names="bomb.pkl",
            out="run",
        )
    )
    configs = {
        "not JSON": "{",
        "a list": "[]",
        "nested deep": "[" * 100000,
        "no model": "{}",
        "model unknown": '{"model": "gpt"}',
        "empty": "",
    }
    for name, text in configs.items():
        add(
            Case(
                g,
                f"config.json {name}",
                ev,
                then(run, write("run/seed-0/config.json", text)),
                names="seed-0",
                out="run",
            )
        )
    edits = {
        "hidden 10**7": lambda c: {**c, "late_fusion": {**c["late_fusion"], "hidden": 10**7}},
        "data_info null": lambda c: {**c, "data_info": None},
        "train.lr NaN": lambda c: {**c, "train": {**c["train"], "lr": "NaN"}},
        "dropout 2": lambda c: {**c, "late_fusion": {**c["late_fusion"], "dropout": 2.0}},
        "a width of 10**9": lambda c: {
            **c,
            "data_info": {**c["data_info"], "dims": {k: 10**9 for k in c["data_info"]["dims"]}},
        },
    }
    for name, fn in edits.items():
        add(
            Case(
                g,
                f"config {name}",
                ev,
                then(run, edit_json("run/seed-0/config.json", fn)),
                names="seed-0",
                out="run",
            )
        )
    add(Case(g, "weights NaN", ev, then(run, _nan_weights), names="model.safetensors", out="run"))
    add(
        Case(
            g,
            "predict with NaN weights",
            ["predict", "{in}/run", "--out", "{out}/p.csv"],
            then(run, _nan_weights),
            names="model.safetensors",
        )
    )
    for frac in (0.0, 0.1, 0.5, 0.99):
        add(
            Case(
                g,
                f"weights truncated {frac}",
                ev,
                then(run, edit("run/seed-0/model.safetensors", truncate(frac))),
                names="model.safetensors",
                out="run",
            )
        )
    for seed in range(4):
        add(
            Case(
                g,
                f"weights header bit flips {seed}",
                ev,
                then(
                    run,
                    edit(
                        "run/seed-0/model.safetensors", lambda b, s=seed: flip(s)(b[:64]) + b[64:]
                    ),
                ),
                "any",
                names="model.safetensors",
                out="run",
            )
        )
    add(
        Case(
            g,
            "weights missing",
            ev,
            then(run, lambda d, fx: (d / "run/seed-0/model.safetensors").unlink()),
            names="seed-0",
            out="run",
        )
    )
    add(
        Case(
            g,
            "metrics.json not JSON",
            ["predict", "{in}/run", "--out", "{out}/p.csv"],
            then(run, write("run/seed-1/metrics.json", "{")),
            names="metrics.json",
        )
    )
    add(Case(g, "not a run folder", ev, write("run/x", "1"), names="run", out="run"))
    add(Case(g, "a file, not a run", ev, write("run", "1"), names="run", out="run"))

    # predict: raw inputs and outputs
    g = "predict"
    raw = copy("raw_run", "run")
    pr = ["predict", "{in}/run", "--missing", "zero"]  # the run also reads audio
    add(Case(g, "--text valid", [*pr, "--text", "so good"], raw, "ok"))
    add(
        Case(
            g,
            "--text with markup is printed as written",
            [*pr, "--text", "[bold]hi[/bold] [/x]"],
            raw,
            "ok",
            stdout_has="[bold]hi[/bold] [/x]",
        )
    )
    add(
        Case(
            g,
            "--in with formula ids is escaped",
            [*pr, "--in", "{in}/t.csv", "--out", "{out}/p.csv"],
            then(raw, write("t.csv", 'id,text\n=1+1,=HYPERLINK("x")\n@a,+b\n-c,\tx\n')),
            "ok",
        )
    )
    add(Case(g, "--in path with markup", [*pr, "--in", "{in}/[/x].csv"], raw, names="[/x].csv"))
    add(
        Case(
            g,
            "--in short rows",
            [*pr, "--in", "{in}/t.csv"],
            then(raw, write("t.csv", "id,text\na\n")),
            names="t.csv",
        )
    )
    add(
        Case(
            g,
            "--in BOM",
            [*pr, "--in", "{in}/t.csv"],
            then(raw, write("t.csv", "\ufeffid,text\na,fine\n")),
            "ok",
        )
    )
    add(
        Case(
            g,
            "--audio a folder named x.wav",
            [*pr, "--audio", "{in}/x.wav", "--text", "hi"],
            then(raw, write("x.wav/y", "1")),
            names="x.wav",
        )
    )
    add(
        Case(
            g,
            "--audio 1 Hz, 20 hours",
            [*pr, "--audio", "{in}/a.wav", "--text", "hi"],
            then(raw, wav("a.wav", np.zeros(72000, np.float32), 1)),
            names="a.wav",
        )
    )
    add(
        Case(
            g,
            "--out is a folder",
            [*pr, "--text", "hi", "--out", "{out}"],
            then(raw, write("out/x", "1")),
            names="out",
        )
    )
    add(
        Case(
            g,
            "--out in a read-only folder",
            [*pr, "--text", "hi", "--out", "{out}/ro/p.csv"],
            then(raw, read_only("out/ro")),
            READ_ONLY,
            names="ro",
        )
    )
    add(
        Case(
            g,
            "--out under a file",
            [*pr, "--text", "hi", "--out", "{out}/f/p.csv"],
            then(raw, write("out/f", "x")),
            names="f",
        )
    )
    add(
        Case(
            g,
            "--missing bogus",
            [*pr, "--audio", "{in}/a.wav", "--missing", "bogus"],
            then(raw, wav("a.wav", tone, 16000)),
            names="--missing",
        )
    )
    add(
        Case(
            g,
            "a killed writer's temporary file is removed",
            [*pr, "--text", "hi", "--out", "{out}"],
            then(raw, write(".out.mmcl-tmp-999999999-x", "half a table")),
            "ok",
        )
    )
    add(
        Case(
            g,
            "--out is a user's file",
            [*pr, "--text", "hi", "--out", "{out}"],
            then(raw, write("out", "my table")),
            names="--overwrite",
        )
    )
    add(
        Case(
            g,
            "--split bogus",
            ["predict", "{in}/run", "--out", "{out}/p.csv", "--split", "holdout"],
            raw,
            names="--split",
        )
    )

    # the whole CLI: options and the environment
    g = "CLI options"
    add(
        Case(
            g,
            "--memory-budget 0",
            ["--memory-budget", "0", "data", "inspect", "synthetic"],
            None,
            names="--memory-budget",
        )
    )
    add(
        Case(
            g,
            "--memory-budget raises the limit",
            ["--memory-budget", "4", "data", "inspect", "{in}/bomb.pkl"],
            shared_reference_bomb,
            "error",
            names="neither MMSA",
        )
    )
    add(Case(g, "--epochs text", ["train", "--epochs", "[/x]"], None, names="epochs"))
    add(Case(g, "--seeds 0", ["train", "--seeds", "0"], None, names="seeds"))
    add(Case(g, "unknown command with markup", ["[/x]"], None, "error", names="[/x]"))
    add(Case(g, "--model with markup", [*tr[:4], "[/x]", *tr[5:]], None, names="[/x]"))
    add(
        Case(
            g,
            "--data path with markup",
            ["data", "inspect", "{in}/[red]x[/red]"],
            None,
            names="[red]x[/red]",
        )
    )
    return out


def _h5_replace(path: Path, data: np.ndarray) -> None:
    with h5py.File(path, "a") as f:
        del f["d1"]
        f.create_dataset("d1", data=data)


def _grid_file(text: str, name: str = "g.toml") -> Callable[[Path, Path], None]:
    def setup(d: Path, fx: Path) -> None:
        (d / name).write_text(text.replace("{in}", str(d)))

    return setup


def _outside_copy(d: Path, fx: Path, rel: str) -> Path:
    target = d.parent / f"{d.name}-elsewhere"
    shutil.copytree(d / rel, target)
    return target


def _link_out(d: Path, fx: Path, rel: str) -> None:
    target = d.parent / f"{d.name}-elsewhere.json"
    shutil.copy(d / rel, target)
    (d / rel).unlink()
    (d / rel).symlink_to(target)


def _nan_weights(d: Path, fx: Path) -> None:
    from safetensors.numpy import load_file, save_file

    for seed in ("seed-0", "seed-1"):
        p = d / "run" / seed / "model.safetensors"
        w = load_file(str(p))
        w = {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v for k, v in w.items()}
        save_file(w, str(p))


def _zeros_npz(path: Path, arrays: dict[str, tuple]) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, (shape, dtype) in arrays.items():
            with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
                )
                block = bytes(1 << 20)
                total = int(np.prod(shape)) * np.dtype(dtype).itemsize
                for _ in range(total >> 20):
                    f.write(block)
                f.write(bytes(total % (1 << 20)))


def _mosi_npz_bomb(d: Path, fx: Path) -> None:
    src = d / "src"
    src.mkdir()
    (src / "labels.csv").write_text("segment_id,text,label,split\nv_1,hi,1,train\n")
    _zeros_npz(
        src / "audio_utterance73.npz", {"ids": ((1,), "<U8"), "features": ((3_000_000, 73), "<f8")}
    )


def _split_npz_bomb(d: Path, fx: Path) -> None:
    src = d / "src"
    src.mkdir()
    for s in ("train", "valid", "test"):
        _zeros_npz(
            src / f"{s}.npz",
            {
                "audio": ((20000, 20, 1000), "<f4"),
                "vision": ((1, 20, 4), "<f4"),
                "labels": ((1,), "<f4"),
            },
        )


# ---------------------------------------------------------------- running a case


ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "MMCL_PROGRESS_SECONDS": "600",
    "PYTHONFAULTHANDLER": "1",
}
ENV.pop("MMCL_MEMORY_BUDGET_GB", None)


def _skipped(p: Path, skip: list[Path]) -> bool:
    """`p` is one of `skip`, or what a writer of one keeps beside it (`.NAME.lock`, its
    temporaries `.NAME.mmcl-tmp-*`, `.NAME.old`): the output's own territory."""
    return any(p == s or (p.parent == s.parent and p.name.startswith(f".{s.name}.")) for s in skip)


def snapshot(root: Path, skip: list[Path]) -> dict[str, tuple]:
    """Every path under `root` (links not followed) with its mode, and a file's size and
    modification time."""
    seen = {}
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = [x for x in dirs if not _skipped(here / x, skip)]
        for name in [*dirs, *files]:
            p = here / name
            if _skipped(p, skip):
                continue
            st = p.lstat()
            # a folder's own size and time change when an output is made inside it: its
            # entries, listed one by one, show what was added or removed
            folder = stat.S_ISDIR(st.st_mode)
            seen[str(p.relative_to(root))] = (
                (st.st_mode,) if folder else (st.st_size, st.st_mtime_ns, st.st_mode)
            )
    return seen


def leaked(out: Path, texts: list[bytes]) -> bool:
    """Whether the secret's bytes are in `texts` or any file at or under the output `out`."""
    if any(SECRET[:16] in t for t in texts):
        return True
    if out.is_file() and not out.is_symlink():
        return SECRET[:16] in out.read_bytes()
    for dirpath, _, files in os.walk(out):
        for name in files:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            with open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    if SECRET[:16] in chunk:
                        return True
    return False


@dataclass
class Result:
    case: Case
    code: int
    rss_kb: int
    seconds: float
    problems: list[str] = field(default_factory=list)


def run_case(case: Case, folder: Path, fx: Path) -> Result:
    (folder / "in").mkdir(parents=True)
    if case.setup is not None:
        case.setup(folder / "in", fx)
    out_path = folder / "in" / case.out
    fill = {"in": str(folder / "in"), "out": str(out_path), "fx": str(fx)}
    argv = [
        a.replace("{in}", fill["in"]).replace("{out}", fill["out"]).replace("{fx}", fill["fx"])
        for a in case.argv
    ]
    skip = [out_path]
    before = {**snapshot(folder, skip), **{f"fx/{k}": v for k, v in snapshot(fx, []).items()}}
    start = time.monotonic()
    with open(folder / "stdout", "wb") as so, open(folder / "stderr", "wb") as se:
        p = subprocess.Popen(
            [sys.executable, "-m", "mmcl", *argv], cwd=folder, stdout=so, stderr=se, env=ENV
        )
        timer = threading.Timer(TIMEOUT, lambda: os.kill(p.pid, signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(p.pid, 0)
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    stdout, stderr = (folder / "stdout").read_bytes(), (folder / "stderr").read_bytes()
    r = Result(case, p.returncode, usage.ru_maxrss, seconds)
    skip += [folder / "stdout", folder / "stderr"]
    after = {**snapshot(folder, skip), **{f"fx/{k}": v for k, v in snapshot(fx, []).items()}}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    # a command may create (and must then remove) its lock and temporaries beside its output
    changed = [k for k in changed if k not in ("stdout", "stderr")]
    err = stderr.decode("utf-8", "replace")
    if seconds >= TIMEOUT:
        r.problems.append(f"killed after {TIMEOUT:.0f} s")
    if "Traceback" in err or "internal error" in err:
        r.problems.append("traceback")
    if p.returncode not in (0, 2):
        r.problems.append(f"exit {p.returncode}")
    wanted = {"error": (2,), "ok": (0,), "any": (0, 2)}[case.expect]
    if p.returncode in (0, 2) and p.returncode not in wanted:
        r.problems.append(f"exit {p.returncode}, expected {wanted}")
    if p.returncode == 2:
        lines = [x for x in err.splitlines() if x.startswith(("error:", "Error:", "Usage:"))]
        named = case.names in err if case.names else True
        if not lines or not named:
            r.problems.append(f"exit 2 without an error line naming {case.names!r}")
    if case.stdout_has and case.stdout_has.encode() not in stdout:
        r.problems.append(f"stdout lacks {case.stdout_has!r}")
    if changed:
        r.problems.append(f"changed outside the output: {changed[:4]}")
    if leaked(out_path, [stdout, stderr]):
        r.problems.append("the secret file's bytes reached the output")
    if usage.ru_maxrss > RSS_LIMIT_KB:
        r.problems.append(f"peak RSS {usage.ru_maxrss / 1024 / 1024:.1f} GB")
    return r


def _unlock(folder: Path) -> None:
    """Give back write permission to read-only folders a case made, so it can be removed."""
    for dirpath, dirs, _ in os.walk(folder):
        for x in dirs:
            p = Path(dirpath) / x
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=None, help="Folder for fixtures and cases.")
    ap.add_argument("--only", default="", help="Comma-separated groups (table rows).")
    ap.add_argument(
        "--update-docs",
        type=Path,
        default=None,
        help="Replace the measured table between the markers in this file (docs/reliability.md).",
    )
    ap.add_argument("--keep", action="store_true", help="Keep every case's folder.")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mmcl-hostile-"))
    fx = work / "fixtures"
    if not (fx / "outside" / "secret.txt").is_file():
        shutil.rmtree(fx, ignore_errors=True)
        build_fixtures(fx)
    with h5py.File(fx / "outside" / "other.h5", "a") as f:
        if "d" not in f:
            f.create_dataset("d", data=np.frombuffer(SECRET * 64, dtype="f4")[:5000].reshape(-1, 5))
    todo = cases()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if only:
        todo = [c for c in todo if c.group in only]
    results: list[Result] = []
    for i, case in enumerate(todo):
        folder = work / "cases" / f"{i:03d}"
        if folder.exists():
            _unlock(folder)
            shutil.rmtree(folder)
        r = run_case(case, folder, fx)
        results.append(r)
        state = "ok " if not r.problems else "BAD"
        print(
            f"{state} {i:03d} [{case.group}] {case.name}: exit {r.code}, "
            f"{r.rss_kb / 1024:.0f} MB, {r.seconds:.1f} s"
            + (f" -- {'; '.join(r.problems)}" if r.problems else ""),
            flush=True,
        )
        if not r.problems and not args.keep:
            _unlock(folder)
            shutil.rmtree(folder)
    table = summary_table(results)
    print(table)
    if args.update_docs:
        update_docs(args.update_docs, table, results)


BEGIN, END = "<!-- hostile-inputs:begin -->", "<!-- hostile-inputs:end -->"


def update_docs(doc: Path, table: str, results: list[Result]) -> None:
    """Put the table, the date and the commit it was measured at between the markers."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], capture_output=True, text=True, check=False
    ).stdout.strip()
    bad = [
        f"- [{r.case.group}] {r.case.name}: {'; '.join(r.problems)}" for r in results if r.problems
    ]
    block = "\n".join(
        [
            BEGIN,
            f"Measured {time.strftime('%Y-%m-%d')} at commit {commit}"
            + (" (with uncommitted changes to src/)" if dirty else "")
            + f" by `scripts/hostile_inputs.py`: {len(results)} cases, "
            f"{sum(not r.problems for r in results)} acceptable.",
            "",
            table.rstrip(),
            *(["", "Not acceptable:", *bad] if bad else []),
            END,
        ]
    )
    text = doc.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(head + block + tail)


def summary_table(results: list[Result]) -> str:
    rows: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        rows[r.case.group].append(r)
    lines = ["| reader / command | cases | acceptable | largest peak RSS |", "|---|---|---|---|"]
    for group, rs in rows.items():
        ok = sum(not r.problems for r in rs)
        lines.append(f"| {group} | {len(rs)} | {ok} | {max(r.rss_kb for r in rs) / 1024:.0f} MB |")
    ok = sum(not r.problems for r in results)
    peak = max((r.rss_kb for r in results), default=0) / 1024
    lines.append(f"| **all** | **{len(results)}** | **{ok}** | **{peak:.0f} MB** |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
