"""Training reads the memory-mapped native format batch by batch: a dataset larger than the
process's memory budget trains. The budget is RLIMIT_DATA (private writable memory: heap and
anonymous maps, where a copy of the data would have to go), set in a child process after its
imports (those made when first needed included); the read-only file mappings of the native
arrays do not count against it."""

import resource
import subprocess
import sys
import textwrap

import pytest

from mmcl.data.native import write_native
from mmcl.data.synthetic import SynthConfig, make_synthetic

BUDGET_MB = 200

CHILD = textwrap.dedent(
    """
    import re, resource, sys
    from pathlib import Path
    import numpy, torch
    # what the run imports when first needed (the metrics): scipy's own OpenBLAS reserves its
    # buffers at import, start-up memory that the data's budget is not about
    import scipy.stats, sklearn.metrics
    from mmcl.config import resolve_config
    from mmcl.data.loader import load_dataset
    from mmcl.experiments.runs import train_run

    status = Path("/proc/self/status").read_text()
    used = int(re.search(r"VmData:\\s+(\\d+)", status).group(1)) * 1024
    budget = used + int(sys.argv[2]) * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (budget, resource.RLIM_INFINITY))
    ds = load_dataset(sys.argv[1])
    overrides = ["train.diagnostics=false", "train.batch_size=256", "train.threads=1"]
    cfg = resolve_config(model="late_fusion", epochs=1, overrides=overrides)
    print("MAE", train_run(cfg, ds, Path(sys.argv[3]))["test"]["MAE"])
    """
)


@pytest.mark.skipif(
    not hasattr(resource, "RLIMIT_DATA") or sys.platform != "linux", reason="needs Linux"
)
def test_a_dataset_larger_than_the_memory_budget_trains(tmp_path):
    cfg = SynthConfig(
        n_train=3000, n_valid=300, n_test=300, seq_len=50, dims={"text": 384, "audio": 16}
    )
    write_native(make_synthetic(cfg), tmp_path / "data")
    size_mb = sum(f.stat().st_size for f in (tmp_path / "data").rglob("*")) / 2**20
    assert size_mb > BUDGET_MB  # the data does not fit in the budget
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tmp_path / "data"),
            str(BUDGET_MB),
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert "MAE" in child.stdout
