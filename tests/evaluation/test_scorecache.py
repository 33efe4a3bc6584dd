"""The per-image score cache: reused scores equal measured ones, an interrupted run resumes
at the image it stopped at, and weights are known by their tensors, not their name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from csrnet.evaluation.evaluate import evaluate_folder
from csrnet.evaluation.scorecache import PROTOCOL, ScoreCache, weights_label
from csrnet.inference.runner import restore_fn
from csrnet.model import CSRnet
from csrnet.protocol.degrade import Degradation
from csrnet.weights import load_weights, record_benchmarks, save_weights

from conftest import SAMPLES, data_dir, run_cli, sample_dir


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = CSRnet(depth=1, res_blocks=1, channels=4, first_channels=4, input_skip=True)
    path = tmp_path / "tiny.safetensors"
    save_weights(path, model, {"task": {"task": "sr", "levels": [2]}, "steps": 1})
    return path


class Counting:
    """A restore function that counts the images it restores."""

    def __init__(self, path: Path) -> None:
        self.fn, self.calls = restore_fn(load_weights(path)[0]), 0

    def __call__(self, y):
        self.calls += 1
        return self.fn(y)


def test_cached_scores_are_the_measured_ones_and_are_not_measured_again(
    tmp_path: Path, weights: Path
) -> None:
    folder, deg = sample_dir("Set5"), Degradation("sr", 2)
    cache = ScoreCache(tmp_path / "scores")
    first = Counting(weights)
    measured = evaluate_folder(folder, deg, first, log=cache.for_weights(weights))
    again = Counting(weights)
    reused = evaluate_folder(
        folder, deg, again, log=ScoreCache(tmp_path / "scores").for_weights(weights)
    )
    assert first.calls == 2 and again.calls == 0
    assert reused.images == measured.images  # psnr, ssim and seconds, to the last digit
    assert reused.psnr == measured.psnr


def test_an_interrupted_run_resumes_at_the_image_it_stopped_at(
    tmp_path: Path, weights: Path
) -> None:
    folder, deg = sample_dir("Set5"), Degradation("sr", 2)
    cache = ScoreCache(tmp_path / "scores")
    whole = evaluate_folder(folder, deg, restore_fn(load_weights(weights)[0]))
    log_path = cache.for_weights(weights).path
    evaluate_folder(folder, deg, Counting(weights), log=cache.for_weights(weights), limit=1)
    with log_path.open("a") as f:
        f.write(f"{PROTOCOL},Set5,x2,bird.png,25")  # killed in the middle of a row
    resumed = Counting(weights)
    result = evaluate_folder(folder, deg, resumed, log=cache.for_weights(weights))
    assert resumed.calls == 1  # bird
    assert [s.psnr for s in result.images] == pytest.approx([s.psnr for s in whole.images])
    assert log_path.read_text().count("\n") == 1 + 2  # header and one row per image


def test_weights_are_known_by_their_tensors(tmp_path: Path, weights: Path) -> None:
    label = weights_label(weights)
    record_benchmarks(weights, {"Set5 x2": {"psnr": 30.0, "ssim": 0.9}})  # metadata only
    assert weights_label(weights) == label
    renamed = tmp_path / "renamed.safetensors"
    shutil.copy(weights, renamed)
    assert weights_label(renamed).split("-")[1] == label.split("-")[1]
    cache = ScoreCache(tmp_path / "scores")
    evaluate_folder(
        sample_dir("Set5"),
        Degradation("sr", 2),
        Counting(weights),
        limit=1,
        log=cache.for_weights(weights),
    )
    assert cache.for_weights(renamed).path == cache.for_weights(weights).path
    model = load_weights(weights)[0]
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    save_weights(renamed, model, {"task": {"task": "sr", "levels": [2]}, "steps": 1})
    assert weights_label(renamed) != label


def test_rows_of_another_protocol_are_measured_again(tmp_path: Path, weights: Path) -> None:
    folder, deg = sample_dir("Set5"), Degradation("sr", 2)
    cache = ScoreCache(tmp_path / "scores")
    evaluate_folder(folder, deg, Counting(weights), log=cache.for_weights(weights))
    path = cache.for_weights(weights).path
    lines = path.read_text().splitlines()
    old = [lines[0]] + [f"{PROTOCOL - 1}" + line[len(str(PROTOCOL)) :] for line in lines[1:]]
    path.write_text("\n".join(old) + "\n")
    again = Counting(weights)
    evaluate_folder(folder, deg, again, log=cache.for_weights(weights))
    assert again.calls == 2


def test_evaluate_keeps_the_reports_rows_and_reuses_them(capsys, tmp_path: Path, weights: Path):
    """``csrnet evaluate --scores DIR`` (how a GPU session's scores reach the report) writes
    the rows ``csrnet report`` reads, and a second run finds them instead of scoring."""
    scores = tmp_path / "scores"
    argv = ["evaluate", str(weights), "--sets", "Set5", "--data-root", str(SAMPLES)]
    code, err = run_cli(capsys, *argv, "--scores", str(scores))
    assert code == 0, err
    log = ScoreCache(scores).for_weights(weights)
    assert log.path.name == f"{weights_label(weights)}.csv" and len(log.rows) == 2
    measured = evaluate_folder(
        sample_dir("Set5"), Degradation("sr", 2), restore_fn(load_weights(weights)[0])
    )
    assert log.get("Set5", "x2", "baby.png").psnr == pytest.approx(measured.images[0].psnr)
    text = log.path.read_text()
    run_cli(capsys, *argv, "--scores", str(scores))
    assert log.path.read_text() == text  # nothing scored again, nothing appended
    code, err = run_cli(capsys, *argv, "--scores", str(scores), "--self-ensemble")
    assert code == 2 and "--scores" in err


@pytest.mark.data
def test_the_committed_scores_are_the_shipped_weights_under_this_protocol() -> None:
    """docs/scores (what docs/RESULTS.md is written from) holds rows for every shipped file,
    found by its tensors' hash, and they are what scoring them now gives: a protocol change
    without a PROTOCOL bump, or shipped weights never scored there, fail here."""
    folder = data_dir("Set5")
    root = Path(__file__).resolve().parents[2]
    cache = ScoreCache(root / "docs" / "scores")
    shipped = sorted((root / "src" / "csrnet" / "pretrained").glob("*.safetensors"))
    unscored = [p.name for p in shipped if not cache.for_weights(p).path.is_file()]
    assert shipped and not unscored, (
        f"score them: csrnet evaluate ... --scores docs/scores ({unscored})"
    )
    deg = Degradation("sr", 2)
    inputs = cache.log("input")
    for image in evaluate_folder(folder, deg, limit=2).images:  # bicubic: exact
        assert inputs.get("Set5", "x2", image.name) == image
    path = root / "src" / "csrnet" / "pretrained" / "sr_x2.safetensors"
    log = cache.for_weights(path)
    fresh = evaluate_folder(folder, deg, restore_fn(load_weights(path)[0]), limit=2)
    for image in fresh.images:  # the network: another CPU rounds differently, by ~1e-4 dB
        cached = log.get("Set5", "x2", image.name)
        assert cached is not None and cached.psnr == pytest.approx(image.psnr, abs=2e-3)
        assert cached.ssim == pytest.approx(image.ssim, abs=2e-5)
