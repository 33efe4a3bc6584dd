"""Bad input to training and export: damaged checkpoints, bad --set values, two runs in one
folder, interrupted writes. Each ends in one line on stderr and a non-zero exit, no
traceback, and leaves the run folder as it was (or resumes from what is left)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from csrnet.training.checkpoint import RunLock, read_checkpoint
from csrnet.training.config import load_config
from csrnet.training.loop import train

from conftest import run_cli, tiny_config


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("csrnet: error:"), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.fixture
def finished_run(tmp_path: Path) -> tuple[Path, Path]:
    """(recipe, run folder) of a 4-step run with last.pt, last.prev.pt and best.pt."""
    config = tiny_config(tmp_path, "jpeg", steps=4, ckpt_every=2)
    train(load_config(config), tmp_path / "run", progress=False)
    return config, tmp_path / "run"


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
        (lambda p: p.write_bytes(b"PK\x03\x04 not a zip"), "not a readable checkpoint"),
        (lambda p: torch.save({"model": {}}, p), "not a complete last checkpoint (no 'optimizer')"),
        (lambda p: torch.save([1, 2], p), "not a csrnet checkpoint"),
        (lambda p: torch.save({**read_checkpoint(p), "step": "4"}, p), "'step' is a str"),
    ],
)
def test_resume_from_a_damaged_checkpoint_is_one_line(
    capsys, finished_run, damage, needle: str
) -> None:
    config, run = finished_run
    (run / "last.prev.pt").unlink()  # else the resume falls back to it
    damage(run / "last.pt")
    before = (run / "last.pt").read_bytes()
    code, err = run_cli(capsys, "train", str(config), "--resume", "--run-dir", str(run))
    assert_one_line_error(code, err, needle)
    assert (run / "last.pt").read_bytes() == before


def test_a_damaged_last_checkpoint_resumes_from_the_one_before(capsys, finished_run) -> None:
    config, run = finished_run
    assert read_checkpoint(run / "last.prev.pt", "last")["step"] == 2
    (run / "last.pt").write_bytes(b"")
    code, err = run_cli(capsys, "train", str(config), "--resume", "--run-dir", str(run))
    assert code == 0, err
    assert "warning" in err and "resuming from last.prev.pt (step 2)" in err
    assert read_checkpoint(run / "last.pt", "last")["step"] == 4


def test_export_of_a_checkpoint_without_its_recipe_is_one_line(capsys, finished_run) -> None:
    _, run = finished_run
    state = read_checkpoint(run / "best.pt")
    del state["config"]
    torch.save(state, run / "best.pt")
    out = run.parent / "w.safetensors"
    code, err = run_cli(capsys, "export", str(run), "-o", str(out))
    assert_one_line_error(code, err, "not a complete best checkpoint (no 'config')")
    assert not out.exists()
    torch.save({**state, "config": {"name": "x"}}, run / "best.pt")
    code, err = run_cli(capsys, "export", str(run), "-o", str(out))
    assert_one_line_error(code, err, "its recipe is not valid")
    assert not out.exists()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("steps=[1", "not a YAML value"),
        ("notes=!!python/object/apply:os.system ['touch pwned']", "not a YAML value"),
        ("steps", "expected key=value"),
    ],
)
def test_bad_set_values_are_one_line(capsys, tmp_path: Path, value: str, needle: str) -> None:
    config = tiny_config(tmp_path)
    code, err = run_cli(capsys, "train", str(config), "--dry-run", "--set", value)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "pwned").exists()


def test_a_second_run_in_a_busy_folder_is_refused(capsys, tmp_path: Path) -> None:
    config, run = tiny_config(tmp_path), tmp_path / "run"
    with RunLock(run):  # as a first `csrnet train` would hold it
        code, err = run_cli(capsys, "train", str(config), "--run-dir", str(run))
    assert_one_line_error(code, err, "another csrnet train")
    assert not (run / "last.pt").exists()
    code, err = run_cli(capsys, "train", str(config), "--run-dir", str(run), "--no-progress")
    assert code == 0, err  # free again once the first has ended


def test_temporaries_of_killed_writes_are_removed_on_the_next_start(finished_run) -> None:
    config, run = finished_run
    stale = [run / ".last.pt.abc123.tmp", run / ".best.pt.x.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    train(load_config(config, ["steps=5"]), run, resume=True, progress=False)
    assert not any(p.exists() for p in stale)
    assert read_checkpoint(run / "last.pt", "last")["step"] == 5


def test_a_refused_resume_leaves_the_folder_as_it_was(capsys, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, "jpeg", steps=4)
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"not a checkpoint")
    code, err = run_cli(capsys, "train", str(config), "--resume", "--run-dir", str(run))
    assert_one_line_error(code, err, "not a readable checkpoint")
    assert sorted(p.name for p in run.iterdir()) == ["last.pt"]  # no .lock left behind


def test_a_run_folder_that_cannot_be_written_is_one_line(capsys, tmp_path: Path) -> None:
    config = tiny_config(tmp_path, "jpeg", steps=4)
    (tmp_path / "a_file").write_text("a file, not a folder")
    run = tmp_path / "a_file" / "run"  # even root cannot make it: a file is in the way
    code, err = run_cli(capsys, "train", str(config), "--run-dir", str(run))
    assert_one_line_error(code, err, "cannot write the run folder")


def test_a_run_folder_that_turns_read_only_mid_run_is_one_line(
    capsys, tmp_path: Path, monkeypatch
) -> None:
    """After the first checkpoint the folder turns read-only: for root, who writes in it
    anyway, its writes and removals fail as they would for another user (EACCES)."""
    import errno
    import os
    import tempfile

    from csrnet.training.trainer import Trainer

    config, run = tiny_config(tmp_path, "jpeg", steps=8, ckpt_every=2), tmp_path / "run"
    checkpoint, unlink, mkstemp = Trainer.checkpoint, Path.unlink, tempfile.mkstemp

    def refuse(path) -> None:
        if Path(path).parent == run and not run.stat().st_mode & 0o200:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    def checkpoint_then_lock(self) -> None:
        checkpoint(self)
        run.chmod(0o555)

    monkeypatch.setattr(Trainer, "checkpoint", checkpoint_then_lock)
    monkeypatch.setattr(Path, "unlink", lambda p, *a, **k: refuse(p) or unlink(p, *a, **k))
    monkeypatch.setattr(
        tempfile, "mkstemp", lambda *a, **k: refuse(Path(k["dir"]) / "x") or mkstemp(*a, **k)
    )
    try:
        code, err = run_cli(capsys, "train", str(config), "--run-dir", str(run))
    finally:
        run.chmod(0o755)
    assert_one_line_error(code, err, f"{run / 'last.pt'}: cannot write")
    assert read_checkpoint(run / "last.pt")["step"] == 2  # the checkpoint kept resumes
