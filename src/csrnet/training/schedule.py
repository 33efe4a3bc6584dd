"""The learning rate of each step, and a time budget that fits a run's length to the minutes
it has (after a few timed steps, refitted as the rate moves)."""

from __future__ import annotations

import contextlib
import math
import time

from csrnet.training.config import TrainConfig

__all__ = ["BudgetFit", "StepClock", "fit_steps", "lr_at"]


FIT_AFTER_STEPS = 20  # timed steps (after a first, untimed one) before a time budget fits steps
FIT_EVERY = 100  # then refitted every this many steps, from the rate since the last fit: runs
# sharing a machine, started a few seconds apart, and validation pauses all move the rate
FIT_MARGIN = 0.9  # share of the remaining time given to steps; the rest to validation, saving


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


class BudgetFit:
    """When and to what a time budget sets a run's length: after ``FIT_AFTER_STEPS`` timed
    steps (the first is untimed), then every ``FIT_EVERY`` steps, from the rate since the last
    fit. The steps it fits at depend on the step alone, so every process fits together."""

    def __init__(
        self, budget_s: float, started: float, first_step: int, max_steps: int, sync=None
    ) -> None:
        self.budget_s, self.started, self.max_steps = budget_s, started, max_steps
        self.first_fit = first_step + 1 + FIT_AFTER_STEPS
        self.clock_step, self.clock = first_step + 1, 0.0
        self.sync = sync or (lambda: None)  # waits for queued GPU work: the clock is honest

    def __call__(self, step: int) -> tuple[int, float] | None:
        """(steps that fit, seconds per step) if a fit is due after ``step``, else None."""
        if step == self.clock_step:
            self.sync()
            self.clock = time.perf_counter()
            return None
        if step != self.first_fit and not (step > self.first_fit and step % FIT_EVERY == 0):
            return None
        self.sync()
        now = time.perf_counter()
        per_step = (now - self.clock) / (step - self.clock_step)
        self.clock_step, self.clock = step, now
        left = self.budget_s - (now - self.started)
        return fit_steps(self.max_steps, step, per_step, left), per_step


class StepClock:
    """Seconds per step between log lines, less validation and checkpoint pauses, and the
    share of it spent making host batches."""

    def __init__(self) -> None:
        self.start, self.paused, self.data_s, self.steps = time.perf_counter(), 0.0, 0.0, 0

    def data(self, seconds: float) -> None:
        self.data_s += seconds
        self.steps += 1

    @contextlib.contextmanager
    def pause(self):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - t0

    def lap(self) -> tuple[float, float]:
        """(seconds per step, data share) since the last lap; starts the next."""
        busy = max(1e-9, time.perf_counter() - self.start - self.paused)
        per_step, share = busy / max(1, self.steps), min(1.0, self.data_s / busy)
        self.start, self.paused, self.data_s, self.steps = time.perf_counter(), 0.0, 0.0, 0
        return per_step, share
