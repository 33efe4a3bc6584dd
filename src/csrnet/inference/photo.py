"""A photo as the package holds it: decoded 8-bit pixels with its alpha channel, ICC profile
and, for a JPEG file, the quality its tables say; read from PIL or a file (EXIF orientation
applied; 16-bit images refused: the models were trained on 8-bit data) and written back."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from csrnet.errors import CsrnetError
from csrnet.inference.levels import jpeg_quality_of
from csrnet.protocol.images import decode_image, write_atomic

__all__ = ["Photo", "open_photo", "photo_from_pil", "photo_to_pil", "save_photo"]


@dataclass
class Photo:
    """A decoded photo: uint8 ``pixels`` (H, W) or (H, W, 3), optional uint8 ``alpha``,
    the ICC profile to write back, and, for a JPEG file, the IJG quality its tables say."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None
    jpeg_quality: int | None = None


def photo_from_pil(img: Image.Image, name: str = "image") -> Photo:
    """Convert a PIL image (any 8-bit mode) into a Photo, applying EXIF orientation."""
    icc = img.info.get("icc_profile")
    quality = jpeg_quality_of(img, name)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise CsrnetError(
            f"{name}: {img.mode} images (16/32-bit) are not supported; convert to 8-bit"
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


def open_photo(path: str | os.PathLike) -> Photo:
    """Read a photo file; unreadable, truncated or oversized files are a CsrnetError."""
    return decode_image(path, lambda img: photo_from_pil(img, str(path)))


def photo_to_pil(photo: Photo) -> Image.Image:
    """The photo as a PIL image, its alpha and ICC profile included."""
    img = Image.fromarray(photo.pixels)
    if photo.alpha is not None:
        img.putalpha(Image.fromarray(photo.alpha))
    if photo.icc_profile:
        img.info["icc_profile"] = photo.icc_profile
    return img


def save_photo(photo: Photo, path: Path) -> None:
    """Write atomically; the format follows the suffix (JPEG drops the alpha channel)."""
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise CsrnetError(f"{path}: unknown image file extension")
    img = photo_to_pil(photo)
    if fmt == "JPEG" and img.mode == "RGBA":
        img = img.convert("RGB")
    options = {"icc_profile": photo.icc_profile} if photo.icc_profile else {}
    if fmt == "JPEG":
        options["quality"] = 95
    write_atomic(path, lambda tmp: img.save(tmp, format=fmt, **options))
