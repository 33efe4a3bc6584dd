"""Running a model on one Y image (numpy in, numpy out): whole, tiled, or self-ensembled."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from .model import CSRnet
from .tiling import DEFAULT_OVERLAP, check_tile

__all__ = ["forward_tiled", "restore_fn", "self_ensemble"]

TileProgress = Callable[[int, int], None]  # (tiles done, tiles in all)


def forward_tiled(
    model: CSRnet,
    x: torch.Tensor,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    on_tile: TileProgress | None = None,
) -> torch.Tensor:
    """``model(x)`` computed on tiles of ``tile`` x ``tile`` pixels (0: the whole at once).

    Each tile keeps its core and discards an ``overlap``-pixel margin on each inner side,
    where the missing context would change the result (``csrnet.tiling``: the core must
    keep at least ``MIN_CORE`` pixels). ``on_tile(done, total)`` is called after each tile.
    """
    check_tile(tile, overlap)
    h, w = x.shape[-2:]
    if not tile or (h <= tile and w <= tile):
        out = model(x)
        if on_tile:
            on_tile(1, 1)
        return out
    core = tile - 2 * overlap
    out = torch.empty_like(x)
    total, done = math.ceil(h / core) * math.ceil(w / core), 0
    for y0 in range(0, h, core):
        for x0 in range(0, w, core):
            y1, x1 = min(y0 + core, h), min(x0 + core, w)
            ty0, tx0 = max(0, y0 - overlap), max(0, x0 - overlap)
            ty1, tx1 = min(h, y1 + overlap), min(w, x1 + overlap)
            result = model(x[..., ty0:ty1, tx0:tx1])
            out[..., y0:y1, x0:x1] = result[..., y0 - ty0 : y1 - ty0, x0 - tx0 : x1 - tx0]
            done += 1
            if on_tile:
                on_tile(done, total)
    return out


def self_ensemble(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The mean of ``run`` over the 8 flips/rotations of ``x``, each transformed back."""
    total = torch.zeros_like(x)
    for k in range(4):
        for flip in (False, True):
            t = torch.rot90(x, k, dims=(-2, -1))
            t = t.flip(-1) if flip else t
            y = run(t)
            y = y.flip(-1) if flip else y
            total += torch.rot90(y, -k, dims=(-2, -1))
    return total / 8


def restore_fn(
    model: CSRnet,
    device: torch.device | str = "cpu",
    ensemble: bool = False,
    tile: int = 0,
    overlap: int = DEFAULT_OVERLAP,
    on_tile: TileProgress | None = None,
) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping a degraded Y image (float, [0, 255]; (H, W, 3) RGB for an RGB model)
    to the restored one, in fp32.

    Args:
        model: the network, in eval mode.
        device: where to run it.
        ensemble: average over the 8 flips/rotations (the "+" results of the literature).
        tile: run on tiles of this size (0: the whole image at once).
        overlap: margin discarded on each inner side of a tile.
        on_tile: called with (tiles done, tiles in all) as the work goes (``csrnet serve``).
    """
    device = torch.device(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        return forward_tiled(model, x, tile, overlap, on_tile)

    def restore(y: np.ndarray) -> np.ndarray:
        planes = np.asarray(y, dtype=np.float32) / 255.0
        rgb = planes.ndim == 3  # (H, W, 3) for an RGB model
        x = torch.from_numpy(planes.transpose(2, 0, 1) if rgb else planes[None])[None]
        with torch.inference_mode():
            out = self_ensemble(run, x.to(device)) if ensemble else run(x.to(device))
        out = out[0].float().cpu().numpy() * np.float32(255.0)
        return out.transpose(1, 2, 0) if rgb else out[0]

    return restore
