"""Export weights to ONNX with dynamic batch, height and width (needs the ``onnx`` package;
run the result with ONNX Runtime).

Input ``y``: (N, C, H, W) float32 on [0, 1], the degraded Y channel (C = 1; bicubic-upsampled
for SR) or RGB image (C = 3, for RGB models); output ``restored``: the same shape. The
weights' metadata is kept as ONNX metadata.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from csrnet.errors import CsrnetError
from csrnet.model import CSRnet
from csrnet.protocol.images import write_atomic
from csrnet.weights import load_weights

__all__ = ["export_onnx", "write_onnx"]

OPSET = 17


def export_onnx(weights: str | os.PathLike, output: str | os.PathLike) -> None:
    """Write ``weights`` as an ONNX model to ``output`` (atomically), with its metadata."""
    model, info = load_weights(weights)
    write_atomic(output, lambda tmp: write_onnx(model, tmp, info.metadata))


def write_onnx(model: CSRnet, path: Path, meta: dict[str, Any] | None = None) -> None:
    """Write ``model`` (on the CPU) as ONNX to ``path``, with ``meta`` as ONNX metadata."""
    try:
        import onnx
    except ImportError:
        raise CsrnetError(
            "ONNX export needs the onnx package: pip install 'csrnet[onnx]'"
        ) from None
    m = model.multiple
    # Trace an input that needs padding, so the general path (pad, run, crop) is recorded;
    # the pad amounts stay symbolic and are zero for sizes that need none.
    example = torch.rand(1, model.config.image_channels, 8 * m + 1, 8 * m + 3)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["y"],
            output_names=["restored"],
            dynamic_axes={"y": axes, "restored": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    for key, value in (meta or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(proto, str(path))
