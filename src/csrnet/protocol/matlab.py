"""MATLAB-compatible image operations: bicubic ``imresize`` and ``rgb2ycbcr``.

These are the parts of the evaluation protocol that must match MATLAB bit for bit; the
tests compare them with MATLAB's own outputs in ``../shared/data/reference``.

Conventions: images are numpy arrays of shape (H, W) or (H, W, C). uint8 arrays hold values
in [0, 255]; float arrays passed to :func:`rgb2ycbcr` hold values in [0, 1] (MATLAB's
convention for ``double`` images), while :func:`imresize` works on any float range.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["imresize", "rgb2ycbcr", "ycbcr2rgb", "round_half_away", "to_uint8"]


def round_half_away(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, as MATLAB's ``round`` and ``uint8()`` do (numpy: to even)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """MATLAB's ``uint8(x)`` for x on the [0, 255] scale: round half away from zero, saturate."""
    return np.clip(round_half_away(x), 0, 255).astype(np.uint8)


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and 0-based source indices of each output sample along one dimension.

    Follows MATLAB's ``contributions``: when shrinking, the kernel is stretched by 1/scale
    (antialiasing); out-of-range indices are mirrored symmetrically; taps whose weight is
    zero for every output sample are dropped.

    Returns:
        weights: (out_len, taps) float64, each row summing to 1.
        indices: (out_len, taps) int64 in [0, in_len).
    """
    kernel_width = 4.0
    if scale < 1:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output sample position in input coordinates
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    dist = u[:, None] - indices
    weights = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0, axis=0)
    return weights[:, keep], indices[:, keep]


def _resize_along(img: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    weights, indices = _contributions(img.shape[axis], out_len, scale)
    moved = np.moveaxis(img, axis, 0)
    out = np.zeros((out_len,) + moved.shape[1:], dtype=np.float64)
    extra = (slice(None),) + (None,) * (moved.ndim - 1)
    for k in range(weights.shape[1]):  # taps in order, as MATLAB's mex accumulates them
        out += weights[:, k][extra] * moved[indices[:, k]]
    return np.moveaxis(out, 0, axis)


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """Resize like MATLAB's ``imresize(img, scale, 'bicubic')``.

    Args:
        img: (H, W) or (H, W, C) array, uint8 or floating point.
        scale: resize factor > 0; the output is ``ceil(scale * H) x ceil(scale * W)``.

    Returns:
        uint8 input: uint8 output, rounded (half away from zero) and saturated after each
        dimension's pass, as MATLAB does for integer images. Float input: float64 output,
        never rounded or clipped. Dimensions are processed in MATLAB's order (the one that
        shrinks most first; rows first on a tie).
    """
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {img.shape}")
    is_uint8 = img.dtype == np.uint8
    if not (is_uint8 or np.issubdtype(img.dtype, np.floating)):
        raise TypeError(f"imresize takes uint8 or floating-point images, got {img.dtype}")
    out_shape = [int(math.ceil(scale * n)) for n in img.shape[:2]]
    out = img.astype(np.float64)
    # With one scale for both dimensions MATLAB's order is rows then columns.
    for axis in (0, 1):
        out = _resize_along(out, axis, out_shape[axis], scale)
        if is_uint8:
            out = to_uint8(out).astype(np.float64)
    return out.astype(np.uint8) if is_uint8 else out


# BT.601 "studio swing" as MATLAB's rgb2ycbcr: Y in [16, 235], Cb/Cr in [16, 240] (of 255).
_RGB2YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def rgb2ycbcr(img: np.ndarray, only_y: bool = False) -> np.ndarray:
    """MATLAB's ``rgb2ycbcr``.

    Args:
        img: (H, W, 3) RGB, uint8 in [0, 255] or float in [0, 1].
        only_y: return the (H, W) Y channel only.

    Returns:
        Same dtype convention as the input: uint8 (rounded as MATLAB does) or float in [0, 1].
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb2ycbcr expects an (H, W, 3) image, got shape {img.shape}")
    rgb = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    matrix = _RGB2YCBCR[:1] if only_y else _RGB2YCBCR
    ycc = rgb @ matrix.T + _YCBCR_OFFSET[: matrix.shape[0]]  # on the [0, 255] scale
    if only_y:
        ycc = ycc[..., 0]
    return to_uint8(ycc) if img.dtype == np.uint8 else ycc / 255.0


def ycbcr2rgb(img: np.ndarray) -> np.ndarray:
    """MATLAB's ``ycbcr2rgb``: the inverse of :func:`rgb2ycbcr`, same dtype conventions."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"ycbcr2rgb expects an (H, W, 3) image, got shape {img.shape}")
    ycc = img.astype(np.float64) if img.dtype == np.uint8 else img.astype(np.float64) * 255.0
    rgb = (ycc - _YCBCR_OFFSET) @ np.linalg.inv(_RGB2YCBCR).T  # in [0, 1]
    return to_uint8(rgb * 255.0) if img.dtype == np.uint8 else rgb
