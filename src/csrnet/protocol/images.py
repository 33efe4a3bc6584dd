"""Reading, listing and atomically writing images.

Images come back as uint8 numpy arrays: (H, W) for grayscale, (H, W, 3) for RGB. Anything
else (alpha, palette, CMYK, 16-bit, ...) is refused with a :class:`CsrnetError` that says
what to do, as are unreadable, truncated and oversized files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import platformdirs
from PIL import Image, UnidentifiedImageError

from csrnet.errors import CsrnetError, warn

__all__ = [
    "DATA_ROOT_ORDER",
    "IMAGE_EXTENSIONS",
    "check_output_path",
    "check_regular_file",
    "data_root",
    "decode_image",
    "list_images",
    "read_image",
    "user_data_root",
    "write_atomic",
]

T = TypeVar("T")
# Where the data sets are looked for, in order; `data_root()` says which is used.
DATA_ROOT_ORDER = "$CSRNET_DATA, else the user data folder, else ../shared/data"
SHARED_DATA = "../shared/data"


def user_data_root() -> Path:
    """The per-user folder that `csrnet data fetch` fills by default
    (e.g. ~/.local/share/csrnet/data)."""
    return Path(platformdirs.user_data_dir("csrnet")) / "data"


def data_root() -> str:
    """Where the data sets are, read when asked (a library call may come after a change):
    $CSRNET_DATA; else the user data folder once something is in it; else ../shared/data
    (from the working directory) when it exists; else the user data folder."""
    if "CSRNET_DATA" in os.environ:
        return os.environ["CSRNET_DATA"]
    user = user_data_root()
    if user.is_dir() and any(user.iterdir()):
        return str(user)
    return SHARED_DATA if Path(SHARED_DATA).is_dir() else str(user)


_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what a new file gets (temporary files are made private)

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".pgm",
    ".ppm",
    ".gif",
)

_MODE_ADVICE = {
    "RGBA": "has an alpha channel (RGBA)",
    "LA": "has an alpha channel (LA)",
    "PA": "is a palette image with alpha (PA)",
    "P": "is a palette image (mode P)",
    "CMYK": "is a CMYK image",
    "I;16": "is a 16-bit image",
    "I;16B": "is a 16-bit image",
    "I;16L": "is a 16-bit image",
    "I": "is a 32-bit integer image",
    "F": "is a 32-bit float image",
}


def list_images(folder: str | os.PathLike, allow_empty: bool = False) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name; an error if there are none
    (unless ``allow_empty``). What it skips it says, in one warning: entries named like
    images that are not regular files (pipes, devices, folders)."""
    path = Path(folder)
    if not path.exists():
        raise CsrnetError(f"{path}: no such folder")
    if not path.is_dir():
        raise CsrnetError(f"{path}: not a folder")
    named = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    files = [p for p in named if p.is_file()]
    if len(files) < len(named):
        others = [p.name for p in named if not p.is_file()]
        warn(f"{path}: skipped {len(others)} entries that are not regular files: {others[:3]}")
    if not files and not allow_empty:
        raise CsrnetError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)}) in this folder")
    return files


def check_regular_file(path: Path) -> None:
    """Refuse, without opening it, a path that is missing or not a regular file: opening a
    named pipe would wait forever for a writer."""
    if path.is_dir():
        raise CsrnetError(f"{path}: is a folder, not an image")
    if not path.exists():
        raise CsrnetError(f"{path}: no such file")
    if not path.is_file():
        raise CsrnetError(f"{path}: not a regular file (a pipe, device or socket)")


def check_output_path(path: str | os.PathLike) -> None:
    """Refuse, before any work, an output file that cannot be written where it is asked:
    a folder, something that is not a regular file (``/dev/null``), or a missing folder."""
    path = Path(path)
    if path.is_dir():
        raise CsrnetError(f"{path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise CsrnetError(f"{path}: exists and is not a regular file; it is not replaced")
    if not path.parent.is_dir():
        raise CsrnetError(f"{path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise CsrnetError(f"{path}: cannot write in {path.parent} (permission denied)")


def _bits_per_sample(img: Image.Image) -> int:
    """16 for images Pillow would silently reduce to 8 bits per channel (48-bit RGB PNGs,
    16-bit RGB TIFFs), else 8. Read from the decoder's raw mode, before decoding."""
    return 16 if any(";16" in str(tile.args) for tile in img.tile or []) else 8


def decode_image(
    path: str | os.PathLike,
    convert: Callable[[Image.Image], T],
    deep: Callable[[Image.Image], T] | None = None,
) -> T:
    """Open and fully decode an image file, then return ``convert(image)``; a 16-bit RGB
    or gray image, whose pixels Pillow would reduce to 8 bits, is ``deep(image)`` (Pillow
    has read its header only), or refused without ``deep``.

    Unreadable, empty, truncated and oversized files become a one-line CsrnetError (Pillow
    warns above Image.MAX_IMAGE_PIXELS, about 89 Mpx, and refuses twice that; both are
    refused here as possible decompression bombs).
    """
    path = Path(path)
    check_regular_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if _bits_per_sample(img) == 16 and deep is not None:
                    return deep(img)
                if _bits_per_sample(img) == 16:
                    raise CsrnetError(
                        f"{path}: is a 16-bit-per-channel ({img.mode}) image; only 8-bit "
                        "images are supported, convert it first"
                    )
                frames = getattr(img, "n_frames", 1)
                img.load()
                converted = convert(img)
            if frames > 1:
                warn(f"{path}: has {frames} frames; only the first is used")
            return converted
    except CsrnetError:
        raise
    except FileNotFoundError:
        raise CsrnetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CsrnetError(f"{path}: is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CsrnetError(
            f"{path}: image has more than {Image.MAX_IMAGE_PIXELS:,} pixels "
            "(possible decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise CsrnetError(f"{path}: not a readable image (unknown format or empty file)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CsrnetError(f"{path}: cannot decode image ({exc})") from None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an 8-bit grayscale or RGB image; raise CsrnetError for anything else."""

    def gray_or_rgb(img: Image.Image) -> np.ndarray:
        if img.mode in _MODE_ADVICE:
            raise CsrnetError(
                f"{path}: image {_MODE_ADVICE[img.mode]}; only 8-bit grayscale (L) "
                "and RGB images are supported, convert it first"
            )
        if img.mode == "1":
            img = img.convert("L")
        elif img.mode not in ("L", "RGB"):
            raise CsrnetError(
                f"{path}: unsupported image mode {img.mode}; only 8-bit grayscale (L) "
                "and RGB images are supported"
            )
        return np.array(img, dtype=np.uint8)

    array = decode_image(path, gray_or_rgb)
    if array.size == 0:
        raise CsrnetError(f"{path}: image is empty")
    return array


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A failure leaves neither a partial ``path`` nor the temporary file behind.
    """
    path = Path(path)
    check_output_path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise CsrnetError(f"{path}: cannot write ({exc.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        raise CsrnetError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: Path) -> None:
    """Remove a temporary file if the folder still lets us (one that turned read-only keeps
    it, and the error on its way is the one to report)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
