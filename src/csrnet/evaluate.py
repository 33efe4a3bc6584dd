"""Evaluate a restoration method on a folder of clean images, by the paper's protocol.

For each image: take its Y channel (``to_y``), crop it to the scale for SR, degrade it,
restore it (the identity gives the paper's Bicubic / noisy / JPEG rows), round to uint8,
and measure PSNR and SSIM on Y with the border of the setting cropped.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .degrade import Degradation, to_y
from .errors import CsrnetError
from .images import list_images, read_image, write_atomic
from .matlab import to_uint8
from .metrics import psnr, ssim

__all__ = ["ImageScore", "SetScore", "evaluate_folder"]

SSIM_WINDOW = 11
# A restoration function maps the degraded Y image (float64 on [0, 255]) to the restored one.
RestoreFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ImageScore:
    """The scores of one image."""

    name: str
    height: int
    width: int
    psnr: float
    ssim: float


@dataclass
class SetScore:
    """The scores of one folder at one setting, with per-image rows."""

    dataset: str
    degradation: Degradation
    images: list[ImageScore] = field(default_factory=list)

    @property
    def psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.images]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.images]))

    def summary(self) -> dict:
        """Means and identification, ready for JSON."""
        return {
            "dataset": self.dataset,
            "task": self.degradation.task,
            "setting": self.degradation.label,
            "images": len(self.images),
            "psnr": self.psnr,
            "ssim": self.ssim,
        }

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write the per-image rows atomically."""
        text = io.StringIO()
        writer = csv.DictWriter(
            text, fieldnames=["dataset", "setting", *ImageScore.__annotations__]
        )
        writer.writeheader()
        for score in self.images:
            writer.writerow(
                {"dataset": self.dataset, "setting": self.degradation.label, **asdict(score)}
            )
        write_atomic(path, lambda tmp: tmp.write_text(text.getvalue(), encoding="utf-8"))


def evaluate_folder(
    folder: str | os.PathLike,
    degradation: Degradation,
    restore: RestoreFn | None = None,
    seed: int = 0,
    progress: bool = False,
    limit: int = 0,
) -> SetScore:
    """Score ``restore`` (None: the degraded input itself) on every image of ``folder``.

    Args:
        folder: a folder of clean 8-bit gray or RGB images.
        degradation: the task and setting.
        restore: maps the degraded Y (float64, [0, 255]) to the restored Y, same shape.
        seed: noise seed (denoising); noise is drawn per image name, so it does not depend
            on the order or the subset of images.
        progress: show a progress bar on stderr when it is a terminal.
        limit: score only the first ``limit`` images (0: all).
    """
    paths = list_images(folder)[: limit or None]
    result = SetScore(Path(folder).name, degradation)
    for path in tqdm(
        paths,
        desc=f"{result.dataset} {degradation.label}",
        disable=None if progress else True,
        unit="img",
    ):
        clean = degradation.clean(to_y(read_image(path)))
        _check_size(path, clean, degradation)
        degraded = degradation.apply(clean, name=path.name, seed=seed)
        restored = degraded if restore is None else restore(degraded)
        if restored.shape != clean.shape:
            raise ValueError(f"restored image is {restored.shape}, expected {clean.shape}")
        out = to_uint8(restored)
        border = degradation.border
        score = ImageScore(
            path.name, *clean.shape, psnr(out, clean, border), ssim(out, clean, border)
        )
        result.images.append(score)
    return result


def _check_size(path: Path, clean: np.ndarray, degradation: Degradation) -> None:
    need = SSIM_WINDOW + 2 * degradation.border
    if min(clean.shape) < need:
        h, w = clean.shape
        raise CsrnetError(
            f"{path}: image is too small for {degradation.task} {degradation.label} "
            f"({h}x{w} after cropping; the protocol needs at least {need}x{need})"
        )
