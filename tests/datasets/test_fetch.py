"""`csrnet data fetch`: a set from a mirror or its upstream source, every file checked before
it is kept, nothing half-written, and a cut-off fetch resumed. The servers are local
(127.0.0.1) and every request loop is bounded by ``retries`` and a short timeout."""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from datasets_support import describe_set, serve
from PIL import Image

from csrnet.cli import main
from csrnet.datasets import fetch as fetch_module
from csrnet.datasets import locate as locate_module
from csrnet.datasets import manifest as manifest_module
from csrnet.datasets import verify as verify_module
from csrnet.datasets.fetch import Origin, fetch_set, origins
from csrnet.datasets.manifest import Manifest, load_manifest
from csrnet.datasets.verify import verify_folder
from csrnet.errors import CsrnetError

from conftest import data_dir, run_cli, sample_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    """A mirror folder holding the sample Set5 and Classic5 crops."""
    root = tmp_path / "mirror"
    for name in ("Set5", "Classic5"):
        shutil.copytree(sample_dir(name), root / name)
    return root


def leftovers(folder: Path) -> list[str]:
    """What a failed fetch left in ``folder`` other than its hidden partial folder."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_good_mirror_gives_a_folder_that_verifies(mirror: Path, tmp_path: Path) -> None:
    info = describe_set(mirror / "Set5")
    with serve(mirror) as server:
        folder = fetch_set(info, tmp_path / "data", Origin(f"{server.url}/Set5/"), False, 0, 5)
    assert folder == tmp_path / "data" / "Set5"
    assert verify_folder(folder, info) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f.name for f in info.files] + ["MANIFEST.sha256"]
    )
    assert leftovers(tmp_path / "data") == ["Set5"]  # no partial folder left either
    assert not (tmp_path / "data" / ".Set5.partial").exists()


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_a_damaged_mirror_is_refused_by_file_name(
    mirror: Path, tmp_path: Path, damage: str
) -> None:
    info = describe_set(mirror / "Set5")
    bad = mirror / "Set5" / info.files[1].name
    if damage == "changed":
        data = bytearray(bad.read_bytes())
        data[100] ^= 1
        bad.write_bytes(bytes(data))
    else:
        bad.unlink()
    with serve(mirror) as server, pytest.raises(CsrnetError) as err:
        fetch_set(info, tmp_path / "data", Origin(f"{server.url}/Set5"), False, 0, 5)
    message = str(err.value)
    assert "\n" not in message and f"Set5/{bad.name}" in message
    assert ("HTTP 404" if damage == "missing" else "does not match the manifest") in message
    assert leftovers(tmp_path / "data") == []  # no Set5 folder, not even half of one
    partial = tmp_path / "data" / ".Set5.partial"
    assert not (partial / bad.name).exists()  # nothing unchecked kept


def test_a_dropped_connection_is_retried_then_ends_in_one_line(
    mirror: Path, tmp_path: Path
) -> None:
    info = describe_set(mirror / "Set5")
    to = tmp_path / "data"
    with serve(mirror, mode="drop") as server, pytest.raises(CsrnetError) as err:
        fetch_set(info, to, Origin(f"{server.url}/Set5"), False, 1, 5)
    assert "\n" not in str(err.value) and "run the same command again" in str(err.value)
    assert len(server.requests) == 2  # the first file, tried twice: bounded
    assert leftovers(to) == []
    with serve(mirror, mode="drop", drop_once=True) as server:
        folder = fetch_set(info, to, Origin(f"{server.url}/Set5"), False, 1, 5)
    assert verify_folder(folder, info) == []
    for f in info.files:  # each file cut once, then fetched whole on the retry
        assert server.requests.count(f"/Set5/{f.name}") == 2


def test_a_fetch_cut_off_after_some_files_keeps_them(mirror: Path, tmp_path: Path) -> None:
    info = describe_set(mirror / "Set5")
    to = tmp_path / "data"
    late = mirror / "Set5" / info.files[-1].name
    kept = late.read_bytes()
    late.unlink()  # the mirror lacks the last file: the fetch stops there
    with serve(mirror) as server, pytest.raises(CsrnetError):
        fetch_set(info, to, Origin(f"{server.url}/Set5"), False, 0, 5)
    late.write_bytes(kept)
    with serve(mirror) as server:
        fetch_set(info, to, Origin(f"{server.url}/Set5"), False, 0, 5)
    assert server.requests == [f"/Set5/{late.name}"]  # the others were kept, checked


def test_a_slow_server_times_out_in_one_line(mirror: Path, tmp_path: Path) -> None:
    info = describe_set(mirror / "Set5")
    with serve(mirror, mode="slow", delay=3.0) as server, pytest.raises(CsrnetError) as err:
        fetch_set(info, tmp_path / "data", Origin(f"{server.url}/Set5"), False, 0, 0.5)
    assert "timed out" in str(err.value) and "\n" not in str(err.value)
    assert leftovers(tmp_path / "data") == []


def test_upstream_files_are_converted_as_recorded(tmp_path: Path) -> None:
    """The manifest's source: BMPs at a repository commit, made PNG; a PNG of the same pixels
    passes even where this Pillow writes other bytes than the manifest's."""
    info = describe_set(sample_dir("Classic5"), conversion="bmp-to-png")
    # as if prepared by another PNG encoder: only the pixels can match
    info = replace(info, files=tuple(replace(f, sha256="0" * 64) for f in info.files))
    raw = tmp_path / "raw" / "someone" / "sets" / ("0" * 40) / "Classic5"
    raw.mkdir(parents=True)
    for f in info.files:
        Image.open(sample_dir("Classic5") / f.name).save(raw / f"{Path(f.name).stem}.bmp")
    with serve(tmp_path / "raw") as server:
        folder = fetch_set(info, tmp_path / "data", Origin(raw_base=server.url), False, 0, 5)
    assert verify_folder(folder, info) == []
    assert sorted(p.suffix for p in folder.glob("*.*") if p.name != "MANIFEST.sha256") == [
        ".png"
    ] * len(info.files)


