"""Where a colour restore's time goes: decoding the file, colour conversion, the network,
tiling and assembly (the rest of ``restore_photo``), and encoding the PNG, per task and back
end, for one photo of a given size, as ``csrnet restore`` runs it (models prepared first,
not timed). The PNG encoder's compression levels are timed on the result too, with the file
size each gives.

    python benchmarks/restore_stages.py [--size 4000x3000] [--tasks denoise,jpeg,sr]
        [--backends torch,openvino-int8] [--png-levels 6,1]

Sizes are of the result (SR x2 enlarges a photo of half the size). The photo is a CBSD68
image enlarged (bicubic) to the size, with noise of sigma 25 for denoising, saved as JPEG q10
for JPEG, as PNG otherwise.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from csrnet.devices import device_label
from csrnet.inference import pipeline
from csrnet.inference.choice import ModelCache, ModelChoices
from csrnet.inference.options import RunOptions
from csrnet.inference.photo import Photo, open_photo, photo_to_pil, save_photo
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import data_root, list_images

SETTINGS = {
    "denoise": Degradation("denoise", 25),
    "jpeg": Degradation("jpeg", 10),
    "sr": Degradation("sr", 2),
}
COLOUR = ("_planes", "_to_rgb", "imresize")  # pipeline's colour conversion and SR's bicubic


def make_photo(task: str, height: int, width: int, folder: Path) -> Path:
    """The test photo of ``task`` as a file in ``folder``."""
    if task == "sr":
        height, width = height // 2, width // 2
    source = Image.open(list_images(Path(data_root()) / "CBSD68")[0]).convert("RGB")
    pixels = np.asarray(source.resize((width, height), Image.BICUBIC), dtype=np.float64)
    if task == "denoise":
        pixels = pixels + np.random.default_rng(0).normal(0, 25, pixels.shape)
    image = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
    path = folder / f"{task}.{'jpg' if task == 'jpeg' else 'png'}"
    image.save(path, **({"quality": 10} if task == "jpeg" else {}))
    return path


class Clock:
    """Seconds spent in wrapped functions, by stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        return timed

    @contextmanager
    def watching(self, names: tuple[str, ...]):
        """Time the pipeline module's functions ``names`` as "colour" while in the block."""
        saved = {n: getattr(pipeline, n) for n in names}
        for name, fn in saved.items():
            setattr(pipeline, name, self.wrap("colour", fn))
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(pipeline, name, fn)


def stages(task: str, backend: str, size: tuple[int, int], folder: Path) -> tuple[dict, Photo]:
    """Seconds of each stage of one restore of the test photo, and the restored photo."""
    deg, path = SETTINGS[task], make_photo(task, *size, folder)
    choices = ModelChoices(ModelCache("cpu", backend))
    model, _ = choices(deg)(open_photo(path))  # prepared (converted, quantized) before timing
    clock = Clock()
    timed_model = clock.wrap("network", model)
    timed_model.config = model.config  # the pipeline reads the model's configuration
    start = time.perf_counter()
    photo = open_photo(path)
    clock.seconds["decode"] = time.perf_counter() - start
    with clock.watching(COLOUR):
        start = time.perf_counter()
        restored = pipeline.restore_photo(photo, timed_model, deg, RunOptions("cpu"))
        whole = time.perf_counter() - start
    clock.seconds["tiles and copies"] = whole - clock.seconds["network"] - clock.seconds["colour"]
    start = time.perf_counter()
    save_photo(restored, folder / "out.png")
    clock.seconds["encode"] = time.perf_counter() - start
    return clock.seconds, restored


def png_levels(photo: Photo, levels: list[int]) -> list[tuple[int, float, float]]:
    """(level, seconds, MB) of Pillow's PNG encoder at each zlib compression level."""
    image, rows = photo_to_pil(photo), []
    for level in levels:
        buffer = io.BytesIO()
        start = time.perf_counter()
        image.save(buffer, format="PNG", compress_level=level)
        rows.append((level, time.perf_counter() - start, buffer.tell() / 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4000x3000", help="of the result, WIDTHxHEIGHT")
    parser.add_argument("--tasks", default="denoise,jpeg,sr")
    parser.add_argument("--backends", default="torch,openvino-int8")
    parser.add_argument("--png-levels", default="6,1", help="zlib levels (Pillow's default: 6)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    names = ["decode", "colour", "network", "tiles and copies", "encode"]
    print(f"{device_label('cpu')}; a {width}x{height} colour result")
    print(f"| task | back end | {' | '.join(names)} | total | network share |")
    print(f"|---|---|{'---:|' * (len(names) + 2)}")
    encoded = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            for backend in args.backends.split(","):
                seconds, result = stages(task, backend, (height, width), Path(tmp))
                total = sum(seconds[n] for n in names)
                cells = " | ".join(f"{seconds[n]:.2f}" for n in names)
                share = seconds["network"] / total
                print(f"| {task} | {backend} | {cells} | {total:.2f} | {share:.0%} |", flush=True)
            encoded.append((task, png_levels(result, [int(v) for v in args.png_levels.split(",")])))
    print("\n| task | PNG level | seconds | MB |\n|---|---:|---:|---:|")
    for task, rows in encoded:
        for level, secs, mb in rows:
            print(f"| {task} | {level} | {secs:.2f} | {mb:.1f} |")


if __name__ == "__main__":
    main()
