"""Calibration inputs for the int8 back ends, and the patches on which ``--backend auto``
checks a back end's accuracy: degraded patches drawn as in training (camera noise in the
share the camera-noise model trained on), with their clean targets.

The patches come from T91 and BSD200_train, the SR training sets, for every model (as Y for
the gray models), when they are found under the data root, and otherwise from scikit-image's
sample photos. Test images are never used: calibrating on them would flatter the int8
scores. So not Train400 either, the denoisers' training set: its images are crops of BSDS
photos, half of them of BSD200_test (``csrnet check-overlap``), while T91 and BSD200_train
share no pixels with any test set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from csrnet.datasets.patches import PatchRecipe, TrainingImages, make_batch, training_paths
from csrnet.protocol.degrade import to_y
from csrnet.protocol.images import data_root as default_data_root
from csrnet.protocol.images import read_image
from csrnet.weights import WeightsInfo

__all__ = ["CALIBRATION_PATCHES", "CALIBRATION_SIDE", "calibration_inputs", "training_pairs"]

CALIBRATION_PATCHES = 64  # NNCF's and ONNX Runtime's statistics settle well before this
CALIBRATION_SIDE = 96  # ground-truth pixels; a multiple of every SR scale and of 4
MAX_IMAGES = 16  # images the patches are spread over
CALIBRATION_SETS = ("T91", "BSD200_train")
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def calibration_inputs(
    info: WeightsInfo,
    data_root: str | os.PathLike | None = None,
    count: int = CALIBRATION_PATCHES,
    side: int = CALIBRATION_SIDE,
) -> tuple[np.ndarray, str]:
    """``count`` degraded patches, (count, C, side, side) float32 on [0, 1], for the task of
    the weights ``info`` describes, and the name of their source. ``data_root``: where
    the training sets are (default: $CSRNET_DATA, read now, or ../shared/data)."""
    (inputs, _), source = training_pairs(info, count, side, step=0, data_root=data_root)
    return inputs, source


def training_pairs(
    info: WeightsInfo,
    count: int,
    side: int,
    step: int,
    data_root: str | os.PathLike | None = None,
    level: float | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """(inputs, targets) of ``count`` patches as :func:`calibration_inputs` draws them (at
    ``level`` alone when given), the draw set by ``step`` (calibration: 0), and the name of
    their source."""
    data_root = data_root or default_data_root()
    channels = info.channels
    images, source = _training_images(Path(data_root), side)
    if not images:
        images, source = _sample_photos(), "scikit-image sample photos"
    images = [img if channels == 3 else to_y(img) for img in images]
    if channels == 3:
        images = [img for img in images if img.ndim == 3]
    scales = (info.levels if level is None else [level]) if info.task == "sr" else []
    names = [str(i) for i in range(len(images))]
    pool = TrainingImages.from_arrays(images, names, info.task, scales)
    levels, span = ([level], None) if level is not None else (info.levels, info.level_range)
    recipe = PatchRecipe(info.task, levels, span, side, seed=0, camera_share=info.camera_share)
    return make_batch(pool, recipe, step=step, indices=range(count)), source


def _training_images(root: Path, side: int) -> tuple[list[np.ndarray], str]:
    """Up to MAX_IMAGES decoded images spread over the CALIBRATION_SETS present."""
    names = [name for name in CALIBRATION_SETS if (root / name).is_dir()]
    folders = [root / name for name in names]
    if not folders:
        return [], ""
    paths, _ = training_paths(folders)
    step = max(1, len(paths) // MAX_IMAGES)
    images = [read_image(path) for path in paths[::step]]
    big = [img for img in images if min(img.shape[:2]) >= side + 8]  # room for every SR scale
    return big[:MAX_IMAGES], "+".join(names)


def _sample_photos() -> list[np.ndarray]:
    from skimage import data

    return [getattr(data, name)() for name in SAMPLE_PHOTOS]
