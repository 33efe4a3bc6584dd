"""One optimisation step of training, three ways (the recipe's ``engine``).

- ``eager``: PyTorch as written. Works everywhere, with either patch sampler.
- ``compile``: the loss (the forward and, through AOTAutograd, the backward) and the device
  patch sampler compiled by ``torch.compile`` in ``compile_mode`` (``reduce-overhead`` adds
  CUDA graphs on the GPU). Works on the CPU too, which is how the tests check it.
- ``graph``: the whole step (drawing the patches on the device, forward, loss, backward,
  clipping, the fused AdamW update) captured once as one CUDA graph and replayed: one launch
  per step instead of thousands, and no compile time. CUDA only, one process, with
  ``data.sampler: device`` and Adam(W) clipped by norm or not at all.

No engine reads the loss back: each returns it as a device tensor, and :class:`LossLog`
reads a run of them in one transfer, so the host never waits for the GPU between steps.

Each engine's step is ``engine(step, lr)`` (device sampler) or ``engine(step, lr, batch)``
(host sampler: ``batch`` is (inputs, targets) on the device already).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from csrnet.errors import CsrnetError
from csrnet.training.batches import DeviceBatches
from csrnet.training.config import TrainConfig
from csrnet.training.optimizer import set_lr
from csrnet.training.precision import LossOf

__all__ = ["EagerStep", "LossLog", "check_engine", "engine_class"]

GRAPH_WARMUP_STEPS = 3  # eager steps (on a side stream) before the capture, as CUDA asks


class LossLog:
    """Per-step losses kept on the device; :meth:`read` fetches them in one transfer."""

    def __init__(self) -> None:
        self.pending: list[torch.Tensor] = []

    def add(self, loss: torch.Tensor) -> None:
        self.pending.append(loss)

    def read(self, last_step: int) -> list[float]:
        """The losses added since the last read (the last of them at step ``last_step``,
        1-based); a non-finite one is an error naming its step."""
        if not self.pending:
            return []
        values = torch.stack(self.pending).tolist()
        self.pending = []
        for offset, value in enumerate(values):
            if not math.isfinite(value):
                step = last_step - len(values) + 1 + offset
                raise CsrnetError(
                    f"step {step}: the loss is {value}; lower optim.lr or clip gradients"
                )
        return values


class EagerStep:
    """Forward, loss, backward, clipping, update, in PyTorch's eager mode."""

    def __init__(
        self,
        cfg: TrainConfig,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        batches: DeviceBatches | None,
        bf16: bool,
    ) -> None:
        self.cfg, self.optimizer = cfg, optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        # CUDA graphs forbid autocast's weight cache: the capture would keep stale casts
        cache = cfg.engine != "graph"
        self.loss = LossOf(net, cfg.loss, device, bf16, cache=cache)
        self.sample = batches
        self.step_t = torch.zeros((), dtype=torch.int64, device=device)

    def _update(self, lr: float) -> None:
        clip, value = self.cfg.optim.clip, self.cfg.optim.clip_value
        if clip == "adjustable":  # VDSR: the step lr * grad stays within clip_value
            torch.nn.utils.clip_grad_value_(self.params, value / lr)
        elif clip == "norm":
            torch.nn.utils.clip_grad_norm_(self.params, value, foreach=True)
        self.optimizer.step()

    def _body(self, lr: float, batch: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        inputs, targets = batch if batch is not None else self.sample(self.step_t)
        loss = self.loss(inputs, targets)
        loss.backward()
        self._update(lr)
        return loss

    def __call__(
        self, step: int, lr: float, batch: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Train step ``step`` (0-based) at learning rate ``lr``; the loss, on the device."""
        self.step_t.fill_(step)
        set_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        return self._body(lr, batch).detach().clone()


class CompiledStep(EagerStep):
    """:class:`EagerStep` with the loss and the sampler compiled by ``torch.compile``."""

    def __init__(self, cfg: TrainConfig, net, optimizer, device, batches, bf16) -> None:
        super().__init__(cfg, net, optimizer, device, batches, bf16)
        mode = None if cfg.compile_mode == "default" else cfg.compile_mode
        self.graphs = mode in ("reduce-overhead", "max-autotune") and device.type == "cuda"
        self.loss = torch.compile(self.loss, mode=mode)
        if batches is not None:
            self.sample = torch.compile(batches.__call__, mode=mode)

    def __call__(self, step, lr, batch=None):
        if self.graphs:  # outputs of the last step's graphs may be overwritten now
            torch.compiler.cudagraph_mark_step_begin()
        return super().__call__(step, lr, batch)


class GraphStep(EagerStep):
    """The whole step as one CUDA graph: a few eager steps, a capture, then replays."""

    def __init__(self, cfg: TrainConfig, net, optimizer, device, batches, bf16) -> None:
        super().__init__(cfg, net, optimizer, device, batches, bf16)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm_steps = 0
        self.static_loss: torch.Tensor | None = None

    def __call__(self, step, lr, batch=None):
        self.step_t.fill_(step)
        set_lr(self.optimizer, lr)
        if self.graph is None and self.warm_steps < GRAPH_WARMUP_STEPS:
            self.warm_steps += 1
            return self._side_stream_step(lr)
        if self.graph is None:
            self._capture(lr)
        self.graph.replay()
        return self.static_loss.detach().clone()

    def _side_stream_step(self, lr: float) -> torch.Tensor:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._body(lr, None).detach().clone()
        torch.cuda.current_stream().wait_stream(stream)
        return loss

    def _capture(self, lr: float) -> None:
        """Record one step. Gradients are None going in, so the backward writes fresh ones
        into the graph's memory, and every replay overwrites them (no zeroing needed)."""
        self.optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_loss = self._body(lr, None)
        self.graph = graph


def check_engine(cfg: TrainConfig, device: torch.device, world: int) -> None:
    """Refuse an engine this run cannot use, in one line."""
    if cfg.engine != "graph":
        return
    if device.type != "cuda":
        raise CsrnetError(
            f"engine graph needs CUDA (this run is on {device.type}); use engine compile or eager"
        )
    if world > 1:
        raise CsrnetError("engine graph runs in one process; use engine compile under torchrun")


def engine_class(cfg: TrainConfig, device: torch.device) -> type[EagerStep]:
    """The recipe's engine (see the module docstring), made as ``cls(cfg, net, optimizer,
    device, batches, bf16)``; on CUDA, cuDNN set as the recipe says."""
    if device.type == "cuda":  # a process-wide switch: the last engine made sets it
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    return {"eager": EagerStep, "compile": CompiledStep, "graph": GraphStep}[cfg.engine]
