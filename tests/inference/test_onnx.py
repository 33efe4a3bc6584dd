"""csrnet export-onnx: dynamic sizes, and ONNX Runtime agrees with PyTorch within 1e-4."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from csrnet.cli import main
from csrnet.weights import load_model

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


def test_an_rgb_model_keeps_its_channels_through_export_load_and_onnx(
    tmp_path: Path, capsys
) -> None:
    from csrnet.model import CSRnet
    from csrnet.weights import load_weights, read_metadata, save_weights

    torch.manual_seed(0)
    model = CSRnet(depth=1, res_blocks=1, channels=4, first_channels=4, image_channels=3)
    path = tmp_path / "rgb.safetensors"
    save_weights(path, model, {"task": {"task": "denoise", "level_range": [0, 55]}})
    assert read_metadata(path)["model"]["image_channels"] == 3
    loaded, _ = load_weights(path)
    assert loaded.config.image_channels == 3 and loaded.sfe1.in_channels == 3
    with pytest.raises(ValueError, match=r"expected \(N, 3, H, W\)"):
        loaded(torch.rand(1, 1, 16, 16))
    out = tmp_path / "rgb.onnx"
    assert main(["export-onnx", str(path), "-o", str(out)]) == 0
    assert "input y (N, 3, H, W)" in capsys.readouterr().out
    x = torch.rand(2, 3, 21, 30)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = loaded(x).numpy()
    assert np.abs(session.run(None, {"y": x.numpy()})[0] - expected).max() <= 1e-4
