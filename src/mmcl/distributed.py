"""Data-parallel training across processes (`torchrun --nproc_per_node=N -m mmcl train`):
the few collective operations the trainer and the models need.

Outside torchrun (or with one process) every function is the identity or a no-op, so the
single-process path runs exactly as before. Under torchrun each process is one rank:

- every rank builds the same model from the same seed (and rank 0's parameters are
  broadcast, to be sure), takes its slice of each global batch, and averages its gradients
  with the other ranks' before each optimiser step: the update `DistributedDataParallel`
  makes, written out here because the models step several optimisers (the MMCL actor and
  critic) on parameters the main loss does not always reach, which DDP's hooks do not fit;
- rank 0 alone evaluates and writes files; the others receive what they must decide on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

import torch
import torch.distributed as dist


def launched() -> bool:
    """Whether this process is one rank of a torchrun launch."""
    return "LOCAL_RANK" in os.environ


def relaunch(nproc: int, module: str, args: list[str]) -> int:
    """Run `python -m module args` as `nproc` processes of one torchrun launch on this
    machine; returns torchrun's exit code."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return subprocess.run([*torchrun, f"--nproc_per_node={nproc}", "-m", module, *args]).returncode


def join(device: torch.device | None = None) -> None:
    """Join the process group torchrun describes in the environment (no-op without it):
    nccl when training on CUDA, gloo on the CPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = device is not None and device.type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo")


def local_device(device: torch.device) -> torch.device:
    """Under torchrun on CUDA, this rank's own GPU (cuda:LOCAL_RANK); else `device`."""
    if active() and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank_and_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_and_size()[0] == 0


def active() -> bool:
    return rank_and_size()[1] > 1


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank."""
    if active():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def average_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Every rank's gradients replaced by their mean over ranks (one all-reduce). A
    parameter without a gradient on this rank counts as a zero gradient, so that the ranks
    always reduce the same tensors."""
    if not active():
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= rank_and_size()[1]
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))
        offset += n


def average_before_step(optimizer: torch.optim.Optimizer) -> None:
    """Average the gradients of `optimizer`'s parameters across ranks before each of its
    steps (for optimisers a model steps itself, e.g. the MMCL critic and actor)."""
    if active():
        params = [p for g in optimizer.param_groups for p in g["params"]]
        optimizer.register_step_pre_hook(lambda *_: average_gradients(params))


def gather_rows(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each tensor's rows from every rank, concatenated in rank order (ranks may hold
    different numbers of rows)."""
    if not active():
        return tensors
    _, size = rank_and_size()
    n = torch.tensor([tensors[0].shape[0]], device=tensors[0].device)
    counts = [torch.zeros_like(n) for _ in range(size)]
    dist.all_gather(counts, n)
    top = int(max(c.item() for c in counts))
    out = []
    for t in tensors:
        padded = torch.zeros((top, *t.shape[1:]), dtype=t.dtype, device=t.device)
        padded[: t.shape[0]] = t
        parts = [torch.empty_like(padded) for _ in range(size)]
        dist.all_gather(parts, padded)
        out.append(torch.cat([p[: int(c.item())] for p, c in zip(parts, counts, strict=True)]))
    return tuple(out)


def broadcast_floats(values: list[float], device: torch.device) -> list[float]:
    """Rank 0's `values` on every rank (others pass placeholders of the same length);
    `device`: where the backend communicates (the GPU for nccl)."""
    if not active():
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return t.tolist()


def barrier() -> None:
    if active():
        dist.barrier()
