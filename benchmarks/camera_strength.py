"""How well ``--strength auto`` chooses the camera-noise model's strength per photo, against
fixed strengths and the best strength for each photo (known only with the clean image);
with ``--fit``, the rule's weights fitted anew on training images.

    python benchmarks/camera_strength.py [--fit] [--train 200] [--sets CBSD68,LIVE1,CBSD68:mild]

Each photo is restored once at strength 1 by ``csrnet.restore`` (the default camera model
and back end); every strength is then the exact blend of that output with the input, scored
by PSNR on RGB against the noise-free capture. Sets: a colour set's captures as ``csrnet
evaluate --sigma camera`` makes them, or with ``:mild`` cleaner ones (shot noise drawn from
1e-5 to 1e-3, seeded by the image's name). The fit: BSD200_train and T91 (the training sets
the int8 calibration draws from; never test images), one capture each with shot noise from
1e-5 to the model's top of 1.2e-2, and the weights (a, b, c) of ``a + b ln(kurtosis) + c
ln(std)`` that maximise the mean PSNR of the blends (exact, as a blend's error is quadratic in
its strength).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

import csrnet
from csrnet.evaluation.scorecache import weights_label
from csrnet.inference.options import STRENGTH_RANGE
from csrnet.inference.strength import STRENGTH_RULE, residual_statistics, rule_strength
from csrnet.protocol import camera
from csrnet.protocol.degrade import Degradation, image_rng
from csrnet.protocol.images import data_root, list_images, read_image
from csrnet.protocol.metrics import psnr
from csrnet.weights import available_weights, find_weights

FIT_SHOTS = (1e-5, camera.SHOT_RANGE[1])
MILD_SHOTS = (1e-5, 1e-3)
FIXED = (0.75, 0.9, 1.0, 1.25)


class Restored:
    """A photo's noisy capture, its reference and the model's output at strength 1."""

    def __init__(self, noisy: np.ndarray, reference: np.ndarray) -> None:
        self.noisy, self.reference = noisy, reference
        self.output = csrnet.restore(noisy, "denoise", strength=1.0)
        noise = noisy.astype(np.float64) - reference
        residual = noisy.astype(np.float64) - self.output
        # the blend's mean squared error at strength s: A - 2 B s + C s^2
        self.abc = ((noise**2).mean(), (noise * residual).mean(), (residual**2).mean())
        self.statistics = residual_statistics(noisy, self.output)

    def at(self, strength: float) -> float:
        """PSNR on RGB of the blend at ``strength``, rounded to 8 bits as a restore writes."""
        x, out = self.noisy.astype(np.float64), self.output.astype(np.float64)
        blend = np.clip(np.round(x + strength * (out - x)), 0, 255)
        return psnr(blend.astype(np.uint8), self.reference)

    def best(self) -> float:
        """The strength of least error (needs the reference), in the strength's range."""
        _, b, c = self.abc
        return float(np.clip(b / max(c, 1e-12), *STRENGTH_RANGE))


def camera_model() -> Path:
    """The weights file ``csrnet.restore`` takes for camera noise."""
    return Path(find_weights(Degradation.camera(), 3, True, available_weights()))


def captures(folder: Path, count: int, shots: tuple[float, float] | None, seed: int = 0):
    """(noisy, reference) for the colour images of ``folder``: the evaluation's capture, or
    one drawn with shot noise in ``shots``."""
    for path in list_images(folder)[: count or None]:
        rgb = read_image(path)
        if rgb.ndim != 3:
            continue
        if shots is None:
            reference, noisy = Degradation.camera().pair(rgb, path.name)
        else:
            rng = image_rng(path.name, seed)
            capture = camera.sample_camera(rng, shot_range=shots)
            noisy, reference = camera.camera_noise(rgb, capture, rng)
        yield noisy.astype(np.uint8), reference


def fit(photos: list[Restored]) -> np.ndarray:
    """The rule's weights maximising the mean PSNR of the blends over ``photos``."""
    kurtosis, std = np.array([p.statistics for p in photos]).T
    a, b, c = np.array([p.abc for p in photos]).T

    def loss(weights: np.ndarray) -> float:
        s = rule_strength(kurtosis, std, weights)
        mse = np.maximum(a - 2 * b * s + c * s * s, 1e-9)
        return -float(np.mean(10 * np.log10(255.0**2 / mse)))

    return minimize(loss, np.array(STRENGTH_RULE), method="Nelder-Mead").x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="CBSD68,LIVE1,CBSD68:mild")
    parser.add_argument("--images", type=int, default=0, help="per set (0: all)")
    parser.add_argument("--fit", action="store_true", help="fit the rule's weights first")
    parser.add_argument("--train", type=int, default=200, help="training images to fit on")
    args = parser.parse_args()
    root = Path(data_root())
    if args.fit:
        start = time.perf_counter()
        folders = [root / "BSD200_train", root / "T91"]
        counts = [args.train * 4 // 5, args.train - args.train * 4 // 5]
        photos = [
            Restored(noisy, reference)
            for folder, count in zip(folders, counts, strict=True)
            for noisy, reference in captures(folder, count, FIT_SHOTS, seed=1)
        ]
        weights = fit(photos)
        seconds = time.perf_counter() - start
        rule = ", ".join(f"{w:.3f}" for w in weights)
        print(f"fitted on {len(photos)} training captures in {seconds:.0f} s: ({rule})")
        print(f"for {weights_label(camera_model())}")
    columns = ["input", *(f"{s:g}" for s in FIXED), "auto", "best per photo", "auto's range"]
    columns.append("worst photo over its input: 1 / auto")
    print(f"| set | images | {' | '.join(columns)} |")
    print(f"|---|---:|{'---:|' * len(columns)}")
    for name in args.sets.split(","):
        folder, _, kind = name.partition(":")
        shots = MILD_SHOTS if kind == "mild" else None
        photos = [Restored(n, r) for n, r in captures(root / folder, args.images, shots)]
        chosen = [float(rule_strength(*p.statistics)) for p in photos]
        scores = [
            [p.at(0.0) for p in photos],
            *([p.at(s) for p in photos] for s in FIXED),
            [p.at(s) for p, s in zip(photos, chosen, strict=True)],
            [p.at(p.best()) for p in photos],
        ]
        cells = " | ".join(f"{np.mean(column):.2f}" for column in scores)
        spread = f"{min(chosen):.2f}-{max(chosen):.2f}"
        inputs, full, auto = (np.array(scores[i]) for i in (0, 1 + FIXED.index(1.0), -2))
        worst = f"{(full - inputs).min():+.2f} / {(auto - inputs).min():+.2f}"
        print(f"| {name} | {len(photos)} | {cells} | {spread} | {worst} |", flush=True)


if __name__ == "__main__":
    main()
