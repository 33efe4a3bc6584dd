"""Training: ``csrnet train CONFIG`` or, on several GPUs, ``torchrun -m csrnet.training CONFIG``.

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
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from csrnet.datasets.locate import require_folder
from csrnet.devices import resolve_device
from csrnet.errors import CsrnetError, first_line, warn
from csrnet.evaluation.evaluate import evaluate_folder
from csrnet.inference.tiles import restore_fn
from csrnet.model import CSRnet, multiply_adds_per_pixel
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import list_images, write_atomic
from csrnet.training.checkpoint import (
    RunLock,
    clean_stale_temporaries,
    previous,
    read_checkpoint,
    write_checkpoint,
)
from csrnet.training.config import TrainConfig
from csrnet.training.data import TrainingImages
from csrnet.training.engine import (
    LossLog,
    check_engine,
    make_batches,
    make_engine,
    make_optimizer,
    next_batch,
    use_lr_kind,
    use_training_layout,
)
from csrnet.training.schedule import FIT_EVERY, BudgetFit, StepClock, fit_steps, lr_at
from csrnet.weights import load_weights

__all__ = ["TrainResult", "fit_steps", "lr_at", "resolve_device", "train"]


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: Path
    step: int
    interrupted: bool
    losses: list[float] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)  # this call's validations
    best_psnr: float = float("nan")  # the run's best validation, earlier calls' included


def load_initial_weights(model: CSRnet, path: str) -> None:
    """Fine-tuning: copy weights from a .safetensors file or a checkpoint (.pt)."""
    p = Path(path)
    if not p.is_file():
        raise CsrnetError(f"init_from {p}: no such file")
    if p.suffix == ".safetensors":
        source, _ = load_weights(p)
        state = source.state_dict()
    else:
        state = read_checkpoint(p, "weights")["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CsrnetError(
            f"init_from {p}: weights do not fit this model ({first_line(exc)})"
        ) from None


class _StopFlag:
    """Set by SIGINT/SIGTERM; the loop stops after the current step and checkpoints."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():  # signals: main only
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.raised = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """Torch's RNG states. Patches use their own generators, seeded by (seed, step, index),
    so numpy's and Python's global RNGs play no part in training."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def validation_settings(cfg: TrainConfig) -> list[Degradation]:
    levels = cfg.task.val_levels or cfg.task.levels
    return [Degradation(cfg.task.task, level) for level in levels]


def validate(model: CSRnet, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean validation PSNR per setting (protocol metric), and their mean as ``psnr``."""
    model.eval()
    folder = cfg.data.resolve(cfg.data.val)
    scores = {}
    rgb = model.config.image_channels == 3
    for deg in validation_settings(cfg):
        result = evaluate_folder(
            folder, deg, restore_fn(model, device), limit=cfg.data.val_images, rgb=rgb
        )
        scores[f"psnr_{deg.label}"] = result.psnr
    model.train()
    scores["psnr"] = float(np.mean(list(scores.values())))
    return scores


def write_config(run_dir: Path, cfg: TrainConfig) -> None:
    """The resolved recipe as ``run_dir/config.yaml``."""
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    write_atomic(run_dir / "config.yaml", lambda tmp: tmp.write_text(text))


def log_validation(writer, run_dir: Path, record: dict[str, float]) -> None:
    """TensorBoard scalars and a line of metrics.jsonl for one validation."""
    for key, value in record.items():
        if key.startswith("psnr"):
            writer.add_scalar(f"val/{key}", value, record["step"])
    with (run_dir / "metrics.jsonl").open("a") as log:
        log.write(json.dumps(record) + "\n")


