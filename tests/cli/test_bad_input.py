"""Bad input to the commands and the API that a hostile-but-realistic user tried:
pipes, tiles without a core, weights with broken metadata, output paths that are not files,
file names that are not UTF-8, images Pillow would quietly reduce. Each ends in one line on
stderr (an error with a non-zero exit, or a warning while the work goes on), never a
traceback, a hang or a partial file, and leaves the inputs as they were.

Cases that could hang run in a subprocess with a timeout. Training's cases (checkpoints,
--set values, two runs in one folder) are in test_train_bad_input.py.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file, save_file

import csrnet
from csrnet.cli import main
from csrnet.errors import CsrnetError

from conftest import run_cli, sample_dir, tiny_weights

ROOT = Path(__file__).resolve().parents[2]


def one_line(err: str, needle: str, kind: str = "error") -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"csrnet: {kind}:"), err
    assert needle in lines[0], lines[0]


def cli_subprocess(*argv: str, timeout: float = 120, env: dict | None = None):
    """``csrnet ARGV`` in a fresh interpreter; a hang fails the test instead of stalling it."""
    return subprocess.run(
        [sys.executable, "-m", "csrnet", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def small_photo(path: Path, size: tuple[int, int] = (40, 32)) -> Path:
    Image.open(sample_dir("Set5") / "bird.png").convert("RGB").crop((0, 0, *size)).save(path)
    return path


def png_48bit(path: Path, width: int = 24, height: int = 20) -> Path:
    """An RGB PNG of 16 bits per channel (Pillow opens it as 8-bit RGB without a word)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row = np.arange(width * 3, dtype=">u2").tobytes()
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    data = zlib.compress(b"".join(b"\x00" + row for _ in range(height)))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def broken_weights(folder: Path, kind: str) -> Path:
    """A csrnet weights file whose metadata a reader cannot use."""
    good = tiny_weights(folder, f"good_{kind}", "sr", [2])
    tensors = load_file(str(good))
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        meta = f.metadata()
    good.unlink()
    if kind == "no_task":
        del meta["task"]
    elif kind == "task_string":
        meta["task"] = "sr"
    elif kind == "unknown_task":
        meta["task"] = json.dumps({"task": "colourise", "levels": [2]})
    path = folder / f"bad_{kind}.safetensors"
    save_file(tensors, str(path), metadata=meta)
    return path


# --- inputs that are not regular files, tiles without a core ----------------------------


def test_a_named_pipe_given_as_input_fails_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    out = tmp_path / "out.png"
    done = cli_subprocess("restore", str(fifo), "-o", str(out), "--task", "sr", "--scale", "2")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "fifo.png: not a regular file (a pipe, device or socket)" in done.stderr
    assert not out.exists()
    done = cli_subprocess("baseline", "sr", str(tmp_path), "--scale", "2")  # in a data set
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "skipped 1 entries that are not regular files: ['fifo.png']" in done.stderr


