"""Which kernels an OpenVINO back end runs on this CPU, and where its time goes: each layer
type by the kernel OpenVINO picked (its ISA and precision), as a share of one tile's time,
from OpenVINO's own per-layer counters; and, for the int8 graph, what NNCF quantized (the
convolutions with int8 inputs, their weight scales per output channel or per tensor, the
activations' ranges) and what it kept in fp32.

    python benchmarks/openvino_profile.py [--weights sr_x2,denoise_rgb] [--tile 384]
        [--backends openvino,openvino-bf16,openvino-int8,openvino-int8-bf16] [--runs 5]

Each back end is compiled and timed in a fresh process (in one process, OpenVINO's second
compile of the same int8 graph with counters on ran 30% slower, in extra reorders). Back
ends this CPU would only emulate (bf16 without native bf16) are left out and named. The
int8 graphs come from the cache, made as ``csrnet restore`` makes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import numpy as np
import torch

from csrnet.devices import cpu_flags, device_label
from csrnet.inference.backends import openvino_config, openvino_model, usable
from csrnet.weights import load_weights, resolve_weights

CONVOLUTIONS = ("Convolution", "ConvolutionBackpropData")
SHOWN = 8  # the layer kinds listed per back end, by time


def profile(name: str, backend: str, tile: int, runs: int) -> tuple[float, list]:
    """Mpx/s of ``backend`` running weights ``name`` on a ``tile``-pixel tile (median of
    ``runs`` after a warm-up), and (layer type, kernel, seconds) of the last run, summed."""
    import openvino as ov

    model, info = load_weights(resolve_weights(name))
    x = np.random.default_rng(0).random((1, model.config.image_channels, tile, tile), "float32")
    graph, precision = openvino_model(model, info, backend)
    config = openvino_config(torch.get_num_threads(), precision) | {"PERF_COUNT": True}
    request = ov.Core().compile_model(graph, "CPU", config).create_infer_request()
    request.infer({0: x})
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        request.infer({0: x})
        seconds.append(time.perf_counter() - start)
    spent: Counter = Counter()
    for layer in request.profiling_info:
        spent[layer.node_type, layer.exec_type] += layer.real_time.total_seconds()
    return tile * tile / statistics.median(seconds) / 1e6, [(*k, v) for k, v in spent.items()]


def profile_apart(name: str, backend: str, tile: int, runs: int) -> tuple[float, list]:
    """:func:`profile` in a fresh process."""
    cmd = [sys.executable, __file__, "--one", name, backend, str(tile), str(runs)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def int8_graph(ov_model: Any) -> str:
    """What NNCF quantized in ``ov_model``: convolutions with int8 inputs against those kept in
    fp32, and the shape of their weight scales and activation ranges."""
    convs = [op for op in ov_model.get_ordered_ops() if op.get_type_name() in CONVOLUTIONS]
    quantized = [c for c in convs if c.input_value(0).get_node().get_type_name() == "FakeQuantize"]
    weight_scales: Counter = Counter()
    ranges: Counter = Counter()
    for conv in quantized:
        weights = conv.input_value(1).get_node()  # int8 constant -> Convert -> Multiply(scale)
        scale = weights.input_value(weights.get_input_size() - 1).get_partial_shape()
        wide = scale.is_static and int(np.prod(scale.to_shape())) > 1
        weight_scales["per output channel" if wide else "per tensor"] += 1
        low = conv.input_value(0).get_node().input_value(1).get_partial_shape()  # FakeQuantize
        wide = low.is_static and int(np.prod(low.to_shape())) > 1
        ranges["per channel" if wide else "per tensor"] += 1
    kept = Counter(c.get_type_name() for c in convs if c not in quantized)
    return (
        f"{len(quantized)} of {len(convs)} convolutions int8 (weight scales: "
        f"{dict(weight_scales)}; activation ranges: {dict(ranges)}); kept fp32: {dict(kept)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="sr_x2,denoise_rgb")
    parser.add_argument("--tile", type=int, default=384)
    parser.add_argument(
        "--backends", default="openvino,openvino-bf16,openvino-int8,openvino-int8-bf16"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one back end
        name, backend, tile, runs = args.one
        print(json.dumps(profile(name, backend, int(tile), int(runs))))
        return
    names = args.backends.split(",")
    backends = [b for b in names if b.startswith("openvino") and usable(b)]
    import openvino

    print(
        f"{device_label('cpu')} ({', '.join(cpu_flags()) or 'no bf16/int8 flags'}); "
        f"OpenVINO {openvino.get_version().split('-')[0]}; {torch.get_num_threads()} threads; "
        f"{args.tile}-pixel tile; "
        f"left out (not OpenVINO, not installed or bf16 emulated): "
        f"{', '.join(sorted(set(names) - set(backends))) or 'none'}"
    )
    for name in args.weights.split(","):
        model, info = load_weights(resolve_weights(name))
        print(f"\n{name}: {int8_graph(openvino_model(model, info, 'openvino-int8')[0])}")
        print("\n| back end | Mpx/s | layer | kernel | share of the time |")
        print("|---|---:|---|---|---:|")
        for backend in backends:
            speed, spent = profile_apart(name, backend, args.tile, args.runs)
            total = sum(seconds for *_, seconds in spent)
            spent.sort(key=lambda row: -row[2])
            for i, (layer, kernel, seconds) in enumerate(spent[:SHOWN]):
                head = f"{backend} | {speed:.3f}" if i == 0 else " | "
                print(f"| {head} | {layer} | {kernel} | {seconds / total:.1%} |", flush=True)


if __name__ == "__main__":
    main()
