"""Restoring real photos: colour, any size under a memory cap, and the weights to use.

The network restores the Y channel (MATLAB ``rgb2ycbcr``); Cb and Cr are upsampled with
MATLAB bicubic for SR or taken from the input for denoising and JPEG, as in the paper.
Grayscale stays grayscale; an alpha channel is carried through (resized for SR); EXIF
orientation is applied and the ICC profile kept. 16-bit images are refused (convert to 8
bits first): the models were trained on 8-bit data.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from csrnet.errors import CsrnetError
from csrnet.inference.choice import ModelChoice
from csrnet.inference.levels import AUTO, LevelReader, jpeg_quality_of
from csrnet.inference.tiles import Model, restore_fn
from csrnet.inference.tiling import DEFAULT_OVERLAP, MIN_CORE
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import decode_image
from csrnet.protocol.matlab import imresize, rgb2ycbcr, to_uint8, ycbcr2rgb

__all__ = [
    "Photo",
    "open_photo",
    "photo_from_pil",
    "photo_to_pil",
    "restore",
    "restore_photo",
]

DEFAULT_MEMORY_CAP = 2 * 1024**3
MIN_TILE = 2 * DEFAULT_OVERLAP + MIN_CORE
FASTEST_TILE = 384  # benchmarks/inference.py: faster than 256 (less overlap), as fast as 512
PROCESS_BYTES = 400 * 1024**2
PIPELINE_BYTES_PER_PIXEL = 32
ROWS_PER_CHUNK = 256  # colour conversion in row blocks bounds its float64 temporaries


@dataclass
class Photo:
    """A decoded photo: uint8 ``pixels`` (H, W) or (H, W, 3), optional uint8 ``alpha``,
    the ICC profile to write back, and, for a JPEG file, the IJG quality its tables say."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    jpeg_quality: int | None = None


def photo_from_pil(img: Image.Image, name: str = "image") -> Photo:
    """Convert a PIL image (any 8-bit mode) into a Photo, applying EXIF orientation."""
    icc = img.info.get("icc_profile")
    quality = jpeg_quality_of(img, name)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise CsrnetError(
            f"{name}: {img.mode} images (16/32-bit) are not supported; convert to 8-bit"
        )
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    if img.mode == "1":
        img = img.convert("L")
    if img.mode == "PA":
        img = img.convert("RGBA")
    alpha = None
    if img.mode in ("RGBA", "LA"):
        alpha = np.array(img.getchannel("A"))
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
    if img.mode not in ("L", "RGB"):
        raise CsrnetError(f"{name}: unsupported image mode {img.mode}")
    pixels = np.array(img, dtype=np.uint8)
    return Photo(pixels, alpha, icc, quality)


def open_photo(path: str | os.PathLike) -> Photo:
    """Read a photo file; unreadable, truncated or oversized files are a CsrnetError."""
    return decode_image(path, lambda img: photo_from_pil(img, str(path)))


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
    device: str = "cpu",
    tile: int = 0,
    ensemble: bool = False,
    memory_cap: int = DEFAULT_MEMORY_CAP,
    overlap: int = DEFAULT_OVERLAP,
    on_tile=None,
    batch: int = 1,
) -> Photo:
    """Restore a photo with ``model`` for setting ``deg`` (SR: the photo is the low-resolution
    image and the result is ``deg.level`` times larger); ``on_tile(done, total)`` reports
    progress (with the self-ensemble, each of the 8 passes counts its tiles again);
    ``batch`` tiles go through the model at once."""
    pixels = photo.pixels
    if min(pixels.shape[:2]) < 2:
        raise CsrnetError(
            f"image is {pixels.shape[1]}x{pixels.shape[0]}; it needs at least 2x2 pixels"
        )
    scale = int(deg.level) if deg.task == "sr" else 1
    tile = tile or auto_tile(model, memory_cap, pixels.shape[0] * pixels.shape[1] * scale**2)
    run = restore_fn(model, device, ensemble, tile, overlap, on_tile, batch)
    if model.config.image_channels == 3:  # an RGB model: every channel through the network
        return Photo(_restore_rgb(run, pixels), photo.alpha, photo.icc_profile)
    channels = _planes(pixels)  # Y (and Cb, Cr) as float32 on [0, 1]
    if scale > 1:  # MATLAB bicubic: the network's input, and the colour of the result
        channels = [
            imresize(c.astype(np.float64), float(scale)).astype(np.float32) for c in channels
        ]
    y_out = run(channels[0] * 255.0) / 255.0
    out = (
        to_uint8(y_out * 255.0) if len(channels) == 1 else _to_rgb(y_out, channels[1], channels[2])
    )
    alpha = photo.alpha
    if alpha is not None and deg.task == "sr":
        alpha = imresize(alpha, float(deg.level))
    return Photo(out, alpha, photo.icc_profile)


