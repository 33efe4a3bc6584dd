"""PSNR and SSIM: known values and an independent implementation of Wang's ssim_index.m."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

from csrnet.protocol.images import read_image
from csrnet.protocol.metrics import crop_border, psnr, ssim

from conftest import sample_dir


def wang_ssim_index(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s ssim_index.m written out: 11x11 Gaussian (sigma 1.5), 'valid' filtering."""
    x = np.arange(11) - 5
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    w = g / g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a, b = a.astype(np.float64), b.astype(np.float64)

    def filt(z):
        return convolve2d(z, np.rot90(w, 2), mode="valid")

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return float(ssim_map.mean())


def test_psnr_known_values() -> None:
    a = np.full((10, 10), 100, dtype=np.uint8)
    assert psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2))  # MSE 1: 48.13 dB
    assert psnr(a, a) == math.inf
    b = a.copy()
    b[0, :] = 0  # only the border differs
    assert psnr(a, b, border=1) == math.inf
    assert psnr(a, b) < 30


def test_ssim_matches_wang_on_real_images() -> None:
    clean = read_image(sample_dir("Set12") / "01.png")
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).round().astype(np.uint8)
    assert ssim(noisy, clean) == pytest.approx(wang_ssim_index(noisy, clean), abs=1e-9)
    assert ssim(noisy, clean, border=4) == pytest.approx(
        wang_ssim_index(crop_border(noisy, 4), crop_border(clean, 4)), abs=1e-9
    )
    assert ssim(clean, clean) == pytest.approx(1.0)


def test_metrics_reject_mismatched_or_tiny_images() -> None:
    a = np.zeros((20, 20), dtype=np.uint8)
    with pytest.raises(ValueError):
        psnr(a, np.zeros((20, 21), dtype=np.uint8))
    with pytest.raises(ValueError):
        psnr(a, a, border=10)
