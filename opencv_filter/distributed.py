"""Spreading a list of videos over the processes of a ``torchrun`` launch (one per GPU, any number of nodes).

Every rank plans the same job list, takes its own share (no data moves between ranks: each reads its
inputs and writes its outputs on the shared file system), and at the end the ranks exchange their
failures so that every rank, and therefore ``torchrun``, reports the same exit status.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class RankInfo:
    """This process's place in the launch: ``world_size`` 1 for a plain (non-torchrun) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "RankInfo":
        """Read the variables ``torchrun`` sets (RANK, WORLD_SIZE, LOCAL_RANK)."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def shard(items: Sequence[T], costs: Sequence[float], rank: int, world_size: int) -> list[T]:
    """This rank's share of ``items``: longest first, each to the least loaded rank (deterministic).

    Every rank computes the same assignment from the same list, so the shares are disjoint and cover
    all items; the result keeps the input order.
    """
    if len(items) != len(costs):
        raise ValueError("shard() needs one cost per item.")
    load = [0.0] * world_size
    owner = [0] * len(items)
    for index in sorted(range(len(items)), key=lambda i: (-costs[i], i)):
        target = min(range(world_size), key=lambda r: (load[r], r))
        owner[index] = target
        load[target] += max(float(costs[index]), 1.0)
    return [item for item, who in zip(items, owner) if who == rank]


class Launch:
    """Context manager: joins the torchrun process group for the run's length.

    The ranks only exchange a barrier and their failure messages, so the group is always gloo (CPU),
    even on GPU nodes: no NCCL set-up, and any number of ranks per GPU works.
    """

    def __init__(self, info: RankInfo) -> None:
        self.info = info
        self._joined = False

    def __enter__(self) -> "Launch":
        if self.info.distributed and not dist.is_initialized():
            # long timeout: a rank with a long video may reach the final exchange hours after the others
            dist.init_process_group("gloo", timeout=timedelta(hours=12))
            self._joined = True
        return self

    def __exit__(self, *exc) -> None:
        if self._joined:
            dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait for every rank (no-op without torchrun)."""
        if self.info.distributed and dist.is_initialized():
            dist.barrier()

    def all_failures(self, mine: list[str]) -> list[str]:
        """Every rank's failure messages, gathered on every rank (just ``mine`` without torchrun)."""
        if not (self.info.distributed and dist.is_initialized()):
            return list(mine)
        gathered: list[list[str] | None] = [None] * self.info.world_size
        dist.all_gather_object(gathered, list(mine))
        return [message for part in gathered for message in (part or [])]
