"""csrnet evaluate: weights on test sets, tiling, the x8 self-ensemble, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from csrnet.cli import main
from csrnet.evaluation.evaluate import evaluate_folder, evaluate_weights, weights_settings
from csrnet.inference.runner import forward_tiled, restore_fn, self_ensemble
from csrnet.model import CSRnet
from csrnet.protocol.degrade import Degradation
from csrnet.weights import load_weights, read_info, read_metadata, save_weights

from conftest import sample_dir, tiny_weights

TASK_SR = {"task": "sr", "levels": [2, 4], "level_range": None, "val_levels": []}


def tiny_model(seed: int = 0) -> CSRnet:
    torch.manual_seed(seed)
    return CSRnet(depth=2, res_blocks=1, channels=8, first_channels=8, input_skip=True).eval()


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_sr.safetensors"
    save_weights(path, tiny_model(), {"task": TASK_SR, "steps": 0, "recipe": "test"})
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_at_the_stored_settings_with_csv(capsys, tmp_path: Path, weights: Path) -> None:
    out_csv = tmp_path / "scores.csv"
    root = str(sample_dir("Set5").parent)
    code, out, err = run(
        capsys,
        "evaluate",
        str(weights),
        "--sets",
        "Set5,LIVE1",
        "--data-root",
        root,
        "--json",
        "--csv",
        str(out_csv),
        "--no-progress",
    )
    assert code == 0, err
    results = json.loads(out)
    assert [(r["setting"], r["dataset"]) for r in results] == [
        ("x2", "Set5"),
        ("x2", "LIVE1"),
        ("x4", "Set5"),
        ("x4", "LIVE1"),
    ]
    assert all(
        r["method"] == "tiny_sr" and r["seconds_per_image"] > 0 and r["megapixels_per_second"] > 0
        for r in results
    )
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 2 * (2 + 2)
    for r in results:
        mine = [
            float(row["psnr"])
            for row in rows
            if (row["setting"], row["dataset"]) == (r["setting"], r["dataset"])
        ]
        assert np.mean(mine) == pytest.approx(r["psnr"])


def test_an_override_setting_and_the_model_matter(weights: Path) -> None:
    folder = sample_dir("Set5")
    (ours,) = evaluate_weights(weights, [folder], override=Degradation("sr", 4))
    bicubic = evaluate_folder(folder, Degradation("sr", 4))
    assert ours.degradation.label == "x4" and ours.psnr != pytest.approx(bicubic.psnr, abs=1e-3)


def test_tiled_inference_matches_whole_images(weights: Path) -> None:
    folder = sample_dir("Set5")
    whole = evaluate_weights(weights, [folder], override=Degradation("sr", 2))[0]
    tiled = evaluate_weights(weights, [folder], override=Degradation("sr", 2), tile=96)[0]
    assert abs(whole.psnr - tiled.psnr) <= 0.01
    x = torch.rand(1, 1, 150, 130)
    with torch.no_grad():
        assert (forward_tiled(tiny_model(), x, 96) - tiny_model()(x)).abs().max() < 1e-3


def test_self_ensemble_averages_the_eight_transforms() -> None:
    x = torch.rand(1, 1, 12, 12)
    torch.testing.assert_close(self_ensemble(lambda t: 2 * t, x), 2 * x)
    model = tiny_model()
    with torch.no_grad():
        manual = []
        for t in range(8):
            a = np.rot90(x[0, 0].numpy(), t % 4)
            a = a[:, ::-1] if t >= 4 else a
            y = model(torch.from_numpy(a.copy())[None, None])[0, 0].numpy()
            y = y[:, ::-1] if t >= 4 else y
            manual.append(np.rot90(y, -(t % 4)))
        ensembled = restore_fn(model, ensemble=True)(x[0, 0].numpy() * 255) / 255
    np.testing.assert_allclose(ensembled, np.mean(manual, axis=0), atol=1e-5)


@pytest.mark.parametrize(
    "argv,code,needle",
    [
        (["--sigma", "15"], 1, "trained for sr, cannot be evaluated on denoise"),
        (["--scale", "0"], 2, "scale"),
        (["--scale", "2", "--quality", "10"], 2, "at most one"),
        (["--tile", "40"], 2, "--tile"),
        (["--sets", "NoSuchSet"], 1, "missing sets NoSuchSet (or set --data-root)"),
    ],
)
def test_bad_evaluate_options(capsys, weights: Path, argv, code, needle) -> None:
    got, _, err = run(
        capsys, "evaluate", str(weights), "--data-root", str(sample_dir("Set5").parent), *argv
    )
    assert got == code and len(err.strip().splitlines()) == 1 and needle in err, err


def test_corrupt_weights_are_one_line(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"{" * 100)
    got, _, err = run(capsys, "evaluate", str(bad))
    assert got == 1 and "not a readable safetensors" in err and len(err.strip().splitlines()) == 1


def test_record_stores_measured_means_in_the_weights(capsys, weights: Path, monkeypatch) -> None:
    root = str(sample_dir("Set5").parent)
    code, out, _ = run(
        capsys,
        "evaluate",
        str(weights),
        "--sets",
        "Set5",
        "--data-root",
        root,
        "--scale",
        "2",
        "--record",
        "--json",
        "--no-progress",
    )
    assert code == 0
    measured = json.loads(out)[0]["psnr"]
    monkeypatch.setenv("CSRNET_WEIGHTS", str(weights.parent))
    code, listing, _ = run(capsys, "models")
    assert code == 0 and f"Set5 x2: PSNR {measured:.2f} dB" in listing
    from csrnet.weights import load_weights

    model, info = load_weights(weights)  # still loads, tensors untouched
    assert info.benchmarks["Set5 x2"]["images"] == 2


def test_camera_noise_is_scored_on_colour_images(capsys, tmp_path: Path) -> None:
    rgb = tiny_weights(tmp_path, "rgb", "denoise", [], [0.0, 55.0], channels=3)
    root = str(sample_dir("CBSD68").parent)
    argv = [
        "evaluate",
        str(rgb),
        "--sigma",
        "camera",
        "--sets",
        "CBSD68,LIVE1",
        "--data-root",
        root,
    ]
    code, out, err = run(capsys, *argv, "--json", "--no-progress")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["dataset"], r["setting"]) for r in rows] == [
        ("CBSD68", "camera"),
        ("LIVE1", "camera"),
    ]
    assert "trained for denoise 0-55, not camera" in err  # this one never saw camera noise
    # the input is the capture, scored against the same capture without noise
    folder = sample_dir("LIVE1")
    noisy = evaluate_folder(folder, Degradation.camera(), rgb=True)
    again = evaluate_folder(folder, Degradation.camera(), rgb=True)
    other = evaluate_folder(folder, Degradation.camera(), rgb=True, seed=1)
    assert noisy.psnr == again.psnr != other.psnr
    assert 20 < noisy.psnr < 50 and rows[1]["psnr"] != pytest.approx(noisy.psnr, abs=1e-3)


def test_a_camera_denoiser_is_scored_on_camera_noise_by_default(tmp_path: Path) -> None:
    path = tiny_weights(tmp_path, "real", "denoise", [], [0.0, 55.0], channels=3)
    meta = read_metadata(path)
    meta["task"] = {**meta["task"], "val_levels": [25.0], "camera_share": 0.75}
    save_weights(path, load_weights(path)[0], meta)
    info = read_info(path)
    assert info.describe_levels() == "0-55 and camera"
    assert [d.label for d in weights_settings(info, None)] == ["sigma25", "camera"]


def test_camera_noise_is_for_rgb_denoisers(capsys, tmp_path: Path, weights: Path) -> None:
    gray = tiny_weights(tmp_path, "gray", "denoise", [25.0])
    root = str(sample_dir("CBSD68").parent)
    for path, needle in (
        (gray, "a gray model; camera noise is scored on RGB models"),
        (weights, "trained for sr, cannot be evaluated on denoise"),
    ):
        argv = ["evaluate", str(path), "--sigma", "camera", "--sets", "CBSD68", "--data-root", root]
        code, _, err = run(capsys, *argv)
        assert code == 1 and len(err.strip().splitlines()) == 1 and needle in err, err
