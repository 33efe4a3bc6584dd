"""The demonstration: a sample photo degraded, restored and shown beside the original, with
the PSNR of each (``csrnet restore --demo``, and the web page's demo mode)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from csrnet.inference.options import DEFAULT_RUN, RunOptions
from csrnet.inference.photo import Photo
from csrnet.inference.pipeline import restore_photo
from csrnet.inference.runner import Model
from csrnet.protocol.degrade import Degradation, to_y
from csrnet.protocol.matlab import imresize, to_uint8
from csrnet.protocol.metrics import psnr, ssim

__all__ = ["as_compared", "degrade_photo", "demo_image", "make_demo", "similarity"]


def degrade_photo(clean: np.ndarray, deg: Degradation) -> tuple[np.ndarray, np.ndarray]:
    """(clean, degraded) uint8 photos for a demonstration: for SR the clean photo cropped to
    a multiple of the scale and its MATLAB-bicubic reduction; else a noisy (seeded) or JPEG
    copy of it; for camera noise, the noise-free capture and the noisy one."""
    if deg.camera_noise:
        reference, noisy = deg.pair(clean, "astronaut")
        return reference, to_uint8(noisy)
    if deg.task == "sr":
        s = int(deg.level)
        clean = clean[: clean.shape[0] - clean.shape[0] % s, : clean.shape[1] - clean.shape[1] % s]
        degraded = to_uint8(imresize(clean.astype(np.float64), 1 / s))
    elif deg.task == "denoise":
        rng = np.random.default_rng(0)
        degraded = to_uint8(clean + rng.normal(0, deg.level, clean.shape))
    else:
        from io import BytesIO

        buffer = BytesIO()
        Image.fromarray(clean).save(buffer, format="JPEG", quality=int(deg.level))
        degraded = np.array(Image.open(buffer))
    return clean, degraded


def demo_image(deg: Degradation) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's astronaut photo (RGB, 512x512) and a degraded copy of it."""
    from skimage import data

    return degrade_photo(data.astronaut(), deg)


def side_by_side(panels: list[tuple[str, np.ndarray]]) -> Image.Image:
    """Equal-size RGB panels in a row, each with its caption above it."""
    from PIL import ImageDraw

    h, w = panels[0][1].shape[:2]
    sheet = Image.new("RGB", (w * len(panels), h + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (caption, pixels) in enumerate(panels):
        sheet.paste(Image.fromarray(pixels).convert("RGB"), (i * w, 22))
        draw.text((i * w + 6, 5), caption, fill="black")
    return sheet


def as_compared(degraded: np.ndarray, deg: Degradation) -> np.ndarray:
    """The degraded input as it is shown and scored beside the result: for SR, its MATLAB
    bicubic enlargement."""
    if deg.task != "sr":
        return degraded
    return to_uint8(imresize(degraded.astype(np.float64), deg.level))


def similarity(
    image: np.ndarray, clean: np.ndarray, deg: Degradation, space: str = "Y"
) -> tuple[float, float]:
    """PSNR and SSIM of ``image`` against ``clean`` with the setting's border: on Y (the
    paper's protocol) or on RGB (``space="RGB"``: the colour literature's convention)."""
    plane = (lambda x: x) if space == "RGB" else to_y
    a, b = plane(image), plane(clean)
    return psnr(a, b, deg.border), ssim(a, b, deg.border)


def make_demo(
    model: Model, deg: Degradation, run: RunOptions = DEFAULT_RUN
) -> tuple[Image.Image, float, float, str]:
    """Degrade the sample photo, restore it, and lay out degraded / restored / original;
    also returns the PSNR of the degraded and of the restored image, and where it was
    measured: on Y (the paper's models), or on RGB for an RGB model (the colour literature's
    convention, as ``csrnet evaluate``)."""
    clean, degraded = demo_image(deg)
    restored = restore_photo(Photo(degraded), model, deg, run).pixels
    shown = as_compared(degraded, deg)
    caption = f"{'bicubic' if deg.task == 'sr' else 'input'} ({deg.label})"
    space = "RGB" if model.config.image_channels == 3 else "Y"
    before, after = (similarity(x, clean, deg, space)[0] for x in (shown, restored))
    sheet = side_by_side(
        [
            (f"{caption}: {before:.2f} dB", shown),
            (f"CSRnet: {after:.2f} dB", restored),
            ("original", clean),
        ]
    )
    return sheet, before, after, space
