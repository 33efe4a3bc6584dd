"""The words of a restore, owned here and imported by the command line, the Python API and the
web page: each task's level option, ``auto``, ``camera``, the channel and back-end choices,
and how a model runs over a photo (:class:`RunOptions`).

Torch-free, so that the command line checks its options before it imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from csrnet.errors import CsrnetError
from csrnet.inference.tiling import DEFAULT_OVERLAP

__all__ = [
    "AUTO",
    "AUTO_SOURCES",
    "BACKENDS",
    "CAMERA",
    "CHANNELS",
    "DEFAULT_MEMORY_CAP",
    "LEVEL_OPTIONS",
    "DEFAULT_RUN",
    "STRENGTH_RANGE",
    "RunOptions",
    "check_channels",
    "checked_strength",
    "level_or_auto",
]

AUTO = "auto"  # a level read from each photo, a back end or channels chosen for it
LEVEL_OPTIONS = {"sr": "scale", "denoise": "sigma", "jpeg": "quality"}  # task: its level
AUTO_SOURCES = {"denoise": "the noise estimate", "jpeg": "the JPEG tables"}  # what auto reads
CAMERA = "camera"  # the sigma of a photo's own camera noise: the camera-noise model
CHANNELS = (AUTO, "y", "rgb")
BACKENDS = (
    "torch",
    "openvino",
    "openvino-int8",
    "openvino-int8-bf16",
    "openvino-bf16",
    "onnxruntime",
    "onnxruntime-int8",
)
DEFAULT_MEMORY_CAP = 2 * 1024**3
DEFAULT_LEVELS = {"jpeg": AUTO, "denoise": CAMERA}  # a task's level when none is given
STRENGTH_RANGE = (0.0, 1.5)  # 0: the input as it is, 1: the model's output, above: stronger


def level_or_auto(task: str, level: float | str | None) -> float | str | None:
    """The level a restore runs at: ``level``; for a JPEG left without a quality, auto (its
    file says it); for denoising without a sigma, the camera's noise (a photo's noise is
    seldom Gaussian); None where the task needs one given."""
    if level is None and task in DEFAULT_LEVELS:
        return DEFAULT_LEVELS[task]
    return level


def check_channels(channels: str) -> None:
    if channels not in CHANNELS:
        raise CsrnetError(f"channels {channels!r}: choose from {', '.join(CHANNELS)}")


def checked_strength(
    task: str, strength: float | str, level: float | str | None = None
) -> float | str:
    """A strength as given (a number, its text as the command line and the page send it, or
    "auto"), parsed; a CsrnetError for one out of range, one for a task that has none (SR),
    or "auto" where it is not measured (anything but camera noise, at ``level`` "camera")."""
    if strength == AUTO:
        if task != "denoise" or level != CAMERA:
            raise CsrnetError(
                "strength auto is chosen for camera noise (denoising without a sigma): "
                "give a number here"
            )
        return AUTO
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise CsrnetError(f"strength {strength!r} is not a number or {AUTO!r}") from None
    low, high = STRENGTH_RANGE
    if not low <= value <= high:
        raise CsrnetError(f"strength {value:g}: give {low:g} to {high:g} (1: the model's output)")
    if task == "sr" and value != 1.0:
        raise CsrnetError("strength is for denoising and JPEG: SR has no input to blend with")
    return value


@dataclass(frozen=True)
class RunOptions:
    """How a model runs over a photo.

    Args:
        device: "cpu" or "cuda" (a torch device name).
        tile: tile side in pixels (0: chosen from ``memory_cap``).
        ensemble: average the 8 flips/rotations (8x slower, slightly better).
        overlap: the margin discarded on each inner side of a tile.
        memory_cap: bytes the restore may hold, which sets the tile when ``tile`` is 0.
        batch: tiles per call of the model.
        strength: how much of the change the model makes is kept (0: the input as it is,
            1: the model's output, up to 1.5: more of the same; "auto": chosen per photo,
            camera noise only); denoising and JPEG only.
    """

    device: str = "cpu"
    tile: int = 0
    ensemble: bool = False
    overlap: int = DEFAULT_OVERLAP
    memory_cap: int = DEFAULT_MEMORY_CAP
    batch: int = 1
    strength: float | str = 1.0

    def faded(self, share: float) -> RunOptions:
        """These options keeping ``share`` of their strength (a light JPEG's fade; "auto"
        is chosen per photo and kept as it is)."""
        if share == 1.0 or self.strength == AUTO:
            return self
        return replace(self, strength=float(self.strength) * share)


DEFAULT_RUN = RunOptions()