def test_a_local_mirror_and_a_folder_already_there(mirror: Path, tmp_path: Path) -> None:
    info = describe_set(mirror / "Set5")
    to = tmp_path / "data"
    fetch_set(info, to, Origin(str(mirror / "Set5")), False)
    assert fetch_set(info, to, Origin(str(mirror / "Set5")), False) == to / "Set5"  # kept
    (to / "Set5" / info.files[0].name).write_bytes(b"not the file")
    with pytest.raises(CsrnetError, match="exists and does not verify"):
        fetch_set(info, to, Origin(str(mirror / "Set5")), False)


def fetch_then_evaluate(mirror: Path, root: Path, capsys) -> dict:
    """Evaluate names the fetch command, fetch gets the set, evaluate runs; its result."""
    root.mkdir()
    args = ["evaluate", "tiny_sr", "--sets", "Set5", "--scale", "2", "--data-root", str(root)]
    code, err = run_cli(capsys, *args, "--no-progress")
    assert code == 1 and f"csrnet data fetch Set5 --to {root}" in err
    with serve(mirror) as server:
        fetch = ["data", "fetch", "Set5", "--from", f"{server.url}/Set5/", "--to", str(root)]
        code, err = run_cli(capsys, *fetch, "--no-progress")
    assert code == 0, err
    assert main([*args, "--no-progress", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    return result


@pytest.mark.data
def test_fetch_then_evaluate_with_the_shipped_manifest(
    tmp_path: Path, capsys, weights_dir: Path
) -> None:
    """A mirror made of ../shared/data's Set5, and a data root that starts empty."""
    shutil.copytree(data_dir("Set5"), tmp_path / "mirror" / "Set5")
    result = fetch_then_evaluate(tmp_path / "mirror", tmp_path / "root", capsys)
    assert result["dataset"] == "Set5" and result["images"] == 5 and result["psnr"] > 20


def test_fetch_then_evaluate_without_the_data(
    mirror: Path, tmp_path: Path, capsys, weights_dir: Path, monkeypatch
) -> None:
    """The same with a manifest whose Set5 is the sample crops: runs anywhere."""
    shipped = load_manifest()
    sets = {**shipped.sets, "Set5": describe_set(mirror / "Set5")}
    manifest = Manifest(sets, shipped.large)
    for module in (manifest_module, fetch_module, locate_module):
        monkeypatch.setattr(module, "load_manifest", lambda: manifest)
    result = fetch_then_evaluate(mirror, tmp_path / "root", capsys)
    assert result["dataset"] == "Set5" and result["images"] == 2 and result["psnr"] > 20


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["evaluate", "tiny_sr", "--sets", "Set14", "--scale", "2"], "fetch Set14 --to"),
        (["evaluate", "tiny_sr", "--scale", "2"], "fetch Set5 --to"),
        (["baseline-table"], "fetch BSD100 Classic5 LIVE1 Set14 Set5 Urban100 --to"),
        (["report", "--weights-dir", "WEIGHTS"], "fetch BSD100 BSD200_test BSD68"),
        (["check-overlap", "--train", "T91", "--test", "Set5"], "fetch T91 --to"),
        (["train", "configs/fast/sr_x2.yaml", "--dry-run"], "fetch T91 --to"),
        (
            ["train", "configs/div2k/sr_x4.yaml", "--dry-run"],
            "DIV2K_train_HR.zip, then: csrnet data prepare DIV2K FILE --to",
        ),
    ],
)
def test_every_command_that_lacks_a_set_names_the_command_that_gets_it(
    tmp_path: Path, capsys, weights_dir: Path, argv: list[str], needle: str
) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    argv = [str(weights_dir) if a == "WEIGHTS" else a for a in argv]
    if argv[0] == "train":
        argv = [argv[0], str(ROOT / argv[1]), *argv[2:], "--set", f"data.root={root}"]
    else:
        argv += ["--data-root", str(root)]
    code, err = run_cli(capsys, *argv)
    assert code == 1 and err.count("\n") == 1 and needle in err and str(root) in err


