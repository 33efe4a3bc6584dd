"""Quantization-aware fine-tuning (NNCF's QAT for PyTorch) against post-training int8: does
a few hundred CPU steps of training with the int8 rounding in the loop let more layers run in
int8 without losing PSNR?

Rows: the post-training int8 of ``--backend openvino-int8`` (head, tail, 1x1 fusions and
additions kept fp32: ``KEEP_FP32``), post-training int8 everywhere, and int8 everywhere after
``--steps`` of QAT (NNCF's quantized PyTorch model, fine-tuned with L1 and AdamW on patches of
T91 and BSD200_train as calibration draws them, then converted to OpenVINO). Each row: PSNR
against PyTorch fp32 on a whole test set by the protocol, and the fastest of three calls on a
512x512 image.

    python benchmarks/int8_qat.py sr_x2 [--steps 300] [--lr 1e-5] [--batch 8] [--patch 48]
        [--set Set5] [--level 2]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from int8_sensitivity import best_time, score  # this folder's post-training sweep

from csrnet.datasets.patches import PatchRecipe, TrainingImages, make_batch
from csrnet.devices import device_label
from csrnet.errors import CsrnetWarning
from csrnet.inference.backends import (
    KEEP_FP32,
    KEEP_FP32_TYPES,
    CompiledModel,
    _calibration,
    _onnx_file,
    openvino_runner,
    quantize_openvino,
)
from csrnet.inference.calibration import CALIBRATION_SETS
from csrnet.protocol.degrade import Degradation
from csrnet.protocol.images import data_root
from csrnet.weights import RANKING_SETS, WeightsInfo, load_weights, resolve_weights


def qat_model(model, info: WeightsInfo, inputs: np.ndarray):
    """NNCF's quantized PyTorch model of ``model``, int8 everywhere, initialised on the
    calibration ``inputs`` as ``openvino-int8`` is (min-max activation ranges for SR)."""
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    advanced = {}
    if info.task == "sr":
        advanced["activations_range_estimator_params"] = RangeEstimatorParametersSet.MINMAX
    batches = [torch.from_numpy(inputs[i : i + 1]) for i in range(len(inputs))]
    return nncf.quantize(
        model,
        nncf.Dataset(batches),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(batches),
        advanced_parameters=AdvancedQuantizationParameters(**advanced),
    )


def fine_tune(quantized, info: WeightsInfo, args: argparse.Namespace) -> list[float]:
    """``args.steps`` of L1 and AdamW on training patches; the mean loss of each 50 steps."""
    scales = info.levels if info.task == "sr" else []
    folders = [Path(data_root()) / name for name in CALIBRATION_SETS]
    images = TrainingImages.load(folders, info.task, scales, args.patch, channels=info.channels)
    recipe = PatchRecipe(info.task, info.levels, info.level_range, args.patch, seed=1)
    optimizer = torch.optim.AdamW(quantized.parameters(), lr=args.lr, weight_decay=0.0)
    quantized.train()
    losses, curve = [], []
    for step in range(args.steps):
        x, y = map(torch.from_numpy, make_batch(images, recipe, step, range(args.batch)))
        loss = torch.nn.functional.l1_loss(quantized(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            curve.append(float(np.mean(losses[-50:])))
    quantized.eval()
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a shipped name (sr_x2) or a .safetensors file")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=48)
    parser.add_argument("--set", help="the test set (default: Set5, BSD68 or Classic5)")
    parser.add_argument("--level", type=float, help="the setting (default: the first trained)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", CsrnetWarning)
    os.environ.setdefault("NNCF_CI", "1")  # no usage telemetry
    # NNCF builds its PyTorch quantizers (a C++ extension) on first use: minutes on 2 cores
    os.environ.setdefault("NNCF_EXTENSION_LOAD_TIMEOUT", "900")
    import openvino as ov

    model, info = load_weights(resolve_weights(args.weights))
    model = model.to(memory_format=torch.contiguous_format)
    level = args.level or (info.levels or [None])[0]
    if level is None:
        parser.error("these weights cover a range of levels: name one with --level")
    deg = Degradation(info.task, level)
    folder = Path(data_root()) / (args.set or RANKING_SETS[info.task])
    channels = model.config.image_channels
    threads = torch.get_num_threads()
    inputs = _calibration(info, "openvino-int8")
    print(f"{device_label('cpu')}; {args.weights} at {deg.label}, scored on {folder.name}")
    onnx = _onnx_file(model)
    runners = {}
    for name, keep, keep_types in (
        ("post-training, KEEP_FP32 (today's openvino-int8)", KEEP_FP32, KEEP_FP32_TYPES),
        ("post-training, everywhere", (), ()),
    ):
        ov_model = ov.Core().read_model(onnx)
        quantized = quantize_openvino(ov_model, inputs, info.task, keep, keep_types)
        runners[name] = openvino_runner(quantized, "f32", threads)
    start = time.perf_counter()
    quantized = qat_model(model, info, inputs)
    curve = fine_tune(quantized, info, args)
    minutes = (time.perf_counter() - start) / 60
    name = f"QAT, everywhere ({args.steps} steps, lr {args.lr:g}, {minutes:.0f} min)"
    runners[name] = openvino_runner(to_openvino(quantized, model), "f32", threads)
    print("QAT L1 loss, mean of each 50 steps: " + ", ".join(f"{v:.5f}" for v in curve))
    print("\ntiming and scoring", flush=True)
    fp32, _ = load_weights(resolve_weights(args.weights))  # as restore runs it (channels_last)
    reference = score(fp32, deg, folder)
    print(f"PyTorch fp32: {reference:.3f} dB, {best_time(model_runner(fp32), channels):.3f} s\n")
    print("| int8 | dB vs fp32 | s per 512x512 call |")
    print("|---|---:|---:|")
    for name, run in runners.items():
        seconds = best_time(run, channels)
        psnr = score(CompiledModel(run, model.config, "openvino-int8"), deg, folder)
        print(f"| {name} | {psnr - reference:+.3f} | {seconds:.3f} |", flush=True)


def to_openvino(quantized, model):
    """The fine-tuned NNCF model as an OpenVINO model for any height and width: traced on
    an input that needs padding, as ``write_onnx`` does, so the pad amounts stay symbolic."""
    import openvino as ov

    channels, m = model.config.image_channels, model.multiple
    example = torch.rand(1, channels, 8 * m + 1, 8 * m + 3)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notices
        converted = ov.convert_model(quantized, example_input=example)
    converted.reshape({0: ov.PartialShape([1, channels, -1, -1])})
    return converted


def model_runner(model):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return run


if __name__ == "__main__":
    main()
