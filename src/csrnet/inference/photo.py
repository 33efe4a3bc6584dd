"""A photo as the package holds it: decoded 8- or 16-bit pixels with its alpha channel, ICC
profile and, for a JPEG file, the quality its tables say; read from PIL, a numpy array or a
file (EXIF orientation applied) and written back at its depth.

Pillow reads 16-bit RGB PNGs and TIFFs as 8 bits, so those are read and written with pypng
and tifffile: a 16-bit photo is restored in floating point and written with 16 bits again
(PNG or TIFF; a format that holds 8 bits gets 8, with a warning).
"""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from csrnet.errors import CsrnetError, warn
from csrnet.inference.levels import jpeg_quality_of
from csrnet.protocol.images import decode_image, write_atomic
from csrnet.protocol.matlab import round_half_away, to_uint8

__all__ = [
    "Photo",
    "open_photo",
    "photo_from_array",
    "photo_from_pil",
    "photo_to_array",
    "photo_to_pil",
    "quantize",
    "save_photo",
]

PIXEL_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
ORIENTATION = 0x0112  # the EXIF tag


@dataclass
class Photo:
    """A decoded photo: uint8 or uint16 ``pixels`` (H, W) or (H, W, 3), an optional
    ``alpha`` of the same type, the ICC profile to write back, for a JPEG file the IJG
    quality its tables say, and for a restored photo the strength it kept (denoising and
    JPEG: the number "auto" chose)."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    jpeg_quality: int | None = None
    strength: float | None = None

    @property
    def peak(self) -> int:
        """The largest pixel value: 65535 for a 16-bit photo, else 255 (uint8, or floats on
        the 8-bit scale, which the evaluation's images are)."""
        return 65535 if self.pixels.dtype == np.uint16 else 255

    @property
    def depth(self) -> type:
        """The pixel type of a result: uint16 for a 16-bit photo, else uint8."""
        return np.uint16 if self.peak == 65535 else np.uint8

    def to_8bit(self) -> Photo:
        """The photo with 8 bits per channel (itself if it has them)."""
        if self.peak == 255:
            return self
        alpha = None if self.alpha is None else quantize(self.alpha / 257.0, np.uint8)
        return Photo(quantize(self.pixels / 257.0, np.uint8), alpha, self.icc_profile)


def quantize(values: np.ndarray, dtype) -> np.ndarray:
    """Values on the [0, 255] scale as pixels of ``dtype``: uint8 by MATLAB's rounding (as
    the protocol), uint16 by the same rounding of 257 times the value (65535 = 257 * 255)."""
    if np.dtype(dtype) != np.uint16:
        return to_uint8(values)
    return np.clip(round_half_away(values * 257.0), 0, 65535).astype(np.uint16)


def photo_from_pil(img: Image.Image, name: str = "image") -> Photo:
    """Convert a PIL image (any 8-bit mode, or 16-bit gray) into a Photo, applying EXIF
    orientation."""
    icc = img.info.get("icc_profile")
    quality = jpeg_quality_of(img, name)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L"):
        return Photo(np.array(img).astype(np.uint16), None, icc)
    if img.mode in ("I", "F"):
        raise CsrnetError(
            f"{name}: {img.mode} images (32-bit) are not supported; convert to 8 or 16 bits"
        )
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    if img.mode == "1":
        img = img.convert("L")
    if img.mode == "PA":
        img = img.convert("RGBA")
    alpha = None
    if img.mode in ("RGBA", "LA"):
        alpha = np.array(img.getchannel("A"))
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
    if img.mode not in ("L", "RGB"):
        raise CsrnetError(f"{name}: unsupported image mode {img.mode}")
    pixels = np.array(img, dtype=np.uint8)
    return Photo(pixels, alpha, icc, quality)


def photo_from_array(array: np.ndarray) -> Photo:
    """A uint8 or uint16 array (H, W), (H, W, 3), or with alpha last (H, W, 2 or 4) as a
    Photo."""
    if array.dtype not in PIXEL_TYPES or not (
        array.ndim == 2 or (array.ndim == 3 and 2 <= array.shape[2] <= 4)
    ):
        raise CsrnetError("numpy images must be uint8 or uint16 (H, W), (H, W, 3) or (H, W, 4)")
    if array.ndim == 3 and array.shape[2] in (2, 4):
        colour = array[..., 0] if array.shape[2] == 2 else array[..., :3]
        return Photo(np.ascontiguousarray(colour), np.ascontiguousarray(array[..., -1]))
    return Photo(np.ascontiguousarray(array))


def photo_to_array(photo: Photo) -> np.ndarray:
    """The photo's pixels, its alpha channel last where it has one."""
    if photo.alpha is None:
        return photo.pixels
    return np.dstack([photo.pixels, photo.alpha])


def open_photo(path: str | os.PathLike) -> Photo:
    """Read a photo file (16-bit PNG and TIFF at their depth); unreadable, truncated or
    oversized files are a CsrnetError."""
    return decode_image(
        path,
        lambda img: photo_from_pil(img, str(path)),
        deep=lambda img: _deep_photo(img, Path(path)),
    )


def _deep_photo(img: Image.Image, path: Path) -> Photo:
    """A 16-bit PNG (pypng) or TIFF (tifffile) whose header Pillow has read, at its depth."""
    if img.format == "PNG":
        import png

        try:
            width, height, rows, info = png.Reader(filename=str(path)).asDirect()
            array = np.vstack([np.asarray(row, np.uint16) for row in rows])
        except png.Error as exc:
            raise CsrnetError(f"{path}: cannot decode image ({exc})") from None
        array = array.reshape(height, width, info["planes"])
    elif img.format == "TIFF":
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            array = page.asarray()
            if array.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
                array = np.moveaxis(array, 0, -1)
    else:
        raise CsrnetError(f"{path}: 16-bit {img.format} images are not supported (PNG, TIFF)")
    if array.dtype != np.uint16 or not (
        array.ndim == 2 or (array.ndim == 3 and array.shape[2] <= 4)
    ):
        raise CsrnetError(f"{path}: a 16-bit image of {array.dtype} {array.shape} is not a photo")
    array = array[..., 0] if array.ndim == 3 and array.shape[2] == 1 else array
    photo = photo_from_array(_orient(array, img.getexif().get(ORIENTATION, 1)))
    photo.icc_profile = img.info.get("icc_profile")
    return photo


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` turned upright as its EXIF orientation says (as ImageOps.exif_transpose)."""
    turned = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }.get(orientation)
    return np.ascontiguousarray(turned(array)) if turned else array


def photo_to_pil(photo: Photo) -> Image.Image:
    """The photo as a PIL image, its alpha and ICC profile included."""
    img = Image.fromarray(photo.pixels)
    if photo.alpha is not None:
        img.putalpha(Image.fromarray(photo.alpha))
    if photo.icc_profile:
        img.info["icc_profile"] = photo.icc_profile
    return img


def save_photo(photo: Photo, path: Path) -> None:
    """Write atomically; the format follows the suffix (JPEG drops the alpha channel). A
    16-bit photo is written with 16 bits as PNG or TIFF, with 8 in other formats."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise CsrnetError(f"{path}: unknown image file extension")
    if photo.peak != 255:
        if fmt in ("PNG", "TIFF"):
            write_atomic(path, lambda tmp: _write_deep(photo, tmp, fmt))
            return
        warn(f"{path}: {fmt} holds 8 bits per channel; written with 8 (PNG or TIFF keep 16)")
        photo = photo.to_8bit()
    img = photo_to_pil(photo)
    if fmt == "JPEG" and img.mode == "RGBA":
        img = img.convert("RGB")
    options = {"icc_profile": photo.icc_profile} if photo.icc_profile else {}
    if fmt == "JPEG":
        options["quality"] = 95
    write_atomic(path, lambda tmp: img.save(tmp, format=fmt, **options))


def _write_deep(photo: Photo, path: Path, fmt: str) -> None:
    """A 16-bit photo as a 16-bit PNG (pypng; the ICC profile in an iCCP chunk) or TIFF."""
    array = photo_to_array(photo)
    planes = 1 if array.ndim == 2 else array.shape[2]
    if fmt == "TIFF":
        _write_tiff(array, planes, photo, path)
        return
    import png

    height, width = array.shape[:2]
    writer = png.Writer(
        width, height, greyscale=planes <= 2, alpha=photo.alpha is not None, bitdepth=16
    )
    buffer = io.BytesIO()
    writer.write(buffer, array.reshape(height, width * planes))
    chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
    if photo.icc_profile:  # after IHDR, before the image data
        chunks.insert(1, (b"iCCP", b"icc\x00\x00" + zlib.compress(photo.icc_profile)))
    with path.open("wb") as out:
        png.write_chunks(out, chunks)


def _write_tiff(array: np.ndarray, planes: int, photo: Photo, path: Path) -> None:
    import tifffile

    if planes == 2:  # Pillow opens no 16-bit gray TIFF with alpha: written as RGBA
        array, planes = np.dstack([np.repeat(array[..., :1], 3, axis=2), array[..., 1:]]), 4
    extra = {"extrasamples": ["unassalpha"]} if photo.alpha is not None else {}
    options = {"iccprofile": photo.icc_profile} if photo.icc_profile else {}
    photometric = "minisblack" if planes == 1 else "rgb"
    tifffile.imwrite(path, array, photometric=photometric, **extra, **options)
