"""A photo through a model: colour, any size under a memory cap.

The paper's models restore the Y channel (MATLAB ``rgb2ycbcr``); Cb and Cr are upsampled with
MATLAB bicubic for SR or taken from the input for denoising and JPEG, as in the paper. An RGB
model restores every channel. Grayscale stays grayscale; an alpha channel is carried through
(resized for SR); the ICC profile is kept. A 16-bit photo goes through the same arithmetic on
its own scale (the network sees [0, 255], as in training) and comes out with 16 bits.
"""

from __future__ import annotations

import math

import numpy as np

from csrnet.errors import CsrnetError
from csrnet.inference.options import AUTO, DEFAULT_RUN, RunOptions
from csrnet.inference.photo import Photo, quantize
from csrnet.inference.runner import Model, TileProgress, restore_fn
from csrnet.inference.strength import auto_strength
from csrnet.inference.tiling import DEFAULT_OVERLAP, MIN_CORE
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.matlab import imresize, rgb2ycbcr, ycbcr2rgb

__all__ = ["auto_tile", "restore_photo"]

MIN_TILE = 2 * DEFAULT_OVERLAP + MIN_CORE
FASTEST_TILE = 384  # benchmarks/inference.py: faster than 256 (less overlap), as fast as 512
PROCESS_BYTES = 400 * 1024**2
PIPELINE_BYTES_PER_PIXEL = 32
ROWS_PER_CHUNK = 256  # colour conversion in row blocks bounds its float64 temporaries


def auto_tile(model: Model, memory_cap: int, pixels: int) -> int:
    """The tile side for an image of ``pixels`` output pixels under ``memory_cap`` bytes.

    Measured with benchmarks/inference.py on the 2-core CPU (channels_last): the D8R6
    forward pass holds about 7 KiB per tile pixel (scaled here by the model's feature maps),
    the process about 400 MiB, and the colour pipeline about 32 bytes per image pixel.
    Tiles above FASTEST_TILE gain no speed on the CPU, so that is the upper bound.
    """
    cfg = model.config
    maps = cfg.first_channels * 2 + cfg.channels * (cfg.depth + 8)
    per_tile_pixel = 7 * 1024 * maps / (64 * 2 + 32 * 16)
    budget = memory_cap - PROCESS_BYTES - PIPELINE_BYTES_PER_PIXEL * pixels
    side = int(math.sqrt(max(budget, 0) / per_tile_pixel))
    return max(MIN_TILE, min(FASTEST_TILE, side - side % 32))


def restore_photo(
    photo: Photo,
    model: Model,
    deg: Degradation,
    run: RunOptions = DEFAULT_RUN,
    on_tile: TileProgress | None = None,
) -> Photo:
    """Restore a photo with ``model`` for setting ``deg`` (SR: the photo is the low-resolution
    image and the result is ``deg.level`` times larger), as ``run`` says; ``on_tile(done,
    total)`` reports progress (with the self-ensemble, each of the 8 passes counts its tiles
    again)."""
    pixels = photo.pixels
    if min(pixels.shape[:2]) < 2:
        raise CsrnetError(
            f"image is {pixels.shape[1]}x{pixels.shape[0]}; it needs at least 2x2 pixels"
        )
    if run.strength == 0.0:  # nothing of the model's change is kept: the photo as it is
        return Photo(pixels.copy(), photo.alpha, photo.icc_profile, strength=0.0)
    scale = int(deg.level) if deg.task == "sr" else 1
    size = pixels.shape[0] * pixels.shape[1] * scale**2
    tile = run.tile or auto_tile(model, run.memory_cap, size)
    network = restore_fn(model, run.device, run.ensemble, tile, run.overlap, on_tile, run.batch)
    if model.config.image_channels == 3:  # an RGB model: every channel through the network
        rgb, kept = _restore_rgb(network, pixels, run.strength)
        return Photo(rgb, photo.alpha, photo.icc_profile, strength=_kept(deg, kept))
    channels = _planes(pixels, photo.peak)  # Y (and Cb, Cr) as float32 on [0, 1]
    if scale > 1:  # MATLAB bicubic: the network's input, and the colour of the result
        channels = [
            imresize(c.astype(np.float64), float(scale)).astype(np.float32) for c in channels
        ]
    y = channels[0] * 255.0
    y_out, kept = _blend(y, network(y), run.strength)
    y_out /= 255.0
    if len(channels) == 1:
        out = quantize(y_out * 255.0, photo.depth)
    else:
        out = _to_rgb(y_out, channels[1], channels[2], photo.depth)
    alpha = photo.alpha
    if alpha is not None and deg.task == "sr" and photo.peak == 255:
        alpha = imresize(alpha, float(deg.level))
    elif alpha is not None and deg.task == "sr":
        alpha = quantize(imresize(alpha / 257.0, float(deg.level)), alpha.dtype)
    return Photo(out, alpha, photo.icc_profile, strength=_kept(deg, kept))


def _kept(deg: Degradation, strength: float) -> float | None:
    """The strength a restored photo reports: none for SR, which has no input to blend."""
    return None if deg.task == "sr" else strength


def _restore_rgb(run, pixels: np.ndarray, strength: float | str) -> tuple[np.ndarray, float]:
    """An RGB model on a colour photo, or on a gray one as three equal channels (whose
    result is made gray again by averaging them); and the strength kept."""
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    scale = np.float32(255.0 / np.iinfo(pixels.dtype).max)  # to [0, 255] (1 for 8 bits)
    out = run(rgb.astype(np.float32) * scale)
    out = out if pixels.ndim == 3 else out.mean(axis=2)
    before = pixels.astype(np.float32) * scale
    blended, kept = _blend(before, out, strength)
    return quantize(blended, pixels.dtype), kept


def _blend(
    before: np.ndarray, after: np.ndarray, strength: float | str
) -> tuple[np.ndarray, float]:
    """``strength`` of the change from ``before`` to ``after`` (both on [0, 255]; 1:
    ``after`` itself; "auto": chosen from the change), and the strength kept."""
    if strength == AUTO:
        strength = auto_strength(before, after)
    strength = float(strength)
    return (after if strength == 1.0 else before + strength * (after - before)), strength


def _planes(pixels: np.ndarray, peak: int) -> list[np.ndarray]:
    """[gray] or [Y, Cb, Cr] (MATLAB rgb2ycbcr) as float32 planes on [0, 1]."""
    if pixels.ndim == 2:
        return [pixels.astype(np.float32) / float(peak)]
    ycc = np.empty(pixels.shape, np.float32)
    for r in range(0, pixels.shape[0], ROWS_PER_CHUNK):
        ycc[r : r + ROWS_PER_CHUNK] = rgb2ycbcr(pixels[r : r + ROWS_PER_CHUNK] / float(peak))
    return [ycc[..., 0], ycc[..., 1], ycc[..., 2]]


def _to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, dtype) -> np.ndarray:
    """RGB pixels of ``dtype`` from Y, Cb, Cr planes on [0, 1] (MATLAB ycbcr2rgb), in row
    blocks."""
    rgb = np.empty((*y.shape, 3), dtype)
    for r in range(0, y.shape[0], ROWS_PER_CHUNK):
        rows = slice(r, r + ROWS_PER_CHUNK)
        ycc = np.stack([y[rows], cb[rows], cr[rows]], axis=-1).astype(np.float64)
        rgb[rows] = quantize(ycbcr2rgb(ycc) * 255.0, dtype)
    return rgb
