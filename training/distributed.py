"""Process-group setup for ``torchrun`` and a sampler that can resume in the middle of an epoch.

A plain ``rainmamba train`` is a world of one. Under ``torchrun`` (RANK/WORLD_SIZE/LOCAL_RANK in the
environment) each process joins the group: NCCL when it drives a GPU, gloo on CPU. Rank 0 alone logs and
writes files; every rank computes the same thing otherwise.
"""
from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from models.options import CLI, resolve_device


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the world size and the device it drives."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str | None = "auto", local_rank: int = 0) -> torch.device:
    """This process's device by the one device rule (`models.options.resolve_device`: no device, or a
    bare ``cuda``, is the local rank's GPU when there is one), made the current CUDA device."""
    device = resolve_device(preference, local_rank=local_rank, spelling=CLI)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the torchrun process group when there is one (idempotent) and pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30),
                                **({"device_id": chosen} if backend == "nccl" else {}))
    return DistContext(rank, world, local_rank, chosen)


def cleanup_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-element list outside torchrun)."""
    if not ctx.distributed:
        return [obj]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def mean_across_ranks(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise mean of ``values`` over the ranks (the tensor itself outside torchrun)."""
    if not ctx.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / ctx.world_size


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when ``flag`` is true on at least one rank, so every rank takes the same branch."""
    if not ctx.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class ResumableSampler(Sampler[int]):
    """A seeded shuffle per epoch, split across ranks, that can start after the first ``start`` batches.

    The order of epoch ``e`` depends only on (seed, e), like DistributedSampler's; the index list is padded
    by wrapping so every rank gets the same count. :meth:`set_epoch` picks the epoch and how many of this
    rank's batches were already consumed, which is how a resumed run continues mid-epoch.
    """

    def __init__(self, size: int, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True) -> None:
        if size < 1:
            raise ValueError("the training set is empty: check the dataset folder and layout.")
        self.size, self.batch_size = size, batch_size
        self.rank, self.world_size, self.seed, self.shuffle = rank, world_size, seed, shuffle
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = int(epoch), int(skip_batches)

    def batches_per_epoch(self) -> int:
        """Whole batches each rank gets per epoch (the last incomplete batch is dropped)."""
        return self._per_rank() // self.batch_size

    def _per_rank(self) -> int:
        return max(-(-self.size // self.world_size), self.batch_size)

    def _indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        total = self._per_rank() * self.world_size
        order = (order * (-(-total // len(order))))[:total]
        mine = order[self.rank::self.world_size]
        return mine[:self.batches_per_epoch() * self.batch_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.skip_batches * self.batch_size:])

    def __len__(self) -> int:
        return max(0, (self.batches_per_epoch() - self.skip_batches) * self.batch_size)
