"""The optimiser of a run, its learning rate as the engine needs it, and the memory layout of
the weights and the optimiser's state."""

from __future__ import annotations

import torch
from torch import nn

from csrnet.model import CSRnet
from csrnet.training.config import TrainConfig

__all__ = ["make_optimizer", "set_lr", "use_lr_kind", "use_training_layout"]


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


def use_lr_kind(optimizer: torch.optim.Optimizer, cfg: TrainConfig, device: torch.device) -> None:
    """Learning rates as the engine needs them, after loading an optimiser's state (which
    keeps the kind of the run that saved it): device tensors for graph, floats otherwise."""
    for group in optimizer.param_groups:
        value = float(group["lr"])
        if cfg.engine == "graph":
            group["lr"] = torch.tensor(value, dtype=torch.float32, device=device)
        else:
            group["lr"] = value
