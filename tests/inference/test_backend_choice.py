"""What ``--backend auto`` runs (csrnet.inference.backend_choice): the fastest back end within
0.02 dB of PyTorch fp32, measured once per weights file on each CPU model and kept; bf16 only
where the CPU computes it natively, and refused in one line where it does not."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from csrnet.cli import main
from csrnet.errors import CsrnetError, CsrnetWarning
from csrnet.inference import backend_choice, backends
from csrnet.inference.backend_choice import Trial, candidates, compile_model, pick
from csrnet.weights import load_weights

from conftest import run_cli, sample_dir, tiny_weights


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch):
    """A small real denoiser, the sample crops as the data root, and an empty cache."""
    monkeypatch.setenv("CSRNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CSRNET_DATA", str(sample_dir("T91").parent))
    return load_weights(tiny_weights(tmp_path, "tiny_denoise", "denoise", [25], [0, 55]))


def test_auto_takes_the_fastest_within_the_gate() -> None:
    int8, bf16 = Trial("openvino-int8", -0.031, 0.35), Trial("openvino-bf16", -0.003, 0.33)
    fp32, torch = Trial("openvino", 0.0, 0.17), Trial("torch", 0.0, 0.07)
    chosen, why = pick([torch, int8, bf16, fp32])
    assert chosen == "openvino-bf16" and "openvino-int8 (-0.031 dB)" in why  # over 0.02
    assert pick([torch, Trial("openvino-int8", -0.01, 0.35), bf16, fp32])[0] == "openvino-int8"
    # within 5% of the fastest: the more accurate
    assert pick([torch, Trial("openvino-int8", -0.01, 0.34), bf16])[0] == "openvino-bf16"
    assert pick([torch, Trial("openvino-int8", -0.5, 0.35)])[0] == "torch"


def test_bf16_is_a_candidate_only_where_the_cpu_computes_it(monkeypatch) -> None:
    monkeypatch.setattr(backends, "installed", lambda name: True)
    monkeypatch.setattr(backends, "cpu_bf16_flags", lambda: ["avx512_bf16"])
    both = ["openvino-int8-bf16", "openvino-int8", "openvino-bf16", "openvino", "torch"]
    assert candidates() == both
    monkeypatch.setattr(backends, "cpu_bf16_flags", lambda: [])
    assert candidates() == ["openvino-int8", "openvino", "torch"]


def test_bf16_without_native_bf16_is_a_one_line_error(monkeypatch, capsys) -> None:
    monkeypatch.setattr(backends, "cpu_bf16_flags", lambda: [])
    code, err = run_cli(
        capsys, "restore", "--demo", "-o", "x.png", "--task", "sr", "--scale", "2",
        "--backend", "openvino-bf16",
    )  # fmt: skip
    assert code == 1 and "does not compute bf16 natively" in err and "Traceback" not in err


def test_auto_measures_once_per_cpu_and_says_what_it_chose(tiny, monkeypatch, capsys) -> None:
    if not backends.installed("openvino-int8"):
        pytest.skip("openvino is not installed")
    model, info = tiny
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = compile_model(model, info, "auto")
    notes = [str(w.message) for w in caught if w.category is CsrnetWarning]
    assert any("measuring" in n for n in notes), notes
    ((key, entry),) = backend_choice.measured_choices().items()
    names = [t["backend"] for t in entry["trials"]]
    assert names[0] == "torch" and set(names) == set(candidates())
    assert entry["chosen"] == getattr(run, "backend", "torch")
    # training images, never a test set (the sample T91 crops are too small: the photos)
    assert entry["patches"] == "24 of 120x120 from scikit-image sample photos at 25"
    assert entry["chosen"] == pick([Trial(**t) for t in entry["trials"]])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CsrnetWarning)  # kept: no second measurement
        again = compile_model(model, info, "auto")
    assert getattr(again, "backend", "torch") == entry["chosen"]
    capsys.readouterr()
    assert main(["models"]) == 0
    assert f"    {info.name}: {entry['chosen']}, the fastest within" in capsys.readouterr().out
    # a candidate the record lacks (installed since, or new in csrnet) measures again
    entry["trials"] = [t for t in entry["trials"] if t["backend"] != candidates()[0]]
    backend_choice._remember(key, entry)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compile_model(model, info, "auto")
    assert any("measuring" in str(w.message) for w in caught)
    # another CPU model (or runtime version) measures again
    monkeypatch.setattr(backend_choice, "cpu_identity", lambda: "another CPU")
    assert backend_choice.measured_choices() == {}
    record = json.loads((backends.cache_dir() / backend_choice.RECORD).read_text())
    assert len(record) == 1 and "another CPU" not in record


def test_an_unreadable_record_is_measured_again(tiny) -> None:
    path = backends.cache_dir() / backend_choice.RECORD
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert backend_choice.measured_choices() == {}
    with pytest.raises(CsrnetError, match="choose from"):
        compile_model(tiny[0], tiny[1], "openvino-fp64")
