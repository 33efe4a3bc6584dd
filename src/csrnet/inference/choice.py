"""Which weights restore a photo: the given file, or the best installed for the setting and
the photo's colours, compiled for the chosen back end."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csrnet.errors import CsrnetError
from csrnet.inference.backends import choose_backend, compile_model
from csrnet.inference.tiles import Model
from csrnet.model import CSRnet
from csrnet.protocol.degrade import Degradation
from csrnet.weights import (
    available_weights,
    find_weights,
    load_weights,
    resolve_weights,
    warn_if_untrained_level,
)

if TYPE_CHECKING:
    from csrnet.inference.photos import Photo

__all__ = ["CHANNELS", "ModelChoice", "ModelChoices", "model_for"]


CHANNELS = ("auto", "y", "rgb")


def model_for(
    deg: Degradation,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    channels: int = 1,
    found: list[tuple[Path, dict[str, Any]]] | None = None,
) -> tuple[CSRnet, dict[str, Any]]:
    """The given weights (file or name), else the best installed for ``deg`` and ``channels``
    (among ``found``, if listed already); refused if trained for another task."""
    path = resolve_weights(weights) if weights else find_weights(deg, channels, found=found)
    model, meta = load_weights(path, device)
    meta = {**meta, "weights_file": Path(path).stem}  # named in restore's summary
    if meta["task"]["task"] != deg.task:
        raise CsrnetError(f"{weights}: trained for {meta['task']['task']}, not {deg.task}")
    warn_if_untrained_level(weights or meta.get("recipe", "weights"), meta, deg)
    return model, meta


class ModelChoice:
    """Which model restores each photo: the given weights for all; else, with ``channels``
    "auto", a colour photo gets the best RGB model installed for the setting (the Y model
    when there is none) and a gray photo the Y model; "y" and "rgb" force one kind. Each
    model runs on ``backend`` (``csrnet.inference.backends``; "auto": the fastest installed)."""

    def __init__(
        self,
        deg: Degradation,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        channels: str = "auto",
        backend: str = "torch",
    ) -> None:
        if channels not in CHANNELS:
            raise CsrnetError(f"channels {channels!r}: choose from {', '.join(CHANNELS)}")
        self.deg, self.weights, self.device = deg, weights, device
        self.backend = backend
        choose_backend(backend, device)  # refuse an unknown or missing one before any work
        self.loaded: dict[int, tuple[Model, dict[str, Any]]] = {}
        self.found = None if weights else available_weights()  # listed (and warned) once
        self.has = {c: self._installed(c) for c in (1, 3)}
        self.fixed = None
        if weights or channels != "auto":  # one model for every photo: load it now
            self.fixed = self._load(3 if channels == "rgb" else 1)
        elif not any(self.has.values()):
            self._load(1)  # no weights at all: the usual one-line error, before any photo

    def _installed(self, channels: int) -> bool:
        if self.found is None:
            return False
        return find_weights(self.deg, channels, required=False, found=self.found) is not None

    def _load(self, channels: int) -> tuple[Model, dict[str, Any]]:
        if channels not in self.loaded:
            model, meta = model_for(self.deg, self.weights, self.device, channels, self.found)
            self.loaded[channels] = compile_model(model, meta, self.backend), meta
        return self.loaded[channels]

    def __call__(self, photo: Photo) -> tuple[Model, dict[str, Any]]:
        if self.fixed is not None:
            return self.fixed
        if self.has[3] and (photo.pixels.ndim == 3 or not self.has[1]):  # RGB does gray too
            return self._load(3)
        return self._load(1)


class ModelChoices:
    """A :class:`ModelChoice` per setting, made when a photo first needs it (with
    ``--quality auto`` the photos of one command may need several); ``first``, when given,
    is made at once, so that missing weights are refused before any photo."""

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        channels: str = "auto",
        backend: str = "torch",
        first: Degradation | None = None,
    ) -> None:
        self.options = (weights, device, channels, backend)
        self.made: dict[tuple[str, float], ModelChoice] = {}
        if first is not None:
            self(first)

    def __call__(self, deg: Degradation) -> ModelChoice:
        key = (deg.task, deg.level)
        if key not in self.made:
            self.made[key] = ModelChoice(deg, *self.options)
        return self.made[key]
