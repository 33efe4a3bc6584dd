"""Training: config checks, learning, exact resume, signals, export, and torchrun."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

import csrnet.training.schedule
import csrnet.training.trainer
from csrnet.cli import main
from csrnet.devices import resolve_device
from csrnet.errors import CsrnetError
from csrnet.model import ModelConfig
from csrnet.training.checkpoint import read_checkpoint
from csrnet.training.config import ModelSpec, load_config
from csrnet.training.export import export_run
from csrnet.training.loop import train
from csrnet.training.schedule import fit_steps, lr_at
from csrnet.weights import load_weights, read_metadata, save_weights

from conftest import CONFIGS, DATA_ROOT, TASKS, data_dir, final_weights, run_cli, tiny_config


@pytest.mark.parametrize("task", list(TASKS))
def test_a_short_cpu_run_learns(tmp_path: Path, task: str) -> None:
    cfg = load_config(tiny_config(tmp_path, task))
    result = train(cfg, tmp_path / "run", progress=False)
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert result.step == 40 and not result.interrupted
    assert last < 0.7 * first, f"loss {first:.4f} -> {last:.4f}"
    assert len(result.validation) == 1 and result.validation[0]["psnr"] > 0
    assert {"last.pt", "best.pt", "config.yaml", "metrics.jsonl", "tb"} <= {
        p.name for p in (tmp_path / "run").iterdir()
    }


def test_a_camera_noise_run_learns_and_says_so_in_its_weights(tmp_path: Path) -> None:
    path = tiny_config(tmp_path, "denoise", model__image_channels=3, steps=60)
    raw = yaml.safe_load(path.read_text())
    raw["task"]["camera_share"] = 0.75
    raw["data"].update(train=["T91"], val="Set5", exclude_overlaps_with=[])
    path.write_text(yaml.safe_dump(raw))
    result = train(load_config(path), tmp_path / "run", progress=False)
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.8 * first, f"loss {first:.4f} -> {last:.4f}"
    (check,) = result.validation
    assert {"psnr_sigma25", "psnr_camera"} <= set(check) and check["psnr_camera"] > 0
    export_run(tmp_path / "run", tmp_path / "real.safetensors")
    meta = read_metadata(tmp_path / "real.safetensors")
    assert meta["task"]["camera_share"] == 0.75


def test_resume_is_exact(tmp_path: Path) -> None:
    """2k steps straight == k steps, interruption, resume for k more (with data workers)."""
    path = tiny_config(tmp_path, "sr", steps=16, ckpt_every=0)
    straight = train(load_config(path), tmp_path / "straight", progress=False)
    first = train(load_config(path), tmp_path / "split", stop_at=8, progress=False)
    assert first.interrupted and first.step == 8
    assert read_checkpoint(tmp_path / "split" / "last.pt")["step"] == 8
    resumed = train(
        load_config(path, ["data.workers=2"]), tmp_path / "split", resume=True, progress=False
    )
    assert resumed.step == 16 and resumed.losses == straight.losses[8:]
    a, b = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # resuming a finished run trains nothing and still knows the run's best validation
    again = train(load_config(path), tmp_path / "split", resume=True, progress=False)
    assert again.step == 16 and not again.losses and not again.validation
    assert again.best_psnr == resumed.best_psnr == straight.best_psnr > 0


def test_fit_steps_spends_most_of_the_time_left_within_the_recipe() -> None:
    # 90% of 10 s at 0.1 s/step: 90 more steps; never past the recipe, never before now
    assert fit_steps(1000, 50, 0.1, 10.0) == 140
    assert fit_steps(100, 50, 0.1, 10.0) == 100
    assert fit_steps(1000, 50, 0.1, -5.0) == 50


def test_cuda_device_has_an_index(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.cuda.set_device refuses a bare "cuda": the first GPU session died on it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto") == torch.device("cuda", 0)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_device("cuda") == torch.device("cuda", 3)


def test_time_budget_fits_the_schedule_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tiny_config(tmp_path, "jpeg", steps=1_000_000, schedule={"kind": "cosine"})
    # 9 seconds of a clock read 4 times a step, 10 ms a reading until step ~25, 15 ms after
    # (a machine that slows down): the fit after step 21 plans ~200 steps, too many; the
    # refit at step 100 shortens the run, so the cosine still ends inside the budget
    readings = itertools.count()

    def clock() -> float:
        n = next(readings)
        return 0.01 * n if n < 100 else 1.0 + 0.015 * (n - 100)

    fake_time = SimpleNamespace(perf_counter=clock, time=time.time)
    for module in (csrnet.training.trainer, csrnet.training.schedule):
        monkeypatch.setattr(module, "time", fake_time)
    cfg = load_config(path, ["time_budget_minutes=0.15"])
    result = train(cfg, tmp_path / "fit", progress=False)
    state = read_checkpoint(tmp_path / "fit" / "last.pt")
    fitted = state["fitted_steps"]
    assert 100 < fitted < 1_000_000 and state["config"]["steps"] == fitted
    assert result.step == fitted and not result.interrupted
    saved = yaml.safe_load((tmp_path / "fit" / "config.yaml").read_text())
    assert saved["steps"] == fitted
    # a resumed run keeps the fitted length, so its learning rate continues the same curve
    cfg = load_config(path, ["time_budget_minutes=0.5"])
    first = train(cfg, tmp_path / "split", stop_at=25, progress=False)
    fitted = read_checkpoint(tmp_path / "split" / "last.pt")["fitted_steps"]
    assert first.interrupted and fitted
    train(cfg, tmp_path / "split", resume=True, stop_at=30, progress=False)
    assert read_checkpoint(tmp_path / "split" / "last.pt")["fitted_steps"] == fitted
    # a budget shorter than one step: stop after the first, validated, with a checkpoint
    short = load_config(path, ["time_budget_minutes=1e-6"])
    result = train(short, tmp_path / "short", progress=False)
    assert result.interrupted and result.step == 1
    assert [r["step"] for r in result.validation] == [1]
    assert read_checkpoint(tmp_path / "short" / "last.pt")["step"] == 1


def test_sigterm_checkpoints_and_resume_finishes(tmp_path: Path) -> None:
    """SIGTERM to the run's process group (``timeout``, a batch scheduler's cancel), its
    data worker included, stops it after the step with a checkpoint and no traceback."""
    path = tiny_config(tmp_path, "jpeg", steps=100_000, ckpt_every=5)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "csrnet", "train", str(path), "--run-dir", str(run_dir)]
    proc = subprocess.Popen(
        [*cmd, "--set", "data.workers=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not (run_dir / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "Traceback" not in err
    step = read_checkpoint(run_dir / "last.pt")["step"]
    assert 5 <= step < 100_000
    done = subprocess.run(
        [*cmd, "--resume", "--set", f"steps={step + 3}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert read_checkpoint(run_dir / "last.pt")["step"] == step + 3


def test_resume_keeps_the_settings_the_run_started_with(tmp_path: Path, capsys) -> None:
    """The resume command a stopped run prints (its recipe, --resume, --run-dir) continues
    with the --set the run started with, not the recipe file's values; a --set given to the
    resume still applies; a model that differs from the checkpoint's is one line."""
    path = tiny_config(tmp_path, "jpeg", steps=4)
    run = tmp_path / "run"
    cmd = ["train", str(path), "--run-dir", str(run), "--no-progress"]
    started = ["--set", "seed=7", "--set", "model.input_skip=true", "--set", "log_every=2"]
    assert main([*cmd, *started]) == 0
    capsys.readouterr()
    assert main([*cmd, "--resume", "--set", "steps=6"]) == 0
    note = capsys.readouterr().err
    assert "model.input_skip, seed" in note and "steps" not in note
    state = read_checkpoint(run / "last.pt")
    assert state["step"] == 6 and state["config"]["steps"] == 6
    assert state["config"]["seed"] == 7 and state["config"]["log_every"] == 2
    assert state["config"]["model"]["input_skip"] is True
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 7
    assert main([*cmd, "--resume", "--set", "steps=8", "--set", "model.input_skip=false"]) == 1
    err = capsys.readouterr().err
    assert "keeps its model" in err and "input_skip True -> False" in err
    assert len(err.strip().splitlines()) == 2 and read_checkpoint(run / "last.pt")["step"] == 6


