"""One call of training after its checks (``csrnet.training.loop.train``): the model,
optimiser and run state, the step loop, and what it writes (rank 0 only): ``config.yaml``,
checkpoints, validation records and TensorBoard logs."""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from csrnet.datasets.patches import TrainingImages
from csrnet.devices import device_label
from csrnet.errors import CsrnetError, first_line, warn
from csrnet.model import CSRnet
from csrnet.training.batches import make_batches, next_batch
from csrnet.training.checkpoint import previous, read_checkpoint, write_checkpoint
from csrnet.training.config import ModelSpec, TrainConfig, write_run_config
from csrnet.training.engine import EagerStep, LossLog, engine_class
from csrnet.training.optimizer import make_optimizer, use_lr_kind, use_training_layout
from csrnet.training.precision import Precision, choose_precision
from csrnet.training.schedule import FIT_EVERY, BudgetFit, StepClock, lr_at
from csrnet.training.validation import log_validation, validate
from csrnet.weights import load_weights

__all__ = ["TrainResult", "Trainer", "read_resume_state"]


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


def model_changes(trained: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """How ``cfg``'s model differs from the one a checkpoint's config (``trained``) built,
    as "field old -> new": a change without weights of its own (``input_skip``) would
    otherwise load the checkpoint silently."""
    old, new = ModelSpec.from_dict(trained.get("model", {})).build(), cfg.model_config
    return [
        f"{f.name} {getattr(old, f.name)} -> {getattr(new, f.name)}"
        for f in dataclasses.fields(old)
        if getattr(old, f.name) != getattr(new, f.name)
    ]


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


class Trainer:
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
        self.model = CSRnet(cfg.model_config)
        if cfg.init_from and not resume:
            load_initial_weights(self.model, cfg.init_from)
        self.model.to(device)
        self.optimizer = make_optimizer(cfg, self.model.parameters(), device)
        self.step, self.best, self.history = 0, -math.inf, []
        self.precisions: list[dict[str, Any]] = []  # one record per call of train()
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
            write_run_config(run_dir, cfg)
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tb"))

    def _restore(self, cfg: TrainConfig, state: dict[str, Any]) -> TrainConfig:
        """Take up a checkpoint's weights, optimiser, step, history, fitted length and RNG."""
        changed = model_changes(state["config"], cfg)
        if changed:
            raise CsrnetError(
                f"{self.run_dir / 'last.pt'}: a resumed run keeps its model; this config "
                f"changes model {', '.join(changed)}"
            )
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CsrnetError(
                f"{self.run_dir / 'last.pt'}: does not fit this config ({first_line(exc)})"
            ) from None
        use_lr_kind(self.optimizer, cfg, self.device)  # the checkpoint's engine may differ
        self.step, self.best, self.history = state["step"], state["best_psnr"], state["history"]
        self.precisions = state.get("precision", [])
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
                "precision": self.precisions,
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
            more = {"config": self.cfg.to_dict(), "history": self.history}
            write_checkpoint(
                self.run_dir / "best.pt", {**payload, **more, "precision": self.precisions}
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
            write_run_config(self.run_dir, self.cfg)

    def _any_rank(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        shared = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(shared, op=dist.ReduceOp.MAX)
        return bool(shared.item())

    def run(self, images: TrainingImages, stop_at: int | None) -> TrainResult:
        """The step loop: a step, then what falls due after it, until the end or a stop."""
        cfg, device = self.cfg, self.device
        host_batches, device_batches = make_batches(
            cfg, images, device, self.step, self.rank, self.world
        )
        self.precision = self._choose_precision()
        engine = engine_class(cfg, device)(
            cfg, self.net, self.optimizer, device, device_batches, self.precision.bf16
        )
        result = TrainResult(self.run_dir, self.step, False)
        self.bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            desc=cfg.name,
            unit="step",
            disable=None if (self.progress and self.is_main) else True,
        )
        self.losses, self.clock, self.loss_value = LossLog(), StepClock(), float("nan")
        self.budget_s, self.started = cfg.time_budget_minutes * 60, time.perf_counter()
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
        # a resumed run keeps the schedule its checkpoint was fitted to
        fitting = self.budget_s and not self.fitted
        self.budget_fit = (
            BudgetFit(self.budget_s, self.started, self.step, cfg.steps, sync) if fitting else None
        )
        self.model.train()
        with _StopFlag() as stop:
            while self.step < self.cfg.steps:
                lr = self._train_step(engine, host_batches)
                if self._between_steps(result, lr, stop.raised, stop_at):
                    break
        self.bar.close()
        if self.writer is not None:
            self.writer.close()
        result.step = self.step
        result.best_psnr = max((r["psnr"] for r in self.history), default=float("nan"))
        return result

    def _train_step(self, engine: EagerStep, host_batches) -> float:
        """One optimisation step (its loss stays on the device); its learning rate."""
        t0 = time.perf_counter()
        batch = next_batch(host_batches, self.device) if host_batches is not None else None
        self.clock.data(time.perf_counter() - t0)
        lr = lr_at(self.cfg, self.step)
        self.losses.add(engine(self.step, lr, batch))
        self.step += 1
        self.bar.update(1)
        return lr

    def _between_steps(
        self, result: TrainResult, lr: float, stop_raised: bool, stop_at: int | None
    ) -> bool:
        """Refit the time budget, read the losses, log, validate and checkpoint as each falls
        due after the step just trained; whether the run stops here."""
        fit = self.budget_fit(self.step) if self.budget_fit else None
        if fit:
            self._apply_fit(fit, self.bar)
        cfg, step = self.cfg, self.step
        final = step == cfg.steps
        out_of_time = bool(self.budget_s) and time.perf_counter() - self.started > self.budget_s
        ending = final or out_of_time  # log, validate and checkpoint this step
        interrupted = stop_raised or out_of_time or (stop_at is not None and step >= stop_at)
        read_every = cfg.log_every or FIT_EVERY  # losses stay on the device between reads
        if ending or interrupted or step % read_every == 0:
            values = self.losses.read(step)
            result.losses.extend(values)
            self.loss_value = values[-1] if values else self.loss_value
        if self.is_main and ((cfg.log_every and step % cfg.log_every == 0) or ending):
            self._log(self.bar, self.clock, self.loss_value, lr)
        with self.clock.pause():
            if self.is_main and ((cfg.val_every and step % cfg.val_every == 0) or ending):
                self.validate(result)
            if self.is_main and ((cfg.ckpt_every and step % cfg.ckpt_every == 0) or ending):
                self.checkpoint()
        if self._any_rank(interrupted) and not final:
            if not out_of_time:  # else this step's checkpoint is written already
                self.checkpoint()
            result.interrupted = True
            return True
        return False

    def _choose_precision(self) -> Precision:
        """This call's precision (a resumed run probes again: the machine may differ), told
        to the run log and TensorBoard and kept in the checkpoint."""
        cfg, side, config = self.cfg, self.cfg.data.patch_size, self.model.config
        shape = (cfg.data.batch_size // self.world, config.image_channels, side, side)
        chosen = choose_precision(cfg.precision, self.device, config, shape, cfg.loss)
        self.precisions.append(
            {
                "from_step": self.step,
                "precision": chosen.name,
                "reason": chosen.reason,
                "probe_s": chosen.probe_s,
                "device": device_label(str(self.device)),
            }
        )
        if self.is_main:
            tqdm.write(f"{cfg.name}: precision {chosen.describe()}")
            self.writer.add_text("precision", chosen.describe(), self.step)
            self.writer.add_scalar("train/bf16", float(chosen.bf16), self.step)
        return chosen

    def _log(self, bar: tqdm, clock: StepClock, loss_value: float, lr: float) -> None:
        """Progress bar and TensorBoard scalars at a log step (losses were just read, so
        the GPU has caught up and the clock is honest)."""
        step_s, share = clock.lap()
        bar.set_postfix(loss=f"{loss_value:.4g}", lr=f"{lr:.3g}", data=f"{share:.0%}")
        self.writer.add_scalar("train/loss", loss_value, self.step)
        self.writer.add_scalar("train/lr", lr, self.step)
        self.writer.add_scalar("train/step_seconds", step_s, self.step)
        self.writer.add_scalar("train/data_share", share, self.step)
