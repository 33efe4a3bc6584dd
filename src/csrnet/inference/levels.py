"""What a photo says about its own degradation: a JPEG's quality from its quantization tables,
and a noisy photo's sigma, for ``--quality auto`` and ``--sigma auto``."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from csrnet.errors import CsrnetError, warn
from csrnet.inference.options import AUTO, CAMERA
from csrnet.protocol.degrade import Degradation

__all__ = [
    "LevelReader",
    "estimate_noise_sigma",
    "ijg_quality",
    "jpeg_quality_of",
    "level_setting",
]


@functools.cache
def _ijg_tables() -> dict[int, tuple[int, ...]]:
    """The luminance quantization table libjpeg writes at each quality 1-100, read back from
    Pillow's own encoder (so the table layout is Pillow's on both sides)."""
    tables = {}
    gray = Image.new("L", (8, 8))
    for quality in range(1, 101):
        buffer = io.BytesIO()
        gray.save(buffer, format="JPEG", quality=quality)
        with Image.open(buffer) as encoded:
            tables[quality] = tuple(encoded.quantization[0])
    return tables


def ijg_quality(quantization: dict[int, list[int]]) -> tuple[int, bool]:
    """The IJG quality (1-100) whose luminance table is nearest the photo's first table (sum
    of absolute differences, ties to the higher quality), and whether it is that table."""
    table = np.asarray(quantization[0], dtype=np.int64)
    distances = {
        q: int(np.abs(table - np.asarray(t, dtype=np.int64)).sum())
        for q, t in _ijg_tables().items()
    }
    best = min(distances, key=lambda q: (distances[q], -q))
    return best, distances[best] == 0


MASK_PASSES = 2
CLIP_MARGIN = 2.0  # in sigmas: noise this far from 0 and 255 is clipped for 2.3% of pixels
MEAN_WINDOW = 8  # pixels: the local mean that decides where the noise may be clipped
MIN_DETAILS = 500  # fewer unclipped details than this: use them all


def estimate_noise_sigma(pixels: np.ndarray) -> float:
    """The Gaussian noise sigma of a photo on the [0, 255] scale, averaged over its channels.

    Donoho and Johnstone's estimate (the median absolute finest diagonal wavelet detail,
    db2, over 0.6745), taken only where the local mean lies at least 2 sigma inside [0, 255]:
    a photo file holds its noise clipped to 8 bits, which hides part of it in dark and bright
    areas (on CBSD68 at sigma 50 the plain estimate is 44.3; benchmarks/noise_estimate.py).
    Starts from the plain estimate and refines the mask twice.
    """
    image = pixels.astype(np.float64)
    planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[2])]
    details = [_diagonal_details(p) for p in planes]
    sigma = float(np.mean([_mad_sigma(d) for d, _ in details]))
    for _ in range(MASK_PASSES):
        sigma = float(np.mean([_mad_sigma(d, _inside(m, sigma)) for d, m in details]))
    return sigma


def _diagonal_details(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finest diagonal db2 detail coefficients of ``plane``, and the local mean at each."""
    import pywt
    from scipy.ndimage import uniform_filter

    details = pywt.dwt2(plane, "db2")[1][2]
    mean = uniform_filter(plane, MEAN_WINDOW)[::2, ::2]
    rows, cols = min(details.shape[0], mean.shape[0]), min(details.shape[1], mean.shape[1])
    return details[:rows, :cols], mean[:rows, :cols]


def _inside(mean: np.ndarray, sigma: float) -> np.ndarray:
    keep = (mean > CLIP_MARGIN * sigma) & (mean < 255.0 - CLIP_MARGIN * sigma)
    return keep if keep.sum() >= MIN_DETAILS else np.ones_like(keep)


def _mad_sigma(details: np.ndarray, keep: np.ndarray | None = None) -> float:
    values = details if keep is None else details[keep]
    return float(np.median(np.abs(values))) / 0.6745


class LevelReader:
    """The degradation of each photo: ``level`` for all (a setting, a number, or "camera":
    camera noise), or with ``level`` "auto" what the photo says (JPEG: its quality; denoise:
    its estimated sigma, rounded to 0.1). A photo that says nothing (no JPEG tables) is a
    CsrnetError whose line asks for ``ask``."""

    def __init__(self, task: str, level: float | str | Degradation, ask: str = "--quality") -> None:
        self.task, self.level, self.ask = task, level, ask
        if isinstance(level, Degradation):
            self.fixed = level
        else:
            self.fixed = None if level == AUTO else level_setting(task, level)

    def __call__(self, photo, name: str = "image") -> Degradation:
        if self.fixed is not None:
            return self.fixed
        if self.task == "jpeg":
            if photo.jpeg_quality is None:
                raise CsrnetError(
                    f"{name}: not a JPEG file, so no quality to read: give {self.ask}"
                )
            return Degradation("jpeg", photo.jpeg_quality)
        pixels = photo.pixels if photo.peak == 255 else photo.pixels / 257.0  # on [0, 255]
        sigma = max(0.1, round(estimate_noise_sigma(pixels), 1))
        return Degradation("denoise", sigma)


def level_setting(task: str, level: float | str) -> Degradation:
    """The setting of ``task`` at a level given as a number, or denoising at "camera"."""
    if task == "denoise" and level == CAMERA:
        return Degradation.camera()
    try:
        return Degradation(task, float(level))
    except (TypeError, ValueError):
        words = f"{AUTO!r} or {CAMERA!r}" if task == "denoise" else repr(AUTO)
        raise CsrnetError(f"a level is a number or {words}, not {level!r}") from None


def jpeg_quality_of(img: Image.Image, name: str) -> int | None:
    """A JPEG image's IJG quality (None for other formats); a one-line warning when its
    tables are not IJG's."""
    if img.format != "JPEG" or not getattr(img, "quantization", None):
        return None
    quality, exact = ijg_quality(img.quantization)
    if not exact:
        warn(f"{name}: its JPEG tables are not libjpeg's; the nearest quality is {quality}")
    return quality