def test_export_round_trip(tmp_path: Path) -> None:
    cfg = load_config(tiny_config(tmp_path, "denoise", steps=12, val_every=6))
    train(cfg, tmp_path / "run", progress=False)
    out = tmp_path / "tiny.safetensors"
    assert main(["export", str(tmp_path / "run"), "-o", str(out)]) == 0
    model, info = load_weights(out)
    assert info.task == "denoise" and info.recipe == "tiny_denoise"
    assert info.metadata["train_data"] == ["Train400"] and info.validation["step"] in (6, 12)
    assert info.steps == info.validation["step"]  # best.pt: the best step
    assert [p["precision"] for p in info.precision] == ["fp32"]  # the recipe's
    last = tmp_path / "last.safetensors"
    assert main(["export", str(tmp_path / "run"), "-o", str(last), "--checkpoint", "last"]) == 0
    assert read_metadata(last)["validation"]["step"] == read_metadata(last)["steps"] == 12
    assert all(v.dtype == torch.float32 for v in model.state_dict().values())
    from csrnet.model import CSRnet

    reference = CSRnet(**info.model_args)
    reference.load_state_dict(read_checkpoint(tmp_path / "run" / "best.pt")["model"])
    x = torch.rand(1, 1, 40, 33)
    with torch.no_grad():
        ref, half = reference.eval()(x), model(x)
    # fp16 weights: relative rounding 2**-11 per weight; the outputs differ by far less
    # than one grey level.
    assert (ref - half).abs().max() < 1 / 255 and not torch.equal(ref, half)