def test_a_named_pipe_in_a_folder_is_skipped_with_a_word(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    small_photo(src / "a.png")
    os.mkfifo(src / "b.png")
    out = str(tmp_path / "out")
    done = cli_subprocess(  # the torch back end: the int8 one would be made first, ~1 minute
        "restore", str(src), "-o", out, "--task", "sr", "--scale", "2", "--backend", "torch"
    )
    assert done.returncode == 0, done.stderr
    assert "csrnet: warning:" in done.stderr and "not regular files: ['b.png']" in done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--tile", "65"], "--tile 65 leaves a 1-pixel core with --overlap 32"),
        (["--tile", "100", "--overlap", "40"], "give --tile 112 or more"),
        (["--overlap", "-1"], "--overlap -1: must be >= 0"),
    ],
)
def test_tiles_without_a_useful_core_are_refused_before_torch_loads(
    tmp_path: Path, options: list[str], needle: str
) -> None:
    img = small_photo(tmp_path / "a.png")
    script = (
        "import sys; from csrnet.cli import main; code = main(sys.argv[1:]); "
        "print('torch' in sys.modules); sys.exit(code)"
    )
    argv = ["restore", str(img), "-o", str(tmp_path / "o.png"), "--task", "sr", "--scale", "2"]
    done = subprocess.run(
        [sys.executable, "-c", script, *argv, *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout.strip() == "False", (done.stdout, done.stderr)
    one_line(done.stderr, needle)


def test_the_api_refuses_a_tile_without_a_core(weights_dir: Path) -> None:
    image = Image.new("RGB", (120, 100))
    with pytest.raises(CsrnetError, match="leaves a 1-pixel core"):
        csrnet.restore(image, task="sr", scale=2, tile=65)


# --- weights whose metadata is broken ----------------------------------------------------


@pytest.mark.parametrize("kind", ["no_task", "task_string", "unknown_task"])
def test_weights_with_broken_metadata_are_one_line_everywhere(
    capsys, tmp_path: Path, weights_dir: Path, kind: str
) -> None:
    bad = broken_weights(tmp_path, kind)
    img = small_photo(tmp_path / "a.png")
    before = bad.read_bytes()
    for argv in (
        ["restore", str(img), "-o", str(tmp_path / "o.png"), "--task", "sr", "--scale", "2"]
        + ["--weights", str(bad)],
        ["evaluate", str(bad), "--sets", "Set5", "--data-root", str(sample_dir("Set5").parent)],
        ["export-onnx", str(bad), "-o", str(tmp_path / "m.onnx")],
    ):
        code, err = run_cli(capsys, *argv)
        assert code == 1
        one_line(err, "bad csrnet metadata")
    assert not list(tmp_path.glob("o.png")) and not list(tmp_path.glob("m.onnx"))
    assert bad.read_bytes() == before
    with pytest.raises(CsrnetError, match="bad csrnet metadata"):
        csrnet.load_model(bad)


def test_a_broken_file_among_the_users_weights_is_skipped_with_a_word(
    capsys, tmp_path: Path, weights_dir: Path
) -> None:
    broken_weights(weights_dir, "no_task")
    code = main(["models"])
    captured = capsys.readouterr()
    assert code == 0 and "tiny_sr" in captured.out
    one_line(captured.err, "bad_no_task.safetensors: bad csrnet metadata", kind="warning")
    img = small_photo(tmp_path / "a.png")
    out = tmp_path / "o.png"
    code, err = run_cli(capsys, "restore", str(img), "-o", str(out), "--task", "sr", "--scale", "2")
    assert code == 0 and out.is_file()
    one_line(err, "(skipped)", kind="warning")


def test_weights_run_at_a_level_they_were_not_trained_for_say_so(
    capsys, tmp_path: Path, weights_dir: Path
) -> None:
    img = small_photo(tmp_path / "a.png")
    out = tmp_path / "o.png"
    code, err = run_cli(capsys, "restore", str(img), "-o", str(out), "--task", "sr", "--scale", "3")
    assert code == 1 and "no weights for sr x3" in err  # none installed covers x3
    code, err = run_cli(
        capsys,
        *["restore", str(img), "-o", str(out), "--task", "sr", "--scale", "3"],
        *["--weights", "tiny_sr"],
    )
    assert code == 0 and out.is_file()
    one_line(err, "tiny_sr: trained for sr 2, 4, not x3", kind="warning")
    sets = ["--sets", "Set5", "--data-root", str(sample_dir("Set5").parent), "--scale", "3"]
    code, err = run_cli(capsys, "evaluate", str(weights_dir / "tiny_sr.safetensors"), *sets)
    assert code == 0 and "trained for sr 2, 4, not x3" in err


# --- output paths --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "inputs", "needle"),
    [
        ("/dev/null", 1, "exists and is not a folder"),
        ("existing.png", 2, "exists and is not a folder"),
        ("result.txt", 1, "not an image file name"),
    ],
)
def test_restore_outputs_that_are_not_files_or_folders(
    capsys, tmp_path: Path, weights_dir: Path, target: str, inputs: int, needle: str
) -> None:
    images = [small_photo(tmp_path / f"in{i}.png") for i in range(inputs)]
    out = Path(target) if target.startswith("/") else tmp_path / target
    if target == "existing.png":
        out.write_bytes(b"keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = ["restore", *map(str, images), "-o", str(out), "--task", "sr", "--scale", "2"]
    code, err = run_cli(capsys, *argv)
    assert code == 1
    one_line(err, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if target == "existing.png":
        assert out.read_bytes() == b"keep me"
    assert Path("/dev/null").is_char_device()


def test_restore_checks_its_files_before_it_loads_a_model(capsys, tmp_path: Path) -> None:
    # weights that do not exist: their error, were they loaded first, would come instead
    weights = ["--weights", str(tmp_path / "none.safetensors")]
    sr = ["--task", "sr", "--scale", "2", *weights]
    code, err = run_cli(capsys, "restore", str(tmp_path / "gone.png"), "-o", "out.png", *sr)
    assert code == 1
    one_line(err, "gone.png: no such file or folder")
    demo = tmp_path / "demo.png"
    demo.write_bytes(b"keep me")
    code, err = run_cli(capsys, "restore", "--demo", "-o", str(demo), *sr)
    assert code == 1
    one_line(err, "demo.png: exists; pass --overwrite")
    assert demo.read_bytes() == b"keep me"


def test_csv_and_markdown_outputs_never_replace_a_device(capsys, tmp_path: Path) -> None:
    data = sample_dir("Set5")
    for argv in (
        ["baseline", "sr", str(data), "--scale", "2", "--csv", "/dev/null"],
        ["baseline-table", "-o", "/dev/null"],
    ):
        code, err = run_cli(capsys, *argv)
        assert code == 2
        one_line(err, "/dev/null: exists and is not a regular file")
    assert Path("/dev/null").is_char_device()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere: nothing to refuse")
def test_an_output_folder_that_cannot_be_made(capsys, tmp_path: Path, weights_dir: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    img = small_photo(tmp_path / "a.png")
    argv = ["restore", str(img), "-o", str(locked / "new") + "/", "--task", "sr", "--scale", "2"]
    code, err = run_cli(capsys, *argv)
    assert code == 1
    one_line(err, "cannot create the output folder")


# --- file names and images Pillow would quietly change --------------------------------------


def test_file_names_that_are_not_utf8_reach_the_csv(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    small_photo(folder / "good.png", (48, 48))
    name = os.fsdecode(b"caf\xe9.png")  # Latin-1, not UTF-8
    small_photo(folder / name, (48, 48))
    csv = tmp_path / "rows.csv"
    argv = ["baseline", "denoise", str(folder), "--sigma", "25", "--csv", str(csv), "--json"]
    code, err = run_cli(capsys, *argv)
    assert code == 0, err
    rows = csv.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3 and any("caf\\xe9.png" in row for row in rows)


def test_16_bit_per_channel_images_are_refused_by_the_protocol_not_by_restore(
    capsys, tmp_path: Path
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    deep = png_48bit(folder / "deep.png")
    code, err = run_cli(capsys, "baseline", "denoise", str(folder), "--sigma", "25")
    assert code == 1
    one_line(err, "is a 16-bit-per-channel (RGB) image")
    photo = csrnet.inference.photo.open_photo(deep)  # a photo to restore: read at its depth
    assert photo.pixels.dtype == np.uint16 and photo.pixels.shape == (20, 24, 3)
    assert np.array_equal(photo.pixels[0].ravel(), np.arange(24 * 3))


def test_only_the_first_frame_of_an_animation_is_used_and_that_is_said(
    capsys, tmp_path: Path, weights_dir: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    small_photo(src / "a.png")
    frames = [Image.new("RGB", (40, 32), colour) for colour in ("red", "green", "blue")]
    frames[0].save(src / "b.gif", save_all=True, append_images=frames[1:])
    tiff = io.BytesIO()
    frames[0].save(tiff, format="TIFF", save_all=True, append_images=frames[1:])
    (src / "c.tif").write_bytes(tiff.getvalue())
    out = tmp_path / "out"
    code, err = run_cli(capsys, "restore", str(src), "-o", str(out), "--task", "sr", "--scale", "2")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # GIF too
    warnings = [line for line in err.splitlines() if line.startswith("csrnet: warning:")]
    assert len(warnings) == 2 and all("has 3 frames; only the first is used" in w for w in warnings)
    assert Image.open(out / "b.png").size == (80, 64)
