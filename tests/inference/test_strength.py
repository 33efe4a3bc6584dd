"""The automatic strength of camera-noise restores: the residual's statistics, the rule, and
the strength a restore reports and keeps (CLI, API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csrnet.cli import main
from csrnet.errors import CsrnetError
from csrnet.inference.options import AUTO, STRENGTH_RANGE, RunOptions, checked_strength
from csrnet.inference.photo import Photo
from csrnet.inference.pipeline import restore_photo
from csrnet.inference.strength import FITTED_FOR, auto_strength, residual_statistics
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import read_image
from csrnet.weights import load_model

from conftest import sample_dir, tiny_weights


def test_the_residuals_statistics() -> None:
    rng = np.random.default_rng(0)
    before = rng.uniform(40, 200, (300, 200, 3))
    gaussian = before - rng.normal(0, 5, before.shape)  # white noise taken out
    kurtosis, std = residual_statistics(before, gaussian)
    luma_std = 5 * np.sqrt(0.299**2 + 0.587**2 + 0.114**2)  # of three independent channels
    assert abs(kurtosis - 3) < 0.15 and abs(std - luma_std) < 0.1
    sparse = before.copy()  # edges taken out: a few large changes
    sparse[::20] -= 30
    kurtosis_sparse, _ = residual_statistics(before, sparse)
    assert kurtosis_sparse > 10
    assert residual_statistics(before[..., 0], gaussian[..., 0])[0] == pytest.approx(3, abs=0.15)
    assert residual_statistics(before, before) == (3.0, 0.0)


def test_the_rule_keeps_less_of_a_heavy_tailed_change() -> None:
    rng = np.random.default_rng(1)
    before = rng.uniform(40, 200, (256, 256, 3))
    noise_like = before - rng.normal(0, 4, before.shape)
    sparse = rng.normal(0, 1, before.shape) * (rng.uniform(size=before.shape[:2]) < 0.05)[..., None]
    edge_like = before - sparse * 4 / sparse.std()  # as large a change, on 5% of the pixels
    std_noise, std_edges = (residual_statistics(before, a)[1] for a in (noise_like, edge_like))
    assert std_noise == pytest.approx(std_edges, rel=0.1)
    noise_strength, edge_strength = (auto_strength(before, a) for a in (noise_like, edge_like))
    assert STRENGTH_RANGE[0] <= edge_strength < noise_strength <= STRENGTH_RANGE[1]
    assert auto_strength(before, before) == 1.0  # no change: nothing to choose


def test_the_rule_was_fitted_on_the_shipped_camera_model() -> None:
    """Replaced weights want the rule refitted: ``python benchmarks/camera_strength.py
    --fit``, its weights and FITTED_FOR set from what it prints."""
    from csrnet.evaluation.scorecache import weights_label
    from csrnet.weights import PACKAGE_WEIGHTS

    assert weights_label(PACKAGE_WEIGHTS / "denoise_real.safetensors") == FITTED_FOR


def test_auto_is_for_camera_noise_only() -> None:
    assert checked_strength("denoise", AUTO, "camera") == AUTO
    assert checked_strength("jpeg", "0.5", 10) == 0.5  # the page and the CLI send text
    for bad in ["strong", "2"]:
        with pytest.raises(CsrnetError, match="strength"):
            checked_strength("jpeg", bad, 10)
    for task, level in [("denoise", 25), ("denoise", AUTO), ("jpeg", 10), ("sr", 2)]:
        with pytest.raises(CsrnetError, match="strength auto is chosen for camera noise"):
            checked_strength(task, AUTO, level)


def test_a_restore_at_auto_keeps_the_strength_it_reports(weights_dir: Path) -> None:
    path = tiny_weights(weights_dir, "tiny_real", "denoise", [], [0, 55], 3, camera_share=0.75)
    model, _ = load_model(path)
    colour = read_image(sample_dir("CBSD68") / "101085.png")[:64, :80]
    photo, deg = Photo(colour), Degradation.camera()
    auto = restore_photo(photo, model, deg, RunOptions(strength=AUTO))
    assert auto.strength is not None and STRENGTH_RANGE[0] <= auto.strength <= STRENGTH_RANGE[1]
    fixed = restore_photo(photo, model, deg, RunOptions(strength=auto.strength))
    assert np.array_equal(auto.pixels, fixed.pixels) and fixed.strength == auto.strength
    full = restore_photo(photo, model, deg, RunOptions())
    assert full.strength == 1.0 and not np.array_equal(full.pixels, colour)
    gray = restore_photo(Photo(colour[..., 0]), model, deg, RunOptions(strength=AUTO))
    assert gray.pixels.shape == (64, 80) and gray.strength is not None


def test_the_command_line_says_the_strength_auto_chose(
    tmp_path: Path, weights_dir: Path, capsys
) -> None:
    tiny_weights(weights_dir, "tiny_real", "denoise", [], [0, 55], 3, camera_share=0.75)
    for i, crop in enumerate([(0, 0), (40, 60)]):
        colour = read_image(sample_dir("CBSD68") / "101085.png")
        Image.fromarray(colour[crop[0] : crop[0] + 48, crop[1] : crop[1] + 64]).save(
            tmp_path / f"c{i}.png"
        )
    argv = ["restore", str(tmp_path / "c0.png"), str(tmp_path / "c1.png"), "-o"]
    options = ["--task", "denoise", "--backend", "torch", "--strength", "auto"]
    assert main([*argv, str(tmp_path / "out"), *options]) == 0
    line = capsys.readouterr().out
    assert "with tiny_real on torch (camera noise, strength auto " in line, line
    chosen = [float(s) for s in line.split("strength auto ")[1].rstrip(")\n").split(" to ")]
    assert all(STRENGTH_RANGE[0] <= s <= STRENGTH_RANGE[1] for s in chosen)
    bad = ["restore", str(tmp_path / "c0.png"), "-o", str(tmp_path / "x.png"), "--task"]
    assert main([*bad, "denoise", "--sigma", "25", "--strength", "auto"]) == 2
    assert "--strength auto is chosen for camera noise" in capsys.readouterr().err
    assert main([*bad, "denoise", "--strength", "lots"]) == 2
    assert "is not a number or 'auto'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
