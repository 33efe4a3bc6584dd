"""`--quality auto` and `--sigma auto`: a JPEG's quality read from its tables, a photo's noise
estimated, and restore using them per photo."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import csrnet
from csrnet import weights
from csrnet.cli import main
from csrnet.errors import CsrnetError
from csrnet.inference.levels import estimate_noise_sigma, ijg_quality
from csrnet.inference.photo import open_photo
from csrnet.protocol.degrade import add_gaussian_noise, image_rng
from csrnet.protocol.images import list_images, read_image

from conftest import data_dir, run_cli, sample_dir, tiny_weights


def jpeg_bytes(image: Image.Image, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    buffer.seek(0)
    return Image.open(buffer)


@pytest.mark.parametrize("quality", [1, 5, 10, 17, 20, 37, 50, 63, 75, 90, 99])
def test_the_quality_of_a_libjpeg_file_is_read_exactly(quality: int) -> None:
    photo = Image.open(sample_dir("LIVE1") / "monarch.png").convert("RGB")
    assert ijg_quality(jpeg_bytes(photo, quality=quality).quantization) == (quality, True)
    gray = photo.convert("L")
    assert ijg_quality(jpeg_bytes(gray, quality=quality).quantization) == (quality, True)


def test_other_tables_give_the_nearest_quality_and_one_warning(tmp_path: Path, capsys) -> None:
    photo = Image.open(sample_dir("LIVE1") / "monarch.png").convert("RGB")
    q30 = list(jpeg_bytes(photo, quality=30).quantization[0])
    path = tmp_path / "camera.jpg"
    photo.save(path, qtables=[[v + 1 for v in q30]])  # a camera's own table, near q30
    with pytest.warns(UserWarning, match="not libjpeg's; the nearest quality is"):
        quality = open_photo(path).jpeg_quality
    assert abs(quality - 30) <= 5


def test_the_noise_estimate_of_a_smooth_photo(tmp_path: Path) -> None:
    y, x = np.mgrid[0:256, 0:256]
    clean = 128 + 40 * np.sin(x / 23.0) * np.cos(y / 31.0)
    for sigma in (5, 15, 25):
        noisy = add_gaussian_noise(clean, sigma, np.random.default_rng(sigma))
        assert abs(estimate_noise_sigma(np.round(noisy).astype(np.uint8)) - sigma) < 1.0


@pytest.mark.data
def test_the_noise_estimate_on_cbsd68() -> None:
    """Photos as files hold noise clipped to [0, 255]; the estimate leaves out where that
    hides it (the plain wavelet estimate was 44.3 at sigma 50)."""
    paths = list_images(data_dir("CBSD68"))
    for sigma in (15, 25, 50):
        estimates = []
        for path in paths:
            noisy = add_gaussian_noise(read_image(path), sigma, image_rng(path.name))
            estimates.append(
                estimate_noise_sigma(np.clip(np.round(noisy), 0, 255).astype(np.uint8))
            )
        errors = np.abs(np.array(estimates) - sigma)
        assert abs(np.mean(estimates) - sigma) < 1.5, (sigma, np.mean(estimates))
        assert errors.mean() < 1.5, (sigma, errors.mean())


def test_clipped_heavy_noise_is_not_underestimated() -> None:
    """A dark and a bright half: sigma 50 clipped to 8 bits hides a third of the noise there,
    and the estimate counts the middle only."""
    y, x = np.mgrid[0:256, 0:384]
    clean = np.select([x < 128, x < 256], [20.0, 128.0 + 20 * np.sin(y / 9.0)], 235.0)
    noisy = add_gaussian_noise(clean, 50, np.random.default_rng(0))
    photo = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    assert abs(estimate_noise_sigma(photo) - 50) < 2.0


@pytest.fixture
def blind_weights(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    tiny_weights(folder, "tiny_jpeg_blind", "jpeg", [], level_range=[5, 60])
    tiny_weights(folder, "tiny_denoise_blind", "denoise", [], level_range=[0, 55])
    monkeypatch.setenv("CSRNET_WEIGHTS", str(folder))
    monkeypatch.setattr(weights, "PACKAGE_WEIGHTS", tmp_path / "no_package_weights")
    return folder


def test_restore_reads_each_jpeg_quality_by_default(
    tmp_path: Path, capsys, blind_weights: Path
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    monarch = Image.open(sample_dir("LIVE1") / "monarch.png").convert("RGB")
    monarch.save(photos / "a.jpg", quality=10)
    monarch.save(photos / "b.jpg", quality=37)
    monarch.save(photos / "c.jpg", quality=10)
    assert (
        main(
            [
                "restore",
                str(photos),
                "-o",
                f"{tmp_path / 'out'}/",
                "--task",
                "jpeg",
                "--backend",
                "torch",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.strip().endswith(
        "with tiny_jpeg_blind on torch (levels from the JPEG tables: q10 x2, q37 x1)"
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]
    # a PNG has no tables: its line says what to give, the others go on
    (photos / "d.png").write_bytes((sample_dir("Set5") / "baby.png").read_bytes())
    code, err = run_cli(
        capsys,
        "restore",
        str(photos),
        "-o",
        f"{tmp_path / 'out2'}/",
        "--task",
        "jpeg",
        "--backend",
        "torch",
        "--no-progress",
    )
    assert code == 1 and "d.png: not a JPEG file, so no quality to read: give --quality" in err
    assert len(list((tmp_path / "out2").iterdir())) == 3


def test_restore_estimates_sigma_when_asked(tmp_path: Path, capsys, blind_weights: Path) -> None:
    y, x = np.mgrid[0:128, 0:128]
    clean = 128 + 40 * np.sin(x / 23.0) * np.cos(y / 31.0)
    noisy = np.round(add_gaussian_noise(clean, 25, np.random.default_rng(0))).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "noisy.png")
    assert (
        main(
            [
                "restore",
                str(tmp_path / "noisy.png"),
                "-o",
                str(tmp_path / "out.png"),
                "--task",
                "denoise",
                "--sigma",
                "auto",
                "--backend",
                "torch",
                "--no-progress",
            ]
        )
        == 0
    )
    summary = capsys.readouterr().out
    level = float(summary.split("sigma")[-1].split(" x1")[0])
    assert abs(level - 25) < 1.5 and (tmp_path / "out.png").is_file()
    code, err = run_cli(
        capsys,
        "restore",
        "--demo",
        "--task",
        "jpeg",
        "--quality",
        "auto",
        "-o",
        str(tmp_path / "demo.png"),
    )
    assert code == 2 and "give the level, not auto" in err


def other_tiny_weights(folder: Path, name: str, task: str, **levels) -> Path:
    """Tiny weights unlike ``tiny_weights``'s, so that which file restored a photo shows."""
    path = tiny_weights(folder, name, task, levels.get("levels", []), levels.get("level_range"))
    model, info = weights.load_weights(path)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05)
    weights.save_weights(path, model, info.metadata)
    return path


