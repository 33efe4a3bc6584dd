"""Training: ``csrnet train CONFIG`` or, on several GPUs, ``torchrun -m csrnet.train CONFIG``.

The run folder holds ``config.yaml`` (the resolved recipe), ``last.pt`` (model, optimiser,
step, RNG states, validation history: everything ``--resume`` needs), ``best.pt`` (the best
validated weights), ``metrics.jsonl`` (validation records) and ``tb/`` (TensorBoard).
Checkpoints are written atomically every ``ckpt_every`` steps, at the end, and on
SIGINT/SIGTERM. The learning rate is a pure function of the step, and every training patch a
pure function of (seed, step, index), so a resumed run continues exactly. With
``time_budget_minutes`` the run's length is fitted to the time after 20 steps, refitted every
100 from the latest rate, and kept in the checkpoint; the run also stops, validated and
checkpointed, when the time is up.

Under torchrun each process takes its slice of every global batch (``data.batch_size`` in
all); DistributedDataParallel averages the gradients, and rank 0 alone validates and writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoint import read_checkpoint, write_checkpoint
from .config import TrainConfig
from .data import PatchRecipe, PatchStream, TrainingImages
from .degrade import Degradation
from .errors import CsrnetError
from .evaluate import evaluate_folder
from .images import list_images, write_atomic
from .inference import restore_fn
from .model import CSRnet, multiply_adds_per_pixel
from .weights import load_weights

__all__ = ["TrainResult", "fit_steps", "lr_at", "train"]

FIT_AFTER_STEPS = 20  # timed steps (after a first, untimed one) before a time budget fits steps
FIT_EVERY = 100  # then refitted every this many steps, from the rate since the last fit: runs
# sharing a machine, started a few seconds apart, and validation pauses all move the rate
FIT_MARGIN = 0.9  # share of the remaining time given to steps; the rest to validation, saving


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: Path
    step: int
    interrupted: bool
    losses: list[float] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)  # this call's validations
    best_psnr: float = float("nan")  # the run's best validation, earlier calls' included


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate of step ``step`` (0-based): warm-up, then the schedule's kind."""
    base, s = cfg.optim.lr, cfg.schedule
    if step < s.warmup_steps:
        return base * (step + 1) / s.warmup_steps
    if s.kind == "step":
        return base * s.gamma ** (step // s.step_size)
    if s.kind == "cosine":
        span = max(1, cfg.steps - s.warmup_steps)
        progress = min(1.0, (step - s.warmup_steps) / span)
        return s.min_lr + (base - s.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    return base


def fit_steps(max_steps: int, step: int, seconds_per_step: float, seconds_left: float) -> int:
    """The run length a time budget allows: ``step`` plus the steps that fit in most of the
    time left at the measured rate, never more than ``max_steps`` (the recipe's)."""
    more = int(FIT_MARGIN * max(0.0, seconds_left) / max(seconds_per_step, 1e-9))
    return max(step, min(max_steps, step + more))


class _BudgetFit:
    """When and to what a time budget sets a run's length: after ``FIT_AFTER_STEPS`` timed
    steps (the first is untimed), then every ``FIT_EVERY`` steps, from the rate since the last
    fit. The steps it fits at depend on the step alone, so every process fits together."""

    def __init__(self, budget_s: float, started: float, first_step: int, max_steps: int) -> None:
        self.budget_s, self.started, self.max_steps = budget_s, started, max_steps
        self.first_fit = first_step + 1 + FIT_AFTER_STEPS
        self.clock_step, self.clock = first_step + 1, 0.0

    def __call__(self, step: int) -> tuple[int, float] | None:
        """(steps that fit, seconds per step) if a fit is due after ``step``, else None."""
        if step == self.clock_step:
            self.clock = time.perf_counter()
            return None
        if step != self.first_fit and not (step > self.first_fit and step % FIT_EVERY == 0):
            return None
        now = time.perf_counter()
        per_step = (now - self.clock) / (step - self.clock_step)
        self.clock_step, self.clock = step, now
        left = self.budget_s - (now - self.started)
        return fit_steps(self.max_steps, step, per_step, left), per_step


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise CsrnetError("device cuda was asked for, but CUDA is not available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":  # an index: torch.cuda.set_device refuses a bare "cuda"
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
    return cls(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)


def load_initial_weights(model: CSRnet, path: str) -> None:
    """Fine-tuning: copy weights from a .safetensors file or a checkpoint (.pt)."""
    p = Path(path)
    if not p.is_file():
        raise CsrnetError(f"init_from {p}: no such file")
    if p.suffix == ".safetensors":
        source, _ = load_weights(p)
        state = source.state_dict()
    else:
        state = read_checkpoint(p)["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CsrnetError(
            f"init_from {p}: weights do not fit this model ({str(exc).splitlines()[0]})"
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
    for deg in validation_settings(cfg):
        result = evaluate_folder(folder, deg, restore_fn(model, device), limit=cfg.data.val_images)
        scores[f"psnr_{deg.label}"] = result.psnr
    model.train()
    scores["psnr"] = float(np.mean(list(scores.values())))
    return scores


def optimisation_step(
    cfg: TrainConfig,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    lr: float,
    step: int,
) -> float:
    """Forward (bf16 autocast on CUDA), loss of eq. 5, backward, clipping, update; the loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss_fn = F.l1_loss if cfg.loss == "l1" else F.mse_loss
    cuda = inputs.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else contextlib.nullcontext():
        loss = loss_fn(net(inputs).float(), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if cfg.optim.clip == "adjustable":  # VDSR: the step lr * grad stays within clip_value
        torch.nn.utils.clip_grad_value_(params, cfg.optim.clip_value / lr)
    elif cfg.optim.clip == "norm":
        torch.nn.utils.clip_grad_norm_(params, cfg.optim.clip_value)
    optimizer.step()
    value = loss.item()
    if not math.isfinite(value):
        raise CsrnetError(f"step {step}: the loss is {value}; lower optim.lr or clip gradients")
    return value


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
    model = CSRnet(**asdict(cfg.model.build()))
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
            f"{sorted({o.test.split('/')[0] for o in images.excluded}) or 'no test set'}); "
            f"{n_val} validation images from {cfg.data.val}",
            f"device     {device}"
            + (", bf16 autocast, channels_last" if device.type == "cuda" else ""),
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
    last = run_dir / "last.pt"
    if resume and not last.is_file():
        raise CsrnetError(f"{run_dir}: nothing to resume (no last.pt)")
    if not resume and not dry_run and last.is_file():
        raise CsrnetError(
            f"{run_dir}: holds a run already; pass --resume or choose another --run-dir"
        )
    if cfg.init_from and not Path(cfg.init_from).is_file():
        raise CsrnetError(f"init_from {cfg.init_from}: no such file")
    if cfg.data.batch_size % world:
        raise CsrnetError(
            f"data.batch_size {cfg.data.batch_size} is not divisible by {world} processes"
        )

    train_dirs = [cfg.data.resolve(d) for d in cfg.data.train]
    scales = cfg.task.levels if cfg.task.task == "sr" else []
    exclude = [cfg.data.resolve(d) for d in cfg.data.exclude_overlaps_with]
    images = TrainingImages.load(
        train_dirs, cfg.task.task, scales, cfg.data.patch_size, exclude, progress and rank == 0
    )
    n_val = len(list_images(cfg.data.resolve(cfg.data.val)))
    n_val = min(n_val, cfg.data.val_images or n_val)
    if dry_run:
        print(describe_plan(cfg, images, n_val, device, world))
        return TrainResult(run_dir, 0, False)

    own_group = world > 1 and not dist.is_initialized()
    if own_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(cfg.seed)
    model = CSRnet(**asdict(cfg.model.build()))
    if cfg.init_from and not resume:
        load_initial_weights(model, cfg.init_from)
    model.to(device)
    optimizer = make_optimizer(cfg, model.parameters())
    step, best, history = 0, -math.inf, []
    fitted = False  # whether a time budget has fitted cfg.steps (kept across resumes)
    if resume:
        state = read_checkpoint(last)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CsrnetError(
                f"{last}: does not fit this config ({str(exc).splitlines()[0]})"
            ) from None
        step, best, history = state["step"], state["best_psnr"], state["history"]
        if state.get("fitted_steps"):
            cfg, fitted = replace(cfg, steps=state["fitted_steps"]), True
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    recipe = PatchRecipe(
        cfg.task.task, cfg.task.levels, cfg.task.level_range, cfg.data.patch_size, cfg.seed
    )
    stream = PatchStream(images, recipe, cfg.data.batch_size, step, rank, world)
    loader = DataLoader(
        stream, batch_size=None, num_workers=cfg.data.workers, pin_memory=device.type == "cuda"
    )
    is_main = rank == 0
    writer = None
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run_dir, cfg)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir / "tb"))

    def checkpoint() -> None:
        if not is_main:
            return
        write_checkpoint(
            last,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "best_psnr": best,
                "history": history,
                "config": cfg.to_dict(),
                "rng": rng_state(device),
                "fitted_steps": cfg.steps if fitted else None,
            },
        )

    result = TrainResult(run_dir, step, False)
    bar = tqdm(
        total=cfg.steps,
        initial=step,
        desc=cfg.name,
        unit="step",
        disable=None if (progress and is_main) else True,
    )
    data_time = compute_time = 0.0  # since the last log line
    timed_steps = 0
    budget_s = cfg.time_budget_minutes * 60
    started = time.perf_counter()
    # a resumed run keeps the schedule its checkpoint was fitted to
    budget_fit = _BudgetFit(budget_s, started, step, cfg.steps) if budget_s and not fitted else None
    model.train()
    with _StopFlag() as stop:
        batches = iter(loader)
        while step < cfg.steps:
            t0 = time.perf_counter()
            inputs, targets = next(batches)
            inputs, targets = (
                inputs.to(device, non_blocking=True),
                targets.to(device, non_blocking=True),
            )
            if device.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            t1 = time.perf_counter()
            lr = lr_at(cfg, step)
            loss_value = optimisation_step(cfg, net, optimizer, inputs, targets, lr, step)
            step += 1
            t2 = time.perf_counter()
            data_time, compute_time = data_time + t1 - t0, compute_time + t2 - t1
            timed_steps += 1
            result.losses.append(loss_value)
            bar.update(1)
            fit = budget_fit(step) if budget_fit else None
            if fit:
                steps, per_step = fit
                if world > 1:  # every process takes rank 0's value
                    shared = torch.tensor([steps], device=device)
                    dist.broadcast(shared, 0)
                    steps = int(shared.item())
                if is_main and not fitted:
                    tqdm.write(
                        f"{cfg.name}: {per_step:.3f} s/step, the time budget fits "
                        f"{steps:,} steps (refitted every {FIT_EVERY})"
                    )
                changed = steps != cfg.steps
                cfg, fitted = replace(cfg, steps=steps), True
                bar.total = steps
                if is_main and changed:
                    write_config(run_dir, cfg)
            final = step == cfg.steps
            out_of_time = bool(budget_s) and time.perf_counter() - started > budget_s
            ending = final or out_of_time  # log, validate and checkpoint this step
            if is_main and ((cfg.log_every and step % cfg.log_every == 0) or ending):
                share = data_time / max(1e-9, data_time + compute_time)
                bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.3g}", data=f"{share:.0%}")
                writer.add_scalar("train/loss", loss_value, step)
                writer.add_scalar("train/lr", lr, step)
                writer.add_scalar(
                    "train/step_seconds", (data_time + compute_time) / timed_steps, step
                )
                writer.add_scalar("train/data_share", share, step)
                data_time = compute_time = 0.0
                timed_steps = 0
            if is_main and ((cfg.val_every and step % cfg.val_every == 0) or ending):
                record = {"step": step, "time": time.time(), **validate(model, cfg, device)}
                history.append(record)
                result.validation.append(record)
                log_validation(writer, run_dir, record)
                if record["psnr"] > best:
                    best = record["psnr"]
                    payload = {"model": model.state_dict(), "step": step, "best_psnr": best}
                    write_checkpoint(
                        run_dir / "best.pt",
                        {**payload, "config": cfg.to_dict(), "history": history},
                    )
            if is_main and ((cfg.ckpt_every and step % cfg.ckpt_every == 0) or ending):
                checkpoint()
            interrupted = stop.raised or out_of_time or (stop_at is not None and step >= stop_at)
            if world > 1:
                flag = torch.tensor([float(interrupted)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                interrupted = bool(flag.item())
            if interrupted and not final:
                if not out_of_time:  # else this step's checkpoint is written already
                    checkpoint()
                result.interrupted = True
                break
    bar.close()
    if writer is not None:
        writer.close()
    if world > 1:
        dist.barrier()
    if own_group:
        dist.destroy_process_group()
    result.step = step
    result.best_psnr = max((r["psnr"] for r in history), default=float("nan"))
    return result


if __name__ == "__main__":  # torchrun --nproc_per_node=N -m csrnet.train CONFIG [options]
    from .cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
