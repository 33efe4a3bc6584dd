"""Training checkpoints (``.pt``): written atomically, read without unpickling code."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .errors import CsrnetError
from .images import write_atomic

__all__ = ["read_checkpoint", "write_checkpoint"]


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint written by ``csrnet train`` (``torch.load`` with ``weights_only=True``)."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CsrnetError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise CsrnetError(
            f"{path}: not a readable checkpoint ({str(exc).splitlines()[0]})"
        ) from None


def write_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file, then rename it into place."""
    write_atomic(path, lambda tmp: torch.save(payload, tmp))
