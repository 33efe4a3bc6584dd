"""Scoring on RGB for the colour models: PSNR over the three channels, SSIM their mean,
colour JPEG with 4:2:0 chroma, and an RGB model through the evaluation end to end."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet.errors import CsrnetError
from csrnet.evaluation.evaluate import evaluate_folder, evaluate_weights
from csrnet.model import CSRnet
from csrnet.protocol.degrade import Degradation, jpeg_compress
from csrnet.protocol.images import read_image
from csrnet.protocol.metrics import psnr, ssim
from csrnet.weights import record_benchmarks, save_weights

from conftest import sample_dir

# the identity weights give back their input exactly in fp32; int8 (auto's choice) would not
EXACT = "torch"


def test_rgb_metrics_are_over_all_channels() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    mse = np.mean((a.astype(float) - b) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / mse))
    assert ssim(a, b) == pytest.approx(np.mean([ssim(a[..., c], b[..., c]) for c in range(3)]))


def test_colour_jpeg_subsamples_the_chroma() -> None:
    rgb = read_image(sample_dir("CBSD68") / "101085.png")[:96, :128]
    out = jpeg_compress(rgb, 10)
    assert out.shape == rgb.shape and out.dtype == np.uint8

    def encoded(subsampling: str) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=10, subsampling=subsampling)
        return np.array(Image.open(buffer))

    assert np.array_equal(out, encoded("4:2:0")) and not np.array_equal(out, encoded("4:4:4"))


def test_the_noisy_input_scored_on_rgb(tmp_path: Path) -> None:
    folder = sample_dir("CBSD68")
    rgb = evaluate_folder(folder, Degradation("denoise", 15), limit=3, rgb=True)
    y = evaluate_folder(folder, Degradation("denoise", 15), limit=3)
    # unclipped sigma 15 gives 24.61 dB; rounding to uint8 clips the extremes, a little higher
    # (how much depends on the image's darkest and brightest pixels)
    first = read_image(folder / rgb.images[0].name)
    assert 24.6 < rgb.psnr < 25.5 and (rgb.images[0].height, rgb.images[0].width) == first.shape[:2]
    assert abs(rgb.psnr - y.psnr) > 0.01  # another image, another number
    with pytest.raises(CsrnetError, match="a gray image; scoring on RGB needs colour images"):
        evaluate_folder(sample_dir("Set12"), Degradation("denoise", 15), limit=1, rgb=True)


def test_an_rgb_model_is_scored_on_rgb(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = CSRnet(
        depth=1, res_blocks=1, channels=4, first_channels=4, image_channels=3, input_skip=True
    )
    torch.nn.init.zeros_(model.rec2.weight)  # input skip and a zero residual: the identity
    torch.nn.init.zeros_(model.rec2.bias)
    path = tmp_path / "rgb.safetensors"
    save_weights(path, model, {"task": {"task": "jpeg", "levels": [10]}})
    # no sets given: an RGB model's are the colour ones (LIVE1 for JPEG), not gray Classic5
    (score,) = evaluate_weights(path, None, sample_dir("LIVE1").parent, override=None)
    jpeg = evaluate_folder(sample_dir("LIVE1"), Degradation("jpeg", 10), rgb=True)
    assert score.dataset == "LIVE1"
    assert score.psnr == pytest.approx(jpeg.psnr, abs=0.02)  # fp16 weights, identity


@pytest.mark.parametrize(("task", "sampler"), [("denoise", "host"), ("jpeg", "device")])
def test_a_small_rgb_model_learns(tmp_path: Path, task: str, sampler: str) -> None:
    from csrnet.training.config import load_config
    from csrnet.training.loop import train

    from conftest import tiny_config

    path = tiny_config(tmp_path, task, steps=40, val_every=0)  # sigma 0-55 or q10
    overrides = [
        "model.image_channels=3",
        "data.train=[T91]",
        "data.val=Set5",
        "data.exclude_overlaps_with=[]",
        f"data.sampler={sampler}",
    ]
    result = train(load_config(path, overrides), tmp_path / "run", progress=False)
    first, last = np.mean(result.losses[:5]), np.mean(result.losses[-5:])
    assert last < 0.8 * first, (first, last)
    assert result.validation and result.validation[-1]["psnr"] > 15  # scored on RGB


def identity_rgb_weights(
    folder: Path, name: str = "tiny_rgb_denoise", camera_share: float = 0.0
) -> Path:
    """An RGB denoiser that returns its input (input skip, zero residual): its results show
    which model restored a photo."""
    model = CSRnet(
        depth=1, res_blocks=1, channels=4, first_channels=4, image_channels=3, input_skip=True
    )
    torch.nn.init.zeros_(model.rec2.weight)
    torch.nn.init.zeros_(model.rec2.bias)
    path = folder / f"{name}.safetensors"
    task = {"task": "denoise", "level_range": [0, 55], "camera_share": camera_share}
    save_weights(path, model, {"task": task, "recipe": name})
    return path


def test_a_photo_without_a_sigma_gets_the_camera_noise_model(
    tmp_path: Path, weights_dir: Path, capsys
) -> None:
    import csrnet
    from csrnet.cli import main
    from csrnet.inference.demo import demo_image

    identity_rgb_weights(weights_dir, "tiny_real", camera_share=0.75)
    colour = read_image(sample_dir("CBSD68") / "101085.png")[:64, :80]
    assert np.array_equal(csrnet.restore(colour, task="denoise", backend=EXACT), colour)
    Image.fromarray(colour).save(tmp_path / "c.png")
    argv = ["restore", str(tmp_path / "c.png"), "-o", str(tmp_path / "out"), "--task", "denoise"]
    assert main([*argv, "--backend", EXACT]) == 0
    assert "with tiny_real on torch (camera noise)" in capsys.readouterr().out
    assert (
        main([*argv, "--backend", EXACT, "--overwrite", "--strength", "0.5", "--sigma", "camera"])
        == 0
    )
    assert "with tiny_real on torch (camera noise, strength 0.5)" in capsys.readouterr().out
    # a sigma is Gaussian noise: the paper's models, never the camera one
    assert main([*argv, "--backend", EXACT, "--overwrite", "--sigma", "25"]) == 0
    assert "with tiny_denoise" in capsys.readouterr().out  # the Y model: no RGB one for it
    # the demo takes its sample through the camera and scores against the noise-free capture
    demo = ["restore", "--demo", "-o", str(tmp_path / "demo.png"), "--task", "denoise"]
    assert main([*demo, "--backend", EXACT]) == 0
    reference, noisy = demo_image(Degradation.camera())
    same = f"{psnr(noisy, reference):.2f} dB"
    assert f"denoise camera on a sample photo, PSNR on RGB: input {same}, CSRnet {same}" in (
        capsys.readouterr().out
    )


def test_colour_photos_get_the_rgb_model_and_gray_ones_the_gray_model(
    tmp_path: Path, weights_dir: Path, capsys
) -> None:
    import csrnet
    from csrnet.cli import main

    rgb_file = identity_rgb_weights(weights_dir)
    record_benchmarks(rgb_file, {"CBSD68 sigma25": {"psnr": 20.5, "ssim": 0.4}})
    colour = read_image(sample_dir("CBSD68") / "101085.png")[:64, :80]
    gray = read_image(sample_dir("Set12") / "01.png")[:64, :80]
    assert np.array_equal(
        csrnet.restore(colour, task="denoise", sigma=25, backend=EXACT), colour
    )  # RGB
    y_only = csrnet.restore(colour, task="denoise", sigma=25, channels="y", backend=EXACT)
    assert not np.array_equal(y_only, colour)  # the (random) Y model ran instead
    assert not np.array_equal(
        csrnet.restore(gray, task="denoise", sigma=25, backend=EXACT), gray
    )  # Y model
    through_rgb = csrnet.restore(gray, task="denoise", sigma=25, channels="rgb", backend=EXACT)
    assert through_rgb.ndim == 2 and np.array_equal(through_rgb, gray)  # gray stays gray
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "tiny_rgb_denoise: denoise RGB 0-55" in listing
    # its measured score, beside what other methods published for that setting
    assert "CBSD68 sigma25: PSNR 20.50 dB, SSIM 0.4000 (published: CBM3D 30.70," in listing
    Image.fromarray(colour).save(tmp_path / "c.png")
    out = tmp_path / "out.png"
    argv = ["restore", str(tmp_path / "c.png"), "-o", str(out), "--task", "denoise"]
    argv += ["--backend", EXACT]
    assert main([*argv, "--sigma", "25"]) == 0
    assert np.array_equal(np.array(Image.open(out)), colour)
    with pytest.raises(CsrnetError, match="no RGB weights for jpeg q10"):
        csrnet.restore(colour, task="jpeg", quality=10, channels="rgb")


def test_the_demo_scores_an_rgb_model_on_rgb(tmp_path: Path, weights_dir: Path, capsys) -> None:
    from csrnet.cli import main
    from csrnet.inference.demo import demo_image

    identity_rgb_weights(weights_dir)  # a colour photo gets it: the output is the noisy input
    deg = Degradation("denoise", 25)
    argv = ["restore", "--demo", "-o", str(tmp_path / "demo.png"), "--task", "denoise"]
    argv += ["--backend", EXACT]
    assert main([*argv, "--sigma", "25"]) == 0
    clean, noisy = demo_image(deg)
    on_rgb = f"{psnr(noisy, clean):.2f} dB"
    assert f"PSNR on RGB: input {on_rgb}, CSRnet {on_rgb}" in capsys.readouterr().out
    assert main([*argv, "--sigma", "25", "--channels", "y", "--overwrite"]) == 0
    assert "PSNR on Y: input " in capsys.readouterr().out  # the Y model: scored on Y


def write_png16(path: Path, pixels: np.ndarray, icc: bytes | None = None) -> Path:
    """A 16-bit PNG (pypng; Pillow cannot write 16-bit RGB), optionally with an ICC profile."""
    from csrnet.inference.photo import Photo, save_photo

    save_photo(Photo(pixels, icc_profile=icc), path)
    return path


def read_png16(path: Path) -> np.ndarray:
    import png

    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    assert info["bitdepth"] == 16
    return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(height, width, -1)


def deep_colour() -> np.ndarray:
    """A 16-bit colour photo whose low bits matter: 8 bits cannot hold it."""
    rgb = read_image(sample_dir("CBSD68") / "101085.png")[:40, :48].astype(np.uint16) * 257
    return rgb + np.random.default_rng(0).integers(0, 257, rgb.shape, dtype=np.uint16)


def test_16_bit_png_and_tiff_are_restored_and_written_with_16_bits(
    tmp_path: Path, weights_dir: Path, capsys
) -> None:
    import tifffile

    import csrnet
    from csrnet.cli import main
    from csrnet.inference.photo import open_photo

    identity_rgb_weights(weights_dir)  # returns its input: every one of the 16 bits survives
    deep, icc = deep_colour(), Image.new("RGB", (1, 1)).info.get("icc_profile") or b"fake icc"
    write_png16(tmp_path / "deep.png", deep, icc)
    tifffile.imwrite(tmp_path / "deep.tif", deep, photometric="rgb")
    argv = ["--task", "denoise", "--sigma", "25", "--backend", EXACT]
    assert main(["restore", str(tmp_path / "deep.png"), "-o", str(tmp_path / "o.png"), *argv]) == 0
    assert np.array_equal(read_png16(tmp_path / "o.png"), deep)
    assert open_photo(tmp_path / "o.png").icc_profile == icc  # the profile kept
    assert main(["restore", str(tmp_path / "deep.tif"), "-o", str(tmp_path / "o.tif"), *argv]) == 0
    assert np.array_equal(tifffile.imread(tmp_path / "o.tif"), deep)
    assert main(["restore", str(tmp_path / "deep.tif"), "-o", str(tmp_path / "dir"), *argv]) == 0
    assert np.array_equal(read_png16(tmp_path / "dir" / "deep.png"), deep)  # a folder: PNG
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "deep.png"), "-o", str(tmp_path / "o.jpg"), *argv]) == 0
    assert "JPEG holds 8 bits per channel" in capsys.readouterr().err
    assert Image.open(tmp_path / "o.jpg").mode == "RGB"
    # the API: uint16 in, uint16 out; a gray one through the gray model stays 16-bit gray
    assert np.array_equal(csrnet.restore(deep, "denoise", sigma=25, backend=EXACT), deep)
    gray = csrnet.restore(deep[..., 1], "denoise", sigma=25, backend=EXACT)
    assert gray.dtype == np.uint16 and gray.shape == deep.shape[:2]
    # on the network's scale: what the 8-bit photo gives, to within the 8 bits it lost
    eight = np.round(deep[..., 1] / 257.0).astype(np.uint8)
    gray8 = csrnet.restore(eight, "denoise", sigma=25, backend=EXACT)
    assert np.abs(gray / 257.0 - gray8).mean() < 0.6


def test_16_bit_photos_turn_upright_as_their_exif_says() -> None:
    from PIL import ImageOps

    from csrnet.inference.photo import _orient

    pixels = np.arange(6 * 4 * 3, dtype=np.uint8).reshape(6, 4, 3)
    for orientation in range(1, 9):
        img = Image.fromarray(pixels)
        exif = img.getexif()
        exif[0x0112] = orientation
        buffer = io.BytesIO()
        img.save(buffer, format="PNG", exif=exif)
        upright = np.array(ImageOps.exif_transpose(Image.open(buffer)))
        assert np.array_equal(_orient(pixels, orientation), upright), orientation


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_gray_colour_and_alpha_survive_a_round_trip(tmp_path: Path, suffix: str) -> None:
    from csrnet.inference.photo import Photo, open_photo, save_photo

    deep = deep_colour()
    for photo in (
        Photo(deep, deep[..., 0], b"icc"),
        Photo(deep[..., 1]),
        Photo(deep[..., 1], deep[..., 2]),
    ):
        save_photo(photo, tmp_path / f"a{suffix}")
        back = open_photo(tmp_path / f"a{suffix}")
        pixels = back.pixels[..., 0] if back.pixels.ndim > photo.pixels.ndim else back.pixels
        assert pixels.dtype == np.uint16 and np.array_equal(pixels, photo.pixels)
        assert (back.alpha is None) == (photo.alpha is None)
        assert photo.alpha is None or np.array_equal(back.alpha, photo.alpha)
        assert back.icc_profile == photo.icc_profile