def test_the_python_api_reads_levels_from_the_photo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    tiny_weights(folder, "tiny_jpeg_q10", "jpeg", [10])
    other_tiny_weights(folder, "tiny_jpeg_q37", "jpeg", levels=[37])
    tiny_weights(folder, "tiny_denoise_low", "denoise", [], level_range=[0, 35])
    other_tiny_weights(folder, "tiny_denoise_high", "denoise", level_range=[35, 55])
    monkeypatch.setenv("CSRNET_WEIGHTS", str(folder))
    monkeypatch.setattr(weights, "PACKAGE_WEIGHTS", tmp_path / "no_package_weights")
    monarch = Image.open(sample_dir("LIVE1") / "monarch.png").convert("RGB")
    jpeg = jpeg_bytes(monarch, quality=37)
    restored = np.asarray(csrnet.restore(jpeg, task="jpeg", backend="torch"))  # quality: auto
    assert np.array_equal(
        restored, np.asarray(csrnet.restore(jpeg, task="jpeg", quality=37, backend="torch"))
    )
    assert not np.array_equal(
        restored, np.asarray(csrnet.restore(jpeg, task="jpeg", quality=10, backend="torch"))
    )
    with pytest.raises(CsrnetError, match="array: not a JPEG file.*give quality="):
        csrnet.restore(np.asarray(jpeg), task="jpeg", backend="torch")

    gray = np.asarray(monarch.convert("L"), dtype=np.float64)
    noisy = np.clip(np.round(add_gaussian_noise(gray, 50, np.random.default_rng(0))), 0, 255)
    noisy = noisy.astype(np.uint8)
    estimated = csrnet.restore(noisy, task="denoise", sigma="auto", backend="torch")
    assert np.array_equal(
        estimated, csrnet.restore(noisy, task="denoise", sigma=50, backend="torch")
    )
    assert not np.array_equal(
        estimated, csrnet.restore(noisy, task="denoise", sigma=20, backend="torch")
    )
    for bad in ({"task": "denoise", "sigma": "loud"}, {"task": "sr", "scale": "auto"}):
        with pytest.raises(CsrnetError):
            csrnet.restore(noisy, backend="torch", **bad)
