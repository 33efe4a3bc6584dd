"""The weights a report covers and how it scores them: through the score cache, per set and
setting, with BM3D's cached results and the Y path of colour photos."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from csrnet.datasets.locate import require_folder
from csrnet.errors import CsrnetError
from csrnet.evaluation.bm3d import CachedBM3D
from csrnet.evaluation.evaluate import evaluate_folder
from csrnet.evaluation.results import SetScore
from csrnet.evaluation.scorecache import ScoreCache
from csrnet.model import PRESETS
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import list_images
from csrnet.report.settings import (
    COLOUR_LEVELS,
)
from csrnet.training.config import ModelSpec
from csrnet.weights import read_info


@dataclass
class Weights:
    path: Path
    name: str
    task: str
    levels: list[float]
    recipe: str
    preset: str
    steps: int
    budget: str  # steps, and batch and patch size where recorded: runs compare only at equal ones
    channels: int = 1  # 1: the paper's gray/Y model; 3: an RGB model (the colour tables)

    @property
    def study(self) -> bool:
        """A run of Table I's or V's study (an ablation or depth recipe of a preset, at x2)."""
        return (
            self.channels == 1
            and self.recipe.startswith(("ablation_", "depth_"))
            and self.preset in PRESETS
            and self.task == "sr"
            and 2 in self.levels
        )


def list_weights(folders: Sequence[Path]) -> list[Weights]:
    """The csrnet weights files of ``folders`` with what the report needs of their metadata."""
    for folder in folders:
        if not folder.is_dir():
            raise CsrnetError(f"{folder}: no such folder")
    paths = sorted(p for folder in folders for p in folder.glob("*.safetensors"))
    for i, path in enumerate(paths):
        if any(p.stem == path.stem for p in paths[:i]):
            raise CsrnetError(f"{path}: two weights files are named {path.stem}")
    found = []
    for path in paths:
        info = read_info(path)
        config = info.config
        preset = preset_of(config.get("model", {}))
        steps = info.steps
        batch, patch = (config.get("data", {}).get(k) for k in ("batch_size", "patch_size"))
        budget = f"{steps:,} steps" + (
            f" of batch {batch} of {patch}x{patch}" if batch and patch else ""
        )
        found.append(
            Weights(
                path,
                info.name,
                info.task,
                info.trained_levels,
                info.recipe,
                preset,
                steps,
                budget,
                info.channels,
            )
        )
    if not found:
        raise CsrnetError(f"{', '.join(map(str, folders))}: no .safetensors weights")
    return found


def preset_of(spec: dict) -> str:
    """The preset a recipe's model section names, if the model it builds is that preset (input
    skip aside); else ""."""
    if spec.get("preset") not in PRESETS:
        return ""
    try:
        built = ModelSpec.from_dict(spec).build()
    except (CsrnetError, ValueError):  # a field this version lacks
        return ""
    same = replace(built, input_skip=False) == replace(PRESETS[spec["preset"]], input_skip=False)
    return spec["preset"] if same else ""


def bm3d_cell(
    score, folder: Path, deg: Degradation, cache: Path, rgb: bool = False, measure: bool = True
) -> SetScore | None:
    """BM3D's (or, ``rgb``, CBM3D's) scores, each with the seconds it took when its result
    was computed. Without ``measure``, only a set whose every image is in the score cache
    (scored by ``csrnet baseline denoise ... --method bm3d --scores``); else None."""
    bm3d = CachedBM3D(cache, folder.name, deg.level, rgb=rgb)
    log = score.cache.log(bm3d.label)
    if not measure:
        return score.cached(folder, deg, bm3d.method, log)
    return score(folder, deg, bm3d, bm3d.method, log, bm3d.seconds, rgb=rgb)


class Scorer:
    """Scores a method on a set through the score cache (``csrnet.evaluation.scorecache``: cached
    images are not scored again), and keeps every SetScore for the CSV and speed tables.
    ``cached_only``: nothing is scored; a set with images missing from the cache gives None,
    and is listed in ``missing``."""

    def __init__(
        self, cache: ScoreCache, limit: int, progress: bool, cached_only: bool = False
    ) -> None:
        self.cache, self.limit, self.progress = cache, limit, progress
        self.cached_only = cached_only
        self.scores: list[SetScore] = []
        self.here: list[SetScore] = []  # those whose every row was timed on this machine
        self.missing: list[str] = []  # cached_only: "method set setting (k of n images)"

    def __call__(
        self,
        folder: Path,
        deg: Degradation,
        restore,
        method: str,
        log,
        timing=None,
        limit=None,
        rgb: bool = False,
    ) -> SetScore | None:
        limit = self.limit if limit is None else limit
        if self.cached_only:
            return self._from_cache(folder, deg, method, log, limit, self.missing)
        score = evaluate_folder(
            folder,
            deg,
            restore,
            progress=self.progress,
            limit=limit,
            method=method,
            log=log,
            timing=timing,
            rgb=rgb,
        )
        self._keep(score, deg, log)
        return score

    def cached(self, folder: Path, deg: Degradation, method: str, log) -> SetScore | None:
        """The set's score from the cache alone, or None (not listed as missing) when some
        image is not there."""
        return self._from_cache(folder, deg, method, log, self.limit, [])

    def _from_cache(self, folder: Path, deg: Degradation, method: str, log, limit, missing):
        """The set's score from the cache alone, or None when some image is not there (then
        appended to ``missing``)."""
        paths = list_images(require_folder(folder))[: limit or None]
        found = [log.get(folder.name, deg.label, p.name) for p in paths]
        images = [s for s in found if s is not None]
        if len(images) < len(paths):
            missing.append(
                f"{method} {folder.name} {deg.label} ({len(images)} of {len(paths)} images)"
            )
            return None
        score = SetScore(folder.name, deg, method, images)
        self._keep(score, deg, log)
        return score

    def _keep(self, score: SetScore, deg: Degradation, log) -> None:
        self.scores.append(score)
        devices = {log.device_of(score.dataset, deg.label, i.name) for i in score.images}
        if devices == {self.cache.device}:
            self.here.append(score)


def y_path_weights(task: str, released: list[Weights]) -> dict[float, Weights]:
    """For each colour setting of ``task``, the Y model that ``csrnet restore --channels y``
    would pick among ``released`` (the paper's path for a colour photo: Y restored, Cb and
    Cr kept), where one covers the setting."""
    from csrnet.weights import find_weights

    found = [read_info(w.path) for w in released if w.task == task]
    by_path = {w.path: w for w in released}
    picks = {}
    for level in COLOUR_LEVELS[task]:
        path = find_weights(Degradation(task, level), 1, required=False, found=found)
        if path is not None:
            picks[level] = by_path[path]
    return picks


def y_only_fn(model, deg: Degradation, device: str):
    """A Y model on a colour image as `csrnet restore --channels y` runs it: Y restored,
    Cb and Cr kept, the 8-bit RGB result as float."""
    from csrnet.inference.options import RunOptions
    from csrnet.inference.photo import Photo
    from csrnet.inference.pipeline import restore_photo

    def run(degraded: np.ndarray) -> np.ndarray:
        restored = restore_photo(Photo(degraded), model, deg, RunOptions(device))
        return restored.pixels.astype(np.float64)

    return run
