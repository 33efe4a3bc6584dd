"""The camera-noise degradation: seeded, signal-dependent on the sensor, correlated between
neighbours after demosaicing, smoothed by the camera's JPEG, and drawn at the levels of real
sensors."""

from __future__ import annotations

import numpy as np
import pytest

from csrnet.protocol.camera import (
    TO_YCC,
    CameraNoise,
    camera_noise,
    sample_camera,
    sensor_noise,
)
from csrnet.protocol.images import read_image

from conftest import sample_dir

CAPTURE = CameraNoise(shot=3e-3, read=1e-5, red_gain=2.1, blue_gain=1.7)


def photo() -> np.ndarray:
    path = sorted(sample_dir("Set5").glob("*.png"))[0]
    image = read_image(path)
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


def test_the_same_seed_gives_the_same_capture() -> None:
    one = camera_noise(photo(), CAPTURE, np.random.default_rng(3))
    two = camera_noise(photo(), CAPTURE, np.random.default_rng(3))
    other = camera_noise(photo(), CAPTURE, np.random.default_rng(4))
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert not np.array_equal(one[0], other[0]) and np.array_equal(one[1], other[1])
    assert one[0].dtype == np.uint8 and one[0].shape == photo().shape


def test_the_sensor_noise_grows_with_the_signal() -> None:
    rng = np.random.default_rng(0)
    variances = []
    for level in (0.05, 0.2, 0.8):
        raw = np.full((200, 200), level)
        variances.append(np.var(sensor_noise(raw, CAPTURE, rng) - raw))
    expected = [CAPTURE.read + CAPTURE.shot * level for level in (0.05, 0.2, 0.8)]
    assert variances == pytest.approx(expected, rel=0.05)
    assert variances[0] < variances[1] < variances[2]


def test_demosaicing_correlates_the_noise_of_neighbours() -> None:
    flat = np.full((128, 128, 3), 110, dtype=np.uint8)
    noisy, reference = camera_noise(flat, CAPTURE, np.random.default_rng(1))
    residual = noisy.astype(np.float64)[..., 1] - reference[..., 1]
    right = np.corrcoef(residual[:, :-1].ravel(), residual[:, 1:].ravel())[0, 1]
    white = np.random.default_rng(1).standard_normal(residual.shape)
    white_right = np.corrcoef(white[:, :-1].ravel(), white[:, 1:].ravel())[0, 1]
    assert right > 0.3 and abs(white_right) < 0.05
    assert residual.std() > 2  # a visible noise at this level


def test_the_cameras_jpeg_smooths_the_noise() -> None:
    flat = np.full((128, 128, 3), 110, dtype=np.uint8)
    raw, _ = camera_noise(flat, CAPTURE, np.random.default_rng(2))
    jpeg, _ = camera_noise(
        flat, CameraNoise(**{**CAPTURE.__dict__, "quality": 60}), np.random.default_rng(2)
    )
    assert jpeg.astype(float).std() < raw.astype(float).std()


def test_the_cameras_chroma_blur_removes_colour_noise_and_keeps_luma_noise() -> None:
    flat = np.full((128, 128, 3), 110, dtype=np.uint8)
    blurred = CameraNoise(**{**CAPTURE.__dict__, "chroma_blur": 2.0})
    spread = {}
    for name, capture in (("raw", CAPTURE), ("blurred", blurred)):
        noisy, reference = camera_noise(flat, capture, np.random.default_rng(2))
        ycc = (noisy.astype(np.float64) - reference) @ TO_YCC.T
        spread[name] = ycc.reshape(-1, 3).std(axis=0)
    assert spread["blurred"][1] < 0.5 * spread["raw"][1]  # Cb
    assert spread["blurred"][2] < 0.5 * spread["raw"][2]  # Cr
    assert spread["blurred"][0] == pytest.approx(spread["raw"][0], rel=0.05)  # Y untouched


def test_captures_are_drawn_at_the_levels_of_real_sensors() -> None:
    rng = np.random.default_rng(5)
    captures = [sample_camera(rng) for _ in range(400)]
    shots = np.array([c.shot for c in captures])
    assert shots.min() >= 1e-4 and shots.max() <= 1.2e-2
    assert np.median(np.log(shots)) == pytest.approx(np.log(np.sqrt(1e-4 * 1.2e-2)), abs=0.4)
    qualities = [c.quality for c in captures]
    assert 0.15 < qualities.count(0) / len(qualities) < 0.35
    assert min(q for q in qualities if q) >= 60 and max(qualities) <= 95
    blurs = [c.chroma_blur for c in captures]
    assert 0.4 < blurs.count(0.0) / len(blurs) < 0.6
    assert min(b for b in blurs if b) >= 0.5 and max(blurs) <= 2.0
