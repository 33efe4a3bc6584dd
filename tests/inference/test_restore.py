"""csrnet restore and the API (csrnet.restore, load_model): colour, tiles, folders, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from csrnet.cli import main
from csrnet.errors import CsrnetError
from csrnet.inference.api import restore
from csrnet.inference.options import RunOptions
from csrnet.inference.photo import Photo
from csrnet.inference.pipeline import restore_photo
from csrnet.model import CSRnet
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.matlab import rgb2ycbcr
from csrnet.protocol.metrics import psnr
from csrnet.weights import find_weights, load_model, record_benchmarks

from conftest import make_bad_images, sample_dir, tiny_weights


@pytest.fixture
def photo() -> Image.Image:
    return Image.open(sample_dir("Set5") / "bird.png").convert("RGB").crop((0, 0, 100, 80))


def test_api_keeps_types_sizes_and_modes(weights_dir: Path, photo: Image.Image) -> None:
    import csrnet

    model, meta = csrnet.load_model("tiny_sr")
    assert isinstance(model, CSRnet) and meta["task"]["levels"] == [2, 4]
    out = csrnet.restore(photo, task="sr", scale=2)
    assert isinstance(out, Image.Image) and out.size == (200, 160) and out.mode == "RGB"
    arr = restore(np.asarray(photo), task="denoise", sigma=25)
    assert isinstance(arr, np.ndarray) and arr.shape == (80, 100, 3) and arr.dtype == np.uint8
    gray = restore(photo.convert("L"), task="sr", scale=4, weights="tiny_sr")
    assert gray.mode == "L" and gray.size == (400, 320)
    with pytest.raises(CsrnetError, match="no weights for jpeg q20"):
        restore(photo, task="jpeg", quality=20)
    with pytest.raises(CsrnetError, match="no camera-noise model is installed"):
        restore(photo, task="denoise")  # a photo's own noise, and no model for it here


@pytest.mark.parametrize("channels", ["y", "rgb"])
def test_strength_blends_the_input_and_the_models_output(
    weights_dir: Path, photo: Image.Image, channels: str
) -> None:
    if channels == "rgb":
        tiny_weights(weights_dir, "tiny_denoise_rgb", "denoise", [25], channels=3)
    noisy = np.asarray(photo)
    full, none, half, more = (
        restore(noisy, task="denoise", sigma=25, channels=channels, strength=s).astype(float)
        for s in (1.0, 0.0, 0.5, 1.5)
    )
    assert np.array_equal(none, noisy)  # 0: the input as it is
    inside = (full > 2) & (full < 253)  # where the model's output was not clipped to 8 bits
    assert inside.mean() > 0.5
    assert np.abs(half - (noisy + full) / 2)[inside].max() <= 1.5  # halfway, up to rounding
    change = np.abs(full - noisy).mean()
    assert change > 1 and np.abs(more - noisy).mean() > 1.3 * change  # further than 1


def test_colour_alpha_exif_and_icc(weights_dir: Path, photo: Image.Image) -> None:
    out = np.asarray(restore(photo, task="denoise", sigma=25))
    # Denoising restores Y only: Cb and Cr come from the input.
    before, after = rgb2ycbcr(np.asarray(photo) / 255.0), rgb2ycbcr(out / 255.0)
    inside = ((out > 0) & (out < 255)).all(axis=-1)  # where RGB did not clip
    assert inside.mean() > 0.5
    assert np.abs(before[inside, 1:] - after[inside, 1:]).max() * 255 < 1.5
    assert np.abs(before[..., 0] - after[..., 0]).max() * 255 > 2  # Y was changed
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.arange(100, dtype=np.uint8), (80, 1))))
    sr = restore(rgba, task="sr", scale=2)
    assert sr.mode == "RGBA" and sr.size == (200, 160)
    assert np.asarray(sr.getchannel("A"))[:, 10:190].std() > 10  # the alpha ramp survives
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    tagged = photo.copy()
    tagged.info["exif"] = exif.tobytes()
    tagged = Image.open(_save(tagged, weights_dir / "tagged.jpg", exif=exif.tobytes()))
    assert restore(tagged, task="sr", scale=2).size == (160, 200)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with_icc = Image.open(_save(photo, weights_dir / "icc.png", icc_profile=icc))
    assert restore(with_icc, task="sr", scale=2).info.get("icc_profile") == icc


def _save(img: Image.Image, path: Path, **options) -> Path:
    img.save(path, **options)
    return path


def test_tiles_match_the_whole_image(weights_dir: Path) -> None:
    model, _ = load_model("tiny_sr")
    deg = Degradation("sr", 2)
    clean = np.asarray(Image.open(sample_dir("Set5") / "baby.png"))
    low = np.asarray(Image.fromarray(clean).resize((64, 64), Image.BICUBIC))
    whole = restore_photo(Photo(low), model, deg, RunOptions(tile=2048)).pixels
    tiled = restore_photo(Photo(low), model, deg, RunOptions(tile=96)).pixels
    y = rgb2ycbcr(clean, only_y=True)
    assert (
        abs(psnr(rgb2ycbcr(whole, only_y=True), y, 2) - psnr(rgb2ycbcr(tiled, only_y=True), y, 2))
        <= 0.01
    )


def test_folder_run_keeps_going_and_lists_failures(
    tmp_path: Path, weights_dir: Path, capsys
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.open(sample_dir("Set5") / "bird.png").crop((0, 0, 64, 48)).save(src / "good.png")
    Image.open(sample_dir("Set12") / "01.png").crop((0, 0, 40, 40)).save(src / "gray.jpg")
    (tmp_path / "bad").mkdir()
    bad = make_bad_images(tmp_path / "bad")
    for kind in ("truncated", "16bit", "bomb"):
        (src / f"x_{kind}.png").write_bytes(bad[kind].read_bytes())
    Image.new("RGB", (1, 1)).save(src / "x_tiny.png")
    out = tmp_path / "out"
    code = main(
        ["restore", str(src), "-o", str(out), "--task", "sr", "--scale", "2", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "3 of 6 images failed" in err and "Traceback" not in err
    for needle in ("x_truncated.png", "decompression bomb", "at least 2x2"):
        assert needle in err
    assert sorted(p.name for p in out.iterdir()) == ["good.png", "gray.png", "x_16bit.png"]
    assert (
        Image.open(out / "good.png").size == (128, 96) and Image.open(out / "gray.png").mode == "L"
    )
    # existing outputs: an error, unless skipped or overwritten
    restore_good = ["restore", str(src / "good.png"), "-o", str(out)]
    restore_good += ["--task", "sr", "--scale", "2"]
    code = main(restore_good)
    assert code == 1 and "exists" in capsys.readouterr().err
    assert main([*restore_good, "--skip-existing"]) == 0
    assert main([*restore_good, "--overwrite"]) == 0
    # one input and an image file name: written there; never over the input itself
    assert (
        main(
            [
                "restore",
                str(src / "good.png"),
                "-o",
                str(tmp_path / "one.jpg"),
                "--task",
                "denoise",
                "--sigma",
                "25",
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "one.jpg").format == "JPEG"
    code = main(
        [
            "restore",
            str(src / "good.png"),
            "-o",
            str(src / "good.png"),
            "--task",
            "sr",
            "--scale",
            "2",
        ]
    )
    assert code == 1 and "would overwrite the input" in capsys.readouterr().err


def test_demo_and_models(tmp_path: Path, weights_dir: Path, capsys) -> None:
    out = tmp_path / "demo.png"
    assert main(["restore", "--demo", "-o", str(out), "--task", "sr", "--scale", "2"]) == 0
    assert "on a sample photo" in capsys.readouterr().out
    assert Image.open(out).size == (3 * 512, 512 + 22)
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "tiny_sr" in listing and "tiny_denoise" in listing and "20.00 dB" in listing
    assert find_weights(Degradation("sr", 4)).name == "tiny_sr.safetensors"


def test_weights_are_chosen_by_measured_psnr(weights_dir: Path, capsys) -> None:
    blind = tiny_weights(weights_dir, "tiny_blind", "denoise", [], level_range=[0, 55])
    assert main(["models"]) == 0
    assert "tiny_blind: denoise 0-55," in capsys.readouterr().out
    # no records: the file trained for exactly sigma 25 wins; sigma 30 only the range covers
    assert find_weights(Degradation("denoise", 25)).name == "tiny_denoise.safetensors"
    assert find_weights(Degradation("denoise", 30)).name == "tiny_blind.safetensors"
    record_benchmarks(blind, {"BSD68 sigma25": {"psnr": 30.0, "ssim": 0.8}})
    assert find_weights(Degradation("denoise", 25)).name == "tiny_blind.safetensors"
    record_benchmarks(weights_dir / "tiny_denoise.safetensors", {"BSD68 sigma25": {"psnr": 31.0}})
    assert find_weights(Degradation("denoise", 25)).name == "tiny_denoise.safetensors"
    assert main(["models"]) == 0  # a record without SSIM lists too
    assert "BSD68 sigma25: PSNR 31.00 dB\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,code,needle",
    [
        (["--task", "sr"], 2, "needs --scale"),
        (["--task", "sr", "--scale", "2", "--sigma", "3"], 2, "--sigma does not apply"),
        (["--task", "sr", "--scale", "2", "--tile", "50"], 2, "--tile"),
        (["--task", "sr", "--scale", "2", "--overwrite", "--skip-existing"], 2, "at most one"),
        (["--task", "jpeg", "--quality", "20"], 1, "no weights for jpeg q20"),
        (["--task", "denoise"], 1, "no camera-noise model is installed; give a sigma"),
        (["--task", "denoise", "--sigma", "25", "--strength", "2"], 2, "give 0 to 1.5"),
        (["--task", "sr", "--scale", "2", "--strength", "0.5"], 2, "SR has no input to blend"),
        (["--task", "sr", "--scale", "2", "--weights", "tiny_denoise"], 1, "trained for denoise"),
        (
            ["--task", "sr", "--scale", "2", "--weights", "missing.safetensors"],
            1,
            "no such weights file",
        ),
    ],
)
def test_bad_restore_options(tmp_path: Path, weights_dir: Path, capsys, argv, code, needle) -> None:
    img = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(img)
    got = main(["restore", str(img), "-o", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err
    assert got == code and needle in err and len(err.strip().splitlines()) == 1, err


def test_camera_jpegs_of_quality_75_to_98_end_without_an_error(
    tmp_path: Path, weights_dir: Path, photo: Image.Image, capsys, monkeypatch
) -> None:
    """Cameras write quality 75-95, over the deblockers' range (here 5-60): the q60 model at
    a strength that fades to nothing at 90, where the photo is passed through, loading no
    model."""
    from csrnet.inference import choice

    tiny_weights(weights_dir, "tiny_jpeg", "jpeg", [10, 40], level_range=[5, 60])
    loads, load = [], choice.load_weights
    monkeypatch.setattr(choice, "load_weights", lambda *a: loads.append(a) or load(*a))
    results = {}
    for quality in (75, 90, 98):
        path = tmp_path / f"camera_q{quality}.jpg"
        photo.save(path, quality=quality)
        out = tmp_path / f"q{quality}.png"
        assert main(["restore", str(path), "-o", str(out), "--task", "jpeg", "--no-progress"]) == 0
        results[quality] = capsys.readouterr().out
        same = np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(path)))
        assert same == (quality >= 90)  # passed through, pixel for pixel
        assert len(loads) == 1  # the q75 file's model; none for those passed through
    assert "q75 (the q60 model at strength 0.50)" in results[75]
    assert "q98 (passed through: lighter than the deblockers remove)" in results[98]
    light = restore(photo, task="jpeg", quality=95)  # the API alike, with a warning line
    assert np.array_equal(np.asarray(light), np.asarray(photo))
