"""Find training images that share pixels with test images, crops included.

Two images overlap when a region of at least ``MIN_SIDE`` x ``MIN_SIDE`` pixels is equal in
both (at least 99% of its pixels), at any offset: one may be a crop of the other, or both
crops of one photo. RGB images are compared through both of their one-channel versions, the
Y of ``rgb2ycbcr`` and the luma of MATLAB's ``rgb2gray`` (what gray training sets such as
Train400 hold), so a gray crop of a color test image is found too. A resized or re-encoded
copy is not: only decoded pixel values are compared.

Method: every image's 16x16 windows on a 16-pixel lattice are hashed into one index. Each
image is then probed with the 256 windows at all offsets of a few 16x16 blocks around its
most textured spots; if it overlaps another image there, one of those windows lies on the
other's lattice. Every hash hit is checked pixel by pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from csrnet.datasets.locate import require_folder
from csrnet.protocol.images import list_images, read_image
from csrnet.protocol.matlab import rgb2ycbcr, to_uint8

__all__ = ["Overlap", "find_overlaps", "one_channel_versions"]

WINDOW = 16
MIN_SIDE = 32
PROBE_SPOTS = 4
_WEIGHTS = np.random.default_rng(20261125).integers(
    1, 2**63, size=(WINDOW, WINDOW), dtype=np.uint64
) | np.uint64(1)
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])  # MATLAB


@dataclass(frozen=True)
class Overlap:
    """Training image ``train`` and test image ``test`` share a ``height`` x ``width`` region:
    test[y, x] == train[y + dy, x + dx] (compared as ``version``)."""

    train: str
    test: str
    version: str
    dy: int
    dx: int
    height: int
    width: int


def one_channel_versions(img: np.ndarray) -> dict[str, np.ndarray]:
    """The image itself if gray; else its Y (rgb2ycbcr) and its gray (MATLAB rgb2gray)."""
    if img.ndim == 2:
        return {"gray": img}
    return {"Y": rgb2ycbcr(img, only_y=True), "gray": to_uint8(img.astype(np.float64) @ _RGB2GRAY)}


def _hash(windows: np.ndarray) -> np.ndarray:
    """Hashes of (..., WINDOW, WINDOW) uint8 windows (a random linear form mod 2**64)."""
    return (windows.astype(np.uint64) * _WEIGHTS).sum(axis=(-2, -1), dtype=np.uint64)


def _lattice(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes and top-left corners of the non-flat lattice windows."""
    h, w = (s - s % WINDOW for s in img.shape)
    blocks = img[:h, :w].reshape(h // WINDOW, WINDOW, w // WINDOW, WINDOW).swapaxes(1, 2)
    keep = blocks.reshape(*blocks.shape[:2], -1).std(axis=-1) > 0
    ys, xs = np.nonzero(keep)
    return _hash(blocks[keep]), ys * WINDOW, xs * WINDOW


def _probes(img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes and corners of the windows at every offset of the most textured blocks."""
    span = 2 * WINDOW - 1
    if min(img.shape) < span:
        return np.empty(0, np.uint64), np.empty(0, int), np.empty(0, int)
    grid = sliding_window_view(img, (span, span))[::WINDOW, ::WINDOW]
    texture = grid.reshape(*grid.shape[:2], -1).std(axis=-1)
    spots = np.argsort(texture, axis=None)[::-1][:PROBE_SPOTS]
    hashes, ys, xs = [], [], []
    for gy, gx in zip(*np.unravel_index(spots, texture.shape), strict=True):
        y0, x0 = gy * WINDOW, gx * WINDOW
        windows = sliding_window_view(img[y0 : y0 + span, x0 : x0 + span], (WINDOW, WINDOW))
        oy, ox = np.mgrid[0:WINDOW, 0:WINDOW]
        hashes.append(_hash(windows).ravel())
        ys.append((y0 + oy).ravel())
        xs.append((x0 + ox).ravel())
    return np.concatenate(hashes), np.concatenate(ys), np.concatenate(xs)


def _shared_region(test: np.ndarray, train: np.ndarray, dy: int, dx: int) -> tuple[int, int] | None:
    """Size of the region where test[y, x] == train[y + dy, x + dx] holds (>= 99%), if large."""
    y0, x0 = max(0, -dy), max(0, -dx)
    y1, x1 = min(test.shape[0], train.shape[0] - dy), min(test.shape[1], train.shape[1] - dx)
    if y1 - y0 < MIN_SIDE or x1 - x0 < MIN_SIDE:
        return None
    same = test[y0:y1, x0:x1] == train[y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    return (y1 - y0, x1 - x0) if same.mean() >= 0.99 else None


_CACHE: dict[tuple, list[Overlap]] = {}


def find_overlaps(train: list[Path], test: list[Path], progress: bool = False) -> list[Overlap]:
    """Every (training image, test image) pair of the folders that shares a region.

    Results are kept for the life of the process, keyed by every file's path, size and
    modification time, so repeated checks of unchanged folders cost nothing.
    """
    folders = [(f, True) for f in train] + [(f, False) for f in test]
    paths = [
        (p, is_train) for folder, is_train in folders for p in list_images(require_folder(folder))
    ]
    key = tuple((str(p), t, p.stat().st_size, p.stat().st_mtime_ns) for p, t in paths)
    if key not in _CACHE:
        _CACHE[key] = _find_overlaps(paths, progress)
    return list(_CACHE[key])


def _find_overlaps(paths: list[tuple[Path, bool]], progress: bool) -> list[Overlap]:
    images: list[tuple[str, str, bool, np.ndarray]] = []  # (name, version, is_train, pixels)
    for path, is_train in tqdm(paths, desc="reading", disable=None if progress else True):
        name = f"{path.parent.name}/{path.name}"
        for version, pixels in one_channel_versions(read_image(path)).items():
            images.append((name, version, is_train, pixels))
    index = [_lattice(img) for *_, img in images]
    owner = np.concatenate([np.full(len(h), i) for i, (h, _, _) in enumerate(index)])
    hashes = np.concatenate([h for h, _, _ in index])
    ys = np.concatenate([y for _, y, _ in index])
    xs = np.concatenate([x for _, _, x in index])
    order = np.argsort(hashes)
    hashes, owner, ys, xs = hashes[order], owner[order], ys[order], xs[order]

    found: dict[tuple[str, str], Overlap] = {}
    for name, version, is_train, img in tqdm(
        images, desc="probing", disable=None if progress else True
    ):
        ph, py, px = _probes(img)
        lo, hi = np.searchsorted(hashes, ph, "left"), np.searchsorted(hashes, ph, "right")
        for k in np.nonzero(hi > lo)[0]:
            for j in range(lo[k], hi[k]):
                other = images[owner[j]]
                if other[2] == is_train or other[1] != version:
                    continue
                # img[py, px] == other[ys, xs]: shift from img's to other's coordinates
                dy, dx = int(ys[j] - py[k]), int(xs[j] - px[k])
                train_item, test_item, sign = (
                    (img, other[3], -1) if is_train else (other[3], img, 1)
                )
                train_name, test_name = (name, other[0]) if is_train else (other[0], name)
                key = (train_name, test_name)
                if key in found:
                    continue
                size = _shared_region(test_item, train_item, sign * dy, sign * dx)
                if size:
                    found[key] = Overlap(
                        train_name, test_name, version, sign * dy, sign * dx, *size
                    )
    return sorted(found.values(), key=lambda o: (o.test, o.train))
