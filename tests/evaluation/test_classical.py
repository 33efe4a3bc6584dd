"""BM3D / CBM3D through ``csrnet baseline --method bm3d`` (csrnet.evaluation.bm3d): results cached
once, computed alike in parallel and in one process, and kept as score-cache rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from csrnet.cli import main
from csrnet.protocol.images import list_images, read_image

from conftest import sample_dir

pytest.importorskip("bm3d")


def crops(tmp_path: Path, dataset: str, name: str, count: int = 3, size: int = 48) -> Path:
    """``count`` crops of a set's sample image, side by side along its top, in a folder of
    the set's name (BM3D takes seconds on a whole image)."""
    folder = tmp_path / name
    folder.mkdir()
    path = list_images(sample_dir(dataset))[0]
    image = read_image(path)
    for i in range(count):
        crop = image[:size, i * size // 2 : i * size // 2 + size]
        Image.fromarray(crop).save(folder / f"{path.stem}_{i}.png")
    return folder


def baseline_json(capsys, *argv: str) -> dict:
    assert main(["baseline", "denoise", *argv, "--json", "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("dataset, rgb", [("BSD68", []), ("CBSD68", ["--rgb"])])
def test_bm3d_in_parallel_equals_bm3d_in_one_process(
    tmp_path: Path, capsys, dataset: str, rgb: list[str]
) -> None:
    folder = crops(tmp_path, dataset, dataset)
    argv = [str(folder), "--sigma", "25", *rgb]
    noisy = baseline_json(capsys, *argv)
    scores, cache = tmp_path / "scores", tmp_path / "cache"
    bm3d = [*argv, "--method", "bm3d", "--cache", str(cache)]
    parallel = baseline_json(capsys, *bm3d, "--jobs", "2", "--scores", str(scores))
    serial = baseline_json(capsys, *argv, "--method", "bm3d", "--cache", str(tmp_path / "c1"))
    # the same results, but for a pixel's rounding here and there (the sums in another
    # process's thread count): on these 48x48 crops one pixel off by one moves SSIM by
    # ~1e-5 (seen 1.06e-5 with a scoring job beside the test), so a few pixels may differ
    assert parallel["psnr"] == pytest.approx(serial["psnr"], abs=1e-3)
    assert parallel["ssim"] == pytest.approx(serial["ssim"], abs=1e-4)
    assert parallel["psnr"] > noisy["psnr"] + 3  # it denoised
    method = "cbm3d" if rgb else "bm3d"
    assert len(list((cache / method / dataset / "sigma25").glob("*.png"))) == 3
    (log,) = scores.glob(f"{method}-*.csv")
    rows = list(csv.DictReader(log.open()))
    assert [(r["dataset"], r["setting"]) for r in rows] == [(dataset, "sigma25")] * 3
    again = baseline_json(capsys, *bm3d, "--scores", str(scores))  # all cached: read back
    assert again["psnr"] == parallel["psnr"] and len(list(csv.DictReader(log.open()))) == 3


def test_bm3d_options_are_checked(tmp_path: Path, capsys) -> None:
    folder = crops(tmp_path, "BSD68", "BSD68", count=1)
    for argv, message in [
        (["sr", str(folder), "--scale", "2", "--method", "bm3d"], "BM3D denoises"),
        (["denoise", str(folder), "--sigma", "25", "--scores", "x"], "go with --method bm3d"),
        (["denoise", str(folder), "--sigma", "25", "--method", "bm3d", "--seed", "1"], "seed"),
        (["denoise", str(folder), "--sigma", "25", "--method", "bm3d", "--jobs", "0"], "jobs"),
        (["denoise", str(folder), "--sigma", "camera", "--method", "bm3d", "--rgb"], "not camera"),
        (["denoise", str(folder), "--sigma", "camera"], "add --rgb"),
    ]:
        assert main(["baseline", *argv, "--cache", str(tmp_path / "cache")]) != 0
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_set_scored_in_part_is_resumed_from_the_score_log(
    tmp_path: Path, capsys, jobs: str
) -> None:
    """The results folder lost (a new machine), the rows kept: only the images without a
    row are computed, and the set's mean is the one a run in one go gives."""
    folder = crops(tmp_path, "BSD68", "BSD68")
    last = list_images(folder)[-1]
    last.rename(tmp_path / last.name)
    argv = [str(folder), "--sigma", "25", "--method", "bm3d"]
    scored = [*argv, "--scores", str(tmp_path / "scores"), "--jobs", jobs]
    baseline_json(capsys, *scored, "--cache", str(tmp_path / "first"))
    (tmp_path / last.name).rename(last)
    resumed = baseline_json(capsys, *scored, "--cache", str(tmp_path / "second"))
    assert [p.name for p in (tmp_path / "second").rglob("*.png")] == [last.name]
    in_one_go = baseline_json(capsys, *argv, "--cache", str(tmp_path / "third"))
    assert resumed["psnr"] == pytest.approx(in_one_go["psnr"], abs=1e-3)


def test_a_run_cut_off_keeps_the_rows_of_the_images_done(tmp_path: Path, capsys) -> None:
    """With one job each image's row is written as it is done, so a run that stops at a
    broken file (or a session's end) keeps the rows before it."""
    folder = crops(tmp_path, "BSD68", "BSD68")
    (folder / "zz_broken.png").write_bytes(b"not a png")
    scores = tmp_path / "scores"
    argv = ["baseline", "denoise", str(folder), "--sigma", "25", "--method", "bm3d"]
    argv += ["--scores", str(scores), "--cache", str(tmp_path / "cache"), "--no-progress"]
    assert main(argv) != 0
    assert "zz_broken.png" in capsys.readouterr().err
    (log,) = scores.glob("bm3d-*.csv")
    names = [row["name"] for row in csv.DictReader(log.open())]
    assert names == [p.name for p in list_images(folder)[:3]]
