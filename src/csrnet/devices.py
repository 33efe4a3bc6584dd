"""Which torch device a command runs on: "cpu", "cuda" (this process's GPU under torchrun)
or "auto"; its name, as benchmarks and logs report it; and what the CPU computes natively
(its bf16 and int8 units, read from ``/proc/cpuinfo``), on which the training precision and
the inference back end are chosen."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from csrnet.errors import CsrnetError

__all__ = [
    "CPU_BF16_FLAGS",
    "cpu_bf16_flags",
    "cpu_flags",
    "device_label",
    "native_bf16",
    "resolve_device",
]

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # native bf16 arithmetic
# the units a back end's speed and rounding depend on: bf16, int8 dot products, vector width
CPU_MATH_FLAGS = (*CPU_BF16_FLAGS, "amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


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


def cpu_flags(names: tuple[str, ...] = CPU_MATH_FLAGS) -> list[str]:
    """Those of the CPU flags ``names`` this machine reports (Linux; none elsewhere)."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [flag for flag in names if flag in words]


def cpu_bf16_flags() -> list[str]:
    """The CPU flags of native bf16 arithmetic this machine reports, e.g. amx_bf16."""
    return cpu_flags(CPU_BF16_FLAGS)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (not emulated in float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and bool(cpu_bf16_flags())
