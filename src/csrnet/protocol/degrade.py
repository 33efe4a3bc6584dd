"""The paper's degradations, made on the Y channel (or the gray image).

Every function takes a clean uint8 Y image, (H, W), and returns the degraded image as a
float64 array on the [0, 255] scale, unrounded, which is what the network sees (divided by
255). Metrics are computed after rounding to uint8 (``csrnet.protocol.matlab.to_uint8``).

- SR: MATLAB bicubic down and then up by the scale, in floating point (the float path of
  ``imresize``), as the SRCNN/VDSR MATLAB test code does on ``double`` Y images.
- Denoising: additive white Gaussian noise of the given sigma on the [0, 255] scale, seeded
  per image, not clipped unless asked.
- JPEG: libjpeg (through Pillow) at the given quality, with its standard tables, on the
  uint8 gray/Y image.

Beyond the paper, ``Degradation.camera()`` takes colour images through a camera
(``csrnet.protocol.camera``): one capture per image, drawn from the seed and its name, scored
against the same capture without noise.
"""

from __future__ import annotations

import io
import math
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from csrnet.errors import CsrnetError
from csrnet.protocol import camera as camera_pipeline
from csrnet.protocol.matlab import imresize, rgb2ycbcr, ycbcr2rgb

__all__ = [
    "Degradation",
    "TASKS",
    "add_gaussian_noise",
    "bicubic_sr_input",
    "imresize",
    "image_rng",
    "jpeg_compress",
    "modcrop",
    "rgb2ycbcr",
    "to_y",
    "ycbcr2rgb",
]

Task = Literal["sr", "denoise", "jpeg"]
TASKS: tuple[Task, ...] = ("sr", "denoise", "jpeg")
MAX_SCALE = 16
MAX_SIGMA = 255.0


def to_y(img: np.ndarray) -> np.ndarray:
    """The uint8 Y channel of an RGB image (MATLAB's ``rgb2ycbcr``); a gray image is its own Y.

    Like the MATLAB test code, any 3-channel image is converted, even one whose three
    channels are equal.
    """
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return rgb2ycbcr(img, only_y=True)
    raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right so that height and width are multiples of ``scale``."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def bicubic_sr_input(y: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic down by ``scale`` then up, in floating point. ``y`` must be mod-cropped."""
    if y.shape[0] % scale or y.shape[1] % scale:
        raise ValueError(f"image {y.shape} is not a multiple of the scale {scale}; modcrop it")
    return imresize(imresize(y.astype(np.float64), 1.0 / scale), float(scale))


def image_rng(name: str, seed: int = 0) -> np.random.Generator:
    """A generator seeded by (seed, image name): the same noise for the same image, always."""
    # surrogateescape: a file name that is not UTF-8 keeps its own bytes, so its own noise
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8", "surrogateescape"))])


def add_gaussian_noise(
    y: np.ndarray, sigma: float, rng: np.random.Generator, clip: bool = False
) -> np.ndarray:
    """y + N(0, sigma^2) on the [0, 255] scale; clipped to [0, 255] only if ``clip``."""
    noisy = y.astype(np.float64) + rng.normal(0.0, sigma, size=y.shape)
    return np.clip(noisy, 0.0, 255.0) if clip else noisy


def jpeg_compress(y: np.ndarray, quality: int) -> np.ndarray:
    """Encode a uint8 gray image, or an RGB one, with libjpeg at ``quality`` (standard tables;
    colour with Pillow's default 4:2:0 chroma subsampling) and decode it."""
    if y.dtype != np.uint8 or not (y.ndim == 2 or (y.ndim == 3 and y.shape[2] == 3)):
        raise ValueError("jpeg_compress takes a uint8 (H, W) or (H, W, 3) image")
    buffer = io.BytesIO()
    options = {"subsampling": "4:2:0"} if y.ndim == 3 else {}
    Image.fromarray(y).save(buffer, format="JPEG", quality=int(quality), **options)
    buffer.seek(0)
    with Image.open(buffer) as img:
        return np.array(img, dtype=np.uint8)


