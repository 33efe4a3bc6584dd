"""Restoring real photos: colour, any size under a memory cap, and the weights to use.

The network restores the Y channel (MATLAB ``rgb2ycbcr``); Cb and Cr are upsampled with
MATLAB bicubic for SR or taken from the input for denoising and JPEG, as in the paper.
Grayscale stays grayscale; an alpha channel is carried through (resized for SR); EXIF
orientation is applied and the ICC profile kept. 16-bit images are refused (convert to 8
bits first): the models were trained on 8-bit data.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from .backends import choose_backend, compile_model
from .degrade import Degradation
from .errors import CsrnetError, warn
from .images import decode_image
from .inference import Model, restore_fn
from .matlab import imresize, rgb2ycbcr, to_uint8, ycbcr2rgb
from .model import CSRnet
from .tiling import DEFAULT_OVERLAP, MIN_CORE
from .weights import covers, load_weights, read_metadata, warn_if_untrained_level

__all__ = [
    "ModelChoice",
    "Photo",
    "find_weights",
    "load_model",
    "open_photo",
    "restore",
    "restore_files",
    "restore_photo",
]

PACKAGE_WEIGHTS = Path(__file__).parent / "weights"
DEFAULT_MEMORY_CAP = 2 * 1024**3
MIN_TILE = 2 * DEFAULT_OVERLAP + MIN_CORE
FASTEST_TILE = 384  # benchmarks/inference.py: faster than 256 (less overlap), as fast as 512
PROCESS_BYTES = 400 * 1024**2
PIPELINE_BYTES_PER_PIXEL = 32
RANKING_SETS = {"sr": "Set5", "denoise": "BSD68", "jpeg": "Classic5"}  # issue #6 target sets
RGB_RANKING_SETS = {"sr": "-", "denoise": "CBSD68", "jpeg": "LIVE1"}  # the colour tables' sets
CHANNELS = ("auto", "y", "rgb")
ROWS_PER_CHUNK = 256  # colour conversion in row blocks bounds its float64 temporaries


def user_weights_dir() -> Path:
    """Where users keep their own weights: $CSRNET_WEIGHTS or ~/.local/share/csrnet/weights."""
    default = Path.home() / ".local" / "share" / "csrnet" / "weights"
    return Path(os.environ.get("CSRNET_WEIGHTS", default))


def available_weights() -> list[tuple[Path, dict[str, Any]]]:
    """(path, metadata) of the shipped weights and those in the user weights folder."""
    found = []
    for folder in (PACKAGE_WEIGHTS, user_weights_dir()):
        for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
            try:
                found.append((path, read_metadata(path)))
            except CsrnetError as exc:  # a stray or broken file does not hide the others
                warn(f"{exc} (skipped)")
    return found


def channels_of(meta: dict[str, Any]) -> int:
    """1 for the paper's gray/Y models, 3 for RGB ones."""
    return int(meta["model"].get("image_channels", 1))


