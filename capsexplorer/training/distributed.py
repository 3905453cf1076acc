"""Data-parallel training with PyTorch's own engine (torch.distributed + DistributedDataParallel).

`torchrun --nproc_per_node=N -m capsexplorer train …` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; each joins one process group (NCCL on GPUs, Gloo on CPUs) and takes a contiguous
share of every global batch. A single process is a world of one and touches none of this.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from capsexplorer.errors import CapsExplorerError
from capsexplorer.net.model import resolve_device


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def leader(self) -> bool:
        """Rank 0: the one process that writes checkpoints and weights and reports progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def share(self, index: torch.Tensor) -> slice:
        """This rank's contiguous share of a global batch of len(index) rows (sizes differ by at most one)."""
        bounds = [len(index) * r // self.size for r in range(self.size + 1)]
        return slice(bounds[self.rank], bounds[self.rank + 1])

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over the ranks (the values themselves in a single process)."""
        if not self.distributed:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any: a stop request seen by one rank stops all at the same step."""
        if not self.distributed:
            return flag
        t = torch.tensor([1 if flag else 0], device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def same(self, value: int) -> bool:
        """True on every rank when every rank holds the same integer."""
        if not self.distributed:
            return True
        t = torch.tensor([value, -value], device=self._comm_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist() == [value, -value]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @property
    def _comm_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device_name: str | None) -> World:
    """The World of this process: a single process, or — when torchrun set WORLD_SIZE > 1 — one rank of
    a process group it joins here (NCCL when the ranks use CUDA GPUs, Gloo otherwise)."""
    if not launched_by_torchrun():
        return World(0, 1, resolve_device(device_name))
    try:
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError):
        raise CapsExplorerError("WORLD_SIZE is set but RANK is not: start several processes with torchrun") from None
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = resolve_device(f"cuda:{local}")  # one GPU per process
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        except (ValueError, RuntimeError) as exc:
            detail = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise CapsExplorerError(f"cannot join the training processes (rank {rank} of {size}): {detail}; "
                                    "start them with torchrun") from None
    return World(rank, size, device)


def leave(world: World) -> None:
    if world.distributed and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except RuntimeError:  # a peer already gone: there is nothing left to leave
            pass