def _restore_rgb(run, pixels: np.ndarray) -> np.ndarray:
    """An RGB model on a colour photo, or on a gray one as three equal channels (whose
    result is made gray again by averaging them)."""
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    out = run(rgb.astype(np.float32))
    return to_uint8(out if pixels.ndim == 3 else out.mean(axis=2))


def _planes(pixels: np.ndarray) -> list[np.ndarray]:
    """[gray] or [Y, Cb, Cr] (MATLAB rgb2ycbcr) as float32 planes on [0, 1]."""
    if pixels.ndim == 2:
        return [pixels.astype(np.float32) / 255.0]
    ycc = np.empty(pixels.shape, np.float32)
    for r in range(0, pixels.shape[0], ROWS_PER_CHUNK):
        ycc[r : r + ROWS_PER_CHUNK] = rgb2ycbcr(pixels[r : r + ROWS_PER_CHUNK] / 255.0)
    return [ycc[..., 0], ycc[..., 1], ycc[..., 2]]


def _to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """uint8 RGB from Y, Cb, Cr planes on [0, 1] (MATLAB ycbcr2rgb), in row blocks."""
    rgb = np.empty((*y.shape, 3), np.uint8)
    for r in range(0, y.shape[0], ROWS_PER_CHUNK):
        rows = slice(r, r + ROWS_PER_CHUNK)
        ycc = np.stack([y[rows], cb[rows], cr[rows]], axis=-1).astype(np.float64)
        rgb[rows] = to_uint8(ycbcr2rgb(ycc) * 255.0)
    return rgb


def photo_to_pil(photo: Photo) -> Image.Image:
    img = Image.fromarray(photo.pixels)
    if photo.alpha is not None:
        img.putalpha(Image.fromarray(photo.alpha))
    if photo.icc_profile:
        img.info["icc_profile"] = photo.icc_profile
    return img


def restore(
    image: Image.Image | np.ndarray,
    task: str,
    scale: int | None = None,
    sigma: float | str | None = None,
    quality: int | str | None = None,
    weights: str | os.PathLike | None = None,
    tile: int = 0,
    self_ensemble: bool = False,
    device: str = "cpu",
    channels: str = "auto",
    backend: str = "auto",
) -> Image.Image | np.ndarray:
    """Restore a PIL image or a uint8 numpy array; returns the same type.

    Args:
        image: the degraded photo (for SR, the low-resolution one).
        task: "sr", "denoise" or "jpeg", with ``scale``, ``sigma`` or ``quality``.
            ``sigma="auto"`` estimates the photo's noise; with ``quality`` left out (or
            "auto"), a JPEG's quality is read from its quantization tables (those of a PIL
            image opened from a JPEG file; an array has none).
        weights: a weights file or name (default: the best installed for the setting).
        tile: tile side in pixels (0: chosen from a 2 GiB memory cap).
        self_ensemble: average the 8 flips/rotations (8x slower, slightly better).
        device: "cpu" or "cuda".
        channels: "auto" (a colour image gets an RGB model when one is installed for the
            setting), "y" (the paper's way: restore Y, keep or enlarge Cb/Cr) or "rgb".
        backend: "auto" (the fastest installed that keeps fp32's PSNR, docs/SPEED.md),
            "torch", "openvino", "openvino-int8", "onnxruntime" or "onnxruntime-int8".
    """
    option = {"sr": "scale", "denoise": "sigma", "jpeg": "quality"}.get(task)
    if option is None:
        raise CsrnetError(f"unknown task {task!r}; choose from sr, denoise, jpeg")
    level = {"scale": scale, "sigma": sigma, "quality": quality}[option]
    if level is None and task == "jpeg":
        level = AUTO  # a JPEG says its quality
    if level is None or (level == AUTO and task == "sr"):
        raise CsrnetError(f"task {task} needs {option}")
    name = "array" if isinstance(image, np.ndarray) else "image"
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise CsrnetError("numpy images must be uint8 (H, W), (H, W, 3) or (H, W, 4)")
        image = Image.fromarray(image)
    photo = photo_from_pil(image, name)
    deg = LevelReader(task, level, ask=f"{option}=")(photo, name)
    choose = ModelChoice(deg, weights, device, channels, backend)
    model, _ = choose(photo)
    restored = photo_to_pil(restore_photo(photo, model, deg, device, tile, self_ensemble))
    return np.asarray(restored) if name == "array" else restored
