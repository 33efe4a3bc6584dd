"""Camera noise: a clean sRGB image taken back to the sensor, made noisy there, and developed
again as a camera would, for training and validating denoisers on real photos.

Real camera noise is not white Gaussian noise on the finished image: it is signal-dependent
(photon shot noise plus read noise on the raw sensor values), per colour channel (the white
balance amplifies red and blue more than green), spatially correlated by demosaicing, bent by
the tone curve and then smoothed and quantised by the camera's JPEG. This follows the
"unprocessing" pipeline of Brooks et al., *Unprocessing Images for Learned Raw Denoising*
(CVPR 2019): inverse tone curve (smoothstep), inverse gamma, inverse white balance, an RGGB
Bayer mosaic, heteroscedastic Gaussian noise of variance ``read + shot * x`` with their
sampling of (shot, read) for real sensors, then the forward pipeline with bilinear
demosaicing. Cameras then smooth the colour (chroma) noise before saving: in half the
captures the chroma of the developed image is blurred (Gaussian, 0.5-2 pixels), which leaves
the blotchy, mostly luminance noise of in-camera processed photos. As in CBDNet (Guo et al.,
CVPR 2019) and BSRGAN / Real-ESRGAN (Zhang et al., 2021; Wang et al., 2021) the camera's JPEG
follows, at quality 60-95, or none. Left out: the colour correction matrix, sharpening, blur
and downsampling.

Pure numpy (and Pillow for the JPEG); seeded per image like the paper's degradations.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import convolve, gaussian_filter

__all__ = ["CameraNoise", "camera_noise", "sample_camera", "sensor_noise"]

SHOT_RANGE = (1e-4, 1.2e-2)  # Brooks et al. 2019, section 3.2: log-uniform
READ_FIT = (2.18, 1.20, 0.26)  # log read = a log shot + b + N(0, c)
RED_GAIN = (1.9, 2.4)  # their white-balance gains, uniform
BLUE_GAIN = (1.5, 1.9)
JPEG_QUALITY = (60, 95)
NO_JPEG = 0.25  # the share of captures saved without a JPEG
GAMMA = 2.2
CHROMA_BLUR = (0.5, 2.0)  # the camera's chroma noise reduction: Gaussian sigma in pixels
NO_CHROMA_BLUR = 0.5  # the share of captures without it


@dataclass(frozen=True)
class CameraNoise:
    """One simulated capture: shot and read noise variances on linear raw values in [0, 1],
    the red and blue white-balance gains, the JPEG quality (0: no JPEG) and the sigma of the
    camera's chroma blur in pixels (0: none)."""

    shot: float
    read: float
    red_gain: float
    blue_gain: float
    quality: int = 0
    chroma_blur: float = 0.0

    def describe(self) -> str:
        jpeg = f", JPEG q{self.quality}" if self.quality else ""
        chroma = f", chroma blur {self.chroma_blur:.2f}" if self.chroma_blur else ""
        return f"shot {self.shot:.2e}, read {self.read:.2e}{chroma}{jpeg}"


def sample_camera(
    rng: np.random.Generator,
    shot_range: tuple[float, float] = SHOT_RANGE,
    jpeg: bool = True,
) -> CameraNoise:
    """A capture drawn as Brooks et al. draw theirs, with a camera JPEG most of the time and
    chroma noise reduction half of the time."""
    log_shot = rng.uniform(math.log(shot_range[0]), math.log(shot_range[1]))
    slope, offset, spread = READ_FIT
    log_read = slope * log_shot + offset + rng.normal(0.0, spread)
    red, blue = rng.uniform(*RED_GAIN), rng.uniform(*BLUE_GAIN)
    quality = 0
    if jpeg and rng.uniform() >= NO_JPEG:
        quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    chroma = 0.0
    if rng.uniform() >= NO_CHROMA_BLUR:
        chroma = float(rng.uniform(*CHROMA_BLUR))
    return CameraNoise(math.exp(log_shot), math.exp(log_read), red, blue, quality, chroma)


