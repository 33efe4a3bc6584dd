"""A large training set prepared once for fast training: memory-mapped arrays.

Training holds its images in memory and, for SR, the bicubic input of each whole image
(``csrnet.datasets.patches``). For DIV2K-class sets (800 to 4,744 images of up to 2K) that is
gigabytes of decoding per run and more RAM than a workstation has. ``prepare_store`` checks
the user's copy of a set (the file count and names of the manifest, each file readable), then
writes, in one pass, each image's Y (or RGB) and, per scale, its float32 bicubic input (the
protocol's MATLAB down and up of the whole mod-cropped image, as training makes them) into
flat files, with ``store.json`` for their shapes and offsets. Training maps them
(``np.memmap``): the operating system reads only the pages the patches touch, and a patch is
the same as one drawn from the decoded PNGs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from csrnet.datasets.locate import check_target, make_target
from csrnet.datasets.manifest import LargeSet
from csrnet.errors import CsrnetError
from csrnet.protocol.degrade import bicubic_sr_input, modcrop, to_y
from csrnet.protocol.images import read_image

__all__ = ["STORE_FILE", "Store", "is_store", "prepare_store"]

STORE_FILE = "store.json"


def is_store(folder: Path) -> bool:
    """Whether ``folder`` is a prepared store."""
    return (Path(folder) / STORE_FILE).is_file()


@dataclass(frozen=True)
class Store:
    """A prepared store: its images' names and shapes, channels, and the SR scales whose
    inputs it holds."""

    folder: Path
    name: str
    names: list[str]
    shapes: list[tuple[int, ...]]
    channels: int
    scales: list[int]

    @classmethod
    def open(cls, folder: Path) -> Store:
        index = json.loads((Path(folder) / STORE_FILE).read_text())
        shapes = [tuple(s) for s in index["shapes"]]
        return cls(
            Path(folder), index["name"], index["names"], shapes, index["channels"], index["scales"]
        )

    def clean(self) -> list[np.ndarray]:
        """The images (uint8, read-only views of the mapped file)."""
        return _views(self.folder / "clean.u8", np.uint8, self.shapes)

    def sr_inputs(self, scale: int) -> list[np.ndarray]:
        """The float32 bicubic inputs at ``scale``, aligned with ``modcrop(clean, scale)``."""
        if scale not in self.scales:
            raise CsrnetError(
                f"{self.folder}: prepared without x{scale} inputs (it has "
                f"{', '.join(f'x{s}' for s in self.scales) or 'none'}); prepare it again with "
                f"--scales {','.join(str(s) for s in sorted({*self.scales, scale}))}"
            )
        shapes = [(h - h % scale, w - w % scale) for h, w, *_ in self.shapes]
        return _views(self.folder / f"sr_x{scale}.f32", np.float32, shapes)


def _views(path: Path, dtype: type, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Consecutive arrays of ``shapes`` in one mapped file."""
    flat = np.memmap(path, dtype=dtype, mode="r")
    views, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        views.append(flat[offset : offset + size].reshape(shape))
        offset += size
    if offset != flat.size:
        raise CsrnetError(f"{path}: {flat.size} values, store.json describes {offset}")
    return views


def _members(source: Path, large: LargeSet, scratch: Path) -> Iterator[tuple[str, Path]]:
    """(name, path) of each file of ``large`` in a zip or tar archive (extracted one at a
    time into ``scratch``) or a folder, in order; an error naming what is missing."""
    names = large.names()
    if zipfile.is_zipfile(source):
        with _damaged_says(source), zipfile.ZipFile(source) as archive:
            found = {Path(m).name: m for m in archive.namelist()}
            yield from _extracted(source, large, found, archive.read, scratch)
        return
    if source.is_file() and tarfile.is_tarfile(source):
        with _damaged_says(source), tarfile.open(source) as archive:
            found = {Path(m.name).name: m for m in archive if m.isfile()}
            yield from _extracted(
                source, large, found, lambda m: archive.extractfile(m).read(), scratch
            )
        return
    if not source.is_dir():
        raise CsrnetError(f"{source}: not a zip or tar archive, or a folder")
    candidates = (source, source / large.folder, source / Path(large.folder).name)
    folder = next((f for f in candidates if (f / names[0]).is_file()), source)
    found = {n: folder / n for n in names if (folder / n).is_file()}
    _check_count(source, large, names, found)
    yield from ((name, found[name]) for name in names)


