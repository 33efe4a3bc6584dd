"""Training precision: bf16 autocast trains and resumes exactly, auto keeps fp32 where the CPU
has no native bf16, and bf16 asked of such a device is a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from csrnet import devices, weights
from csrnet.cli import main
from csrnet.errors import CsrnetError
from csrnet.model import ModelConfig
from csrnet.training import precision
from csrnet.training.config import load_config
from csrnet.training.export import export_run
from csrnet.training.loop import train
from csrnet.weights import read_info

from conftest import final_weights, run_cli, tiny_config

CPU = torch.device("cpu")
TINY = ModelConfig(depth=1, res_blocks=1, channels=8, first_channels=8)


@pytest.fixture
def bf16_cpu(monkeypatch) -> None:
    """This CPU as one with AMX-BF16, whatever it is (torch's CPU autocast runs either way)."""
    monkeypatch.setattr(devices, "cpu_bf16_flags", lambda: ["amx_bf16"])


@pytest.fixture
def plain_cpu(monkeypatch) -> None:
    """This CPU as one without native bf16 (an AMD EPYC or an older Xeon)."""
    monkeypatch.setattr(devices, "cpu_bf16_flags", lambda: [])


def test_the_cpu_flags_are_read_from_proc_cpuinfo() -> None:
    flags = devices.cpu_bf16_flags()
    assert set(flags) <= {"amx_bf16", "avx512_bf16"}
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    assert ("avx512_bf16" in flags) == (" avx512_bf16" in text)


def test_a_bf16_run_learns_resumes_exactly_and_says_so(
    tmp_path: Path, bf16_cpu, monkeypatch, capsys
) -> None:
    path = tiny_config(tmp_path, "denoise", steps=16, ckpt_every=0, precision="bf16")
    straight = train(load_config(path), tmp_path / "straight", progress=False)
    first, last = sum(straight.losses[:4]) / 4, sum(straight.losses[-4:]) / 4
    assert last < 0.8 * first, f"loss {first:.4f} -> {last:.4f}"
    train(load_config(path), tmp_path / "split", stop_at=8, progress=False)
    resumed = train(load_config(path), tmp_path / "split", resume=True, progress=False)
    assert resumed.step == 16 and resumed.losses == straight.losses[8:]
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float32 for v in a.values())  # fp32 master weights
    (tmp_path / "weights").mkdir()
    out = tmp_path / "weights" / "tiny.safetensors"
    info = export_run(tmp_path / "split", out, "last")
    assert [(p["from_step"], p["precision"]) for p in info.precision] == [(0, "bf16"), (8, "bf16")]
    assert read_info(out).precision[0]["reason"] == "the recipe's"
    monkeypatch.setenv("CSRNET_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setattr(weights, "PACKAGE_WEIGHTS", tmp_path / "none")
    assert main(["models"]) == 0
    assert "tiny: denoise 0-55, 16 training steps in bf16 (recipe tiny_denoise)" in (
        capsys.readouterr().out
    )


def test_bf16_differs_from_fp32_but_not_by_much(tmp_path: Path, bf16_cpu) -> None:
    """The bf16 run is a bf16 run (its losses differ from fp32's) and trains the same model."""
    runs = {}
    for name in ("fp32", "bf16"):
        path = tiny_config(tmp_path, "denoise", steps=6, ckpt_every=0, precision=name)
        runs[name] = train(load_config(path), tmp_path / name, progress=False).losses
    assert runs["fp32"] != runs["bf16"]
    assert abs(runs["fp32"][-1] - runs["bf16"][-1]) < 0.1 * runs["fp32"][-1]


def test_auto_keeps_fp32_without_native_bf16(plain_cpu, monkeypatch) -> None:
    monkeypatch.setattr(precision, "probe", lambda *a: pytest.fail("no probe without bf16"))
    chosen = precision.choose_precision("auto", CPU, TINY, (2, 1, 24, 24), "l1")
    assert chosen.name == "fp32" and not chosen.bf16 and "without native bf16" in chosen.reason


@pytest.mark.parametrize("faster", ["fp32", "bf16"])
def test_auto_takes_what_the_probe_times_faster(bf16_cpu, monkeypatch, faster: str) -> None:
    times = {"fp32": 1.0, "bf16": 2.0} if faster == "fp32" else {"fp32": 3.0, "bf16": 1.0}
    monkeypatch.setattr(precision, "probe", lambda *a: times)
    chosen = precision.choose_precision("auto", CPU, TINY, (2, 1, 24, 24), "l1")
    assert chosen.name == faster and chosen.probe_s == times
    assert "amx_bf16" in chosen.describe() and "probe" in chosen.describe()


def test_the_probe_times_both_ways(bf16_cpu) -> None:
    times = precision.probe(CPU, TINY, (2, 1, 24, 24), "l1")
    assert set(times) == {"fp32", "bf16"} and all(t > 0 for t in times.values())


def test_bf16_on_a_cpu_without_it_is_a_one_line_error(tmp_path: Path, plain_cpu, capsys) -> None:
    with pytest.raises(CsrnetError, match="does not compute bf16 natively"):
        precision.choose_precision("bf16", CPU, TINY, (2, 1, 24, 24), "l1")
    path = tiny_config(tmp_path, "denoise", steps=2)
    run = tmp_path / "run"
    options = ["--set", "precision=bf16", "--run-dir", str(run)]
    code, err = run_cli(capsys, "train", str(path), *options)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "precision bf16" in err and "use precision fp32 or auto" in err
    assert not run.exists()
    code, err = run_cli(capsys, "train", str(path), "--set", "precision=fp16")
    assert code == 1 and "precision must be one of auto, fp32, bf16" in err
