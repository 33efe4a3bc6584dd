"""Training patches: decoded Y (or RGB) images kept in memory, and patch batches drawn from them.

Every patch is a pure function of (seed, step, index in the global batch): its image, crop,
flip/rotation, and degradation level and noise. So a run resumed at step k sees exactly the
patches it would have seen, and the processes of a multi-GPU run take disjoint slices of the
same global batch that a single process would draw (the DistributedSampler equivalent).

SR inputs are made once per image and scale by the protocol (MATLAB bicubic down and up of
the whole mod-cropped Y image, in floating point) and cropped, so training patches match what
the network sees at test time. Noise and JPEG are made per patch with the protocol functions,
and so is camera noise (``csrnet.protocol.camera``): the patch as a camera would have taken
it, against the same capture without noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from csrnet.datasets.locate import require_folder
from csrnet.datasets.overlap import Overlap, find_overlaps
from csrnet.datasets.store import Store, is_store
from csrnet.errors import CsrnetError
from csrnet.protocol.camera import camera_noise, sample_camera
from csrnet.protocol.degrade import bicubic_sr_input, jpeg_compress, modcrop, to_y
from csrnet.protocol.images import list_images, read_image

__all__ = ["PatchRecipe", "TrainingImages", "make_batch", "make_patch", "training_paths"]


def training_paths(
    folders: list[Path], exclude: list[Path] = (), progress: bool = False
) -> tuple[list[Path], list[Overlap]]:
    """The image files of ``folders`` that share no pixels with a folder of ``exclude``, and
    the overlaps that left the others out."""
    folders = [require_folder(f) for f in folders]
    overlaps = find_overlaps(folders, list(exclude), progress) if exclude else []
    skip = {o.train for o in overlaps}
    paths = [p for folder in folders for p in list_images(folder)]
    return [p for p in paths if f"{p.parent.name}/{p.name}" not in skip], overlaps


@dataclass
class TrainingImages:
    """The clean Y images of the training folders (RGB images for RGB models) and, for SR,
    their bicubic inputs.

    Args:
        clean: uint8 Y (H, W) or RGB (H, W, 3) images (for SR: one list per scale,
            mod-cropped to it).
        sr_inputs: per scale, float32 bicubic inputs on [0, 255], aligned with ``clean``.
        names: "folder/file" of each image.
        excluded: the overlaps with test sets that left training images out.
        gray_skipped: gray images left out of an RGB model's data.
    """

    clean: dict[float, list[np.ndarray]]
    sr_inputs: dict[float, list[np.ndarray]]
    names: list[str]

    excluded: list[Overlap] = field(default_factory=list)
    gray_skipped: int = 0

    @classmethod
    def load(
        cls,
        folders: list[Path],
        task: str,
        scales: list[float],
        patch_size: int,
        exclude: list[Path] = (),
        progress: bool = False,
        channels: int = 1,
    ) -> TrainingImages:
        """Decode every image of ``folders`` but those overlapping a folder of ``exclude``
        (as Y; with ``channels=3``, the colour images as RGB, gray ones left out); refuse
        any smaller than a patch. A folder prepared by `csrnet data prepare` is mapped, not
        decoded (its large sets share no image with the test sets: no overlap check)."""
        if channels == 3 and task == "sr":
            raise CsrnetError("RGB models are for denoise and jpeg; SR restores Y")
        folders = [require_folder(f) for f in folders]
        parts = [
            cls.from_store(Store.open(f), task, scales, patch_size, channels)
            for f in folders
            if is_store(f)
        ]
        decoded = [f for f in folders if not is_store(f)]
        if decoded:
            parts.insert(
                0, cls.decode(decoded, task, scales, patch_size, exclude, progress, channels)
            )
        return parts[0] if len(parts) == 1 else cls.join(parts)

    @classmethod
    def decode(
        cls,
        folders: list[Path],
        task: str,
        scales: list[float],
        patch_size: int,
        exclude: list[Path],
        progress: bool,
        channels: int,
    ) -> TrainingImages:
        """The images of folders of image files (see :meth:`load`)."""
        paths, overlaps = training_paths(folders, exclude, progress)
        if not paths:
            left_out = len({o.train for o in overlaps})
            raise CsrnetError(f"every training image overlaps a test set ({left_out} left out)")
        ys, names, gray = [], [], 0
        for path in tqdm(paths, desc="loading training images", disable=None if progress else True):
            image = read_image(path)
            if channels == 3 and image.ndim == 2:
                gray += 1
                continue
            y = image if channels == 3 else to_y(image)
            need = max([1, *(int(s) for s in scales)]) if task == "sr" else 1
            if min(modcrop(y, need).shape[:2]) < patch_size:
                raise CsrnetError(
                    f"{path}: image {y.shape[0]}x{y.shape[1]} is smaller than the "
                    f"{patch_size}x{patch_size} training patch (lower data.patch_size)"
                )
            ys.append(y)
            names.append(f"{path.parent.name}/{path.name}")
        if not ys:
            raise CsrnetError(f"no colour images in {', '.join(str(f) for f in folders)}")
        return cls.from_arrays(ys, names, task, scales, overlaps, gray)

    @classmethod
    def from_arrays(
        cls,
        ys: list[np.ndarray],
        names: list[str],
        task: str,
        scales: list[float],
        excluded: list[Overlap] = (),
        gray_skipped: int = 0,
    ) -> TrainingImages:
        """Clean uint8 images already decoded (Y or RGB), with their SR inputs made."""
        if task != "sr":
            return cls({0.0: ys}, {}, names, list(excluded), gray_skipped)
        clean = {s: [modcrop(y, int(s)) for y in ys] for s in scales}
        inputs = {
            s: [bicubic_sr_input(y, int(s)).astype(np.float32) for y in clean[s]] for s in scales
        }
        return cls(clean, inputs, names, list(excluded))

    @classmethod
    def from_store(
        cls, store: Store, task: str, scales: list[float], patch_size: int, channels: int
    ) -> TrainingImages:
        """The images of a prepared store, mapped from disk (SR inputs as stored)."""
        if store.channels != channels:
            hint = "with --rgb" if channels == 3 else "without --rgb"
            raise CsrnetError(
                f"{store.folder}: prepared with {store.channels} channel(s), the model takes "
                f"{channels}; prepare it again {hint}"
            )
        images = store.clean()
        need = max([1, *(int(s) for s in scales)]) if task == "sr" else 1
        for name, image in zip(store.names, images, strict=True):
            if min(modcrop(image, need).shape[:2]) < patch_size:
                raise CsrnetError(
                    f"{store.folder}/{name}: smaller than the {patch_size}x{patch_size} patch"
                )
        names = [f"{store.name}/{n}" for n in store.names]
        if task != "sr":
            return cls({0.0: images}, {}, names)
        clean = {s: [modcrop(y, int(s)) for y in images] for s in scales}
        return cls(clean, {s: store.sr_inputs(int(s)) for s in scales}, names)

    @classmethod
    def join(cls, parts: list[TrainingImages]) -> TrainingImages:
        """The images of ``parts`` one after another."""
        first = parts[0]
        return cls(
            {k: [a for p in parts for a in p.clean[k]] for k in first.clean},
            {k: [a for p in parts for a in p.sr_inputs[k]] for k in first.sr_inputs},
            [n for p in parts for n in p.names],
            [o for p in parts for o in p.excluded],
            sum(p.gray_skipped for p in parts),
        )

    def __len__(self) -> int:
        return len(self.names)


def _transform(img: np.ndarray, t: int) -> np.ndarray:
    """The t-th of the 8 flips/rotations (dihedral group)."""
    img = np.rot90(img, t % 4)
    return img[:, ::-1] if t >= 4 else img


@dataclass(frozen=True)
class PatchRecipe:
    """How patches are drawn: the task, its levels (or a range of them), the patch side in
    ground-truth pixels, the seed, and the share of RGB denoising patches taken through the
    camera pipeline instead."""

    task: str
    levels: list[float]
    level_range: list[float] | None
    patch: int
    seed: int
    camera_share: float = 0.0

    def draw_level(self, rng: np.random.Generator) -> float:
        """A training setting: one of ``levels``, or uniform in ``level_range``."""
        if self.level_range is None:
            return float(self.levels[rng.integers(len(self.levels))])
        low, high = self.level_range
        if self.task == "jpeg":
            return float(rng.integers(int(low), int(high) + 1))
        return float(rng.uniform(low, high))


def make_patch(
    images: TrainingImages, recipe: PatchRecipe, step: int, index: int
) -> tuple[np.ndarray, np.ndarray]:
    """(degraded, clean) float32 patches on [0, 1] for one (seed, step, index)."""
    rng = np.random.default_rng([recipe.seed, step, index])
    level = recipe.draw_level(rng)
    k = int(rng.integers(len(images)))
    sr, patch = recipe.task == "sr", recipe.patch
    clean_img = images.clean[level if sr else 0.0][k]
    h, w = clean_img.shape[:2]
    y0, x0 = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
    t = int(rng.integers(8))
    clean = _transform(clean_img[y0 : y0 + patch, x0 : x0 + patch], t)
    if sr:
        degraded = _transform(images.sr_inputs[level][k][y0 : y0 + patch, x0 : x0 + patch], t)
    elif recipe.camera_share and rng.uniform() < recipe.camera_share:
        clean = np.ascontiguousarray(clean)
        degraded, clean = camera_noise(clean, sample_camera(rng), rng)
    elif recipe.task == "denoise":
        degraded = clean + rng.normal(0.0, level, size=clean.shape)
    else:
        degraded = jpeg_compress(np.ascontiguousarray(clean), int(level))
    scale = np.float32(1 / 255)
    return degraded.astype(np.float32) * scale, clean.astype(np.float32) * scale


def make_batch(
    images: TrainingImages, recipe: PatchRecipe, step: int, indices: range
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets), each (len(indices), C, patch, patch) float32 on [0, 1]."""
    pairs = [make_patch(images, recipe, step, i) for i in indices]
    inputs, targets = (_channels_first(np.stack([p[k] for p in pairs])) for k in (0, 1))
    return inputs, targets


def _channels_first(batch: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, 1, H, W); (N, H, W, 3) -> (N, 3, H, W)."""
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if batch.ndim == 4 else batch[:, None]