def _extracted(source: Path, large: LargeSet, members: dict, read, scratch: Path):
    """Each file of ``large`` among an archive's ``members`` (by file name), written to
    ``scratch`` by ``read(member)`` while it is used."""
    names = large.names()
    _check_count(source, large, names, members)
    for name in names:
        path = scratch / name
        with _damaged_says(source, getattr(members[name], "name", members[name])):
            data = read(members[name])
        path.write_bytes(data)
        yield name, path
        path.unlink()


@contextlib.contextmanager
def _damaged_says(source: Path, member: str = "") -> Iterator[None]:
    """A damaged archive (a bad CRC, a cut-off end) as one line naming ``member``."""
    try:
        yield
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as exc:
        why = "bad CRC" if "CRC" in str(exc) else str(exc) or type(exc).__name__
        what = f"{member} is damaged" if member else "damaged"
        raise CsrnetError(f"{source}: {what} ({why}); download it again") from None


def _check_count(source: Path, large: LargeSet, names: list[str], found: dict) -> None:
    missing = [n for n in names if n not in found]
    if missing:
        raise CsrnetError(
            f"{source}: {large.count - len(missing)} of the {large.count} files of {large.name} "
            f"({names[0]} .. {names[-1]}); missing {', '.join(missing[:3])}"
            + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        )


def prepare_store(
    large: LargeSet,
    source: Path,
    to: Path,
    scales: list[int],
    channels: int = 1,
    progress: bool = True,
) -> Path:
    """Check ``source`` (the set's zip or folder) and write its store as ``to / large.name``;
    nothing lands unless every image was read."""
    if channels == 3 and scales:
        raise CsrnetError("SR restores Y: prepare an RGB store without --scales")
    final = check_target(to) / large.name
    if final.exists():
        raise CsrnetError(f"{final} exists; move it away to prepare it again")
    partial = Path(to) / f".{large.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with make_target(partial):  # a failure leaves neither it nor an empty --to it made
        try:
            names, shapes = _write_arrays(large, Path(source), partial, scales, channels, progress)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    meta = {
        "name": large.name,
        "names": names,
        "shapes": shapes,
        "channels": channels,
        "scales": sorted(scales),
    }
    (partial / STORE_FILE).write_text(json.dumps(meta))
    os.replace(partial, final)
    return final


def _write_arrays(
    large: LargeSet, source: Path, out: Path, scales: list[int], channels: int, progress: bool
) -> tuple[list[str], list[list[int]]]:
    """Append each image, and its SR inputs, to the flat files in ``out``; names and shapes."""
    names, shapes = [], []
    with contextlib.ExitStack() as stack:
        files = {s: stack.enter_context(open(out / f"sr_x{s}.f32", "wb")) for s in scales}
        clean = stack.enter_context(open(out / "clean.u8", "wb"))
        members = _members(source, large, out)
        for name, path in tqdm(members, total=large.count, desc=large.name, disable=not progress):
            image = _decode(path, channels)
            clean.write(image.tobytes())
            for s in scales:
                files[s].write(bicubic_sr_input(modcrop(image, s), s).astype(np.float32).tobytes())
            names.append(name)
            shapes.append(list(image.shape))
    return names, shapes


def _decode(path: Path, channels: int) -> np.ndarray:
    """The image as Y (``channels=1``) or RGB; a gray image has no RGB."""
    image = read_image(path)
    if channels == 1:
        return to_y(image)
    if image.ndim == 2:
        raise CsrnetError(f"{path.name}: a gray image in a set prepared as RGB")
    return image