def describe_plan(
    cfg: TrainConfig, images: TrainingImages, n_val: int, device: torch.device, world: int
) -> str:
    model = CSRnet(cfg.model.build())
    params = sum(p.numel() for p in model.parameters())
    macs = multiply_adds_per_pixel(model)
    t = cfg.task
    levels = f"levels {t.levels}" if t.levels else f"level range {t.level_range}"
    val_labels = ", ".join(d.label for d in validation_settings(cfg))
    return "\n".join(
        [
            f"run        {cfg.name}",
            f"model      {cfg.model.preset} {cfg.model.build()}",
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
            f"device     {device}"
            + (", bf16 autocast" if device.type == "cuda" else "")
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
        channels=cfg.model.build().image_channels,
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
            trainer = _Trainer(cfg, run_dir, device, rank, world, resume, progress)
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


def read_resume_state(last: Path) -> dict[str, Any]:
    """``last.pt``, or, if it is missing or damaged, the checkpoint before it (with a warning)."""
    try:
        return read_checkpoint(last, "last")
    except CsrnetError as exc:
        if not previous(last).is_file():
            raise
        state = read_checkpoint(previous(last), "last")
        warn(f"{exc}; resuming from {previous(last).name} (step {state['step']})")
        return state


class _Trainer:
    """One call of :func:`train` after its checks: the model, optimiser and run state, the
    step loop, and what it writes (rank 0 only)."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        device: torch.device,
        rank: int,
        world: int,
        resume: bool,
        progress: bool,
    ) -> None:
        self.run_dir, self.device, self.rank, self.world = run_dir, device, rank, world
        self.is_main, self.progress = rank == 0, progress
        torch.manual_seed(cfg.seed)
        self.model = CSRnet(cfg.model.build())
        if cfg.init_from and not resume:
            load_initial_weights(self.model, cfg.init_from)
        self.model.to(device)
        self.optimizer = make_optimizer(cfg, self.model.parameters(), device)
        self.step, self.best, self.history = 0, -math.inf, []
        self.fitted = False  # whether a time budget has fitted cfg.steps (kept across resumes)
        if resume:
            cfg = self._restore(cfg, read_resume_state(run_dir / "last.pt"))
        self.cfg = cfg
        use_training_layout(self.model, self.optimizer, cfg.half_scale_nchw)
        self.net = (
            torch.nn.parallel.DistributedDataParallel(self.model) if world > 1 else self.model
        )
        self.writer = None
        if self.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_config(run_dir, cfg)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb"))

    def _restore(self, cfg: TrainConfig, state: dict[str, Any]) -> TrainConfig:
        """Take up a checkpoint's weights, optimiser, step, history, fitted length and RNG."""
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CsrnetError(
                f"{self.run_dir / 'last.pt'}: does not fit this config ({first_line(exc)})"
            ) from None
        use_lr_kind(self.optimizer, cfg, self.device)  # the checkpoint's engine may differ
        self.step, self.best, self.history = state["step"], state["best_psnr"], state["history"]
        if state.get("fitted_steps"):
            cfg, self.fitted = replace(cfg, steps=state["fitted_steps"]), True
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        return cfg

    def checkpoint(self) -> None:
        if not self.is_main:
            return
        write_checkpoint(
            self.run_dir / "last.pt",
            keep=True,
            payload={
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "best_psnr": self.best,
                "history": self.history,
                "config": self.cfg.to_dict(),
                "rng": rng_state(self.device),
                "fitted_steps": self.cfg.steps if self.fitted else None,
            },
        )

    def validate(self, result: TrainResult) -> None:
        """Validate, log, and keep ``best.pt`` if this is the best so far."""
        record = {
            "step": self.step,
            "time": time.time(),
            **validate(self.model, self.cfg, self.device),
        }
        self.history.append(record)
        result.validation.append(record)
        log_validation(self.writer, self.run_dir, record)
        if record["psnr"] > self.best:
            self.best = record["psnr"]
            payload = {"model": self.model.state_dict(), "step": self.step, "best_psnr": self.best}
            write_checkpoint(
                self.run_dir / "best.pt",
                {**payload, "config": self.cfg.to_dict(), "history": self.history},
            )

    def _apply_fit(self, fit: tuple[int, float], bar: tqdm) -> None:
        """Take the run length a time budget fitted (rank 0's, under torchrun)."""
        steps, per_step = fit
        if self.world > 1:  # every process takes rank 0's value
            shared = torch.tensor([steps], device=self.device)
            dist.broadcast(shared, 0)
            steps = int(shared.item())
        if self.is_main and not self.fitted:
            tqdm.write(
                f"{self.cfg.name}: {per_step:.3f} s/step, the time budget fits "
                f"{steps:,} steps (refitted every {FIT_EVERY})"
            )
        changed = steps != self.cfg.steps
        self.cfg, self.fitted = replace(self.cfg, steps=steps), True
        bar.total = steps
        if self.is_main and changed:
            write_config(self.run_dir, self.cfg)

    def _any_rank(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        shared = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(shared, op=dist.ReduceOp.MAX)
        return bool(shared.item())

    def run(self, images: TrainingImages, stop_at: int | None) -> TrainResult:
        """The step loop: train, read losses, log, validate, checkpoint, stop when told."""
        cfg, device = self.cfg, self.device
        host_batches, device_batches = make_batches(
            cfg, images, device, self.step, self.rank, self.world
        )
        engine = make_engine(cfg, self.net, self.optimizer, device, device_batches)
        losses = LossLog()
        read_every = cfg.log_every or FIT_EVERY  # losses stay on the device between reads
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
        result = TrainResult(self.run_dir, self.step, False)
        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=cfg.name,
            unit="step",
            disable=None if (self.progress and self.is_main) else True,
        )
        budget_s = cfg.time_budget_minutes * 60
        started = time.perf_counter()
        # a resumed run keeps the schedule its checkpoint was fitted to
        fitting = budget_s and not self.fitted
        budget_fit = BudgetFit(budget_s, started, self.step, cfg.steps, sync) if fitting else None
        clock = StepClock()
        loss_value = float("nan")
        self.model.train()
        with _StopFlag() as stop:
            while self.step < self.cfg.steps:
                t0 = time.perf_counter()
                batch = next_batch(host_batches, device) if host_batches is not None else None
                clock.data(time.perf_counter() - t0)
                lr = lr_at(self.cfg, self.step)
                losses.add(engine(self.step, lr, batch))
                self.step += 1
                bar.update(1)
                fit = budget_fit(self.step) if budget_fit else None
                if fit:
                    self._apply_fit(fit, bar)
                step, final = self.step, self.step == self.cfg.steps
                out_of_time = bool(budget_s) and time.perf_counter() - started > budget_s
                ending = final or out_of_time  # log, validate and checkpoint this step
                interrupted = (
                    stop.raised or out_of_time or (stop_at is not None and step >= stop_at)
                )
                if ending or interrupted or step % read_every == 0:
                    values = losses.read(step)
                    result.losses.extend(values)
                    loss_value = values[-1] if values else loss_value
                if self.is_main and ((cfg.log_every and step % cfg.log_every == 0) or ending):
                    self._log(bar, clock, loss_value, lr)
                with clock.pause():
                    if self.is_main and ((cfg.val_every and step % cfg.val_every == 0) or ending):
                        self.validate(result)
                    if self.is_main and ((cfg.ckpt_every and step % cfg.ckpt_every == 0) or ending):
                        self.checkpoint()
                if self._any_rank(interrupted) and not final:
                    if not out_of_time:  # else this step's checkpoint is written already
                        self.checkpoint()
                    result.interrupted = True
                    break
        bar.close()
        if self.writer is not None:
            self.writer.close()
        result.step = self.step
        result.best_psnr = max((r["psnr"] for r in self.history), default=float("nan"))
        return result

    def _log(self, bar: tqdm, clock: StepClock, loss_value: float, lr: float) -> None:
        """Progress bar and TensorBoard scalars at a log step (losses were just read, so
        the GPU has caught up and the clock is honest)."""
        step_s, share = clock.lap()
        bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.3g}", data=f"{share:.0%}")
        self.writer.add_scalar("train/loss", loss_value, self.step)
        self.writer.add_scalar("train/lr", lr, self.step)
        self.writer.add_scalar("train/step_seconds", step_s, self.step)
        self.writer.add_scalar("train/data_share", share, self.step)
