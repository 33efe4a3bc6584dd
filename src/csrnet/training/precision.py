"""The arithmetic a training step runs in (the recipe's ``precision``), and the training loss
computed in it (:class:`LossOf`).

- ``fp32``: everything in float32.
- ``bf16``: the network's convolutions under bf16 autocast, with float32 master weights, the
  optimiser in float32, and the loss (and the global residual add, whose input is float32)
  in float32. Only where the device computes bf16 natively: a CUDA GPU that supports it, or a
  CPU with AMX-BF16 or AVX512-BF16 (``/proc/cpuinfo``'s ``amx_bf16`` / ``avx512_bf16``).
- ``auto``: bf16 on such a GPU; on such a CPU, whichever of the two a short probe at the
  start of the run times faster (forward and backward of the run's model on a batch of the
  run's shape, each way); fp32 on any other device.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

import csrnet.devices as devices
from csrnet.errors import CsrnetError
from csrnet.model import CSRnet, ModelConfig

__all__ = ["LossOf", "Precision", "choose_precision"]

PROBE_STEPS = 3  # timed forward-backward passes each way, after one untimed


@dataclass
class Precision:
    """What a run trains in, and why (written to the run log, TensorBoard and the export)."""

    name: str  # "fp32" or "bf16"
    reason: str
    probe_s: dict[str, float] = field(default_factory=dict)  # seconds per pass, by precision

    @property
    def bf16(self) -> bool:
        return self.name == "bf16"

    def describe(self) -> str:
        times = ", ".join(f"{k} {v:.3f} s" for k, v in self.probe_s.items())
        return f"{self.name} ({self.reason}{'; probe: ' + times if times else ''})"


def check_precision(name: str, device: torch.device) -> None:
    """Refuse, in one line, bf16 on a device that would only emulate it."""
    if name == "bf16" and not devices.native_bf16(device):
        what = "this GPU" if device.type == "cuda" else "this CPU (no amx_bf16 or avx512_bf16 flag)"
        raise CsrnetError(
            f"precision bf16: {what} does not compute bf16 natively; use precision fp32 or auto"
        )


def choose_precision(
    name: str, device: torch.device, model: ModelConfig, batch_shape: tuple[int, ...], loss: str
) -> Precision:
    """The precision a run trains in, as ``name`` (the recipe's) and this device say."""
    check_precision(name, device)
    if name != "auto":
        return Precision(name, "the recipe's")
    if not devices.native_bf16(device):
        return Precision("fp32", f"{device.type} without native bf16")
    if device.type == "cuda":
        return Precision("bf16", "native on this GPU")
    flags = "/".join(devices.cpu_bf16_flags())
    times = probe(device, model, batch_shape, loss)
    faster = "bf16" if times["bf16"] < times["fp32"] else "fp32"
    return Precision(faster, f"faster in the probe on this CPU ({flags})", times)


def autocast(device: torch.device, bf16: bool, cache: bool = True):
    """The autocast context of a training forward pass."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=cache)


class LossOf(nn.Module):
    """The training loss of ``net`` on a batch (eq. 5); the forward pass under bf16 autocast
    when ``bf16`` (``csrnet.training.precision``), the loss in float32 either way."""

    def __init__(
        self, net: nn.Module, loss: str, device: torch.device, bf16: bool, cache: bool = True
    ) -> None:
        super().__init__()
        self.net, self.device, self.bf16, self.cache = net, device, bf16, cache
        self.loss = F.l1_loss if loss == "l1" else F.mse_loss

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.bf16, self.cache):
            restored = self.net(inputs)
        return self.loss(restored.float(), targets)


def probe(
    device: torch.device, config: ModelConfig, batch_shape: tuple[int, ...], loss: str
) -> dict[str, float]:
    """Median seconds of a forward and backward pass of a fresh model, fp32 and bf16, the
    two taken in turn (so that a burst of other work on the machine weighs on both)."""
    torch.manual_seed(0)
    net = CSRnet(config).to(device).to(memory_format=torch.channels_last)
    inputs = torch.rand(batch_shape, device=device).contiguous(memory_format=torch.channels_last)
    targets = torch.rand(batch_shape, device=device)
    losses = {name: LossOf(net, loss, device, name == "bf16") for name in ("fp32", "bf16")}
    seconds: dict[str, list[float]] = {name: [] for name in losses}
    for _ in range(1 + PROBE_STEPS):  # the first pass of each: untimed set-up
        for name, times in seconds.items():
            net.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            losses[name](inputs, targets).backward()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - t0)
    return {name: statistics.median(times[1:]) for name, times in seconds.items()}
