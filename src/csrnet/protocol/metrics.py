"""PSNR and SSIM on the Y channel, as the paper's protocol computes them (and on RGB, for the
colour models: PSNR over the three channels, SSIM the mean of the three channels' SSIM, the
convention of the colour denoising and deblocking literature).

Both take uint8 images (the restored result rounded with ``csrnet.protocol.matlab.to_uint8``) on the
[0, 255] scale and an optional border to crop from each side (the scale, for SR).
SSIM is Wang et al.'s: an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
population statistics, averaged over the positions where the window fits. scikit-image
computes exactly that with the options below; a test checks it against a direct
implementation of Wang's ``ssim_index.m``.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

__all__ = ["crop_border", "psnr", "ssim"]


def crop_border(img: np.ndarray, border: int) -> np.ndarray:
    """Remove ``border`` pixels from each side."""
    if border <= 0:
        return img
    if img.shape[0] <= 2 * border or img.shape[1] <= 2 * border:
        raise ValueError(f"image {img.shape[:2]} is too small to crop a border of {border}")
    return img[border:-border, border:-border]


def _pair(a: np.ndarray, b: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    return crop_border(a, border).astype(np.float64), crop_border(b, border).astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """Peak signal-to-noise ratio in dB for peak 255; ``inf`` for identical images."""
    a, b = _pair(a, b, border)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, border: int = 0) -> float:
    """Wang et al.'s SSIM (Gaussian 11x11, sigma 1.5) of two gray images on [0, 255]; of two
    RGB images, the mean over their channels."""
    a, b = _pair(a, b, border)
    if a.ndim == 3 and a.shape[2] == 3:
        return float(np.mean([_ssim_gray(a[..., c], b[..., c]) for c in range(3)]))
    if a.ndim != 2:
        raise ValueError("ssim takes (H, W) or (H, W, 3) images")
    return _ssim_gray(a, b)


def _ssim_gray(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
    )
