"""Why docs/results.md's seconds per epoch differ from throughput.py's samples/s: MMCL at
the results' MOSI settings (the `mosi_compare` grid's `mmcl` row, on MOSI imported as
scripts/make_results.py imports it: the importer's defaults, text of 50 word pieces),
trained for a few epochs in three ways, and each run's median seconds per epoch as its
log.jsonl records them (an epoch's training, its validation pass, the selected weights
saved):

- alone, torch's default threads (2 here): how a user's `mmcl train` runs;
- alone, one thread: as each of the results' runs is set (`torch.set_num_threads(1)` in a
  grid worker);
- two runs at once, one thread each: as docs/results.md's grids run (`--jobs 2`).

    .venv/bin/python benchmarks/epoch_time.py [--data FOLDER] [--epochs 3] [--json]

Without --data, MOSI is imported from ../shared/data/mosi into runs/epoch-time/mosi once.

Run it alone on the machine; with --json the last line is {"rows": {...}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import mmcl

GRID, ROW = "mosi_compare", "mmcl"
WAYS = {
    "alone, default threads": dict(jobs=1, seeds=1, threads=0),
    "alone, 1 thread": dict(jobs=1, seeds=1, threads=1),
    "2 runs at once, 1 thread each": dict(jobs=2, seeds=2, threads=1),
}


def epoch_seconds(out: Path) -> list[float]:
    """Every seed's median seconds per epoch, from its log.jsonl."""
    medians = []
    for log in sorted(out.glob("*/seed-*/log.jsonl")):
        seconds = [json.loads(line)["seconds"] for line in log.read_text().splitlines()]
        medians.append(statistics.median(seconds))
    return medians


def measure(data: str, epochs: int, jobs: int, seeds: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="epoch-time-") as tmp:
        start = time.perf_counter()
        mmcl.compare(
            grid=GRID, only=ROW, data=data, out=Path(tmp) / "grid", seeds=seeds,
            epochs=epochs, jobs=jobs, overrides={"train.threads": threads},
        )  # fmt: skip
        wall = time.perf_counter() - start
        medians = epoch_seconds(Path(tmp) / "grid")
    return {"seconds_per_epoch": round(statistics.mean(medians), 2), "wall_s": round(wall, 1)}


SHARED_MOSI = Path(__file__).resolve().parents[2] / "shared" / "data" / "mosi"
IMPORTED = Path("runs/epoch-time/mosi")


def results_mosi() -> str:
    """MOSI as scripts/make_results.py imports it (the importer's defaults), made once."""
    if not (IMPORTED / "manifest.json").is_file():
        mmcl.import_dataset("mosi", SHARED_MOSI, IMPORTED, overwrite=True)
    return str(IMPORTED)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="a dataset folder (default: MOSI as the results import it)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = args.data or results_mosi()
    steps = mmcl.load_dataset(data).seq_lens()
    rows = {}
    print(f"MMCL ({GRID} row '{ROW}') on {data} (steps {steps}), {args.epochs} epochs per run")
    print(f"{'how':<32}{'s/epoch':>9}{'wall s':>9}")
    for name, how in WAYS.items():
        rows[name] = measure(data, args.epochs, **how)
        r = rows[name]
        print(f"{name:<32}{r['seconds_per_epoch']:>9}{r['wall_s']:>9}", flush=True)
    if args.json:
        print(json.dumps({"data": data, "steps": steps, "rows": rows}))


if __name__ == "__main__":
    main()
