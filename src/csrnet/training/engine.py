"""One optimisation step of training, three ways (the recipe's ``engine``), and the batches
it trains on (``make_batches``: the host stream or the device patch bank, ``data.sampler``).

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
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from csrnet.errors import CsrnetError
from csrnet.model import CSRnet
from csrnet.training.config import TrainConfig
from csrnet.training.data import PatchRecipe, PatchStream, TrainingImages
from csrnet.training.patchbank import PatchBank

__all__ = [
    "DeviceBatches",
    "LossLog",
    "make_batches",
    "make_engine",
    "make_optimizer",
    "next_batch",
    "use_training_layout",
]

GRAPH_WARMUP_STEPS = 3  # eager steps (on a side stream) before the capture, as CUDA asks


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
    recipe = PatchRecipe(
        cfg.task.task, cfg.task.levels, cfg.task.level_range, d.patch_size, cfg.seed
    )
    if d.sampler == "device":
        return None, DeviceBatches(
            PatchBank.build(images, recipe, device), d.batch_size, rank, world
        )
    stream = PatchStream(images, recipe, d.batch_size, start_step, rank, world)
    loader = DataLoader(
        stream, batch_size=None, num_workers=d.workers, pin_memory=device.type == "cuda"
    )
    return iter(loader), None


def next_batch(host_batches, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The next host batch on ``device`` (channels_last inputs, as the model)."""
    inputs, targets = next(host_batches)
    inputs = inputs.to(device, non_blocking=True)
    targets = targets.to(device, non_blocking=True)
    return inputs.contiguous(memory_format=torch.channels_last), targets


class LossOf(nn.Module):
    """The training loss of ``net`` on a batch (eq. 5), bf16 autocast on CUDA."""

    def __init__(self, net: nn.Module, loss: str, autocast: bool, cache: bool = True) -> None:
        super().__init__()
        self.net, self.autocast, self.cache = net, autocast, cache
        self.loss = F.l1_loss if loss == "l1" else F.mse_loss

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with torch.autocast(
            "cuda", dtype=torch.bfloat16, enabled=self.autocast, cache_enabled=self.cache
        ):
            restored = self.net(inputs)
        return self.loss(restored.float(), targets)


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


def make_optimizer(cfg: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    """The recipe's optimiser; on CUDA, Adam(W) is fused, and for the graph engine it is
    capturable with its learning rate a device tensor (updated in place every step)."""
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    cls = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
    kwargs: dict = {"lr": o.lr, "betas": tuple(o.betas), "weight_decay": o.weight_decay}
    if device.type == "cuda":
        kwargs["fused"] = True
    if cfg.engine == "graph":
        kwargs["capturable"] = True
        kwargs["lr"] = torch.tensor(o.lr, dtype=torch.float32, device=device)
    return cls(params, **kwargs)


def use_training_layout(
    model: CSRnet, optimizer: torch.optim.Optimizer, half_scale_nchw: bool = False
) -> None:
    """Lay the weights out as training runs them, and the optimiser's state to match.

    channels_last: cuDNN's preferred layout, and on the CPU 11% faster a step (TRAINING.md).
    With ``half_scale_nchw``, the half scale's residual bodies and the F_down into that scale
    stay NCHW (a forward pre-hook hands them NCHW inputs): in channels_last, cuDNN computes
    their bf16 weight gradients in a slow fp32 (tf32) kernel, a quarter of the GPU step
    (TRAINING.md). Call it once per model.
    """
    model.to(memory_format=torch.channels_last)
    if half_scale_nchw and model.config.scales > 1:
        for block in model.blocks:
            for module in (block.branches[1].body, block.down[0]):
                module.to(memory_format=torch.contiguous_format)
                module.register_forward_pre_hook(_inputs_to_nchw)
    # a resumed state keeps the layout it was saved in; fused Adam(W) wants its parameter's
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.dim() and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _inputs_to_nchw(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.contiguous() for a in args)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)  # a kernel with the value as its argument: no sync
        else:
            group["lr"] = lr


class EagerStep:
    """Forward, loss, backward, clipping, update, in PyTorch's eager mode."""

    def __init__(
        self,
        cfg: TrainConfig,
        net: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        batches: DeviceBatches | None,
    ) -> None:
        self.cfg, self.optimizer = cfg, optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        # CUDA graphs forbid autocast's weight cache: the capture would keep stale casts
        cache = cfg.engine != "graph"
        self.loss = LossOf(net, cfg.loss, autocast=device.type == "cuda", cache=cache)
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

    def __init__(self, cfg: TrainConfig, net, optimizer, device, batches) -> None:
        super().__init__(cfg, net, optimizer, device, batches)
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

    def __init__(self, cfg: TrainConfig, net, optimizer, device, batches) -> None:
        super().__init__(cfg, net, optimizer, device, batches)
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


def make_engine(
    cfg: TrainConfig,
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    batches: DeviceBatches | None,
) -> EagerStep:
    """The recipe's engine (see the module docstring)."""
    if device.type == "cuda":  # a process-wide switch: the last engine made sets it
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    cls = {"eager": EagerStep, "compile": CompiledStep, "graph": GraphStep}[cfg.engine]
    return cls(cfg, net, optimizer, device, batches)


def use_lr_kind(optimizer: torch.optim.Optimizer, cfg: TrainConfig, device: torch.device) -> None:
    """Learning rates as the engine needs them, after loading an optimiser's state (which
    keeps the kind of the run that saved it): device tensors for graph, floats otherwise."""
    for group in optimizer.param_groups:
        value = float(group["lr"])
        if cfg.engine == "graph":
            group["lr"] = torch.tensor(value, dtype=torch.float32, device=device)
        else:
            group["lr"] = value
