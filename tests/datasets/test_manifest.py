"""The shipped manifest against ../shared/data, and `csrnet data verify` / `data list`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from datasets_support import describe_set

from csrnet.cli import main
from csrnet.datasets.manifest import file_sha256, load_manifest
from csrnet.datasets.verify import verify_folder
from csrnet.protocol.images import list_images

from conftest import DATA_ROOT, data_dir, run_cli, sample_dir

MANIFEST = load_manifest()


def test_the_manifest_says_where_every_set_came_from() -> None:
    assert len(MANIFEST.sets) == 14 and len(MANIFEST.large) == 4
    for info in MANIFEST.sets.values():
        assert info.role in ("test", "train") and info.tasks and info.terms
        assert len(info.source.commit) == 40 and "{stem}" in info.source.path
        assert all(len(f.sha256) == 64 and f.size > 0 for f in info.files)
        converted = info.conversion == "bmp-to-png"
        assert converted == info.source.path.endswith(".bmp")
        assert all(bool(f.pixels_sha256) == converted for f in info.files)
    url = MANIFEST.find("urban100").source.url(MANIFEST.sets["Urban100"].files[0])
    assert url.endswith("/data/Urban100/image_SRF_4/img_001_SRF_4_HR.png")  # the rename


@pytest.mark.data
@pytest.mark.parametrize("name", sorted(MANIFEST.sets))
def test_the_manifest_matches_the_data_byte_for_byte(name: str) -> None:
    folder, info = data_dir(name), MANIFEST.sets[name]
    assert [p.name for p in list_images(folder)] == [f.name for f in info.files]
    for f in info.files:
        assert file_sha256(folder / f.name) == f.sha256, f.name
        assert (folder / f.name).stat().st_size == f.size


@pytest.mark.parametrize("damage", ["byte", "missing", "renamed"])
def test_verify_names_each_damaged_file(tmp_path: Path, capsys, damage: str) -> None:
    """On ../shared/data's Set5 where it is here, else on the sample crops."""
    here = (DATA_ROOT / "Set5").is_dir()
    source = DATA_ROOT / "Set5" if here else sample_dir("Set5")
    info = MANIFEST.sets["Set5"] if here else describe_set(source)
    copy = tmp_path / "Set5"
    shutil.copytree(source, copy)
    victim = copy / info.files[-1].name
    if damage == "byte":
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x40
        victim.write_bytes(bytes(data))
        expected = [f"{victim}: changed (same size, other SHA-256)"]
    elif damage == "missing":
        victim.unlink()
        expected = [f"{victim}: missing"]
    else:
        victim.rename(copy / "renamed.png")
        expected = [f"{victim}: missing", f"{copy / 'renamed.png'}: extra image, not in Set5"]
    assert verify_folder(copy, info) == expected
    if here:  # the command, by the folder's name
        assert main(["data", "verify", str(copy)]) == 1
        out, err = capsys.readouterr()
        assert out.splitlines() == expected and err == f"{copy}: {len(expected)} problems\n"


@pytest.mark.data
def test_verify_and_list_pass_on_the_data(capsys) -> None:
    data_dir("Set5")
    code, err = run_cli(capsys, "data", "verify", "--data-root", str(DATA_ROOT))
    assert code == 0, err
    assert main(["data", "list", "--data-root", str(DATA_ROOT)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines[2:]}
    assert all(rows[name].endswith("verified") for name in MANIFEST.sets)
    assert "not prepared" in rows["DIV2K"]


def test_list_without_the_data_says_missing(tmp_path: Path, capsys) -> None:
    assert main(["data", "list", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"data root: {tmp_path}\n")
    assert sum(line.endswith(" missing") for line in out.splitlines()) == 14
