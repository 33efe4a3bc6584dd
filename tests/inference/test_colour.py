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


def identity_rgb_weights(folder: Path, name: str = "tiny_rgb_denoise") -> Path:
    """An RGB denoiser that returns its input (input skip, zero residual): its results show
    which model restored a photo."""
    model = CSRnet(
        depth=1, res_blocks=1, channels=4, first_channels=4, image_channels=3, input_skip=True
    )
    torch.nn.init.zeros_(model.rec2.weight)
    torch.nn.init.zeros_(model.rec2.bias)
    path = folder / f"{name}.safetensors"
    save_weights(path, model, {"task": {"task": "denoise", "level_range": [0, 55]}, "recipe": name})
    return path


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
