"""Shared fixtures: small sample images (``tests/data/sets``), the benchmark sets in
../shared/data for the tests marked ``data``, a tiny training recipe, and malformed images."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from csrnet import weights
from csrnet.model import CSRnet
from csrnet.training.checkpoint import read_checkpoint
from csrnet.weights import save_weights

DATA_ROOT = Path(
    os.environ.get("CSRNET_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
# Crops of a few benchmark images under their sets' and files' names (tests/data/make_samples.py)
SAMPLES = Path(__file__).resolve().parent / "data" / "sets"


CONFIGS = Path(__file__).resolve().parents[1] / "configs"
VALIDATION = {"sr": "Set5", "denoise": "Set12", "jpeg": "Classic5"}  # as configs/base/
TASKS = {
    "sr": ({"task": "sr", "levels": [2, 4]}, ["T91"]),
    "denoise": ({"task": "denoise", "level_range": [0, 55], "val_levels": [25]}, ["Train400"]),
    "jpeg": ({"task": "jpeg", "levels": [10]}, ["Train400"]),
}


def tiny_config(tmp_path: Path, task: str = "jpeg", **overrides) -> Path:
    """A recipe for a tiny model on the sample images, on top of the shipped fast recipe."""
    task_cfg, train_dirs = TASKS[task]
    raw = {
        "base": [str(CONFIGS / "base" / "fast.yaml"), str(CONFIGS / "base" / f"{task}.yaml")],
        "name": f"tiny_{task}",
        "task": task_cfg,
        "model": {"channels": 8, "first_channels": 8, "depth": 2, "res_blocks": 1},
        "data": {
            "root": str(SAMPLES),
            "train": train_dirs,
            "exclude_overlaps_with": [VALIDATION[task]],
            "patch_size": 24,
            "batch_size": 4,
            "workers": 0,
            "val_images": 1,
        },
        "optim": {"lr": 2.0e-3},
        "schedule": {"kind": "constant", "warmup_steps": 0},
        "steps": 40,
        "val_every": 0,
        "ckpt_every": 0,
        "log_every": 10,
        "device": "cpu",
        "precision": "fp32",  # the same arithmetic on every CPU: exact comparisons hold
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            raw[section][name] = value
        else:
            raw[section] = value
    path = tmp_path / f"tiny_{task}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / "last.pt")["model"]


def tiny_model(channels: int = 1, seed: int = 0) -> CSRnet:
    """A CSRnet of a few hundred parameters, seeded, for weights files made by tests."""
    torch.manual_seed(seed)
    return CSRnet(
        depth=1,
        res_blocks=1,
        channels=4,
        first_channels=4,
        input_skip=True,
        image_channels=channels,
    )


def tiny_weights(
    folder: Path,
    name: str,
    task: str,
    levels: list[float],
    level_range: list[float] | None = None,
    channels: int = 1,
    camera_share: float = 0.0,
) -> Path:
    model = tiny_model(channels)
    path = folder / f"{name}.safetensors"
    task_meta = {"task": task, "levels": levels, "level_range": level_range, "val_levels": []}
    meta = {
        "task": {**task_meta, "camera_share": camera_share} if camera_share else task_meta,
        "steps": 5,
        "recipe": name,
        "validation": {"step": 5, "psnr": 20.0},
    }
    save_weights(path, model, meta)
    return path


@pytest.fixture(autouse=True, scope="session")
def user_data_home(tmp_path_factory) -> Path:
    """The per-user data folder (``csrnet data fetch``'s default) of this test session, never
    the user's own: the data root stays $CSRNET_DATA or ../shared/data."""
    folder = tmp_path_factory.mktemp("xdg_data")
    os.environ["XDG_DATA_HOME"] = str(folder)
    return folder


@pytest.fixture(autouse=True, scope="session")
def backend_cache(tmp_path_factory) -> Path:
    """Converted and quantized models (inference.backends) go to a folder of this test session,
    never to the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("backend_cache")
    os.environ["CSRNET_CACHE"] = str(folder)
    return folder


@pytest.fixture
def weights_dir(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "user_weights"
    folder.mkdir()
    tiny_weights(folder, "tiny_sr", "sr", [2, 4])
    tiny_weights(folder, "tiny_denoise", "denoise", [25])
    monkeypatch.setenv("CSRNET_WEIGHTS", str(folder))
    # what the package ships changes with training; these tests see only their own weights
    monkeypatch.setattr(weights, "PACKAGE_WEIGHTS", tmp_path / "no_package_weights")
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """``csrnet ARGV...`` in this process: (exit status, what it wrote on stderr)."""
    from csrnet.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def data_dir(name: str) -> Path:
    """A benchmark set of ../shared/data (for tests marked ``data``), or skip the test with
    one line naming the missing folder."""
    path = DATA_ROOT / name
    if not path.is_dir():
        pytest.skip(f"benchmark set {path} is not here (set CSRNET_DATA)")
    return path


def sample_dir(name: str) -> Path:
    """The sample crops of a benchmark set, in the repository: every test can use them."""
    return SAMPLES / name


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG that claims width x height gray pixels (its data stops after one row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", row)
        + _png_chunk(b"IEND", b"")
    )


def make_bad_images(folder: Path) -> dict[str, Path]:
    """Write one file of each kind the readers must refuse; returns {kind: path}."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    good = io.BytesIO()
    rgb.save(good, format="PNG")
    files = {
        "truncated": good.getvalue()[: len(good.getvalue()) // 2],
        "empty": b"",
        "not_an_image": b"this is text, not a PNG\n",
        "bomb": _png_bomb(20_000, 20_000),
    }
    paths = {}
    for kind, data in files.items():
        paths[kind] = folder / f"{kind}.png"
        paths[kind].write_bytes(data)
    for kind, img, suffix in [
        ("rgba", rgb.convert("RGBA"), ".png"),
        ("palette", rgb.convert("P"), ".png"),
        ("cmyk", rgb.convert("CMYK"), ".jpg"),
        ("16bit", Image.fromarray((rng.integers(0, 65536, (64, 64))).astype(np.uint16)), ".png"),
        ("gray_alpha", rgb.convert("LA"), ".png"),
    ]:
        paths[kind] = folder / f"{kind}{suffix}"
        img.save(paths[kind])
    return paths


@pytest.fixture
def bad_images(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    return make_bad_images(folder)
