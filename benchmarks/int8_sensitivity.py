"""Which layers cost PSNR when a weights file runs in int8 (OpenVINO + NNCF): the sweep
behind ``csrnet.inference.backends.KEEP_FP32``.

Each row quantizes the network with one choice of layers kept fp32 (calibrated as
``openvino-int8`` is, on the weights' training patches), scores it against PyTorch fp32 on
images of no test set (default: every 20th image of BSD200_train, which is the SR models'
training data and in no test set: Train400 is not, as half of it is cut from BSD200_test),
and times a 512x512 call (the best of three). The row with 16-bit activations
(emulated, slow) shows whether the loss comes from the activations or the weights. Use it to
choose the fp32 layers for new weights without looking at test images; then check the choice
with ``benchmarks/inference.py --accuracy``.

    python benchmarks/int8_sensitivity.py sr_x2 [--images DIR] [--every 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from csrnet.devices import device_label
from csrnet.errors import CsrnetWarning
from csrnet.evaluation.evaluate import evaluate_folder
from csrnet.inference.backends import (
    KEEP_FP32,
    KEEP_FP32_TYPES,
    CompiledModel,
    _calibration,
    _onnx_file,
    openvino_runner,
    quantize_openvino,
)
from csrnet.inference.runner import restore_fn
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import data_root, list_images
from csrnet.weights import load_weights, resolve_weights

ENDS = (".*/(sfe1|rec2)/.*",)
HEAD_TAIL = (".*/(sfe1|sfe2|hff|rec1|rec2)/.*",)
# name: (fp32 name patterns, fp32 node types, activation bits: other than 8 is emulated)
VARIANTS = {
    "int8 everywhere": ((), (), 8),
    "first and last convolutions": (ENDS, (), 8),
    "additions": ((), ("Add",), 8),
    "head and tail convolutions": (HEAD_TAIL, (), 8),
    "head, tail and additions": (HEAD_TAIL, ("Add",), 8),
    "KEEP_FP32 (head, tail, 1x1 fusions, additions)": (KEEP_FP32, KEEP_FP32_TYPES, 8),
    "none, with 16-bit activations (emulated: where the loss comes from)": ((), (), 16),
}


def score(model, deg: Degradation, folder: Path) -> float:
    return evaluate_folder(folder, deg, restore_fn(model, "cpu")).psnr


def best_time(run, channels: int = 1, side: int = 512, repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls on a side x side image, after a warm-up call."""
    x = np.random.default_rng(0).random((1, channels, side, side), np.float32)
    run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a shipped name (sr_x2) or a .safetensors file")
    parser.add_argument("--images", type=Path, default=Path(data_root()) / "BSD200_train")
    parser.add_argument("--every", type=int, default=20, help="score every Nth image")
    parser.add_argument("--level", type=float, help="the setting (default: the first trained)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", CsrnetWarning)
    import openvino as ov

    model, info = load_weights(resolve_weights(args.weights))
    level = args.level or (info.levels or [None])[0]
    if level is None:
        parser.error("these weights cover a range of levels: name one with --level")
    deg = Degradation(info.task, level)
    inputs = _calibration(info, "openvino-int8")
    onnx = _onnx_file(model)
    threads = torch.get_num_threads()
    print(f"{device_label('cpu')}; {args.weights} at {deg.label}, scored on every")
    print(f"{args.every}th image of {args.images}\n")
    print("| kept fp32 | dB vs fp32 | s per 512x512 call |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for path in list_images(args.images)[:: args.every]:
            (folder / path.name).symlink_to(path.resolve())
        reference = score(model, deg, folder)
        for name, (keep, keep_types, bits) in VARIANTS.items():
            model_file = ov.Core().read_model(onnx)
            quantized = quantize_openvino(model_file, inputs, info.task, keep, keep_types, bits)
            run = openvino_runner(quantized, "f32", threads)
            seconds = best_time(run)
            psnr = score(CompiledModel(run, model.config, "openvino-int8"), deg, folder)
            print(f"| {name} | {psnr - reference:+.3f} | {seconds:.3f} |", flush=True)


if __name__ == "__main__":
    main()
