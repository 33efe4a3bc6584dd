"""Evaluate a restoration method on a folder of clean images, by the paper's protocol.

For each image: take its Y channel (``to_y``), crop it to the scale for SR, degrade it,
restore it (the identity gives the paper's Bicubic / noisy / JPEG rows), round to uint8,
and measure PSNR and SSIM on Y with the border of the setting cropped.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from csrnet.datasets.locate import require_folder
from csrnet.errors import CsrnetError
from csrnet.evaluation.results import ImageScore, SetScore
from csrnet.parallel import active, everyone, from_main, is_main, shard
from csrnet.protocol.degrade import Degradation, to_y
from csrnet.protocol.images import list_images, read_image
from csrnet.protocol.matlab import to_uint8
from csrnet.protocol.metrics import psnr, ssim

if TYPE_CHECKING:
    from csrnet.evaluation.scorecache import ScoreLog
    from csrnet.weights import WeightsInfo

__all__ = [
    "COLOUR_SETS",
    "DEFAULT_SETS",
    "evaluate_folder",
    "evaluate_weights",
    "record_results",
]

# The paper's test sets of each task (Tables II, III, IV).
DEFAULT_SETS = {
    "sr": ["Set5", "Set14", "BSD100", "Urban100"],
    "denoise": ["MemNet14", "BSD200_test", "Urban100", "BSD68"],
    "jpeg": ["Classic5", "LIVE1"],
}
# The colour sets of each task that has RGB models, scored on RGB.
COLOUR_SETS = {"denoise": ["CBSD68", "Urban100"], "jpeg": ["LIVE1"]}

SSIM_WINDOW = 11
# A restoration function maps the degraded Y image (float64 on [0, 255]) to the restored one.
RestoreFn = Callable[[np.ndarray], np.ndarray]


def evaluate_folder(
    folder: str | os.PathLike,
    degradation: Degradation,
    restore: RestoreFn | None = None,
    seed: int = 0,
    progress: bool = False,
    limit: int = 0,
    method: str = "input",
    log: ScoreLog | None = None,
    timing: Callable[[str], float] | None = None,
    rgb: bool = False,
) -> SetScore:
    """Score ``restore`` (None: the degraded input itself) on every image of ``folder``.

    Args:
        folder: a folder of clean 8-bit gray or RGB images.
        degradation: the task and setting.
        restore: maps the degraded Y (float64, [0, 255]) to the restored Y, same shape; a
            function with a ``name`` parameter is also given the image's file name.
        seed: noise seed (denoising); noise is drawn per image name, so it does not depend
            on the order or the subset of images.
        progress: show a progress bar on stderr when it is a terminal.
        limit: score only the first ``limit`` images (0: all).
        method: the name of ``restore`` in the results.
        log: cached scores of this method (``csrnet.evaluation.scorecache``): images found
            there are not scored again, and each image scored is appended to it.

    Under torchrun (after ``csrnet.parallel.start``), each process scores its slice of the
    images, and every process returns the whole set's scores.
        timing: the seconds of an image by name, where ``restore`` returns a cached result
            and knows the time its computation took (BM3D).
        rgb: score on RGB instead of Y (colour models): degraded and restored in RGB, PSNR
            over the three channels, SSIM their mean; every image must be colour.
    """
    paths = list_images(require_folder(folder))[: limit or None]
    result = SetScore(Path(folder).name, degradation, method)
    label = degradation.label
    # rank 0's cache decides for every rank (under torchrun; see csrnet.parallel)
    cached = from_main(
        {p.name: log.get(result.dataset, label, p.name) for p in paths} if log else {}
    )
    todo = [p for p in paths if cached.get(p.name) is None]
    named = restore is not None and "name" in inspect.signature(restore).parameters
    scored = {}
    for path in tqdm(
        shard(todo),
        desc=f"{result.dataset} {label}",
        disable=None if progress and is_main() else True,
        unit="img",
    ):
        score = _score_image(path, degradation, restore, named, seed, timing, rgb)
        scored[path.name] = score
        if log and not active():  # appended as scored: a run cut off resumes
            log.add(result.dataset, label, score)
    if active():
        scored = _gather_scores(scored, todo, log, result.dataset, label)
    result.images = [cached[p.name] if cached.get(p.name) else scored[p.name] for p in paths]
    return result


def _score_image(
    path: Path,
    degradation: Degradation,
    restore: RestoreFn | None,
    named: bool,
    seed: int,
    timing: Callable[[str], float] | None,
    rgb: bool,
) -> ImageScore:
    """One image degraded, restored (given its name when ``named``) and scored."""
    clean, degraded = degraded_pair(path, degradation, seed, rgb)
    start = time.perf_counter()
    if restore is None:
        restored = degraded
    else:
        restored = restore(degraded, name=path.name) if named else restore(degraded)
    seconds = 0.0 if restore is None else time.perf_counter() - start
    seconds = timing(path.name) if timing else seconds
    if restored.shape != clean.shape:
        raise ValueError(f"restored image is {restored.shape}, expected {clean.shape}")
    out = to_uint8(restored)
    border = degradation.border
    return ImageScore(
        path.name, *clean.shape[:2], psnr(out, clean, border), ssim(out, clean, border), seconds
    )


def _gather_scores(
    scored: dict[str, ImageScore], todo: list[Path], log, dataset: str, label: str
) -> dict[str, ImageScore]:
    """Every rank's scores on every rank; rank 0 appends them to the score cache, in the
    folder's order, while the others wait."""
    merged = {name: score for part in everyone(scored) for name, score in part.items()}
    if log and is_main():
        for path in todo:
            log.add(dataset, label, merged[path.name])
    from_main(None)  # a barrier: no rank reads the cache before rank 0 has written it
    return merged


