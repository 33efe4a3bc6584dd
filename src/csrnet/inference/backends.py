"""CPU back ends that run a loaded model faster than PyTorch: OpenVINO and ONNX Runtime, in
fp32 or int8 (post-training quantization, calibrated on training patches, never on test
images: ``csrnet.inference.calibration``), and OpenVINO in bf16 where the CPU computes it
natively. Which one ``--backend auto`` runs: ``csrnet.inference.backend_choice``.

A back end turns a :class:`~csrnet.model.CSRnet` into a :class:`CompiledModel`: called on an
(N, C, H, W) float32 tensor on [0, 1], it returns the restored tensor, like the model itself,
and carries the model's ``config``, so tiling and the photo pipeline take either. int8 and
ONNX files are made once per weights and kept in the cache folder (``$CSRNET_CACHE`` or
``~/.cache/csrnet``). Measured speeds and accuracy: docs/SPEED.md, and
``benchmarks/inference.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from csrnet.devices import cpu_bf16_flags
from csrnet.errors import CsrnetError, warn
from csrnet.inference.onnx import write_onnx
from csrnet.inference.options import AUTO, BACKENDS
from csrnet.model import CSRnet, ModelConfig
from csrnet.weights import WeightsInfo

__all__ = [
    "CompiledModel",
    "cache_dir",
    "check_backend",
    "discard_conversions",
    "installed",
    "model_key",
    "openvino_config",
    "openvino_model",
    "openvino_runner",
    "quantize_openvino",
    "run_on",
    "usable",
]

# What each back end imports, and the extra that installs it.
NEEDS = {
    "torch": ((), ""),
    "openvino": (("openvino", "onnx"), "openvino"),
    "openvino-int8": (("openvino", "nncf", "onnx"), "openvino"),
    "openvino-int8-bf16": (("openvino", "nncf", "onnx"), "openvino"),
    "openvino-bf16": (("openvino", "onnx"), "openvino"),
    "onnxruntime": (("onnx", "onnxruntime"), "onnx"),
    "onnxruntime-int8": (("onnx", "onnxruntime"), "onnx"),
}
# Kept fp32 by openvino-int8, from a sensitivity sweep on SR x2 (scored on BSD200_train, never
# on test images): 8-bit activations, not weights, cost the PSNR, and most of the loss sat in
# these 9% of the multiply-adds. int8 everywhere: -0.215 dB on Set5 x2; with these kept:
# -0.005 dB (`python benchmarks/int8_sensitivity.py sr_x2` repeats the sweep). The patterns
# match the ONNX node names (the PyTorch module paths); additions (residual sums, the input
# skip) stay fp32 too.
KEEP_FP32 = (".*/(sfe1|sfe2|hff|rec1|rec2)/.*", ".*/fuse_(in|out)(_\\d+)?/.*")
KEEP_FP32_TYPES = ("Add",)
CACHE_VERSION = 4  # bump when the conversion or the calibration changes
PARTIAL = ".partial-"  # + pid: the temporary folder of a conversion under way

Runner = Callable[[np.ndarray], np.ndarray]


class CompiledModel:
    """A model run by another runtime: ``model(x)`` for an (N, C, H, W) float32 tensor."""

    def __init__(self, run: Runner, config: ModelConfig, backend: str) -> None:
        self.run, self.config, self.backend = run, config, backend

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(np.ascontiguousarray(x.detach().float().cpu().numpy())))


def installed(backend: str) -> bool:
    """Whether the packages ``backend`` needs can be imported."""
    return all(importlib.util.find_spec(name) for name in NEEDS[backend][0])


def usable(backend: str) -> bool:
    """Whether ``backend`` is installed and runs natively here (bf16: with the CPU's units)."""
    return installed(backend) and (not backend.endswith("bf16") or bool(cpu_bf16_flags()))


def check_backend(backend: str, device: str = "cpu") -> None:
    """Refuse, in one line, a back end that is unknown, not installed, not for ``device``, or
    (bf16) one this CPU would only emulate; "auto" passes."""
    if backend == AUTO:
        return
    if backend not in NEEDS:
        raise CsrnetError(f"backend {backend!r}: choose from {AUTO}, {', '.join(BACKENDS)}")
    if backend != "torch" and str(device).startswith("cuda"):
        raise CsrnetError(f"backend {backend} runs on the CPU; use --device cpu or torch")
    if not installed(backend):
        extra = NEEDS[backend][1]
        raise CsrnetError(f"backend {backend} is not installed: pip install 'csrnet[{extra}]'")
    if backend.endswith("bf16") and not cpu_bf16_flags():
        raise CsrnetError(
            f"backend {backend}: this CPU (no amx_bf16 or avx512_bf16 flag) does not compute "
            "bf16 natively; use openvino or openvino-int8"
        )


def run_on(
    model: CSRnet, info: WeightsInfo, backend: str, threads: int = 0
) -> CSRnet | CompiledModel:
    """``model`` run by the named ``backend`` (torch returns the model itself) on
    ``threads`` CPU threads (0: torch's count); "auto" is chosen by ``backend_choice``."""
    if backend == AUTO:
        raise ValueError("run_on runs a named back end; backend_choice.compile_model chooses")
    check_backend(backend, str(next(model.parameters()).device))
    if backend == "torch":
        return model
    threads = threads or torch.get_num_threads()
    if backend.startswith("openvino"):
        run = openvino_runner(*openvino_model(model, info, backend), threads)
    else:
        run = _onnxruntime(model, info, backend.endswith("int8"), threads)
    return CompiledModel(run, model.config, backend)


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "csrnet"
    return Path(os.environ.get("CSRNET_CACHE", default)) / "backends"


def model_key(model: CSRnet) -> str:
    """16 hex digits of the SHA-256 of the model's architecture and tensors."""
    digest = hashlib.sha256(repr(model.config).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _cached(name: str, make: Callable[[Path], None], suffixes: tuple[str, ...]) -> Path:
    """``cache_dir()/name`` (with each suffix), made by ``make(path)`` into a temporary folder
    first and moved in last-suffix-first, so a file that exists is complete."""
    target = cache_dir() / name
    if all(target.with_suffix(s).is_file() for s in suffixes):
        return target.with_suffix(suffixes[0])
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(target.parent)
        prefix = f"{PARTIAL}{os.getpid()}-"
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=prefix) as tmp:
            made = Path(tmp) / name
            make(made.with_suffix(suffixes[0]))
            for suffix in reversed(suffixes):
                os.replace(made.with_suffix(suffix), target.with_suffix(suffix))
    except OSError as exc:
        raise CsrnetError(
            f"{target.parent}: cannot keep converted models there ({exc.strerror or exc}); "
            "set CSRNET_CACHE to a writable folder"
        ) from None
    return target.with_suffix(suffixes[0])


def _remove_abandoned(folder: Path) -> None:
    """Remove the temporary folders of conversions a killed process left (a day old)."""
    for path in folder.glob(f"{PARTIAL}*"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > 86400:
                shutil.rmtree(path)


def discard_conversions() -> None:
    """Remove this process's conversions under way, before it ends without them."""
    for path in cache_dir().glob(f"{PARTIAL}{os.getpid()}-*"):
        shutil.rmtree(path, ignore_errors=True)


def _onnx_file(model: CSRnet) -> Path:
    return _cached(
        f"{model_key(model)}-v{CACHE_VERSION}", lambda p: write_onnx(model, p), (".onnx",)
    )


def _calibration(info: WeightsInfo, backend: str) -> np.ndarray:
    from csrnet.inference.calibration import calibration_inputs

    inputs, source = calibration_inputs(info)
    warn(
        f"{backend}: quantizing {info.recipe or 'the weights'} on {len(inputs)} patches "
        f"of {source} (once; kept in {cache_dir()})"
    )
    return inputs


def openvino_model(model: CSRnet, info: WeightsInfo, backend: str) -> tuple[Any, str]:
    """The OpenVINO graph ``backend`` runs and the precision it is compiled in: the fp32
    graph for openvino (f32) and openvino-bf16, the int8 graph for openvino-int8 (f32: its
    layers kept from int8 compute in fp32) and openvino-int8-bf16 (in bf16)."""
    import openvino as ov

    core = ov.Core()
    onnx_path = _onnx_file(model)
    precision = "bf16" if backend.endswith("bf16") else "f32"
    if "int8" not in backend:
        return core.read_model(onnx_path), precision

    def make(path: Path) -> None:
        start = time.perf_counter()
        inputs = _calibration(info, "openvino-int8")
        quantized = quantize_openvino(core.read_model(onnx_path), inputs, info.task)
        ov.save_model(quantized, str(path), compress_to_fp16=False)
        warn(f"openvino-int8: ready in {time.perf_counter() - start:.0f} s")

    xml = _cached(f"{onnx_path.stem}-openvino-int8", make, (".xml", ".bin"))
    return core.read_model(xml), precision


def openvino_config(threads: int, precision: str = "f32") -> dict[str, Any]:
    """How csrnet compiles an OpenVINO model for the CPU: latency, ``threads``, and
    ``precision`` ("f32" or "bf16") where the graph is not int8."""
    return {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads,
        # pinned: without it OpenVINO runs bf16 on CPUs that have it, fp32 elsewhere
        "INFERENCE_PRECISION_HINT": precision,
    }


def openvino_runner(ov_model: Any, precision: str, threads: int) -> Runner:
    """An OpenVINO model compiled for the CPU (:func:`openvino_config`)."""
    import openvino as ov

    compiled = ov.Core().compile_model(ov_model, "CPU", openvino_config(threads, precision))
    return lambda x: compiled(x)[0]


def quantize_openvino(
    ov_model: Any,
    inputs: np.ndarray,
    task: str,
    keep_fp32: Sequence[str] = KEEP_FP32,
    keep_types: Sequence[str] = KEEP_FP32_TYPES,
    activation_bits: int = 8,
) -> Any:
    """``ov_model`` quantized to int8 by NNCF on the calibration ``inputs`` (N, C, H, W) of
    ``task``, leaving fp32 the nodes whose names match a ``keep_fp32`` pattern and those of
    ``keep_types``. Other ``activation_bits`` are emulated (slow): for diagnosis only."""
    # NNCF sends usage telemetry unless told otherwise; this variable, read at import, is
    # its only switch (it changes nothing else). csrnet sends nothing.
    os.environ.setdefault("NNCF_CI", "1")
    import nncf
    from nncf.quantization.advanced_parameters import (
        AdvancedQuantizationParameters,
        QuantizationParameters,
    )
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    nncf.set_log_level(logging.ERROR)
    advanced = {}
    if task == "sr":
        # the whole range seen, not NNCF's mean of per-patch ranges, which clips the bright
        # parts of the bicubic input: -2.1 dB on Set5 x2 (-0.2 dB with this, all in int8)
        advanced["activations_range_estimator_params"] = RangeEstimatorParametersSet.MINMAX
    if activation_bits != 8:
        advanced["activations_quantization_params"] = QuantizationParameters(
            num_bits=activation_bits
        )
    keep = nncf.IgnoredScope(patterns=list(keep_fp32), types=list(keep_types), validate=False)
    return nncf.quantize(
        ov_model,
        nncf.Dataset([inputs[i : i + 1] for i in range(len(inputs))]),
        preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations
        subset_size=len(inputs),
        ignored_scope=keep,
        advanced_parameters=AdvancedQuantizationParameters(**advanced),
    )


def _onnxruntime(model: CSRnet, info: WeightsInfo, int8: bool, threads: int) -> Runner:
    import onnxruntime as ort

    path = _onnx_file(model)
    if int8:
        path = _cached(
            f"{path.stem}-onnxruntime-int8", lambda p: _quantize_onnx(path, info, p), (".onnx",)
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"y": x})[0]


def _quantize_onnx(source: Path, info: WeightsInfo, path: Path) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    inputs = _calibration(info, "onnxruntime-int8")

    class Patches(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(inputs[i : i + 1] for i in range(len(inputs)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {"y": item}

    prepared = path.with_name(path.stem + "-prepared.onnx")
    # the symbolic pad amounts defeat ONNX Runtime's shape inference, which QDQ does not need
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(path),
        Patches(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    prepared.unlink()