def test_corrupt_and_foreign_weights_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CsrnetError, match="not a readable safetensors"):
        load_weights(bad)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CsrnetError, match="not a csrnet weights file"):
        read_metadata(tmp_path / "foreign.safetensors")
    with pytest.raises(CsrnetError, match="no such"):
        load_weights(tmp_path / "missing.safetensors")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CsrnetError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "run" / "best.pt")


def test_init_from_fine_tunes(tmp_path: Path) -> None:
    path = tiny_config(tmp_path, "jpeg", steps=6)
    train(load_config(path), tmp_path / "base", progress=False)
    main(
        [
            "export",
            str(tmp_path / "base"),
            "-o",
            str(tmp_path / "base.safetensors"),
            "--checkpoint",
            "last",
        ]
    )
    for source in ("base.safetensors", "base/last.pt"):
        cfg = load_config(path, [f"init_from={tmp_path / source}", "steps=1", "optim.lr=1e-12"])
        run = tmp_path / f"ft_{source.replace('/', '_')}"
        train(cfg, run, progress=False)
        start, tuned = final_weights(tmp_path / "base"), final_weights(run)
        tol = 1e-2 if source.endswith("safetensors") else 1e-6  # fp16 weights vs fp32
        assert all(torch.allclose(start[k], tuned[k], atol=tol) for k in start)
        info = export_run(run, tmp_path / "ft.safetensors", "last")
        assert (info.steps, info.total_steps) == (1, 7)  # the 6 steps it started from
    assert export_run(tmp_path / "base", tmp_path / "b.safetensors", "last").total_steps == 6
    wrong = load_config(path, [f"init_from={tmp_path / 'base.safetensors'}", "model.channels=4"])
    with pytest.raises(CsrnetError, match="do not fit"):
        train(wrong, tmp_path / "wrong", progress=False)
    # a warm-started file without a total (as those shipped before totals were recorded)
    old = tmp_path / "old.safetensors"
    export_run(tmp_path / "ft_base.safetensors", old, "last")
    meta = read_metadata(old)
    del meta["total_steps"]
    save_weights(old, load_weights(old)[0], meta)
    train(load_config(path, [f"init_from={old}", "steps=1"]), tmp_path / "from_old", progress=False)
    assert (
        "total_steps" not in export_run(tmp_path / "from_old", tmp_path / "o.safetensors").metadata
    )
    (tmp_path / "base.safetensors").unlink()  # the chain can no longer be read: no total
    orphan = export_run(tmp_path / "ft_base.safetensors", tmp_path / "ft.safetensors", "last")
    assert "total_steps" not in orphan.metadata


