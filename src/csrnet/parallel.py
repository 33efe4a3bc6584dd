"""The images of one command split across the processes of a torchrun launch.

``torchrun --nproc_per_node=N -m csrnet restore|evaluate|report ...`` starts N copies of the
command (on each of ``--nnodes`` machines). :func:`start` joins them in one process group
(NCCL where CUDA is available, else gloo); then each rank takes a deterministic slice of the
images, in their stable order (rank r of N takes items r, r + N, r + 2N, ...), restores or
scores it on its own device, and rank 0 gathers the per-image results, writes the score cache
and the report, and prints. Degradations are functions of (image name, setting, seed), so the
scores do not depend on how many processes ran. Outside torchrun, or before :func:`start`,
every function here is the identity of one process: training, which runs its own process
group, never starts this one.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import torch
import torch.distributed as dist

__all__ = ["active", "everyone", "from_main", "is_main", "shard", "start", "stop"]

T = TypeVar("T")
_started = False  # by start(): a process group of training's own does not split images


def start() -> bool:
    """Join the torchrun process group if launched under one; whether several processes
    split the work."""
    global _started
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or _started:
        return active()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    _started = True
    return True


def stop() -> None:
    """Leave the process group (after a barrier, so no rank leaves while others still send)."""
    global _started
    if active():
        dist.barrier()
        dist.destroy_process_group()
    _started = False


def active() -> bool:
    """Whether this process is one of several splitting the work (after :func:`start`)."""
    return _started and dist.is_initialized() and dist.get_world_size() > 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes shared files and prints."""
    return not active() or dist.get_rank() == 0


def shard(items: list[T]) -> list[T]:
    """This rank's items: every world-size-th from its rank on."""
    return items[dist.get_rank() :: dist.get_world_size()] if active() else list(items)


def from_main(value: T) -> T:
    """Rank 0's ``value`` on every rank (so that all decide alike)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def everyone(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not active():
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values
