"""One rank of `train(..., nproc=N)`: torchrun runs `python -m mmcl.api.torchrun ARGS.json`
N times; each rank trains with the same arguments and joins the others."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mmcl import distributed
from mmcl.api.training import train
from mmcl.errors import UserError


def main(args: Path) -> int:
    how = json.loads(args.read_text())
    try:
        train(**how)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        distributed.leave()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
