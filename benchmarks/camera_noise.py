"""What each way of denoising does to camera noise: colour sets taken through the camera
pipeline (``Degradation.camera()``: one capture per image, drawn from its name and seed 0, as
``csrnet evaluate --sigma camera`` scores them), restored by ``csrnet.restore`` with each
setting, scored by PSNR on RGB against the noise-free capture.

    python benchmarks/camera_noise.py [--sets CBSD68,LIVE1] [--images 20]
        [--settings input,camera,auto,s15y,s25,jpeg30] [--backend auto]

Settings: ``input`` (the noisy photo), ``camera`` (no sigma: the camera-noise model at its
automatic strength, the default), ``auto`` (``sigma="auto"``, the white-noise estimate),
``sN`` (``sigma=N``, the best installed model), ``sNy`` (the same on Y with a gray model),
``jpegN`` (the JPEG deblocker at quality N), each optionally with ``@S`` for a strength S (a
number, or ``auto`` for ``camera``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import csrnet
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import data_root, list_images, read_image
from csrnet.protocol.metrics import psnr


def camera_set(name: str, count: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(image name, noisy, reference) for the first ``count`` colour images of a set."""
    out = []
    for path in list_images(Path(data_root()) / name)[: count or None]:
        rgb = read_image(path)
        if rgb.ndim == 2:
            continue
        reference, noisy = Degradation.camera().pair(rgb, path.name)
        out.append((path.name, noisy.astype(np.uint8), reference))
    return out


def restored(noisy: np.ndarray, setting: str, backend: str) -> np.ndarray:
    base, _, strength = setting.partition("@")  # none given: each setting's default
    options = {"backend": backend, "strength": strength or None}
    if base == "input":
        return noisy
    if base == "camera":
        return csrnet.restore(noisy, "denoise", **options)
    if base == "auto":
        return csrnet.restore(noisy, "denoise", sigma="auto", **options)
    if base.startswith("jpeg"):
        return csrnet.restore(noisy, "jpeg", quality=int(base[4:]), **options)
    gray = base.endswith("y")
    sigma = float(base[1:-1] if gray else base[1:])
    channels = "y" if gray else "auto"
    return csrnet.restore(noisy, "denoise", sigma=sigma, channels=channels, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="CBSD68,LIVE1")
    parser.add_argument("--images", type=int, default=20, help="per set (0: all)")
    parser.add_argument("--settings", default="input,camera,auto,s15y,s25,jpeg30")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    settings = args.settings.split(",")
    print(f"| set | images | {' | '.join(settings)} |")
    print(f"|---|---:|{'---:|' * len(settings)}")
    for name in args.sets.split(","):
        images = camera_set(name, args.images)
        scores = {s: [] for s in settings}
        start = time.perf_counter()
        for _, noisy, reference in images:
            for setting in settings:
                scores[setting].append(psnr(restored(noisy, setting, args.backend), reference))
        cells = " | ".join(f"{np.mean(scores[s]):.2f}" for s in settings)
        seconds = time.perf_counter() - start
        print(f"| {name} | {len(images)} | {cells} |  ({seconds:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
