"""What a photo says about its own degradation: a JPEG's quality from its quantization tables,
and a noisy photo's sigma, for ``--quality auto`` and ``--sigma auto``."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from csrnet.errors import CsrnetError, warn
from csrnet.protocol.degrade import Degradation

__all__ = ["AUTO", "LevelReader", "estimate_noise_sigma", "ijg_quality"]

AUTO = "auto"


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


def estimate_noise_sigma(pixels: np.ndarray) -> float:
    """The Gaussian noise sigma of a photo on the [0, 255] scale: scikit-image's wavelet
    estimate (the median absolute diagonal detail coefficient, Donoho and Johnstone),
    averaged over the channels."""
    from skimage.restoration import estimate_sigma

    channel_axis = -1 if pixels.ndim == 3 else None
    scaled = pixels.astype(np.float64) / 255.0
    return float(estimate_sigma(scaled, channel_axis=channel_axis, average_sigmas=True)) * 255.0


class LevelReader:
    """The degradation of each photo: ``level`` for all, or with ``level`` "auto" what the
    photo says (JPEG: its quality; denoise: its estimated sigma, rounded to 0.1)."""

    def __init__(self, task: str, level: float | str) -> None:
        self.task, self.level = task, level
        self.fixed = None if level == AUTO else Degradation(task, float(level))

    def __call__(self, photo, name: str = "image") -> Degradation:
        if self.fixed is not None:
            return self.fixed
        if self.task == "jpeg":
            if photo.jpeg_quality is None:
                raise CsrnetError(f"{name}: not a JPEG file, so no quality to read: give --quality")
            return Degradation("jpeg", photo.jpeg_quality)
        sigma = max(0.1, round(estimate_noise_sigma(photo.pixels), 1))
        return Degradation("denoise", sigma)


def jpeg_quality_of(img: Image.Image, name: str) -> int | None:
    """A JPEG image's IJG quality (None for other formats); a one-line warning when its
    tables are not IJG's."""
    if img.format != "JPEG" or not getattr(img, "quantization", None):
        return None
    quality, exact = ijg_quality(img.quantization)
    if not exact:
        warn(f"{name}: its JPEG tables are not libjpeg's; the nearest quality is {quality}")
    return quality