def find_weights(
    deg: Degradation,
    channels: int = 1,
    required: bool = True,
    found: list[tuple[Path, dict[str, Any]]] | None = None,
) -> Path | None:
    """The weights for this setting and channel count: among the files trained for it (a
    fixed level, else a range covering it), the best measured PSNR on the setting's ranking
    set (Set5, BSD68, Classic5: the sets of the project's targets, recorded by ``csrnet
    evaluate --record``; CBSD68 and LIVE1 for RGB models); files without that record rank
    after those with it, by exact level, then validation. None if there is none and not
    ``required``. ``found``: the installed weights, when the caller has listed them."""
    ranking_set = RGB_RANKING_SETS[deg.task] if channels == 3 else RANKING_SETS[deg.task]
    ranking_key = f"{ranking_set} {deg.label}"
    candidates = []
    for path, meta in available_weights() if found is None else found:
        task = meta["task"]
        if task["task"] != deg.task or channels_of(meta) != channels:
            continue
        exact = deg.level in (task.get("levels") or [])
        if covers(task, deg.level):
            measured = meta.get("benchmarks", {}).get(ranking_key, {}).get("psnr")
            candidates.append(
                (
                    measured is not None,
                    measured if measured is not None else -math.inf,
                    exact,
                    meta.get("validation", {}).get("psnr", -math.inf),
                    path,
                )
            )
    if not candidates and not required:
        return None
    if not candidates:
        kind = "RGB weights" if channels == 3 else "weights"
        raise CsrnetError(
            f"no {kind} for {deg.task} {deg.label} are installed; pass --weights FILE "
            "(see `csrnet models`)"
        )
    return max(candidates)[-1]


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """A weights file path, or the shipped or user weights file of that name (stem)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate, _ in available_weights():
        if candidate.stem == str(name_or_path):
            return candidate
    return path  # load_weights reports that it does not exist


def load_model(
    name_or_path: str | os.PathLike, device: str = "cpu"
) -> tuple[CSRnet, dict[str, Any]]:
    """A model by file path, or by the name of a shipped or user weights file."""
    return load_weights(resolve_weights(name_or_path), device)


def model_for(
    deg: Degradation,
    weights: str | os.PathLike | None = None,
    device: str = "cpu",
    channels: int = 1,
    found: list[tuple[Path, dict[str, Any]]] | None = None,
) -> tuple[CSRnet, dict[str, Any]]:
    """The given weights (file or name), else the best installed for ``deg`` and ``channels``
    (among ``found``, if listed already); refused if trained for another task."""
    model, meta = load_model(weights or find_weights(deg, channels, found=found), device)
    if meta["task"]["task"] != deg.task:
        raise CsrnetError(f"{weights}: trained for {meta['task']['task']}, not {deg.task}")
    warn_if_untrained_level(weights or meta.get("recipe", "weights"), meta, deg)
    return model, meta


class ModelChoice:
    """Which model restores each photo: the given weights for all; else, with ``channels``
    "auto", a colour photo gets the best RGB model installed for the setting (the Y model
    when there is none) and a gray photo the Y model; "y" and "rgb" force one kind. Each
    model runs on ``backend`` (``csrnet.backends``; "auto": the fastest installed)."""

    def __init__(
        self,
        deg: Degradation,
        weights: str | os.PathLike | None = None,
        device: str = "cpu",
        channels: str = "auto",
        backend: str = "torch",
    ) -> None:
        if channels not in CHANNELS:
            raise CsrnetError(f"channels {channels!r}: choose from {', '.join(CHANNELS)}")
        self.deg, self.weights, self.device = deg, weights, device
        self.backend = backend
        choose_backend(backend, device)  # refuse an unknown or missing one before any work
        self.loaded: dict[int, tuple[Model, dict[str, Any]]] = {}
        self.found = None if weights else available_weights()  # listed (and warned) once
        self.has = {c: self._installed(c) for c in (1, 3)}
        self.fixed = None
        if weights or channels != "auto":  # one model for every photo: load it now
            self.fixed = self._load(3 if channels == "rgb" else 1)
        elif not any(self.has.values()):
            self._load(1)  # no weights at all: the usual one-line error, before any photo

    def _installed(self, channels: int) -> bool:
        if self.found is None:
            return False
        return find_weights(self.deg, channels, required=False, found=self.found) is not None

    def _load(self, channels: int) -> tuple[Model, dict[str, Any]]:
        if channels not in self.loaded:
            model, meta = model_for(self.deg, self.weights, self.device, channels, self.found)
            self.loaded[channels] = compile_model(model, meta, self.backend), meta
        return self.loaded[channels]

    def __call__(self, photo: Photo) -> tuple[Model, dict[str, Any]]:
        if self.fixed is not None:
            return self.fixed
        if self.has[3] and (photo.pixels.ndim == 3 or not self.has[1]):  # RGB does gray too
            return self._load(3)
        return self._load(1)


@dataclass
class Photo:
    """A decoded photo: uint8 ``pixels`` (H, W) or (H, W, 3), optional uint8 ``alpha``,
    and the ICC profile to write back."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc_profile: bytes | None = None


