"""BM3D and CBM3D, the classical denoisers the tables set beside ours (the ``bm3d`` package,
free for non-commercial use): results cached as PNG with the seconds each took, so that a
report reads them again instead of spending seconds an image, and the cache filled by several
processes at once (``csrnet baseline denoise DIR --method bm3d --jobs N``).

The noisy input of an image is the protocol's (``csrnet.evaluation.evaluate.degraded_pair``: noise
drawn per image name from seed 0), so a result cached by any process or machine is the one
the protocol scores.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from csrnet.datasets.locate import require_folder
from csrnet.errors import CsrnetError
from csrnet.evaluation.evaluate import degraded_pair
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import list_images, write_atomic
from csrnet.protocol.matlab import to_uint8

__all__ = ["CachedBM3D", "fill_cache"]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class CachedBM3D:
    """BM3D, or CBM3D for colour images (``rgb``: the package's ``bm3d_rgb``, in the opponent
    colour space), on one set at one sigma, with its results cached under ``cache``."""

    def __init__(self, cache: Path, dataset: str, sigma: float, rgb: bool = False) -> None:
        try:
            import bm3d
        except ImportError:
            raise CsrnetError("BM3D needs the bm3d package: pip install 'csrnet[bm3d]'") from None
        from importlib.metadata import version

        self._denoise = bm3d.bm3d_rgb if rgb else bm3d.bm3d
        self.sigma, self.method = sigma, "CBM3D" if rgb else "BM3D"
        self.version = version("bm3d")
        self.label = f"{self.method.lower()}-{self.version}"  # its score log's name
        self.folder = Path(cache) / self.method.lower() / dataset / f"sigma{sigma:g}"

    def _files(self, name: str) -> tuple[Path, Path]:
        stem = Path(name).stem
        return self.folder / f"{stem}.png", self.folder / f"{stem}.seconds"

    def cached(self, name: str) -> bool:
        return all(f.is_file() for f in self._files(name))

    def __call__(self, noisy: np.ndarray, name: str) -> np.ndarray:
        """The result for the noisy image ``name`` ([0, 255]), computed once."""
        png, timing = self._files(name)
        if not self.cached(name):
            self.folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            out = to_uint8(self._denoise(noisy / 255.0, sigma_psd=self.sigma / 255.0) * 255.0)
            seconds = time.perf_counter() - start
            write_atomic(png, lambda tmp: Image.fromarray(out).save(tmp, format="PNG"))
            write_atomic(timing, lambda tmp: tmp.write_text(f"{seconds}\n"))
        return np.asarray(Image.open(png), dtype=np.float64)

    def seconds(self, name: str) -> float:
        """The seconds the result of ``name`` took when it was computed."""
        return float(self._files(name)[1].read_text())


def _compute_one(cache: Path, path: Path, deg: Degradation, rgb: bool) -> str:
    """One image's result into the cache (run in a worker process)."""
    bm3d = CachedBM3D(cache, path.parent.name, deg.level, rgb)
    bm3d(degraded_pair(path, deg, rgb=rgb)[1], path.name)
    return path.name


@contextmanager
def _one_thread_each():
    """One BLAS / OpenMP thread in each process spawned meanwhile (they read the environment
    as they start), so that N processes on N cores do not each start a thread per core."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def fill_cache(
    folder: str | Path,
    deg: Degradation,
    cache: str | Path,
    rgb: bool = False,
    jobs: int = 1,
    limit: int = 0,
    progress: bool = False,
    scored: Callable[[str], bool] | None = None,
) -> int:
    """Compute the uncached results of ``folder``'s images (the first ``limit``; 0: all) at
    ``deg``'s sigma in ``jobs`` processes, on the protocol's noise (seed 0, as the cache
    assumes); returns how many were computed. Images for which ``scored(name)`` holds (their
    rows are in a score log already) are skipped.

    Each result's seconds are those of its own process, so with more jobs than free cores
    the timings grow: give at most one job per core.
    """
    if deg.task != "denoise":
        raise CsrnetError(f"BM3D denoises; it has no {deg.task} setting")
    if jobs < 1:
        raise CsrnetError(f"jobs must be >= 1, got {jobs}")
    folder, cache = Path(folder), Path(cache)
    bm3d = CachedBM3D(cache, folder.name, deg.level, rgb)
    todo = [
        p
        for p in list_images(require_folder(folder))[: limit or None]
        if not bm3d.cached(p.name) and not (scored and scored(p.name))
    ]
    desc = f"{bm3d.method} {folder.name} {deg.label}"
    bar = tqdm(total=len(todo), desc=desc, unit="img", disable=None if progress else True)
    if jobs == 1:
        for path in todo:
            _compute_one(cache, path, deg, rgb)
            bar.update()
    else:  # spawned, not forked: a forked copy of a process running torch threads can hang
        context = multiprocessing.get_context("spawn")
        with _one_thread_each(), ProcessPoolExecutor(jobs, mp_context=context) as pool:
            work = partial(_compute_one, cache, deg=deg, rgb=rgb)
            for _ in pool.map(work, todo):
                bar.update()
    bar.close()
    return len(todo)


def bm3d_run(
    folder: Path,
    degradation: Degradation,
    cache: Path,
    scores: str | None = None,
    rgb: bool = False,
    jobs: int = 1,
    progress: bool = True,
) -> dict:
    """BM3D's results on ``folder`` computed into ``cache`` (``jobs`` processes), and the
    arguments with which ``evaluate_folder`` reads them back. Images whose rows the score log
    in ``scores`` has are skipped, so a run cut off resumes where it stopped: with one job,
    each row is written as its image is done; with more, once every image is computed."""
    from csrnet.evaluation.scorecache import ScoreCache

    if degradation.task != "denoise":
        raise CsrnetError(f"BM3D denoises; it has no {degradation.task} setting")
    bm3d = CachedBM3D(cache, folder.name, degradation.level, rgb)
    log = ScoreCache(scores).log(bm3d.label) if scores else None
    if jobs > 1:  # with one job, evaluate_folder computes each image and logs its row

        def scored(name: str) -> bool:
            return log is not None and log.get(folder.name, degradation.label, name) is not None

        fill_cache(folder, degradation, cache, rgb, jobs, progress=progress, scored=scored)
    return {
        "restore": bm3d,
        "method": bm3d.method,
        "log": log,
        "timing": bm3d.seconds,
    }
