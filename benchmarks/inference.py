"""Inference speed and peak memory of the D8R6 model on this machine, with references.

For each image size and path (PyTorch eager, PyTorch channels_last, ONNX Runtime; BM3D and
MATLAB bicubic as references) it prints megapixels per second and the peak resident memory
of a fresh process that ran only that case, and the roofline ratio: the model's achieved
GFLOP/s over what one large 3x3 convolution reaches in the same run. Sizes larger than
``--tile`` run tiled (as ``csrnet restore`` does).

    python benchmarks/inference.py [--sizes 256,512,1024,4000x3000] [--paths eager,...]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from csrnet.photos import FASTEST_TILE

PATHS = ["eager", "channels_last", "onnxruntime", "bm3d", "bicubic"]


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return (int(h or w), int(w))


def conv_gflops(repeats: int = 5) -> float:
    """The best GFLOP/s of large 3x3 convolutions (32 and 64 channels, 128-256 pixels): the
    machine's practical peak for the model's main operation."""
    best = 0.0
    for channels, side in ((32, 128), (32, 256), (64, 128), (64, 256)):
        conv = torch.nn.Conv2d(channels, channels, 3, padding=1).eval()
        x = torch.rand(1, channels, side, side)
        flop = 2 * channels * channels * 9 * side * side
        with torch.inference_mode():
            conv(x)
            for _ in range(repeats):
                start = time.perf_counter()
                conv(x)
                best = max(best, flop / (time.perf_counter() - start) / 1e9)
    return best


def run_case(path: str, size: tuple[int, int], tile: int, weights: str, threads: int) -> dict:
    """One case in this process: seconds for one image, after a warm-up at the tile shape."""
    torch.set_num_threads(threads)
    from csrnet.inference import forward_tiled
    from csrnet.photos import load_model

    h, w = size
    y = np.random.default_rng(0).random((h, w)).astype(np.float32)
    if path == "bicubic":
        from csrnet.matlab import imresize

        start = time.perf_counter()
        imresize(imresize(y.astype(np.float64), 0.5), 2.0)
        return {"seconds": time.perf_counter() - start}
    if path == "bm3d":
        import bm3d

        start = time.perf_counter()
        bm3d.bm3d(y, sigma_psd=25 / 255)
        return {"seconds": time.perf_counter() - start}
    model, _ = load_model(weights)
    if path == "onnxruntime":
        import onnxruntime as ort

        from csrnet.onnx_export import export_onnx

        onnx_path = Path(tempfile.mkdtemp()) / "model.onnx"
        export_onnx(Path(weights) if Path(weights).is_file() else _weights_path(weights), onnx_path)
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {"y": x.numpy()})[0])
    else:
        # load_model gives channels_last (csrnet's default); "eager" is the default layout
        layout = torch.channels_last if path == "channels_last" else torch.contiguous_format
        model = model.to(memory_format=layout)

        def run(x: torch.Tensor) -> torch.Tensor:
            if path == "channels_last":
                x = x.contiguous(memory_format=torch.channels_last)
            return model(x)

    x = torch.from_numpy(y)[None, None]
    with torch.inference_mode():
        run(x[..., : min(h, tile), : min(w, tile)])  # warm-up at the shape that will run
        start = time.perf_counter()
        if max(h, w) > tile:
            forward_tiled(run, x, tile)
        else:
            run(x)
        return {"seconds": time.perf_counter() - start}


def _weights_path(name: str) -> Path:
    from csrnet.photos import resolve_weights

    return resolve_weights(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512,1024,4000x3000")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument(
        "--tile", type=int, default=FASTEST_TILE, help="tile side for larger images"
    )
    parser.add_argument("--weights", default="sr_x2", help="weights file or name")
    parser.add_argument("--bm3d-max", type=int, default=512, help="skip BM3D above this side")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--case", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # child process: one case, then report its own peak memory
        result = run_case(
            args.case[0], parse_size(args.case[1]), args.tile, args.weights, args.threads
        )
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    from csrnet.model import make_model, multiply_adds_per_pixel

    macs = multiply_adds_per_pixel(make_model("CSRnet-Dense"))
    peak = conv_gflops()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"large 3x3 conv: {peak:.1f} GFLOP/s; model: {macs / 1e6:.3f} M multiply-adds per pixel"
    )
    print("| path | size | Mpx/s | s / image | peak MiB | GFLOP/s | of conv peak |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        h, w = parse_size(size)
        for path in args.paths.split(","):
            if path == "bm3d" and max(h, w) > args.bm3d_max:
                continue
            cmd = [
                sys.executable,
                __file__,
                "--case",
                path,
                size,
                "--tile",
                str(args.tile),
                "--weights",
                args.weights,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(f"| {path} | {w}x{h} | failed: {done.stderr.strip().splitlines()[-1]} |||||")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            mpx = h * w / 1e6 / r["seconds"]
            model_path = path in ("eager", "channels_last", "onnxruntime")
            gflops = 2 * macs * h * w / r["seconds"] / 1e9 if model_path else None
            ratio = f"{gflops / peak:.0%}" if gflops else "-"
            print(
                f"| {path} | {w}x{h} | {mpx:.3f} | {r['seconds']:.2f} | {r['peak_mib']:.0f} | "
                f"{f'{gflops:.1f}' if gflops else '-'} | {ratio} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
