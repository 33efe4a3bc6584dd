"""Which weights restore a photo: the given file, or the best installed for the setting and
the photo's colours, compiled for the chosen back end; each file loaded and compiled once
however many settings pick it (``--sigma auto`` over a folder, the web page's jobs)."""

from __future__ import annotations

import os
from pathlib import Path

from csrnet.errors import CsrnetError
from csrnet.inference.backend_choice import choose_backend, compile_model
from csrnet.inference.options import AUTO, check_channels
from csrnet.inference.photo import Photo
from csrnet.inference.runner import Model
from csrnet.protocol.degrade import Degradation
from csrnet.weights import (
    WeightsInfo,
    available_weights,
    find_weights,
    load_weights,
    resolve_weights,
)

__all__ = ["FADE_END", "ModelCache", "ModelChoice", "ModelChoices", "fade_light_jpeg"]

FADE_END = 90  # JPEG quality from which a file is passed through: nothing worth removing


def fade_light_jpeg(deg: Degradation, installed: list[WeightsInfo]) -> tuple[Degradation, float]:
    """The setting a model runs at, and the strength it keeps, for a JPEG lighter than every
    installed deblocker's range (cameras and phones write quality 75-95; the deblockers are
    trained to 60): the deblocker at its top quality, its strength falling from 1 there to 0
    at ``FADE_END``. On Classic5 / LIVE1 the q60 models gain +0.75 / +1.08 dB at half
    strength on q75 files (+0.00 / +0.41 at full) and nothing at q90 (-0.07 / +0.10 at half,
    -2.9 / -2.3 at full): RESTORING.md. Any other setting: itself, at strength 1."""
    deblockers = [info for info in installed if info.task == "jpeg"]
    if deg.task != "jpeg" or not deblockers or any(i.covers(deg.level) for i in deblockers):
        return deg, 1.0
    top = max(max(info.level_range or info.levels) for info in deblockers)
    if deg.level <= top:
        return deg, 1.0
    return Degradation("jpeg", top), max(0.0, (FADE_END - deg.level) / (FADE_END - top))


class ModelCache:
    """Models loaded on ``device`` and compiled for ``backend``, one per weights file (a
    file rewritten since is loaded again), and the installed weights, listed (and their
    problems warned about) once until :meth:`relist`."""

    def __init__(self, device: str = "cpu", backend: str = "torch") -> None:
        self.device, self.backend = device, backend
        choose_backend(backend, device)  # refuse an unknown or missing one before any work
        self.models: dict[tuple[Path, int], tuple[Model, WeightsInfo]] = {}
        self._installed: list[WeightsInfo] | None = None

    @property
    def installed(self) -> list[WeightsInfo]:
        if self._installed is None:
            self._installed = available_weights()
        return self._installed

    def relist(self) -> None:
        """List the installed weights again when next asked (files added or removed)."""
        self._installed = None

    def model_for(
        self, deg: Degradation, weights: str | os.PathLike | None, channels: int
    ) -> tuple[Model, WeightsInfo]:
        """The given weights (file or name), else the best installed for ``deg`` and
        ``channels``, loaded once; refused if trained for another task, warned if not at
        this level."""
        if weights:
            path = resolve_weights(weights)
        else:
            path = find_weights(deg, channels, True, self.installed)
        key = (Path(path), _modified(path))
        if key not in self.models:
            model, info = load_weights(path, self.device)
            self.models[key] = compile_model(model, info, self.backend), info
        model, info = self.models[key]
        if info.task != deg.task:
            raise CsrnetError(f"{weights}: trained for {info.task}, not {deg.task}")
        info.warn_if_untrained(deg, weights or info.recipe or "weights")
        return model, info


def _modified(path: str | os.PathLike) -> int:
    """When the file was last written (0 if it cannot be read: loading it then says why)."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


class ModelChoice:
    """Which model restores each photo at setting ``deg``: the given weights for all; else,
    with ``channels`` "auto", a colour photo gets the best RGB model installed for the
    setting (the Y model when there is none) and a gray photo the Y model; "y" and "rgb"
    force one kind. Models come from ``cache`` (made from ``device`` and ``backend`` when not
    given; ``csrnet.inference.backend_choice``, "auto": the fastest accurate)."""

    def __init__(
        self,
        deg: Degradation,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        channels: str = AUTO,
        backend: str = "torch",
        cache: ModelCache | None = None,
    ) -> None:
        check_channels(channels)
        self.cache = cache or ModelCache(device, backend)
        self.asked, self.weights = deg, weights  # the photo's setting; the model's below
        self.deg, self.strength = (
            (deg, 1.0) if weights else fade_light_jpeg(deg, self.cache.installed)
        )
        self.loaded: dict[int, tuple[Model, WeightsInfo]] = {}
        self.has = {c: not weights and self._installed(c) for c in (1, 3)}
        self.fixed = None
        if weights or channels != AUTO:  # one model for every photo: load it now
            self.fixed = self._load(3 if channels == "rgb" else 1)
        elif not any(self.has.values()):
            self._load(1)  # no weights at all: the usual one-line error, before any photo

    def describe(self) -> str:
        """The setting, and how a light JPEG was handled: "q10", "q75 (the q60 model at
        strength 0.50)", "q92 (passed through: lighter than the deblockers remove)"."""
        if self.strength == 1.0:
            return self.asked.label
        if self.strength == 0.0:
            return f"{self.asked.label} (passed through: lighter than the deblockers remove)"
        return f"{self.asked.label} (the {self.deg.label} model at strength {self.strength:.2f})"

    def _installed(self, channels: int) -> bool:
        found = find_weights(self.deg, channels, required=False, found=self.cache.installed)
        return found is not None

    def _load(self, channels: int) -> tuple[Model, WeightsInfo]:
        if channels not in self.loaded:
            self.loaded[channels] = self.cache.model_for(self.deg, self.weights, channels)
        return self.loaded[channels]

    def __call__(self, photo: Photo) -> tuple[Model, WeightsInfo]:
        if self.fixed is not None:
            return self.fixed
        if self.has[3] and (photo.pixels.ndim == 3 or not self.has[1]):  # RGB does gray too
            return self._load(3)
        return self._load(1)


class ModelChoices:
    """A :class:`ModelChoice` per setting and channel option, made when a photo first needs
    it (with ``auto`` levels the photos of one command may need several), all drawing on
    ``cache``; ``first``, when given, is made at once, so that missing weights are refused
    before any photo."""

    def __init__(
        self,
        cache: ModelCache,
        weights=None,
        channels: str = AUTO,
        first: Degradation | None = None,
    ) -> None:
        check_channels(channels)
        self.cache, self.weights, self.channels = cache, weights, channels
        self.made: dict[tuple[Degradation, str], ModelChoice] = {}
        if first is not None:
            self(first)

    def __call__(self, deg: Degradation, channels: str | None = None) -> ModelChoice:
        channels = channels or self.channels
        key = (deg, channels)
        if key not in self.made:
            self.made[key] = ModelChoice(deg, self.weights, channels=channels, cache=self.cache)
        return self.made[key]
