"""How well ``--sigma auto`` estimates the noise of a set's photos: per sigma, the mean
estimate, the mean and the worst absolute error, with the noise clipped to 8 bits (as a photo
file holds it) and unclipped.

    python benchmarks/noise_estimate.py [--set CBSD68] [--sigmas 15,25,50]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from csrnet.inference.levels import estimate_noise_sigma
from csrnet.protocol.degrade import add_gaussian_noise, image_rng
from csrnet.protocol.images import data_root, list_images, read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="CBSD68", help="a set under the data root")
    parser.add_argument("--sigmas", default="15,25,50")
    args = parser.parse_args()
    paths = list_images(Path(data_root()) / args.set)
    print(f"{args.set}, {len(paths)} images")
    print("| sigma | noise | mean estimate | mean abs. error | worst abs. error |")
    print("|---:|---|---:|---:|---:|")
    for sigma in (float(s) for s in args.sigmas.split(",")):
        for clipped in (True, False):
            estimates = []
            for path in paths:
                noisy = np.round(add_gaussian_noise(read_image(path), sigma, image_rng(path.name)))
                if clipped:
                    noisy = np.clip(noisy, 0, 255)
                estimates.append(estimate_noise_sigma(noisy))
            errors = np.abs(np.array(estimates) - sigma)
            kind = "8-bit (clipped)" if clipped else "unclipped"
            print(f"| {sigma:g} | {kind} | {np.mean(estimates):.2f} | {errors.mean():.2f} | "
                  f"{errors.max():.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
