"""torchrun / DDP: ``init()`` reads torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``).

One process without those variables is world size 1 and nothing is initialised.  Under torchrun the
process group uses ``gloo`` on CPU and ``nccl`` on CUDA (one GPU per local rank); the recipe's batch is the
**global** batch and is split across ranks (it must be divisible by the world size); rank 0 alone writes
checkpoints, logs, records and exported weights, the others wait at barriers.  The CUDA/nccl path is
untested on hardware here (README "Training").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""
    tensor_device: str = "cpu"  # where collective tensors live (nccl needs CUDA tensors)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of a scalar tensor over ranks (a copy; the input is unchanged)."""
        if not self.active:
            return value.detach()
        t = value.detach().clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t / self.world

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (so all ranks stop together)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.tensor_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())


def init(device: str) -> Dist:
    """The process's place in the job; initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device == "cuda" else "gloo"
    if not dist.is_initialized():
        if device == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return Dist(rank=rank, world=world, local_rank=local, backend=backend,
                tensor_device=f"cuda:{local}" if device == "cuda" else "cpu")


def device_for(d: Dist, device: str) -> str:
    return f"cuda:{d.local_rank}" if device == "cuda" and d.active else device


def shutdown(d: Dist) -> None:
    if d.active and dist.is_initialized():
        dist.destroy_process_group()
