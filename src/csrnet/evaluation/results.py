"""What a measurement is: the scores of one image and of a set (means, speed, CSV rows),
shared by the protocol's evaluation and the score cache."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import write_atomic

__all__ = ["ImageScore", "SetScore", "printable"]


@dataclass(frozen=True)
class ImageScore:
    """The scores of one image."""

    name: str
    height: int
    width: int
    psnr: float
    ssim: float
    seconds: float  # time of the restoration alone (0 for the degraded input)


@dataclass
class SetScore:
    """The scores of one folder at one setting, with per-image rows."""

    dataset: str
    degradation: Degradation
    method: str = "input"
    images: list[ImageScore] = field(default_factory=list)

    @property
    def psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.images]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.images]))

    @property
    def seconds_per_image(self) -> float:
        return float(np.mean([s.seconds for s in self.images]))

    @property
    def megapixels_per_second(self) -> float | None:
        """Restoration speed; None for the degraded input, which takes no time."""
        seconds = sum(s.seconds for s in self.images)
        pixels = sum(s.height * s.width for s in self.images)
        return pixels / 1e6 / seconds if seconds > 0 else None

    def summary(self) -> dict:
        """Means and identification, ready for JSON."""
        return {
            "method": self.method,
            "dataset": self.dataset,
            "task": self.degradation.task,
            "setting": self.degradation.label,
            "images": len(self.images),
            "psnr": self.psnr,
            "ssim": self.ssim,
            "seconds_per_image": self.seconds_per_image,
            "megapixels_per_second": self.megapixels_per_second,
        }

    def write_csv(self, path: str | os.PathLike) -> None:
        """Write the per-image rows atomically."""
        write_atomic(path, lambda tmp: tmp.write_text(self.csv_text(), encoding="utf-8"))

    def csv_text(self, header: bool = True) -> str:
        """The per-image rows as CSV."""
        text = io.StringIO()
        writer = csv.DictWriter(
            text, fieldnames=["method", "dataset", "setting", *ImageScore.__annotations__]
        )
        if header:
            writer.writeheader()
        for score in self.images:
            row = {
                "method": self.method,
                "dataset": printable(self.dataset),
                "setting": self.degradation.label,
                **asdict(score),
            }
            writer.writerow({**row, "name": printable(score.name)})
        return text.getvalue()


def printable(name: str) -> str:
    """A file name as UTF-8 text: bytes that are not UTF-8 (kept by Python as surrogates)
    become ``\\xNN`` escapes instead of failing the write."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")