def degraded_pair(
    path: Path, degradation: Degradation, seed: int = 0, rgb: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The protocol's (clean, degraded) pair of the image at ``path``: Y (``rgb``: RGB),
    mod-cropped for SR, with noise drawn from ``seed`` and the image's name (camera noise:
    the noise-free capture and the noisy one)."""
    clean = degradation.clean(_rgb(path) if rgb else to_y(read_image(path)))
    _check_size(path, clean, degradation)
    return degradation.pair(clean, name=path.name, seed=seed)


def _rgb(path: Path) -> np.ndarray:
    image = read_image(path)
    if image.ndim != 3:
        raise CsrnetError(f"{path}: a gray image; scoring on RGB needs colour images")
    return image


def _check_size(path: Path, clean: np.ndarray, degradation: Degradation) -> None:
    need = SSIM_WINDOW + 2 * degradation.border
    if min(clean.shape[:2]) < need:
        h, w = clean.shape[:2]
        raise CsrnetError(
            f"{path}: image is too small for {degradation.task} {degradation.label} "
            f"({h}x{w} after cropping; the protocol needs at least {need}x{need})"
        )


def weights_settings(info: WeightsInfo, override: Degradation | None) -> list[Degradation]:
    """The settings to evaluate a weights file at: ``override``, else those it was trained
    for (its fixed levels, or its validation levels when it drew them from a range, and
    camera noise when it trained on it)."""
    if override is not None:
        if override.task != info.task:
            raise CsrnetError(
                f"{info.path}: trained for {info.task}, cannot be evaluated on {override.task}"
            )
        if override.camera_noise and info.channels != 3:
            raise CsrnetError(f"{info.path}: a gray model; camera noise is scored on RGB models")
        info.warn_if_untrained(override, info.path)
        return [override]
    camera = [Degradation.camera()] if info.camera_share else []
    return [Degradation(info.task, level) for level in info.trained_levels] + camera


def evaluate_weights(
    path: str | os.PathLike,
    folders: list[Path] | None = None,
    data_root: Path = Path("."),
    override: Degradation | None = None,
    ensemble: bool = False,
    tile: int = 0,
    device: str = "cpu",
    seed: int = 0,
    progress: bool = False,
    backend: str = "torch",
    log: ScoreLog | None = None,
) -> list[SetScore]:
    """Score a weights file on test folders (default: the paper's sets for its task, or the
    colour sets for an RGB model) at each
    of its settings, run by ``backend`` (``inference.backends``); the method is named after the
    file, with "+" for the self-ensemble. ``log``: as for :func:`evaluate_folder`."""
    from csrnet.inference.backend_choice import choose_backend, compile_model
    from csrnet.inference.runner import restore_fn
    from csrnet.weights import load_weights

    path = Path(path)
    choose_backend(backend, device)  # an unknown or missing one: refused before loading
    model, info = load_weights(path, device)
    settings = weights_settings(info, override)
    rgb = info.channels == 3
    sets = (COLOUR_SETS if rgb else DEFAULT_SETS)[info.task]
    folders = folders or [data_root / name for name in sets]
    run = compile_model(model, info, backend)
    restore = restore_fn(run, device, ensemble=ensemble, tile=tile)
    method = path.name.removesuffix(".safetensors") + ("+" if ensemble else "")
    backend = getattr(run, "backend", "torch")  # what auto chose
    method += "" if backend == "torch" else f" ({backend})"
    return [
        evaluate_folder(folder, deg, restore, seed, progress, method=method, log=log, rgb=rgb)
        for deg in settings
        for folder in folders
    ]


def record_results(weights: str | os.PathLike, results: list[SetScore], ensemble: bool) -> None:
    """Store the means of ``results`` measured with ``weights`` in that file's metadata
    (``csrnet evaluate --record``; "+" marks the self-ensemble's)."""
    from csrnet.weights import record_benchmarks

    suffix = "+" if ensemble else ""
    name = Path(weights).name.removesuffix(".safetensors") + suffix
    measured = {
        f"{r.dataset} {r.degradation.label}{suffix}": {
            "psnr": round(r.psnr, 4),
            "ssim": round(r.ssim, 5),
            "images": len(r.images),
        }
        for r in results
        if r.method == name
    }
    record_benchmarks(weights, measured)
