"""The CPU back ends (csrnet.inference.backends): each gives the fp32 result within its tolerance,
int8 models are calibrated on training patches and cached, a missing one is a one-line error,
and batched tiles give the unbatched result."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from csrnet.devices import cpu_bf16_flags
from csrnet.errors import CsrnetError, CsrnetWarning
from csrnet.inference import backends
from csrnet.inference.backend_choice import candidates, choose_backend, compile_model
from csrnet.inference.calibration import calibration_inputs
from csrnet.inference.runner import forward_tiled
from csrnet.inference.tiling import spans
from csrnet.weights import WeightsInfo, load_weights

from conftest import run_cli, sample_dir, tiny_weights

# fp32 runtimes differ from PyTorch in summation order only: the largest |difference| on
# [0, 1]. int8 and bf16 add the rounding of weights and activations: the PSNR of their pixels
# (clipped to [0, 1], as every result is) against PyTorch's (45 dB: an RMS of 1.4 gray levels).
FP32_TOLERANCE = {"openvino": 1e-5, "onnxruntime": 1e-5}
ROUNDED_MIN_PSNR = {
    "openvino-int8": 45.0,
    "onnxruntime-int8": 45.0,
    "openvino-int8-bf16": 45.0,
    "openvino-bf16": 45.0,
}


@pytest.fixture
def denoiser(tmp_path: Path, monkeypatch) -> tuple[torch.nn.Module, dict]:
    """A small real-data denoiser (trained weights are not needed to compare runtimes), its
    training set recorded as Train400, the sample crops as the data root, and an empty
    cache."""
    monkeypatch.setenv("CSRNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CSRNET_DATA", str(sample_dir("T91").parent))
    path = tiny_weights(tmp_path, "tiny_denoise", "denoise", [25], [0, 55])
    model, info = load_weights(path)
    info.metadata["train_data"] = ["Train400"]
    return model, info


def noisy_crop(side: int = 96) -> torch.Tensor:
    """A BSD68 crop with sigma 25 noise, (1, 1, side, side) on [0, 1]."""
    path = sorted(sample_dir("BSD68").glob("*.png"))[0]
    clean = np.asarray(Image.open(path).convert("L"), np.float32)[:side, : side + 8] / 255
    noise = np.random.default_rng(0).normal(0, 25 / 255, clean.shape).astype(np.float32)
    return torch.from_numpy(clean + noise)[None, None]


@pytest.mark.parametrize("backend", [*FP32_TOLERANCE, *ROUNDED_MIN_PSNR])
def test_each_backend_gives_the_fp32_result_within_its_tolerance(denoiser, backend) -> None:
    if not backends.installed(backend):
        pytest.skip(f"{backend} is not installed")
    if backend.endswith("bf16") and not cpu_bf16_flags():
        pytest.skip("this CPU does not compute bf16 natively")
    model, meta = denoiser
    x = noisy_crop()
    with torch.inference_mode():
        expected = model(x)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = compile_model(model, meta, backend)(x)
    assert got.shape == expected.shape
    if backend in FP32_TOLERANCE:
        assert (got - expected).abs().max().item() <= FP32_TOLERANCE[backend]
        return
    mse = (got.clamp(0, 1) - expected.clamp(0, 1)).pow(2).mean().item()
    assert 10 * np.log10(1 / mse) >= ROUNDED_MIN_PSNR[backend]
    if "int8" not in backend:
        return
    notes = [str(w.message) for w in caught if w.category is CsrnetWarning]
    # the sample T91 crops (72x72) are smaller than a calibration patch: the sample photos
    assert any("patches of scikit-image sample photos" in n for n in notes), notes


def test_int8_models_are_made_once_and_kept(denoiser) -> None:
    backend = next((b for b in ("openvino-int8", "onnxruntime-int8") if backends.installed(b)), 0)
    if not backend:
        pytest.skip("no int8 back end is installed")
    model, meta = denoiser
    x = noisy_crop(64)
    first = compile_model(model, meta, backend)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CsrnetWarning)  # no second quantization
        again = compile_model(model, meta, backend)(x)
    torch.testing.assert_close(first, again)
    kept = sorted(p.name for p in backends.cache_dir().iterdir())
    assert any("int8" in name for name in kept) and not any("prepared" in n for n in kept)


def test_openvino_int8_keeps_the_sensitive_layers_fp32(denoiser) -> None:
    if not backends.installed("openvino-int8"):
        pytest.skip("openvino-int8 is not installed")
    import openvino as ov

    model, meta = denoiser
    compile_model(model, meta, "openvino-int8")
    (xml,) = backends.cache_dir().glob("*-openvino-int8.xml")
    int8_input = {
        op.get_friendly_name(): op.input_value(0).get_node().get_type_name() == "FakeQuantize"
        for op in ov.Core().read_model(xml).get_ops()
        if op.get_type_name() == "Convolution"
    }
    kept = [name for name, int8 in int8_input.items() if not int8]
    for layer in ("/sfe1/", "/sfe2/", "/hff/", "/rec1/", "/rec2/", "/fuse_in", "/fuse_out"):
        assert any(layer in name for name in kept), (layer, kept)
    body = [int8 for name, int8 in int8_input.items() if "/body/" in name]
    assert body and all(body)  # the 3x3 convolutions of the residual blocks run int8


def test_calibration_uses_the_sr_training_sets_else_sample_photos(denoiser, tmp_path: Path) -> None:
    """Never Train400 (crops of BSD200_test), even for a model trained on it."""
    _, meta = denoiser
    inputs, source = calibration_inputs(meta, count=8, side=48)
    assert inputs.shape == (8, 1, 48, 48) and inputs.dtype == np.float32
    assert source == "T91" and 0 <= inputs.mean() <= 1  # the samples hold no BSD200_train
    rgb = dict(meta.metadata, model=dict(meta.model_args, image_channels=3))
    rgb["task"] = {"task": "denoise", "level_range": [0, 55]}  # a file that lists no levels
    rgb = WeightsInfo(meta.path, rgb)
    inputs, source = calibration_inputs(rgb, data_root=tmp_path, count=4, side=48)
    assert inputs.shape == (4, 3, 48, 48) and source == "scikit-image sample photos"


def test_a_missing_backend_is_a_one_line_error_naming_its_extra(monkeypatch, capsys) -> None:
    monkeypatch.setattr(backends, "installed", lambda name: name == "torch")
    with pytest.raises(CsrnetError, match=r"pip install 'csrnet\[openvino\]'"):
        choose_backend("openvino-int8")
    assert choose_backend("auto") == "auto" and candidates() == ["torch"]
    with pytest.raises(CsrnetError, match="runs on the CPU"):
        choose_backend("onnxruntime", "cuda")
    code, err = run_cli(
        capsys,
        "restore",
        "x.png",
        "-o",
        "y.png",
        "--task",
        "denoise",
        "--sigma",
        "25",
        "--backend",
        "onnxruntime",
        "--device",
        "cpu",
    )
    assert code != 0 and "pip install 'csrnet[onnx]'" in err and "Traceback" not in err


def test_an_unwritable_cache_is_a_one_line_error(denoiser, tmp_path, monkeypatch) -> None:
    if not backends.installed("onnxruntime"):
        pytest.skip("onnxruntime is not installed")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CSRNET_CACHE", str(blocker))
    with pytest.raises(CsrnetError, match="set CSRNET_CACHE to a writable folder"):
        compile_model(denoiser[0], denoiser[1], "onnxruntime")


def test_the_command_line_offers_every_backend() -> None:
    from csrnet.cli.main import build_parser
    from csrnet.inference.options import BACKENDS

    assert set(backends.NEEDS) == set(BACKENDS)  # each named back end is one it can run
    (commands,) = build_parser()._subparsers._group_actions
    for command in ("restore", "evaluate", "serve"):
        (backend,) = [a for a in commands.choices[command]._actions if a.dest == "backend"]
        assert list(backend.choices) == ["auto", *BACKENDS], command


def test_evaluate_record_refuses_an_approximate_backend(capsys) -> None:
    code, err = run_cli(capsys, "evaluate", "w.safetensors", "--record", "--backend", "openvino")
    assert code == 2 and "--backend torch" in err


def test_restore_runs_on_a_backend_end_to_end(weights_dir: Path, tmp_path: Path, capsys) -> None:
    backend = next((b for b in ("openvino", "onnxruntime") if backends.installed(b)), None)
    if backend is None:
        pytest.skip("no fp32 back end besides torch is installed")
    source = sorted(sample_dir("Set5").glob("*.png"))[0]
    outputs = {}
    for name in ("torch", backend):
        out = tmp_path / f"{name}.png"
        code, err = run_cli(
            capsys,
            "restore",
            str(source),
            "-o",
            str(out),
            "--task",
            "denoise",
            "--sigma",
            "25",
            "--backend",
            name,
            "--tile",
            "128",
            "--device",
            "cpu",
            "--no-progress",
        )
        assert code == 0, err
        outputs[name] = np.asarray(Image.open(out), np.int16)
    assert np.abs(outputs["torch"] - outputs[backend]).max() <= 1


def test_tiles_cover_each_pixel_once_with_their_margins() -> None:
    for size in (97, 128, 300, 385):
        covered = np.zeros(size, int)
        for start, end, tile_start, tile_end in spans(size, 128, 32):
            covered[start:end] += 1
            assert tile_start == max(start - 32, 0) and tile_end == min(end + 32, size)
            assert start % 64 == 0  # the coarse branches' grid, as for the whole image
        assert (covered == 1).all()


def test_batched_tiles_give_the_unbatched_result() -> None:
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 1, 5, padding=2)  # a small receptive field: tiles are exact
    x = torch.rand(1, 1, 300, 420)
    tiles = len(spans(300, 96, 16)) * len(spans(420, 96, 16))
    for batch in (1, 4):
        calls: list[int] = []

        def run(t: torch.Tensor, calls: list[int] = calls) -> torch.Tensor:
            calls.append(t.shape[0])
            return model(t)

        with torch.no_grad():
            torch.testing.assert_close(forward_tiled(run, x, 96, 16, batch=batch), model(x))
        assert sum(calls) == tiles and max(calls) == batch
