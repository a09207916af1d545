"""`python -m mmcl ...` (what `torchrun -m mmcl train ...` starts in every process)."""

from mmcl.cli import app

app(prog_name="mmcl")