def photo_from_pil(img: Image.Image, name: str = "image") -> Photo:
    """Convert a PIL image (any 8-bit mode) into a Photo, applying EXIF orientation."""
    icc = img.info.get("icc_profile")
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
    return Photo(pixels, alpha, icc)


def open_photo(path: str | os.PathLike) -> Photo:
    """Read a photo file; unreadable, truncated or oversized files are a CsrnetError."""
    return decode_image(path, lambda img: photo_from_pil(img, str(path)))


def auto_tile(model: Model, memory_cap: int, pixels: int) -> int:
    """The tile side for an image of ``pixels`` output pixels under ``memory_cap`` bytes.

    Measured with benchmarks/inference.py on the 2-core CPU (channels_last): the D8R6
    forward pass holds about 7 KiB per tile pixel (scaled here by the model's feature maps),
    the process about 400 MiB, and the colour pipeline about 32 bytes per image pixel.
    Tiles above FASTEST_TILE gain no speed on the CPU, so that is the upper bound.
    """
    cfg = model.config
    maps = cfg.first_channels * 2 + cfg.channels * (cfg.depth + 8)
    per_tile_pixel = 7 * 1024 * maps / (64 * 2 + 32 * 16)
    budget = memory_cap - PROCESS_BYTES - PIPELINE_BYTES_PER_PIXEL * pixels
    side = int(math.sqrt(max(budget, 0) / per_tile_pixel))
    return max(MIN_TILE, min(FASTEST_TILE, side - side % 32))


def restore_photo(
    photo: Photo,
    model: Model,
    deg: Degradation,
    device: str = "cpu",
    tile: int = 0,
    ensemble: bool = False,
    memory_cap: int = DEFAULT_MEMORY_CAP,
    overlap: int = DEFAULT_OVERLAP,
    on_tile=None,
    batch: int = 1,
) -> Photo:
    """Restore a photo with ``model`` for setting ``deg`` (SR: the photo is the low-resolution
    image and the result is ``deg.level`` times larger); ``on_tile(done, total)`` reports
    progress (with the self-ensemble, each of the 8 passes counts its tiles again);
    ``batch`` tiles go through the model at once."""
    pixels = photo.pixels
    if min(pixels.shape[:2]) < 2:
        raise CsrnetError(
            f"image is {pixels.shape[1]}x{pixels.shape[0]}; it needs at least 2x2 pixels"
        )
    scale = int(deg.level) if deg.task == "sr" else 1
    tile = tile or auto_tile(model, memory_cap, pixels.shape[0] * pixels.shape[1] * scale**2)
    run = restore_fn(model, device, ensemble, tile, overlap, on_tile, batch)
    if model.config.image_channels == 3:  # an RGB model: every channel through the network
        return Photo(_restore_rgb(run, pixels), photo.alpha, photo.icc_profile)
    channels = _planes(pixels)  # Y (and Cb, Cr) as float32 on [0, 1]
    if scale > 1:  # MATLAB bicubic: the network's input, and the colour of the result
        channels = [
            imresize(c.astype(np.float64), float(scale)).astype(np.float32) for c in channels
        ]
    y_out = run(channels[0] * 255.0) / 255.0
    out = (
        to_uint8(y_out * 255.0) if len(channels) == 1 else _to_rgb(y_out, channels[1], channels[2])
    )
    alpha = photo.alpha
    if alpha is not None and deg.task == "sr":
        alpha = imresize(alpha, float(deg.level))
    return Photo(out, alpha, photo.icc_profile)


def _restore_rgb(run, pixels: np.ndarray) -> np.ndarray:
    """An RGB model on a colour photo, or on a gray one as three equal channels (whose
    result is made gray again by averaging them)."""
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    out = run(rgb.astype(np.float32))
    return to_uint8(out if pixels.ndim == 3 else out.mean(axis=2))


