"""Which torch device a command runs on: "cpu", "cuda" (this process's GPU under torchrun)
or "auto"; and its name, as benchmarks and logs report it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from csrnet.errors import CsrnetError

__all__ = ["device_label", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise CsrnetError("device cuda was asked for, but CUDA is not available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":  # an index: torch.cuda.set_device refuses a bare "cuda"
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def device_label(device: str) -> str:
    """Where a score's seconds were measured: ``cpu: <model>`` or ``cuda: <GPU>``."""
    if device.startswith("cuda"):
        return f"cuda: {torch.cuda.get_device_name(torch.device(device))}"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"cpu: {line.split(':', 1)[1].strip()}"
    except OSError:
        pass
    return f"cpu: {platform.processor() or platform.machine()}"
