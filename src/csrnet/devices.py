"""Which torch device a command runs on: "cpu", "cuda" (this process's GPU under torchrun)
or "auto"."""

from __future__ import annotations

import os

import torch

from csrnet.errors import CsrnetError

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise CsrnetError("device cuda was asked for, but CUDA is not available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":  # an index: torch.cuda.set_device refuses a bare "cuda"
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)