@pytest.mark.parametrize(
    "override,needle",
    [
        ("optim.learning_rate=0.1", "unknown key optim.learning_rate"),
        ("steps=many", "steps must be int"),
        ("optim.name=rmsprop", "optim.name must be one of"),
        ("task.levels=[3.5]", "quality must be an integer"),
        ("data.train=[NoSuchSet]", "no such folder"),
        ("data.patch_size=200", "smaller than the 200x200 training patch"),
        ("model.preset=CSRnet-9S", "model.preset must be one of"),
        ("init_from=/no/such.safetensors", "no such file"),
        ("task.camera_share=1.5", "task.camera_share must be in [0, 1]"),
        ("task.camera_share=0.5", "task.camera_share is for RGB denoisers"),
        ("nonsense", "expected key=value"),
    ],
)
def test_config_errors_are_one_line_before_anything_starts(
    capsys, tmp_path: Path, override, needle
) -> None:
    path = tiny_config(tmp_path, "jpeg")
    code, err = run_cli(
        capsys, "train", str(path), "--dry-run", "--set", override, "--run-dir", str(tmp_path / "r")
    )
    assert code in (1, 2) and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "r").exists()


def test_empty_data_folder_and_missing_config(capsys, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = tiny_config(tmp_path, "jpeg")
    code, err = run_cli(
        capsys, "train", str(path), "--dry-run", "--set", f"data.train=[{tmp_path / 'empty'}]"
    )
    assert code == 1 and "no images" in err
    code, err = run_cli(capsys, "train", str(tmp_path / "nope.yaml"))
    assert code == 1 and "no such config file" in err and len(err.strip().splitlines()) == 1


RECIPES = sorted(p for p in CONFIGS.glob("*/*.yaml") if p.parent.name != "base")


def test_every_shipped_recipe_loads_and_says_where_it_comes_from() -> None:
    assert len(RECIPES) >= 50
    for path in RECIPES:
        cfg = load_config(path)
        assert cfg.notes, f"{path}: no notes on where the recipe comes from"


@pytest.mark.data
def test_dry_run_prints_the_plan_of_every_shipped_recipe(capsys) -> None:
    data_dir("T91")
    for path in RECIPES:
        cfg = load_config(path)
        if cfg.init_from:  # fine-tuning recipes need their parent model first
            continue
        if any(not (DATA_ROOT / d).is_dir() for d in cfg.data.train):
            continue  # a large set (DIV2K) the user prepares: tests/datasets/test_store.py

        code, err = run_cli(
            capsys, "train", str(path), "--dry-run", "--set", f"data.root={DATA_ROOT}"
        )
        assert code == 0, f"{path.name}: {err}"


def test_learning_rate_schedules(tmp_path: Path) -> None:
    paper = load_config(CONFIGS / "paper" / "sr_x2.yaml")
    assert [lr_at(paper, s) for s in (0, 199_999, 200_000, 400_000)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.001]
    )
    fast = load_config(CONFIGS / "fast" / "sr_x2.yaml")
    assert lr_at(fast, 0) == pytest.approx(2e-4 / 2000) and lr_at(fast, 1999) == pytest.approx(2e-4)
    assert lr_at(fast, fast.steps) == pytest.approx(1e-6)


def test_torchrun_two_processes_match_one(tmp_path: Path) -> None:
    """Same global batch on 1 and 2 CPU processes (gloo): the same patches, the gradients
    averaged by DDP, so the weights agree up to float summation order."""
    path = tiny_config(tmp_path, "denoise", steps=6)
    one = subprocess.run(
        [
            sys.executable,
            "-m",
            "csrnet",
            "train",
            str(path),
            "--run-dir",
            str(tmp_path / "one"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "csrnet",
            "train",
            str(path),
            "--run-dir",
            str(tmp_path / "two"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = final_weights(tmp_path / "one"), final_weights(tmp_path / "two")
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-5, worst


def test_every_model_field_can_be_set_from_a_recipe() -> None:
    """A recipe's model section overrides any ModelConfig field of its preset."""
    values = {"depth": 4, "res_blocks": 2, "channels": 16, "first_channels": 32, "scales": 2}
    values |= {"dense": False, "chain_coarse": True, "input_skip": True, "image_channels": 3}
    assert set(values) == {f.name for f in fields(ModelConfig)}
    for name, value in values.items():
        preset = "CSRnet-3S" if name == "chain_coarse" else "CSRnet-Dense"  # the plain chain's
        spec = ModelSpec.from_dict({"preset": preset, name: value})
        assert getattr(spec.build(), name) == value, name
    spec = ModelSpec.from_dict({"preset": "CSRnet-3S", "chain_coarse": True, "input_skip": True})
    assert spec.build() == ModelConfig(scales=3, dense=False, chain_coarse=True, input_skip=True)
    assert ModelSpec.from_dict({"preset": "CSRnet-3S", "depth": None}).to_dict() == {
        "preset": "CSRnet-3S"
    }
