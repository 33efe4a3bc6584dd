"""imresize and rgb2ycbcr against MATLAB's own outputs and documented values."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from csrnet.protocol.degrade import modcrop
from csrnet.protocol.matlab import imresize, rgb2ycbcr, to_uint8, ycbcr2rgb

from conftest import data_dir


def _reference_pairs(scale: int):
    hr_dir = data_dir("Set5")
    lr_dir = data_dir("reference") / "Set5_LR_bicubic" / f"X{scale}"
    for hr_path in sorted(hr_dir.glob("*.png")):
        hr = modcrop(np.asarray(Image.open(hr_path)), scale)
        lr = np.asarray(Image.open(lr_dir / f"{hr_path.stem}x{scale}.png"))
        yield hr, lr


def _matlab_downscale(hr: np.ndarray, scale: int, float_path: bool) -> np.ndarray:
    if float_path:  # MATLAB on double, rounded once at the end
        return to_uint8(imresize(hr.astype(np.float64), 1 / scale))
    return imresize(hr, 1 / scale)


def _agreement(scale: int, float_path: bool) -> tuple[float, int]:
    same = total = worst = 0
    for hr, lr in _reference_pairs(scale):
        ours = _matlab_downscale(hr, scale, float_path)
        assert ours.shape == lr.shape and ours.dtype == np.uint8
        diff = np.abs(ours.astype(int) - lr.astype(int))
        same, total, worst = same + (diff == 0).sum(), total + diff.size, max(worst, diff.max())
    return same / total, worst


# X2-X4 were made by MATLAB on uint8 images, X8 on floating-point images.
@pytest.mark.parametrize("scale,float_path", [(2, False), (3, False), (4, False), (8, True)])
@pytest.mark.data
def test_imresize_reproduces_matlab(scale: int, float_path: bool) -> None:
    identical, worst = _agreement(scale, float_path)
    assert identical >= 0.999, f"only {identical:.4%} of pixels identical"
    assert worst <= 1


@pytest.mark.parametrize("scale,float_path", [(2, True), (8, False)])
@pytest.mark.data
def test_the_two_paths_differ(scale: int, float_path: bool) -> None:
    """The reference tells the paths apart, so the test above checks the rounding too."""
    identical, _ = _agreement(scale, float_path)
    assert identical < 0.99


def test_imresize_sizes_and_dtypes() -> None:
    img = np.random.default_rng(0).random((37, 50))
    assert imresize(img, 0.5).shape == (19, 25)  # ceil, as MATLAB
    assert imresize(img, 3).shape == (111, 150)
    assert imresize(img, 0.5).dtype == np.float64
    assert imresize((img * 255).astype(np.uint8), 2).dtype == np.uint8
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert imresize(rgb, 0.25).shape == (5, 8, 3)


def test_imresize_float_path_neither_rounds_nor_clips() -> None:
    step = np.zeros((16, 16))
    step[:, 8:] = 255.0
    up = imresize(step, 2)
    assert up.min() < 0 and up.max() > 255  # bicubic overshoot is kept
    assert not np.allclose(up, np.round(up))


def test_imresize_keeps_constants_and_rejects_bad_scales() -> None:
    flat = np.full((9, 13), 77, dtype=np.uint8)
    assert (imresize(flat, 1 / 3) == 77).all() and (imresize(flat, 4) == 77).all()
    for bad in (0, -2, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            imresize(flat, bad)


def test_rgb2ycbcr_matches_matlab_documented_values() -> None:
    colors = np.array(
        [[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8
    )
    ycc = rgb2ycbcr(colors)
    # MATLAB: rgb2ycbcr(uint8([0 0 0; 255 255 255; 255 0 0; 0 255 0; 0 0 255]))
    expected = [[16, 128, 128], [235, 128, 128], [81, 90, 240], [145, 54, 34], [41, 240, 110]]
    np.testing.assert_array_equal(ycc[0], expected)
    np.testing.assert_array_equal(rgb2ycbcr(colors, only_y=True)[0], [16, 235, 81, 145, 41])
    np.testing.assert_allclose(rgb2ycbcr(colors / 255.0)[0, 1], [235 / 255, 128 / 255, 128 / 255])


def test_ycbcr2rgb_inverts_rgb2ycbcr() -> None:
    rgb = np.random.default_rng(0).random((8, 8, 3))
    np.testing.assert_allclose(ycbcr2rgb(rgb2ycbcr(rgb)), rgb, atol=1e-12)
    rgb8 = (rgb * 255).astype(np.uint8)
    assert np.abs(ycbcr2rgb(rgb2ycbcr(rgb8)).astype(int) - rgb8).max() <= 2
