"""Long fuzzing of the pickle readers, beyond what the test suite runs in CI.

    .venv/bin/python -X faulthandler scripts/fuzz_readers.py [--count 20000] [--seed 0]

Writes small MMSA and MulT pickles, then loads --count bit-flipped copies of each. Every
load must succeed or end in the toolkit's UserError; any other exception is printed and
counted, and a crash (numpy memory corruption) kills the process, with faulthandler's
trace naming where. Prints the counts.
"""

from __future__ import annotations

import argparse
import collections
import random
import tempfile
from pathlib import Path

import numpy as np

from mmcl.data.loader import load_dataset
from mmcl.data.pickles import write_mmsa, write_mult
from mmcl.data.synthetic import SynthConfig, make_synthetic
from mmcl.errors import UserError


def flip(raw: bytes, rng: random.Random) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    dims = {"text": 4, "audio": 2, "vision": 2}
    ds = make_synthetic(SynthConfig(n_train=6, n_valid=3, n_test=3, seq_len=3, dims=dims))
    write_mmsa(ds, tmp / "mmsa.pkl")
    write_mult(ds, tmp / "mult.pkl")
    outcome: collections.Counter = collections.Counter()
    rng = random.Random(args.seed)
    for name in ("mmsa.pkl", "mult.pkl"):
        raw = (tmp / name).read_bytes()
        for _ in range(args.count):
            f = tmp / "damaged.pkl"
            f.write_bytes(flip(raw, rng))
            try:
                loaded = load_dataset(f)
                for sp in loaded.splits.values():
                    for x in sp.features.values():
                        np.asarray(x, dtype=np.float64).sum()
                outcome[(name, "loaded")] += 1
            except UserError:
                outcome[(name, "refused with UserError")] += 1
            except Exception as e:  # the leaks this script exists to find
                outcome[(name, f"LEAKED {type(e).__name__}")] += 1
                print(f"{name}: {type(e).__name__}: {e}")
    for (name, what), n in sorted(outcome.items()):
        print(f"{name}: {n} {what}")


if __name__ == "__main__":
    main()