def _planes(pixels: np.ndarray) -> list[np.ndarray]:
    """[gray] or [Y, Cb, Cr] (MATLAB rgb2ycbcr) as float32 planes on [0, 1]."""
    if pixels.ndim == 2:
        return [pixels.astype(np.float32) / 255.0]
    ycc = np.empty(pixels.shape, np.float32)
    for r in range(0, pixels.shape[0], ROWS_PER_CHUNK):
        ycc[r : r + ROWS_PER_CHUNK] = rgb2ycbcr(pixels[r : r + ROWS_PER_CHUNK] / 255.0)
    return [ycc[..., 0], ycc[..., 1], ycc[..., 2]]


def _to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """uint8 RGB from Y, Cb, Cr planes on [0, 1] (MATLAB ycbcr2rgb), in row blocks."""
    rgb = np.empty((*y.shape, 3), np.uint8)
    for r in range(0, y.shape[0], ROWS_PER_CHUNK):
        rows = slice(r, r + ROWS_PER_CHUNK)
        ycc = np.stack([y[rows], cb[rows], cr[rows]], axis=-1).astype(np.float64)
        rgb[rows] = to_uint8(ycbcr2rgb(ycc) * 255.0)
    return rgb


def photo_to_pil(photo: Photo) -> Image.Image:
    img = Image.fromarray(photo.pixels)
    if photo.alpha is not None:
        img.putalpha(Image.fromarray(photo.alpha))
    if photo.icc_profile:
        img.info["icc_profile"] = photo.icc_profile
    return img


