"""CPU restore speed of every back end side by side, with BM3D, and their accuracy.

Speed: for each image size and back end, the seconds ``csrnet.inference.pipeline.restore_photo``
takes for one gray photo (with ``--colour``, an RGB one, which goes to the task's RGB model
where one is installed, as in ``csrnet restore``; tiles and memory cap as ``csrnet restore``
chooses them), megapixels per second, the speed as a multiple of PyTorch fp32 (one tile per
call; the row of the back end ``--backend auto`` picks is marked), and the peak resident
memory of a fresh process that ran only that case. Before them, what preparing each model
took (run with an empty ``$CSRNET_CACHE`` to time the conversion and quantization). Sizes
are of the result: denoising runs on the photo itself; SR x2 enlarges a photo of half the
size (so ``4000x3000`` SR is 2000x1500 -> 4000x3000). BM3D (sigma 25) runs beside the
denoiser where it takes seconds.

Accuracy (``--accuracy``): the PSNR change against PyTorch fp32 on Set5 x2, BSD68 sigma 25
and Classic5 q10 with the gray/Y weights, and on CBSD68 sigma 25 and LIVE1 q10 on RGB with
the colour weights, those ``csrnet restore`` picks for each.

    python benchmarks/inference.py [--sizes 256,1024,4000x3000] [--tasks denoise,sr,jpeg]
        [--backends torch,openvino,...] [--batches 1,4] [--colour] [--accuracy]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from csrnet.devices import cpu_flags, device_label
from csrnet.errors import CsrnetWarning
from csrnet.inference.backends import BACKENDS, usable
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import data_root

SETTINGS = {
    "denoise": Degradation("denoise", 25),
    "sr": Degradation("sr", 2),
    "jpeg": Degradation("jpeg", 10),
}
# (set, setting, image channels of the model): the Y models on Y, the RGB models on RGB
ACCURACY_SETS = [
    ("Set5", Degradation("sr", 2), 1),
    ("BSD68", Degradation("denoise", 25), 1),
    ("Classic5", Degradation("jpeg", 10), 1),
    ("CBSD68", Degradation("denoise", 25), 3),
    ("LIVE1", Degradation("jpeg", 10), 3),
]
BASELINE = ("torch", 1)  # PyTorch fp32, one tile per call: what the ratios are against


def parse_size(text: str) -> tuple[int, int]:
    """``"1024"`` or ``"4000x3000"`` (width x height) -> (height, width)."""
    w, _, h = text.partition("x")
    return (int(h or w), int(w))


def run_case(case: str, task: str, size: tuple[int, int], batch: int, colour: bool) -> dict:
    """One timed restore in this process, after a warm-up on a small photo (gray, or with
    ``colour`` RGB: the RGB model of the task where one is installed, as restore picks)."""
    from csrnet.inference.choice import ModelChoice
    from csrnet.inference.options import RunOptions
    from csrnet.inference.photo import Photo
    from csrnet.inference.pipeline import restore_photo

    h, w = size
    rng = np.random.default_rng(0)
    if case == "bm3d":
        import bm3d

        y = rng.random((h, w))
        start = time.perf_counter()
        bm3d.bm3d(y, sigma_psd=25 / 255)
        return {"seconds": time.perf_counter() - start}
    deg = SETTINGS[task]
    scale = int(deg.level) if task == "sr" else 1
    choose = ModelChoice(deg, backend=case)
    shape = (h // scale, w // scale, 3) if colour else (h // scale, w // scale)
    photo = Photo(rng.integers(0, 256, shape, dtype=np.uint8))
    model, _ = choose(photo)
    # warm-up (compile for the shape): a 384-pixel crop runs whole, or as the big tiles
    restore_photo(Photo(photo.pixels[:384, :384]), model, deg, RunOptions(batch=batch))
    weights = model.config.image_channels == 3 and "RGB" or "Y"
    start = time.perf_counter()
    restore_photo(photo, model, deg, RunOptions(batch=batch))
    return {"seconds": time.perf_counter() - start, "model": weights}


def peak_mib() -> float:
    """This process's peak resident memory (Linux's VmHWM, which a fork does not inherit)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(case: str, task: str, size: str, batch: int, colour: bool) -> dict | str:
    """Run one case in a fresh process: its result, or the last line of its error."""
    cmd = [sys.executable, __file__, "--case", case, task, size, str(batch), str(int(colour))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        return (done.stderr.strip().splitlines() or ["failed"])[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(backends: list[str], tasks: list[str], colour: bool) -> dict[str, str]:
    """Convert and quantize once, outside the timed runs (the cache keeps the results), and
    print what each took: the preparation a first use pays (run with an empty
    ``$CSRNET_CACHE`` to time it; with the models cached it is the time to load them).
    Returns the back end ``--backend auto`` picks for each task."""
    from csrnet.inference.choice import ModelChoice
    from csrnet.inference.photo import Photo

    photo = Photo(np.zeros((8, 8, 3) if colour else (8, 8), np.uint8))
    print("| task | back end | weights | preparation s |")
    print("|---|---|---|---:|")
    auto = {}
    for task in tasks:
        for backend in backends:
            start = time.perf_counter()
            _, info = ModelChoice(SETTINGS[task], backend=backend)(photo)
            seconds = time.perf_counter() - start
            print(f"| {task} | {backend} | {info.name} | {seconds:.1f} |")
        model, _ = ModelChoice(SETTINGS[task], backend="auto")(photo)  # measured once
        auto[task] = getattr(model, "backend", "torch")
    print()
    return auto


def speed_table(args: argparse.Namespace, backends: list[str], auto: dict[str, str]) -> None:
    batches = [int(b) for b in args.batches.split(",")]
    print("| task | size | back end | batch | s / image | Mpx/s | vs torch | peak MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for task in args.tasks.split(","):
        for size in args.sizes.split(","):
            h, w = parse_size(size)
            base = None
            cases = [(b, n) for b in backends for n in (batches if b != "torch" else [1])]
            if task == "denoise" and max(h, w) <= args.bm3d_max and not args.colour:
                cases.append(("bm3d", 1))
            for case, batch in cases:
                r = measure(case, task, size, batch, args.colour)
                if isinstance(r, str):
                    print(f"| {task} | {w}x{h} | {case} | {batch} | failed: {r} |||||", flush=True)
                    continue
                base = r["seconds"] if (case, batch) == BASELINE else base
                ratio = f"{base / r['seconds']:.2f}x" if base else "-"
                name = f"{case} ({r['model']} model)" if args.colour and "model" in r else case
                name += " (auto)" if case == auto.get(task) else ""
                print(
                    f"| {task} | {w}x{h} | {name} | {batch} | {r['seconds']:.2f} | "
                    f"{h * w / 1e6 / r['seconds']:.3f} | {ratio} | {r['peak_mib']:.0f} |",
                    flush=True,
                )


def accuracy_table(backends: list[str]) -> None:
    from csrnet.evaluation.evaluate import evaluate_weights
    from csrnet.weights import find_weights

    root = Path(data_root())
    heads = [f"{s} {d.label}{' RGB' if c == 3 else ''} dB" for s, d, c in ACCURACY_SETS]
    print("\n| back end | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(ACCURACY_SETS))
    reference: dict[str, float] = {}
    for backend in backends:
        cells = []
        for name, deg, channels in ACCURACY_SETS:
            weights = find_weights(deg, channels)
            score = evaluate_weights(weights, [root / name], override=deg, backend=backend)[0]
            if backend == "torch":
                reference[name, channels] = score.psnr
                cells.append(f"{score.psnr:.3f} ({weights.stem})")
            else:
                cells.append(f"{score.psnr - reference[name, channels]:+.3f}")
        print(f"| {backend} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,1024,4000x3000")
    parser.add_argument("--tasks", default="denoise,sr")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--batches", default="1", help="tiles per call to try (non-torch)")
    parser.add_argument("--bm3d-max", type=int, default=1024, help="skip BM3D above this side")
    parser.add_argument("--accuracy", action="store_true", help="also the PSNR table")
    parser.add_argument("--no-speed", action="store_true", help="only the PSNR table")
    parser.add_argument(
        "--colour", action="store_true", help="RGB photos (the RGB models where installed)"
    )
    parser.add_argument("--case", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore", CsrnetWarning)
    if args.case:  # child process: one case, then report its own peak memory
        case, task, size, batch, colour = args.case
        result = run_case(case, task, parse_size(size), int(batch), colour == "1")
        result["peak_mib"] = peak_mib()
        print(json.dumps(result))
        return
    backends = [b for b in args.backends.split(",") if usable(b)]
    skipped = sorted(set(args.backends.split(",")) - set(backends))
    print(
        f"{device_label('cpu')} ({', '.join(cpu_flags()) or 'no bf16/int8 flags'}); "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{'colour' if args.colour else 'gray'} photos; "
        f"back ends not installed or without native bf16: {', '.join(skipped) or 'none'}"
    )
    auto = prepare(backends, args.tasks.split(","), args.colour)
    if not args.no_speed:
        speed_table(args, backends, auto)
    if args.accuracy:
        accuracy_table(backends)


if __name__ == "__main__":
    main()
