"""One rank of `train(..., nproc=N)`: torchrun runs `python -m mmcl.api.torchrun ARGS.json`
N times; each rank trains with the same arguments and joins the others."""

from __future__ import annotations

import sys
from pathlib import Path

from mmcl import distributed
from mmcl.api.training import train
from mmcl.data.io import read_json
from mmcl.errors import UserError


def main(args: Path) -> int:
    how = read_json(args)
    try:
        train(**how)
    except Exception as e:  # the user's mistakes as the CLI reports them; bugs as tracebacks
        if (mistake := UserError.of(e)) is None:
            raise
        print(f"error: {mistake}", file=sys.stderr)
        return 2
    finally:
        distributed.leave()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
