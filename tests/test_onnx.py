"""csrnet export-onnx: dynamic sizes, and ONNX Runtime agrees with PyTorch within 1e-4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from csrnet.cli import main
from csrnet.photos import load_model

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def test_onnx_matches_pytorch_on_any_size(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sr_x2.onnx"
    assert main(["export-onnx", "sr_x2", "-o", str(out)]) == 0, capsys.readouterr().err
    model, meta = load_model("sr_x2")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for shape in [(1, 1, 48, 64), (2, 1, 37, 53), (1, 1, 5, 9)]:
        x = torch.rand(shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"y": x.numpy()})[0]
        assert got.shape == shape
        assert np.abs(got - expected).max() <= 1e-4
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["task"])["task"] == "sr" and props["format"] == meta["format"]


def test_export_onnx_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["export-onnx", "no_such_weights", "-o", str(tmp_path / "m.onnx")]) == 1
    assert "no such weights file" in capsys.readouterr().err
    assert main(["export-onnx", "sr_x2", "-o", str(tmp_path / "m.txt")]) == 2
    assert not (tmp_path / "m.onnx").exists()