def camera_noise(
    rgb: np.ndarray, capture: CameraNoise, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` (uint8, (H, W, 3)) as ``capture`` would have taken it, and the same capture
    without noise or JPEG (the reference: what the mean of many shots of the scene gives,
    demosaiced as the noisy one is). Both uint8, the shape of ``rgb``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) image, got {rgb.dtype} {rgb.shape}")
    gains = np.array([capture.red_gain, 1.0, capture.blue_gain])
    raw = _mosaic(_inverse_gamma(_inverse_tone(rgb / 255.0)) / gains)  # the sensor's values
    noisy = sensor_noise(raw, capture, rng)
    shot, reference = (_develop(np.clip(r, 0.0, 1.0), gains) for r in (noisy, raw))
    if capture.chroma_blur:
        shot = _blur_chroma(shot, capture.chroma_blur)
    return (_jpeg(shot, capture.quality) if capture.quality else shot), reference


def sensor_noise(raw: np.ndarray, capture: CameraNoise, rng: np.random.Generator) -> np.ndarray:
    """Raw values with shot and read noise: Gaussian of variance ``read + shot * raw``, the
    Poisson-Gaussian model of a sensor."""
    return raw + rng.standard_normal(raw.shape) * np.sqrt(capture.read + capture.shot * raw)


def _develop(raw: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Demosaic, white balance, gamma and tone curve, then 8 bits."""
    rgb = _tone(_gamma(np.clip(_demosaic(raw) * gains, 0.0, 1.0)))
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def _inverse_tone(x: np.ndarray) -> np.ndarray:
    """The inverse of the smoothstep tone curve 3x^2 - 2x^3."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - np.sin(np.arcsin(1.0 - 2.0 * x) / 3.0)


def _tone(x: np.ndarray) -> np.ndarray:
    return 3.0 * x**2 - 2.0 * x**3


def _inverse_gamma(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 1e-8) ** GAMMA


def _gamma(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 1e-8) ** (1.0 / GAMMA)


def _bayer_masks(shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) masks of an RGGB mosaic: which pixel holds which colour."""
    masks = np.zeros((*shape, 3), dtype=bool)
    masks[0::2, 0::2, 0] = True
    masks[0::2, 1::2, 1] = True
    masks[1::2, 0::2, 1] = True
    masks[1::2, 1::2, 2] = True
    return masks


def _mosaic(linear: np.ndarray) -> np.ndarray:
    """The one colour each sensor pixel sees, (H, W)."""
    return (linear * _bayer_masks(linear.shape[:2])).sum(axis=2)


GREEN_KERNEL = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4.0
RED_BLUE_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4.0


def _demosaic(raw: np.ndarray) -> np.ndarray:
    """Bilinear demosaicing of an RGGB mosaic, (H, W) -> (H, W, 3)."""
    masks = _bayer_masks(raw.shape)
    kernels = (RED_BLUE_KERNEL, GREEN_KERNEL, RED_BLUE_KERNEL)
    planes = [convolve(raw * masks[..., c], k, mode="mirror") for c, k in enumerate(kernels)]
    return np.stack(planes, axis=2)


# JPEG's full-range YCbCr (ITU-T T.871): chroma is blurred there, luma kept
TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _blur_chroma(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """``rgb`` (uint8) with its chroma planes blurred by a Gaussian of ``sigma`` pixels."""
    ycc = rgb.astype(np.float64) @ TO_YCC.T
    for c in (1, 2):
        ycc[..., c] = gaussian_filter(ycc[..., c], sigma, mode="mirror")
    out = ycc @ np.linalg.inv(TO_YCC).T
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The camera's JPEG (libjpeg through Pillow), without chroma subsampling: the
    reference, a mean of many shots, would keep the colour detail a 4:2:0 file loses."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling=0)
    buffer.seek(0)
    with Image.open(buffer) as img:
        return np.array(img.convert("RGB"))
