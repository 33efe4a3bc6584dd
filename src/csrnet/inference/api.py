"""The Python API's restore: a PIL image or a numpy array in, the same type out
(``csrnet.restore``)."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from csrnet.errors import CsrnetError, warn
from csrnet.inference.choice import ModelCache, ModelChoice
from csrnet.inference.levels import LevelReader
from csrnet.inference.options import (
    AUTO,
    AUTO_SOURCES,
    LEVEL_OPTIONS,
    RunOptions,
    checked_strength,
    level_or_auto,
)
from csrnet.inference.photo import photo_from_array, photo_from_pil, photo_to_array, photo_to_pil
from csrnet.inference.pipeline import restore_photo

__all__ = ["restore"]

_CACHES: dict[tuple[str, str], ModelCache] = {}  # (device, back end): the process's models


def _model_cache(device: str, backend: str) -> ModelCache:
    """The models this process has loaded for ``device`` and ``backend``, so that a loop of
    restores loads and compiles each model once; the installed weights are listed anew."""
    key = (str(device), backend)
    if key not in _CACHES:
        _CACHES[key] = ModelCache(str(device), backend)
    _CACHES[key].relist()
    return _CACHES[key]


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
    strength: float | str = 1.0,
) -> Image.Image | np.ndarray:
    """Restore a PIL image or a uint8 or uint16 numpy array; returns the same type (a
    16-bit image comes back with 16 bits). A model is loaded (and compiled for its back end)
    once and kept for the process's later calls.

    Args:
        image: the degraded photo (for SR, the low-resolution one).
        task: "sr", "denoise" or "jpeg", with ``scale``, ``sigma`` or ``quality``.
            With ``sigma`` left out (or "camera") the photo's own noise is removed by the
            camera-noise model; a number is Gaussian noise of that sigma (the paper's
            models); ``sigma="auto"`` estimates it; with ``quality`` left out (or
            "auto"), a JPEG's quality is read from its quantization tables (those of a PIL
            image opened from a JPEG file; an array has none).
        weights: a weights file or name (default: the best installed for the setting).
        tile: tile side in pixels (0: chosen from a 2 GiB memory cap).
        self_ensemble: average the 8 flips/rotations (8x slower, slightly better).
        device: "cpu" or "cuda".
        channels: "auto" (a colour image gets an RGB model when one is installed for the
            setting), "y" (the paper's way: restore Y, keep or enlarge Cb/Cr) or "rgb".
        backend: "auto" (the fastest installed that keeps fp32's PSNR on this CPU, measured
            once per model: docs/SPEED.md) or one of ``csrnet.inference.options.BACKENDS``.
        strength: denoising and JPEG: how much of the model's change is kept (0: the input,
            1: the model's output, up to 1.5: stronger; "auto": chosen per photo from what
            the model removed, for camera noise only: docs/RESTORING.md).
    """
    option = LEVEL_OPTIONS.get(task)
    if option is None:
        raise CsrnetError(f"unknown task {task!r}; choose from {', '.join(LEVEL_OPTIONS)}")
    level = level_or_auto(task, {"scale": scale, "sigma": sigma, "quality": quality}[option])
    if level is None or (level == AUTO and task not in AUTO_SOURCES):
        raise CsrnetError(f"task {task} needs {option}")
    strength = checked_strength(task, strength, level)
    name = "array" if isinstance(image, np.ndarray) else "image"
    photo = photo_from_array(image) if name == "array" else photo_from_pil(image, name)
    deg = LevelReader(task, level, ask=f"{option}=")(photo, name)
    choose = ModelChoice(deg, weights, channels=channels, cache=_model_cache(device, backend))
    if choose.strength != 1.0:
        warn(f"{name}: jpeg {choose.describe()}")
    run = RunOptions(device, tile, self_ensemble, strength=strength).faded(choose.strength)
    restored = photo  # passed through (strength 0): no model is loaded
    if run.strength:
        restored = restore_photo(photo, choose(photo)[0], choose.deg, run)
    return photo_to_array(restored) if name == "array" else photo_to_pil(restored)