@dataclass(frozen=True)
class Degradation:
    """One task at one setting: ``sr`` at a scale, ``denoise`` at a sigma, ``jpeg`` at a quality.

    Args:
        task: "sr", "denoise" or "jpeg".
        level: the scale (integer 2-16), sigma (0-255, on the [0, 255] scale) or JPEG
            quality (integer 1-100).
        clip: clip noisy images to [0, 255] (denoising only).
        camera_noise: camera noise instead of Gaussian noise (denoising of colour images;
            see :meth:`camera`); the level is then 0.
    """

    task: Task
    level: float
    clip: bool = False
    camera_noise: bool = False

    @classmethod
    def camera(cls) -> Degradation:
        """Denoising of camera noise: each image as a camera would have taken it, at a
        capture drawn from its name and the seed (``csrnet.protocol.camera``)."""
        return cls("denoise", 0.0, camera_noise=True)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise CsrnetError(f"unknown task {self.task!r}; choose from {', '.join(TASKS)}")
        level = self.level
        if self.camera_noise:
            if self.task != "denoise" or level != 0:
                raise CsrnetError("camera noise is a denoising setting of its own (level 0)")
            return
        if self.task == "sr" and not (_is_int(level) and 2 <= level <= MAX_SCALE):
            raise CsrnetError(f"scale must be an integer from 2 to {MAX_SCALE}, got {level}")
        if self.task == "denoise" and not (math.isfinite(level) and 0 < level <= MAX_SIGMA):
            raise CsrnetError(f"sigma must be in (0, {MAX_SIGMA:g}], got {level}")
        if self.task == "jpeg" and not (_is_int(level) and 1 <= level <= 100):
            raise CsrnetError(f"quality must be an integer from 1 to 100, got {level}")

    @property
    def label(self) -> str:
        """A short name of the setting, e.g. ``x4``, ``sigma25``, ``q10``, ``camera``."""
        if self.camera_noise:
            return "camera"
        prefix = {"sr": "x", "denoise": "sigma", "jpeg": "q"}[self.task]
        return f"{prefix}{self.level:g}"

    @property
    def border(self) -> int:
        """Pixels cropped from each side before measuring: the scale for SR, else 0."""
        return int(self.level) if self.task == "sr" else 0

    def clean(self, y: np.ndarray) -> np.ndarray:
        """The ground truth for this setting: ``y`` mod-cropped to the scale for SR."""
        return modcrop(y, int(self.level)) if self.task == "sr" else y

    def apply(self, clean: np.ndarray, name: str = "", seed: int = 0) -> np.ndarray:
        """Degrade a clean uint8 Y image (from :meth:`clean`); float64 on the [0, 255] scale.

        ``name`` and ``seed`` seed the noise of denoising, so every method sees the same.
        """
        if self.camera_noise:
            raise ValueError("camera noise changes the reference too; use pair()")
        if self.task == "sr":
            return bicubic_sr_input(clean, int(self.level))
        if self.task == "denoise":
            return add_gaussian_noise(clean, self.level, image_rng(name, seed), self.clip)
        return jpeg_compress(clean, int(self.level)).astype(np.float64)

    def pair(
        self, clean: np.ndarray, name: str = "", seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(reference, degraded) for a clean uint8 image from :meth:`clean`: the clean image
        and :meth:`apply`'s output, or for camera noise (RGB only) the noise-free capture and
        the noisy one, each uint8 and float64 on [0, 255]."""
        if not self.camera_noise:
            return clean, self.apply(clean, name, seed)
        if clean.ndim != 3:
            raise CsrnetError("camera noise is made on colour images; this one is gray")
        rng = image_rng(name, seed)
        capture = camera_pipeline.sample_camera(rng)
        noisy, reference = camera_pipeline.camera_noise(clean, capture, rng)
        return reference, noisy.astype(np.float64)


def _is_int(value: float) -> bool:
    return isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer())
