"""The strength a camera-noise restore keeps when it is "auto": chosen per photo from what
the model took out of it.

The camera-noise model removes too little from some photos and too much from others (on
the camera captures of CBSD68, knowing the best strength of each photo would gain 0.45 dB
over strength 1). What it takes out, the residual (input minus output), tells which: noise
leaves a near-Gaussian residual, while texture and edges taken for noise leave a
heavy-tailed one. The rule reads two numbers of the residual's luma, its kurtosis and its
standard deviation on the [0, 255] scale, and is linear in their logs, clipped to the
strength's range. Its weights were fitted by ``python
benchmarks/camera_strength.py --fit`` (training images through the camera pipeline, shot
noise from 10x below the model's training range to its top; the mean PSNR of the blend is
maximised). Measured there (docs/RESTORING.md): on the validation sets auto gains 0.15-0.35
dB over the best fixed strength, mostly by rescuing the photos the model ruins at strength
1; on other photos it loses 0-0.3 dB against strength 1, so it is an option, not the
default.
"""

from __future__ import annotations

import numpy as np

from csrnet.inference.options import STRENGTH_RANGE

__all__ = [
    "FITTED_FOR",
    "LUMA",
    "STRENGTH_RULE",
    "auto_strength",
    "residual_statistics",
    "rule_strength",
]

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # BT.601 full range, as JPEG
STRENGTH_RULE = (2.453, -0.805, -0.230)  # strength = a + b ln(kurtosis) + c ln(std)
FITTED_FOR = "denoise_real-4d74adc8c90d"  # the weights the rule was fitted on (weights_label)
MIN_STD = 1e-3  # a residual this small (on [0, 255]) is no change at all
ROWS_PER_CHUNK = 256


def residual_statistics(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """The kurtosis and the standard deviation of the luma of ``before - after`` (both on
    the [0, 255] scale, (H, W) or (H, W, 3))."""
    luma = np.empty(before.shape[:2], np.float32)
    for r in range(0, luma.shape[0], ROWS_PER_CHUNK):  # row blocks bound the temporaries
        rows = slice(r, r + ROWS_PER_CHUNK)
        residual = np.asarray(before[rows], np.float32) - np.asarray(after[rows], np.float32)
        luma[rows] = residual @ LUMA if residual.ndim == 3 else residual
    mean = luma.mean(dtype=np.float64)
    moments = np.zeros(2)
    for r in range(0, luma.shape[0], ROWS_PER_CHUNK):
        squares = (luma[r : r + ROWS_PER_CHUNK] - mean).astype(np.float64) ** 2
        moments += squares.sum(), (squares**2).sum()
    variance, fourth = moments / luma.size
    if variance < MIN_STD**2:
        return 3.0, 0.0
    return float(fourth / variance**2), float(variance**0.5)


def auto_strength(before: np.ndarray, after: np.ndarray) -> float:
    """The share of the change from ``before`` to ``after`` a photo keeps: the rule above,
    clipped to the strength's range (1 where the model changed nothing)."""
    kurtosis, std = residual_statistics(before, after)
    return 1.0 if std == 0.0 else float(rule_strength(kurtosis, std))


def rule_strength(
    kurtosis: float | np.ndarray,
    std: float | np.ndarray,
    rule: tuple[float, float, float] | np.ndarray = STRENGTH_RULE,
) -> np.ndarray:
    """The rule's strength for a residual's kurtosis and standard deviation (numbers or
    arrays), with ``rule``'s weights, clipped to the strength's range."""
    a, b, c = rule
    return np.clip(a + b * np.log(kurtosis) + c * np.log(std), *STRENGTH_RANGE)
