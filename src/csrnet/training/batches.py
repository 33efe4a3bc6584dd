"""The batches a run trains on, as ``data.sampler`` says: the host stream (numpy patches of
``csrnet.datasets.patches``, made by DataLoader workers) or the device patch bank
(``csrnet.training.patchbank``). Each is this process's slice of every global batch."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from csrnet.datasets.patches import PatchRecipe, TrainingImages, make_batch
from csrnet.errors import CsrnetError
from csrnet.training.config import TrainConfig
from csrnet.training.patchbank import PatchBank

__all__ = ["DeviceBatches", "PatchStream", "make_batches", "next_batch"]


class PatchStream(IterableDataset):
    """Batches for steps start, start+1, ...; this process's slice of each global batch.

    With DataLoader workers, worker w makes the batches of steps start + w, start + w + W, ...
    and the DataLoader returns them in step order.
    """

    def __init__(
        self,
        images: TrainingImages,
        recipe: PatchRecipe,
        global_batch: int,
        start_step: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        super().__init__()
        if global_batch % world:
            raise CsrnetError(
                f"data.batch_size {global_batch} is not divisible by the {world} processes"
            )
        per_rank = global_batch // world
        self.indices = range(rank * per_rank, (rank + 1) * per_rank)
        self.images, self.recipe, self.start_step = images, recipe, start_step

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for step in itertools.count(self.start_step + worker, workers):
            inputs, targets = make_batch(self.images, self.recipe, step, self.indices)
            yield torch.from_numpy(inputs), torch.from_numpy(targets)


class DeviceBatches:
    """This process's slice of every global batch, drawn from a :class:`PatchBank`."""

    def __init__(self, bank: PatchBank, global_batch: int, rank: int = 0, world: int = 1):
        per_rank = global_batch // world
        self.bank = bank
        self.indices = torch.arange(rank * per_rank, (rank + 1) * per_rank, device=bank.device)

    def __call__(self, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = self.bank.sample(step, self.indices)
        return inputs.contiguous(memory_format=torch.channels_last), targets


def make_batches(
    cfg: TrainConfig,
    images: TrainingImages,
    device: torch.device,
    start_step: int = 0,
    rank: int = 0,
    world: int = 1,
):
    """(host batch iterator, None) or (None, device batches), as ``data.sampler`` says: the
    numpy stream through a DataLoader of ``data.workers``, or a PatchBank on ``device``."""
    d = cfg.data
    t = cfg.task
    recipe = PatchRecipe(t.task, t.levels, t.level_range, d.patch_size, cfg.seed, t.camera_share)
    if d.sampler == "device":
        return None, DeviceBatches(
            PatchBank.build(images, recipe, device), d.batch_size, rank, world
        )
    stream = PatchStream(images, recipe, d.batch_size, start_step, rank, world)
    loader = DataLoader(
        stream,
        batch_size=None,
        num_workers=d.workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=_leave_stop_signals_to_the_trainer,
    )
    return iter(loader), None


def _leave_stop_signals_to_the_trainer(worker_id: int) -> None:
    """A data worker ignores SIGINT and SIGTERM sent to the whole process group (Ctrl-C,
    ``timeout``, a batch scheduler's cancel): the trainer stops after its step and
    checkpoints, then shuts its workers down (a worker also exits when the trainer dies)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def next_batch(host_batches, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The next host batch on ``device`` (channels_last inputs, as the model)."""
    inputs, targets = next(host_batches)
    inputs = inputs.to(device, non_blocking=True)
    targets = targets.to(device, non_blocking=True)
    return inputs.contiguous(memory_format=torch.channels_last), targets
