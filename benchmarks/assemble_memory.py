"""Peak memory and disk use of `mmcl data assemble` on a large transcript set.

    .venv/bin/python benchmarks/assemble_memory.py [--rows 20000] [--steps 50] [--dim 384]
        [--dir /tmp/somewhere] [--json]

Writes a synthetic text feature table of rows x steps x dim float32 (the shape of a 20k-row
transcript CSV through MiniLM; 1.5 GB at the defaults) and a labels CSV, then assembles it
twice, each in a fresh process: by reference (the default) and with --copy. Prints the
table's size, each run's peak resident memory (and that of the process before it assembles,
i.e. Python + numpy + the package), the bytes each output folder adds on disk, and the ratio
of peak memory to the table's size; the target is a ratio under 0.5. With --json the last line
is {"table_mb": .., "runs": {"reference": {...}, "copy": {...}}}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# VmHWM (the high-water mark of this process image's resident memory), not getrusage's
# ru_maxrss, which Linux carries over from the parent across fork and exec.
CHILD = r"""
import json, sys
from mmcl.features.assemble import assemble
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = hwm()
work, copy = sys.argv[1], sys.argv[2] == "1"
assemble(f"{work}/labels.csv", {"text": f"{work}/text"}, f"{work}/out", copy=copy)
print(json.dumps({"rss_before_mb": before, "peak_rss_mb": hwm()}))
"""


def write_table(folder: Path, rows: int, steps: int, dim: int) -> int:
    """A text feature table as `mmcl extract text` writes it, generated block by block."""
    from mmcl.features.text import KIND

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    feats = np.lib.format.open_memmap(
        folder / "features.npy", mode="w+", dtype=np.float32, shape=(rows, steps, dim)
    )
    for i in range(0, rows, 1000):
        n = min(1000, rows - i)
        feats[i : i + n] = rng.standard_normal((n, steps, dim), dtype=np.float32)
    feats.flush()
    del feats
    np.save(folder / "ids.npy", np.array([f"clip{i:06d}" for i in range(rows)]))
    np.save(folder / "lengths.npy", rng.integers(5, steps + 1, rows).astype(np.int64))
    np.save(folder / "tokens.npy", rng.integers(1, 30000, (rows, steps)).astype(np.int64))
    meta = {"kind": KIND, "model": "synthetic", "max_len": steps, "dim": dim, "count": rows}
    (folder / "manifest.json").write_text(json.dumps({**meta, "content_hash": "bench"}))
    return (folder / "features.npy").stat().st_size


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--dir", type=Path, default=None, help="Work folder (default: a temp one).")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assemble-bench-", dir=args.dir))
    try:
        table = write_table(work / "text", args.rows, args.steps, args.dim)
        lines = ["id,label"] + [f"clip{i:06d},{(i % 7) / 2 - 1.5}" for i in range(args.rows)]
        (work / "labels.csv").write_text("\n".join(lines) + "\n")
        runs = {}
        for mode in ("reference", "copy"):
            shutil.rmtree(work / "out", ignore_errors=True)
            flag = "1" if mode == "copy" else "0"
            done = subprocess.run(
                [sys.executable, "-c", CHILD, str(work), flag],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                sys.exit(f"assemble ({mode}) failed:\n{done.stderr}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["output_mb"] = folder_bytes(work / "out") / 2**20
            run["peak_over_table"] = run["peak_rss_mb"] * 2**20 / table
            runs[mode] = run
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table_mb = table / 2**20
    print(f"table {args.rows} x {args.steps} x {args.dim} float32: {table_mb:.0f} MB")
    print(f"{'mode':<10} {'rss before':>11} {'peak rss':>9} {'peak/table':>11} {'output':>9}")
    for mode, r in runs.items():
        print(
            f"{mode:<10} {r['rss_before_mb']:>8.0f} MB {r['peak_rss_mb']:>6.0f} MB "
            f"{r['peak_over_table']:>11.2f} {r['output_mb']:>6.0f} MB"
        )
    if args.json:
        print(json.dumps({"table_mb": table_mb, "runs": runs}))


if __name__ == "__main__":
    main()
