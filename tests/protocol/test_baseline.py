"""The protocol end to end: the paper's Bicubic (Table II) and JPEG (Table IV) rows."""

from __future__ import annotations

import csv
import functools

import numpy as np
import pytest

from csrnet.evaluation.evaluate import evaluate_folder
from csrnet.evaluation.paper import baseline_rows
from csrnet.protocol.degrade import Degradation, to_y
from csrnet.protocol.images import list_images, read_image
from csrnet.protocol.matlab import to_uint8
from csrnet.protocol.metrics import psnr

from conftest import data_dir, sample_dir

PSNR_TOL, SSIM_TOL = 0.05, 0.002

# Cells where the paper disagrees with the standard protocol, with the reason found (README).
# Set14 x4/x8 PSNR: the paper's values are what converting the gray `bridge` as an RGB image
# gives (checked below); its x2 value follows the standard rule. x8 SSIM: no common SSIM
# variant reproduces the paper's x8 column; the PSNRs of the same cells match.
PSNR_OFF = {("sr", 4, "Set14"), ("sr", 8, "Set14")}
SSIM_OFF = {("sr", 8, d) for d in ("Set5", "Set14", "BSD100", "Urban100")}


@functools.cache
def measured(task: str, level: int, dataset: str):
    return evaluate_folder(data_dir(dataset), Degradation(task, level))


@pytest.mark.parametrize(
    "task,level,dataset,paper_psnr,paper_ssim", baseline_rows(), ids=lambda v: str(v)
)
@pytest.mark.data
def test_paper_baseline_row(task, level, dataset, paper_psnr, paper_ssim) -> None:
    result = measured(task, level, dataset)
    key = (task, level, dataset)
    psnr_close = abs(result.psnr - paper_psnr) <= PSNR_TOL
    ssim_close = abs(result.ssim - paper_ssim) <= SSIM_TOL
    # A known discrepancy must still be one; if it closes, the note in the README is stale.
    assert psnr_close != (key in PSNR_OFF), f"PSNR {result.psnr:.3f} vs paper {paper_psnr}"
    assert ssim_close != (key in SSIM_OFF), f"SSIM {result.ssim:.4f} vs paper {paper_ssim}"


@pytest.mark.parametrize("scale,paper_psnr", [(4, 26.10), (8, 23.19)])
@pytest.mark.data
def test_set14_paper_converted_the_gray_bridge_as_rgb(scale: int, paper_psnr: float) -> None:
    deg = Degradation("sr", scale)
    scores = []
    for path in list_images(data_dir("Set14")):
        img = read_image(path)
        if img.ndim == 2:  # what the paper's numbers imply: gray replicated to RGB, then Y
            img = np.stack([img] * 3, axis=-1)
        clean = deg.clean(to_y(img))
        scores.append(psnr(to_uint8(deg.apply(clean)), clean, border=scale))
    assert abs(np.mean(scores) - paper_psnr) <= PSNR_TOL


def test_identity_restore_equals_baseline_and_csv_means(tmp_path) -> None:
    deg = Degradation("denoise", 15)
    base = evaluate_folder(sample_dir("Set12"), deg)
    same = evaluate_folder(sample_dir("Set12"), deg, restore=lambda y: y.copy())
    assert [s.psnr for s in base.images] == [s.psnr for s in same.images]
    assert len(base.images) == 2 and 24 < base.psnr < 26  # sigma 15 noise: ~24.6 dB
    out = tmp_path / "scores.csv"
    base.write_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 and rows[0]["setting"] == "sigma15"
    assert np.mean([float(r["psnr"]) for r in rows]) == pytest.approx(base.psnr)
    assert np.mean([float(r["ssim"]) for r in rows]) == pytest.approx(base.ssim)


def test_a_better_restoration_scores_higher() -> None:
    """The metric is sensitive to the restoration: returning the clean image (known by
    re-degrading nothing) gives infinite PSNR and SSIM 1 on JPEG q10."""
    folder = sample_dir("Classic5")
    deg = Degradation("jpeg", 10)
    cleans = iter([deg.clean(read_image(p)).astype(np.float64) for p in list_images(folder)])
    perfect = evaluate_folder(folder, deg, restore=lambda y: next(cleans))
    assert all(s.psnr == float("inf") and s.ssim == pytest.approx(1.0) for s in perfect.images)
