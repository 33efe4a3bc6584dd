"""Training: ``csrnet train CONFIG`` or, on several GPUs, ``torchrun -m csrnet train CONFIG``.

The run folder holds ``config.yaml`` (the resolved recipe), ``last.pt`` (model, optimiser,
step, RNG states, validation history: everything ``--resume`` needs), ``best.pt`` (the best
validated weights), ``metrics.jsonl`` (validation records) and ``tb/`` (TensorBoard).
Checkpoints are written atomically every ``ckpt_every`` steps, at the end, and on
SIGINT/SIGTERM. The learning rate is a pure function of the step, and every training patch a
pure function of (seed, step, index), so a resumed run continues exactly. With
``time_budget_minutes`` the run's length is fitted to the time after 20 steps, refitted every
100 from the latest rate, and kept in the checkpoint; the run also stops, validated and
checkpointed, when the time is up.

A step runs as the recipe's ``engine`` says (``training.engine``: eager, torch.compile, or one
CUDA graph) on patches from the host or drawn on the device (``data.sampler``); losses stay on
the device and are read every ``log_every`` steps.

Under torchrun each process takes its slice of every global batch (``data.batch_size`` in
all); DistributedDataParallel averages the gradients, and rank 0 alone validates and writes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from csrnet.datasets.locate import require_folder
from csrnet.datasets.patches import TrainingImages
from csrnet.devices import resolve_device
from csrnet.errors import CsrnetError
from csrnet.model import CSRnet, multiply_adds_per_pixel
from csrnet.protocol.images import list_images
from csrnet.training.checkpoint import RunLock, clean_stale_temporaries, previous
from csrnet.training.config import TrainConfig
from csrnet.training.engine import check_engine
from csrnet.training.precision import check_precision
from csrnet.training.trainer import Trainer, TrainResult
from csrnet.training.validation import validation_settings

__all__ = ["TrainResult", "train"]


def describe_plan(
    cfg: TrainConfig, images: TrainingImages, n_val: int, device: torch.device, world: int
) -> str:
    model = CSRnet(cfg.model_config)
    params = sum(p.numel() for p in model.parameters())
    macs = multiply_adds_per_pixel(model)
    t = cfg.task
    levels = f"levels {t.levels}" if t.levels else f"level range {t.level_range}"
    val_labels = ", ".join(d.label for d in validation_settings(cfg))
    return "\n".join(
        [
            f"run        {cfg.name}",
            f"model      {cfg.model.preset} {cfg.model_config}",
            f"size       {params:,} parameters, {macs / 1e6:.3f} M multiply-adds per pixel",
            f"task       {t.task}, {levels}, validated at {val_labels}",
            f"steps      {cfg.steps:,}, batch {cfg.data.batch_size} ({world} process(es)), "
            f"patch {cfg.data.patch_size}x{cfg.data.patch_size}",
            f"optimiser  {cfg.optim.name} lr {cfg.optim.lr:g}, schedule {cfg.schedule.kind}, "
            f"loss {cfg.loss}, clip {cfg.optim.clip} {cfg.optim.clip_value:g}",
            f"data       {len(images)} training images from {cfg.data.train} "
            f"({len({o.train for o in images.excluded})} left out: they overlap "
            f"{sorted({o.test.split('/')[0] for o in images.excluded}) or 'no test set'}"
            + (
                f"; {images.gray_skipped} gray ones skipped: RGB model"
                if images.gray_skipped
                else ""
            )
            + f"); {n_val} validation images from {cfg.data.val}",
            f"device     {device}, precision {cfg.precision}"
            + (", channels_last (half scale NCHW)" if cfg.half_scale_nchw else ", channels_last")
            + f"; engine {cfg.engine}, {cfg.data.sampler} sampler",
            f"init_from  {cfg.init_from or '-'}",
        ]
    )


def train(
    cfg: TrainConfig,
    run_dir: str | os.PathLike,
    resume: bool = False,
    dry_run: bool = False,
    stop_at: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train (or resume) a run; see the module docstring.

    Args:
        cfg: the recipe.
        run_dir: folder for checkpoints and logs.
        resume: continue from ``run_dir/last.pt``.
        dry_run: check the config and data, print the plan, and stop.
        stop_at: behave as if interrupted after this step (tests).
        progress: show a progress bar on a terminal.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(cfg.device)
    run_dir = Path(run_dir)
    _check_start(cfg, run_dir, resume, dry_run, world)
    check_precision(cfg.precision, device)  # before the images load: seconds to minutes
    train_dirs = [cfg.data.resolve(d) for d in cfg.data.train]
    scales = cfg.task.levels if cfg.task.task == "sr" else []
    exclude = [cfg.data.resolve(d) for d in cfg.data.exclude_overlaps_with]
    images = TrainingImages.load(
        train_dirs,
        cfg.task.task,
        scales,
        cfg.data.patch_size,
        exclude,
        progress and rank == 0,
        channels=cfg.model_config.image_channels,
    )
    n_val = len(list_images(require_folder(cfg.data.resolve(cfg.data.val))))
    n_val = min(n_val, cfg.data.val_images or n_val)
    if dry_run:
        print(describe_plan(cfg, images, n_val, device, world))
        return TrainResult(run_dir, 0, False)
    check_engine(cfg, device, world)

    own_group = world > 1 and not dist.is_initialized()
    if own_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    try:
        with RunLock(run_dir) if rank == 0 else contextlib.nullcontext():
            if rank == 0 and clean_stale_temporaries(run_dir):
                tqdm.write(f"{run_dir}: removed the temporary files of interrupted writes")
            trainer = Trainer(cfg, run_dir, device, rank, world, resume, progress)
            result = trainer.run(images, stop_at)
    finally:
        if world > 1 and dist.is_initialized():
            dist.barrier()
        if own_group:
            dist.destroy_process_group()
    return result


def _check_start(cfg: TrainConfig, run_dir: Path, resume: bool, dry_run: bool, world: int) -> None:
    """Refuse, before anything is loaded, a run that cannot start."""
    last = run_dir / "last.pt"
    if resume and not last.is_file() and not previous(last).is_file():
        raise CsrnetError(f"{run_dir}: nothing to resume (no last.pt)")
    if not resume and not dry_run and (last.is_file() or previous(last).is_file()):
        raise CsrnetError(
            f"{run_dir}: holds a run already; pass --resume or choose another --run-dir"
        )
    if cfg.init_from and not Path(cfg.init_from).is_file():
        raise CsrnetError(f"init_from {cfg.init_from}: no such file")
    if cfg.data.batch_size % world:
        raise CsrnetError(
            f"data.batch_size {cfg.data.batch_size} is not divisible by {world} processes"
        )
