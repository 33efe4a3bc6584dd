"""The degradations: SR input, seeded AWGN, JPEG, and option validation."""

from __future__ import annotations

import numpy as np
import pytest

from csrnet.errors import CsrnetError
from csrnet.protocol.degrade import Degradation, image_rng, jpeg_compress, modcrop, to_y
from csrnet.protocol.images import read_image
from csrnet.protocol.matlab import rgb2ycbcr, to_uint8
from csrnet.protocol.metrics import psnr

from conftest import sample_dir


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    return read_image(sample_dir("Set12") / "01.png")


def test_to_y_gray_is_its_own_y_and_rgb_is_converted() -> None:
    rgb = read_image(sample_dir("Set5") / "baby.png")
    np.testing.assert_array_equal(to_y(rgb), rgb2ycbcr(rgb)[..., 0])
    gray = rgb[..., 0]
    assert to_y(gray) is gray
    # Three equal channels are still converted, as the MATLAB test code does.
    assert to_y(np.stack([gray] * 3, axis=-1)).max() <= 235


def test_sr_input_is_bicubic_down_up_in_float(gray: np.ndarray) -> None:
    deg = Degradation("sr", 3)
    clean = deg.clean(gray[:100, :101])
    assert clean.shape == (99, 99) and deg.border == 3
    lr_up = deg.apply(clean)
    assert lr_up.shape == clean.shape and lr_up.dtype == np.float64
    assert not np.allclose(lr_up, np.round(lr_up))  # not rounded
    assert 20 < psnr(to_uint8(lr_up), clean, border=3) < 40
    with pytest.raises(ValueError):
        deg.apply(gray[:100, :101])  # not mod-cropped


def test_noise_is_seeded_per_image_and_unclipped(gray: np.ndarray) -> None:
    deg = Degradation("denoise", 25)
    a = deg.apply(gray, name="01.png", seed=0)
    np.testing.assert_array_equal(a, deg.apply(gray, name="01.png", seed=0))
    assert not np.array_equal(a, deg.apply(gray, name="02.png", seed=0))
    assert not np.array_equal(a, deg.apply(gray, name="01.png", seed=1))
    assert np.std(a - gray) == pytest.approx(25, rel=0.02)
    assert a.min() < 0 or a.max() > 255  # not clipped by default
    clipped = Degradation("denoise", 25, clip=True).apply(gray, name="01.png")
    assert clipped.min() >= 0 and clipped.max() <= 255
    assert image_rng("x").normal() == image_rng("x").normal()


def test_jpeg_quality_orders_distortion(gray: np.ndarray) -> None:
    q10, q40 = jpeg_compress(gray, 10), jpeg_compress(gray, 40)
    assert q10.dtype == np.uint8 and q10.shape == gray.shape
    assert psnr(q10, gray) < psnr(q40, gray) < 60
    np.testing.assert_array_equal(q10, jpeg_compress(gray, 10))
    np.testing.assert_array_equal(Degradation("jpeg", 10).apply(gray), q10)


def test_modcrop_crops_bottom_right() -> None:
    img = np.arange(7 * 10).reshape(7, 10)
    np.testing.assert_array_equal(modcrop(img, 4), img[:4, :8])


@pytest.mark.parametrize(
    "task,level",
    [
        ("sr", 0),
        ("sr", 1),
        ("sr", 2.5),
        ("sr", 17),
        ("denoise", -1),
        ("denoise", 0),
        ("denoise", float("nan")),
        ("denoise", 300),
        ("jpeg", 0),
        ("jpeg", 101),
        ("jpeg", 50.5),
        ("deblur", 3),
    ],
)
def test_nonsense_settings_are_refused(task: str, level: float) -> None:
    with pytest.raises(CsrnetError):
        Degradation(task, level)


def test_labels() -> None:
    assert [Degradation(*a).label for a in [("sr", 4), ("denoise", 15), ("jpeg", 10)]] == [
        "x4",
        "sigma15",
        "q10",
    ]