def test_from_names_the_set_folder_or_the_folder_of_sets(mirror: Path) -> None:
    url = "http://127.0.0.1:9/mirror/"
    assert [o.mirror for o in origins(["Set5"], url + "Set5/")] == [url + "Set5/"]
    assert [o.mirror for o in origins(["Set5", "Classic5"], url)] == [
        url + "Set5",
        url + "Classic5",
    ]
    assert [o.mirror for o in origins(["Set5"], str(mirror))] == [str(mirror / "Set5")]
    assert [o.mirror for o in origins(["Set5"], str(mirror / "Set5"))] == [str(mirror / "Set5")]
    assert origins(["Set5"], None)[0].mirror == ""  # upstream
    with pytest.raises(CsrnetError, match="no such folder"):
        origins(["Set5"], str(mirror / "nowhere"))


@pytest.fixture
def sample_manifest(mirror: Path, monkeypatch) -> Manifest:
    """The shipped manifest with the sample crops as Set5, for every module that reads it."""
    shipped = load_manifest()
    manifest = Manifest({**shipped.sets, "Set5": describe_set(mirror / "Set5")}, shipped.large)
    for module in (manifest_module, fetch_module, locate_module):
        monkeypatch.setattr(module, "load_manifest", lambda: manifest)
    return manifest


def make_unreadable(path: Path, monkeypatch) -> None:
    """``path`` readable by no one but root; for root, its reads fail as they would for
    another user (EACCES)."""
    path.chmod(0)
    if os.access(path, os.R_OK):
        real = verify_module.file_sha256

        def refuse(p: Path) -> str:
            if Path(p) == path:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))
            return real(p)

        monkeypatch.setattr(verify_module, "file_sha256", refuse)


def test_an_unreadable_file_in_a_set_is_one_problem_among_the_others(
    mirror: Path, tmp_path: Path, capsys, sample_manifest: Manifest, monkeypatch
) -> None:
    root = tmp_path / "root"
    shutil.copytree(mirror / "Set5", root / "Set5")
    first, second = (f.name for f in sample_manifest.sets["Set5"].files[:2])
    make_unreadable(root / "Set5" / first, monkeypatch)
    (root / "Set5" / second).write_bytes(b"changed")
    code = main(["data", "verify", str(root / "Set5")])
    out, err = capsys.readouterr()
    assert code == 1 and err == f"{root / 'Set5'}: 2 problems\n"
    assert out.splitlines() == [
        f"{root / 'Set5' / first}: cannot read (Permission denied)",
        f"{root / 'Set5' / second}: changed (7 bytes, the manifest has "
        f"{sample_manifest.sets['Set5'].files[1].size:,})",
    ]
    assert main(["data", "list", "--data-root", str(root)]) == 0
    assert "damaged (2 problems)" in capsys.readouterr().out
    code, err = run_cli(capsys, "data", "fetch", "Set5", "--from", str(mirror), "--to", str(root))
    assert code == 1 and err.count("\n") == 1 and "cannot read (Permission denied)" in err


@pytest.mark.parametrize("kind", ["a file", "a file above it", "a read-only folder"])
def test_a_to_that_cannot_hold_a_set_is_refused_before_any_download(
    mirror: Path, tmp_path: Path, capsys, kind: str
) -> None:
    to = tmp_path / "to"
    if kind == "a read-only folder":
        to.mkdir(mode=0o555)
        if os.access(to, os.W_OK):
            pytest.skip("this user writes in read-only folders (root)")
        needle = f"{to}: cannot write there (Permission denied)"
    else:
        to.write_text("a file")
        needle = f"{to}: not a folder"
        if kind == "a file above it":
            to, needle = to / "data", f"{to / 'data'}: cannot be made ({to} is not a folder)"
    with serve(mirror) as server:
        argv = ["data", "fetch", "Set5", "--from", f"{server.url}/Set5/", "--to", str(to)]
        code, err = run_cli(capsys, *argv)
        assert server.requests == []
    assert code == 1 and err.count("\n") == 1 and needle in err, err
