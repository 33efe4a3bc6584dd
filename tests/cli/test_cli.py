"""The command line: results, and one-line errors with nothing written on bad input."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from csrnet.cli import main

from conftest import data_dir, sample_dir


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected_code: int, *needles: str) -> None:
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("csrnet") and "error" in lines[0]
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.data
def test_baseline_json_and_csv(capsys, tmp_path: Path) -> None:
    out_csv = tmp_path / "set5.csv"
    code, out, err = run(
        capsys,
        "baseline",
        "sr",
        str(data_dir("Set5")),
        "--scale",
        "4",
        "--json",
        "--csv",
        str(out_csv),
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["images"] == 5 and summary["setting"] == "x4"
    assert abs(summary["psnr"] - 28.42) < 0.05 and abs(summary["ssim"] - 0.8109) < 0.002
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["name"] for r in rows] == [
        "baby.png",
        "bird.png",
        "butterfly.png",
        "head.png",
        "woman.png",
    ]
    assert sum(float(r["psnr"]) for r in rows) / 5 == pytest.approx(summary["psnr"])


def test_baseline_text_output(capsys) -> None:
    code, out, _ = run(
        capsys, "baseline", "denoise", str(sample_dir("Set12")), "--sigma", "50", "--no-progress"
    )
    assert code == 0 and out.startswith("Set12 denoise sigma50: 2 images, PSNR ")


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "empty",
        "not_an_image",
        "bomb",
        "rgba",
        "palette",
        "cmyk",
        "16bit",
        "gray_alpha",
    ],
)
def test_bad_image_gives_one_line_and_writes_nothing(
    capsys, tmp_path: Path, bad_images, kind
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    shutil.copy(sample_dir("Set5") / "baby.png", folder / "a_good.png")
    shutil.copy(bad_images[kind], folder / ("b_" + bad_images[kind].name))
    out_csv = tmp_path / "out.csv"
    code, out, err = run(
        capsys, "baseline", "sr", str(folder), "--scale", "2", "--csv", str(out_csv)
    )
    assert_one_line_error(code, err, 1, "b_" + bad_images[kind].name)
    assert not out_csv.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "set"]  # no temporary files


def test_image_smaller_than_the_scale(capsys, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("L", (30, 30), 128).save(tmp_path / "small.png")
    code, _, err = run(capsys, "baseline", "sr", str(tmp_path), "--scale", "8")
    assert_one_line_error(code, err, 1, "too small")
    Image.new("L", (3, 3), 128).save(tmp_path / "small.png")
    code, _, err = run(capsys, "baseline", "jpeg", str(tmp_path), "--quality", "10")
    assert_one_line_error(code, err, 1, "too small")


def test_empty_missing_and_non_folder_datasets(capsys, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images here")
    for target, needle in [
        (tmp_path, "no images"),
        (tmp_path / "nope", "no such folder"),
        (tmp_path / "notes.txt", "not a folder"),
    ]:
        code, _, err = run(capsys, "baseline", "jpeg", str(target), "--quality", "20")
        assert_one_line_error(code, err, 1, needle)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["baseline", "sr", "DIR", "--scale", "0"], "scale"),
        (["baseline", "sr", "DIR", "--scale", "abc"], "--scale"),
        (["baseline", "denoise", "DIR", "--sigma", "-1"], "sigma"),
        (["baseline", "jpeg", "DIR", "--quality", "101"], "quality"),
        (["baseline", "sr", "DIR"], "--scale"),
        (["baseline", "sr", "DIR", "--scale", "2", "--sigma", "15"], "--sigma"),
        (["baseline", "deblur", "DIR"], "deblur"),
        (["baseline", "sr", "DIR", "--scale", "2", "--bogus"], "--bogus"),
        (
            ["baseline", "sr", "DIR", "--scale", "2", "--csv", "/no/such/dir/x.csv"],
            "does not exist",
        ),
        (["info", "--preset", "CSRnet-9S"], "CSRnet-9S"),
        (["frobnicate"], "frobnicate"),
        ([], "required"),
    ],
)
def test_nonsense_options(capsys, tmp_path: Path, argv: list[str], needle: str) -> None:
    argv = [str(tmp_path) if a == "DIR" else a for a in argv]
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, 2, needle)


def test_baseline_table_missing_sets(capsys, tmp_path: Path) -> None:
    out_md = tmp_path / "table.md"
    code, _, err = run(capsys, "baseline-table", "--data-root", str(tmp_path), "-o", str(out_md))
    assert_one_line_error(code, err, 1, "missing sets")
    fetch = "csrnet data fetch BSD100 Classic5 LIVE1 Set14 Set5 Urban100"
    assert f"get them with: {fetch} --to {tmp_path}" in err
    assert not out_md.exists()


def test_info_reports_preset_size(capsys) -> None:
    code, out, _ = run(capsys, "info", "--preset", "CSRnet-Dense")
    assert code == 0
    assert "torch" in out and "threads" in out
    assert "CSRnet-Dense" in out and "3,269,665" in out and "1.343M" in out


def test_installed_console_script_bad_input(tmp_path: Path, bad_images) -> None:
    """The real entry point, in a fresh process: one line on stderr, no traceback."""
    exe = Path(sys.executable).with_name("csrnet")
    if not exe.exists():
        pytest.skip("console script not installed beside this Python")
    proc = subprocess.run(
        [exe, "baseline", "sr", str(bad_images["rgba"].parent), "--scale", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(proc.returncode, proc.stderr, 1, "16bit.png", "only 8-bit")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "csrnet",
            "baseline",
            "jpeg",
            str(sample_dir("Classic5")),
            "--quality",
            "10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and json.loads(proc.stdout)["images"] == 1
