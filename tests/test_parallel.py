"""`torchrun -m csrnet restore|evaluate|report`: two CPU processes (gloo) split the images
and give what one process gives (csrnet.parallel)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_bad_images, sample_dir, tiny_weights


def csrnet(*argv: str, processes: int = 1, env: dict | None = None) -> subprocess.CompletedProcess:
    """``csrnet ARGV`` in one process, or under torchrun in ``processes``."""
    launch = [sys.executable, "-m", "csrnet"]
    if processes > 1:
        launch = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
            "csrnet",
        ]
    return subprocess.run(
        [*launch, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    tiny_weights(folder, "tiny_sr", "sr", [2, 4])
    tiny_weights(folder, "tiny_jpeg", "jpeg", [10])
    return folder


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Five sample crops and one truncated file, which fails."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("Set5", "Classic5", "LIVE1"):
        for path in sample_dir(name).iterdir():
            shutil.copy(path, folder / path.name)
    shutil.copy(make_bad_images(tmp_path)["truncated"], folder / "cut.png")
    return folder


def test_restore_in_two_processes_writes_what_one_does(
    photos: Path, weights: Path, tmp_path: Path
) -> None:
    env = {"CSRNET_WEIGHTS": str(weights)}
    args = [
        "--task",
        "sr",
        "--scale",
        "2",
        "--weights",
        "tiny_sr",
        "--backend",
        "torch",
        "--no-progress",
    ]
    one = csrnet("restore", str(photos), "-o", f"{tmp_path / 'one'}/", *args, env=env)
    two = csrnet("restore", str(photos), "-o", f"{tmp_path / 'two'}/", *args, processes=2, env=env)
    for run in (one, two):  # the bad file fails, the other five are written, said once
        assert run.returncode == 1
        assert run.stdout.count("restored 5 of 6 images") == 1, run.stdout
        assert run.stderr.count("failed: ") == 1 and "cut.png" in run.stderr
    written = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert len(written) == 5 and written == sorted(p.name for p in (tmp_path / "two").iterdir())
    for name in written:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    # a re-run after a crash does only what is missing
    (tmp_path / "two" / written[0]).unlink()
    before = {n: (tmp_path / "two" / n).stat().st_mtime_ns for n in written[1:]}
    (photos / "cut.png").unlink()
    again = csrnet(
        "restore",
        str(photos),
        "-o",
        f"{tmp_path / 'two'}/",
        *args,
        "--skip-existing",
        processes=2,
        env=env,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "two" / written[0]).read_bytes() == (
        tmp_path / "one" / written[0]
    ).read_bytes()
    assert before == {n: (tmp_path / "two" / n).stat().st_mtime_ns for n in written[1:]}


def score_rows(folder: Path) -> list[tuple]:
    """The score cache's rows (every file's) without the seconds, which depend on the run."""
    rows = []
    for path in sorted(folder.glob("*.csv")):
        with path.open() as f:
            rows += [
                (r["dataset"], r["setting"], r["name"], r["psnr"], r["ssim"])
                for r in csv.DictReader(f)
            ]
    return rows


def test_evaluate_in_two_processes_scores_what_one_does(weights: Path, tmp_path: Path) -> None:
    env = {"CSRNET_WEIGHTS": str(weights)}
    args = [
        "evaluate",
        "tiny_jpeg",
        "--sets",
        "Classic5,LIVE1",
        "--data-root",
        str(sample_dir("")),
        "--no-progress",
        "--json",
    ]
    one = csrnet(*args, "--scores", str(tmp_path / "one"), env=env)
    two = csrnet(*args, "--scores", str(tmp_path / "two"), processes=2, env=env)
    assert one.returncode == two.returncode == 0, two.stderr[-2000:]
    a, b = json.loads(one.stdout), json.loads(two.stdout)  # printed once, by rank 0
    assert [(r["dataset"], r["images"]) for r in a] == [("Classic5", 1), ("LIVE1", 2)]
    for x, y in zip(a, b, strict=True):
        assert abs(x["psnr"] - y["psnr"]) < 1e-3 and abs(x["ssim"] - y["ssim"]) < 1e-6
    rows = score_rows(tmp_path / "two")
    assert rows == score_rows(tmp_path / "one") and len(rows) == len(set(rows)) == 3


def test_report_in_two_processes_writes_the_tables_one_does(weights: Path, tmp_path: Path) -> None:
    (weights / "tiny_sr.safetensors").unlink()  # the JPEG sets are among the sample crops
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        run = csrnet(
            "report",
            "--weights-dir",
            str(weights),
            "-o",
            str(tmp_path / name / "RESULTS.md"),
            "--data-root",
            str(sample_dir("")),
            "--no-progress",
            processes=1 if name == "one" else 2,
        )
        assert run.returncode == 0, run.stderr[-2000:]
    one, two = ((tmp_path / n / "RESULTS.md").read_text() for n in ("one", "two"))
    tables = [text[text.index("## Table IV") : text.index("## Speed")] for text in (one, two)]
    assert tables[0] == tables[1] and "tiny_jpeg" in tables[0]
    assert score_rows(tmp_path / "one" / "scores") == score_rows(tmp_path / "two" / "scores")
