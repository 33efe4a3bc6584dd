"""Running a model on one image (numpy in, numpy out): whole, tiled, or self-ensembled; the
runner (``restore_fn``) that restoring, evaluation and training's validation all use."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from csrnet.inference.tiling import DEFAULT_OVERLAP, check_tile, spans

__all__ = ["forward_tiled", "restore_fn", "self_ensemble"]

TileProgress = Callable[[int, int], None]  # (tiles done, tiles in all)
Model = Callable[[torch.Tensor], torch.Tensor]  # a CSRnet, or one of csrnet.inference.backends


def forward_tiled(
    model: Model,
    x: torch.Tensor,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    on_tile: TileProgress | None = None,
    batch: int = 1,
) -> torch.Tensor:
    """``model(x)`` computed on tiles of ``tile`` x ``tile`` pixels (0: the whole at once),
    up to ``batch`` tiles of one shape per call.

    Each tile keeps its core and discards an ``overlap``-pixel margin on each inner side,
    where the missing context would change the result (``csrnet.inference.tiling``: the core must
    keep at least ``MIN_CORE`` pixels). Cores start at multiples of the core size, so the
    coarse branches see the whole image's sampling grid. ``on_tile(done, total)`` follows
    the work.
    """
    check_tile(tile, overlap)
    h, w = x.shape[-2:]
    if not tile or (h <= tile and w <= tile):
        out = model(x)
        if on_tile:
            on_tile(1, 1)
        return out
    boxes = [(r, c) for r in spans(h, tile, overlap) for c in spans(w, tile, overlap)]
    groups: dict[tuple[int, int], list] = {}  # tiles by shape: the edge ones are shorter
    for r, c in boxes:
        groups.setdefault((r[3] - r[2], c[3] - c[2]), []).append((r, c))
    out, n, done = torch.empty_like(x), x.shape[0], 0
    for same in groups.values():
        for first in range(0, len(same), batch):
            chunk = same[first : first + batch]
            results = model(torch.cat([x[..., r[2] : r[3], c[2] : c[3]] for r, c in chunk]))
            for i, (r, c) in enumerate(chunk):
                core = results[i * n : (i + 1) * n]
                core = core[..., r[0] - r[2] : r[1] - r[2], c[0] - c[2] : c[1] - c[2]]
                out[..., r[0] : r[1], c[0] : c[1]] = core
            done += len(chunk)
            if on_tile:
                on_tile(done, len(boxes))
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
    model: Model,
    device: torch.device | str = "cpu",
    ensemble: bool = False,
    tile: int = 0,
    overlap: int = DEFAULT_OVERLAP,
    on_tile: TileProgress | None = None,
    batch: int = 1,
) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping a degraded Y image (float, [0, 255]; (H, W, 3) RGB for an RGB model)
    to the restored one, in fp32.

    Args:
        model: the network, in eval mode, or a model of ``csrnet.inference.backends``.
        device: where to run it.
        ensemble: average over the 8 flips/rotations (the "+" results of the literature).
        tile: run on tiles of this size (0: the whole image at once).
        overlap: margin discarded on each inner side of a tile.
        on_tile: called with (tiles done, tiles in all) as the work goes (``csrnet serve``).
        batch: tiles per call of the model.
    """
    device = torch.device(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        return forward_tiled(model, x, tile, overlap, on_tile, batch)

    def restore(y: np.ndarray) -> np.ndarray:
        planes = np.asarray(y, dtype=np.float32) / 255.0
        rgb = planes.ndim == 3  # (H, W, 3) for an RGB model
        x = torch.from_numpy(planes.transpose(2, 0, 1) if rgb else planes[None])[None]
        with torch.inference_mode():
            out = self_ensemble(run, x.to(device)) if ensemble else run(x.to(device))
        out = out[0].float().cpu().numpy() * np.float32(255.0)
        return out.transpose(1, 2, 0) if rgb else out[0]

    return restore