def restore(
    image: Image.Image | np.ndarray,
    task: str,
    scale: int | None = None,
    sigma: float | None = None,
    quality: int | None = None,
    weights: str | os.PathLike | None = None,
    tile: int = 0,
    self_ensemble: bool = False,
    device: str = "cpu",
    channels: str = "auto",
    backend: str = "auto",
) -> Image.Image | np.ndarray:
    """Restore a PIL image or a uint8 numpy array; returns the same type.

    Args:
        image: the degraded photo (for SR, the low-resolution one).
        task: "sr", "denoise" or "jpeg", with ``scale``, ``sigma`` or ``quality``.
        weights: a weights file or name (default: the best installed for the setting).
        tile: tile side in pixels (0: chosen from a 2 GiB memory cap).
        self_ensemble: average the 8 flips/rotations (8x slower, slightly better).
        device: "cpu" or "cuda".
        channels: "auto" (a colour image gets an RGB model when one is installed for the
            setting), "y" (the paper's way: restore Y, keep or enlarge Cb/Cr) or "rgb".
        backend: "auto" (the fastest installed that keeps fp32's PSNR, README "Speed"),
            "torch", "openvino", "openvino-int8", "onnxruntime" or "onnxruntime-int8".
    """
    option = {"sr": "scale", "denoise": "sigma", "jpeg": "quality"}.get(task)
    if option is None:
        raise CsrnetError(f"unknown task {task!r}; choose from sr, denoise, jpeg")
    level = {"scale": scale, "sigma": sigma, "quality": quality}[option]
    if level is None:
        raise CsrnetError(f"task {task} needs {option}")
    deg = Degradation(task, level)
    choose = ModelChoice(deg, weights, device, channels, backend)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise CsrnetError("numpy images must be uint8 (H, W), (H, W, 3) or (H, W, 4)")
        photo = photo_from_pil(Image.fromarray(image), "array")
    else:
        photo = photo_from_pil(image, "image")
    model, _ = choose(photo)
    restored = photo_to_pil(restore_photo(photo, model, deg, device, tile, self_ensemble))
    return np.asarray(restored) if isinstance(image, np.ndarray) else restored


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns, in the order given."""
    from glob import glob

    from .images import list_images

    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            paths += list_images(path, allow_empty=True)
        elif path.exists():  # a pipe or device given by name: listed among the failures
            paths.append(path)
        elif any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob(item) if Path(m).is_file())
            if not matches:
                raise CsrnetError(f"{item}: no file matches")
            paths += matches
        else:
            raise CsrnetError(f"{item}: no such file or folder")
    if not paths:
        raise CsrnetError("no input images")
    return paths


def output_paths(inputs: list[Path], out: Path) -> list[Path]:
    """Where each result goes: ``out`` itself for one input and an image file name, else
    ``out/<input name>.png`` (PNG: lossless, so no new JPEG artifacts)."""
    from .images import IMAGE_EXTENSIONS, check_output_path

    if len(inputs) == 1 and out.suffix and not out.is_dir() and not str(out).endswith("/"):
        if out.suffix.lower() not in IMAGE_EXTENSIONS:
            raise CsrnetError(
                f"{out}: not an image file name ({', '.join(IMAGE_EXTENSIONS)}); "
                "end it with / to write into a folder"
            )
        check_output_path(out)
        return [out]
    if out.exists() and not out.is_dir():
        raise CsrnetError(f"{out}: exists and is not a folder (the results go into a folder)")
    names = [p.stem for p in inputs]
    if len(set(names)) != len(names):
        raise CsrnetError("two inputs have the same file name; restore them to different folders")
    return [out / f"{name}.png" for name in names]


def restore_files(
    inputs: list[Path],
    out: Path,
    choose: ModelChoice,
    deg: Degradation,
    run: dict[str, Any],
    skip_existing: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> list[str]:
    """Restore each input into its output path (see :func:`output_paths`) with the model
    ``choose`` picks for it; a failing image does not stop the others. Returns the failures,
    one line each."""
    from tqdm import tqdm

    outputs = output_paths(inputs, out)
    if outputs[0].parent == out:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CsrnetError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    failures = []
    pairs = list(zip(inputs, outputs, strict=True))
    for src, dst in tqdm(pairs, unit="img", disable=None if progress else True):
        try:
            if dst.resolve() == src.resolve() and not overwrite:
                raise CsrnetError(f"{dst}: would overwrite the input; pass --overwrite")
            if dst.exists() and skip_existing:
                continue
            if dst.exists() and not overwrite:
                raise CsrnetError(f"{dst}: exists; pass --overwrite or --skip-existing")
            photo = open_photo(src)
            save_photo(restore_photo(photo, choose(photo)[0], deg, **run), dst)
        except CsrnetError as exc:
            failures.append(str(exc))
    return failures


def save_photo(photo: Photo, path: Path) -> None:
    """Write atomically; the format follows the suffix (JPEG drops the alpha channel)."""
    from .images import write_atomic

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


def degrade_photo(clean: np.ndarray, deg: Degradation) -> tuple[np.ndarray, np.ndarray]:
    """(clean, degraded) uint8 photos for a demonstration: for SR the clean photo cropped to
    a multiple of the scale and its MATLAB-bicubic reduction; else a noisy (seeded) or JPEG
    copy of it."""
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


def make_demo(
    model: Model,
    deg: Degradation,
    device: str = "cpu",
    tile: int = 0,
    ensemble: bool = False,
    overlap: int = DEFAULT_OVERLAP,
) -> tuple[Image.Image, float, float, str]:
    """Degrade the sample photo, restore it, and lay out degraded / restored / original;
    also returns the PSNR of the degraded and of the restored image, and where it was
    measured: on Y (the paper's models), or on RGB for an RGB model (the colour literature's
    convention, as ``csrnet evaluate``)."""
    from .degrade import to_y
    from .metrics import psnr

    clean, degraded = demo_image(deg)
    restored = restore_photo(
        Photo(degraded), model, deg, device, tile, ensemble, overlap=overlap
    ).pixels
    shown, caption = degraded, f"input ({deg.label})"
    if deg.task == "sr":  # the low-resolution input, enlarged by MATLAB bicubic
        shown = to_uint8(imresize(degraded.astype(np.float64), deg.level))
        caption = f"bicubic ({deg.label})"
    space = "RGB" if model.config.image_channels == 3 else "Y"
    plane = (lambda x: x) if space == "RGB" else to_y
    before, after = (psnr(plane(x), plane(clean), deg.border) for x in (shown, restored))
    sheet = side_by_side(
        [
            (f"{caption}: {before:.2f} dB", shown),
            (f"CSRnet: {after:.2f} dB", restored),
            ("original", clean),
        ]
    )
    return sheet, before, after, space
