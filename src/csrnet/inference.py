"""Running a model on one Y image (numpy in, numpy out)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .model import CSRnet

__all__ = ["restore_fn"]


def restore_fn(
    model: CSRnet, device: torch.device | str = "cpu"
) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping a degraded Y image (float, [0, 255]) to the restored one, in fp32."""
    device = torch.device(device)

    def restore(y: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(y, dtype=np.float32) / 255.0)[None, None].to(device)
        with torch.inference_mode():
            out = model(x)
        return out[0, 0].float().cpu().numpy().astype(np.float64) * 255.0

    return restore
