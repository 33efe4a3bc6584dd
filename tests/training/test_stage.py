"""scripts/stage_device_data.py: the staged images give every loader the same Y, and each
recipe trains there on exactly the images it trains on here."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from csrnet.protocol.degrade import to_y
from csrnet.protocol.images import list_images, read_image

from conftest import DATA_ROOT, data_dir

pytestmark = pytest.mark.data  # staging is checked on the benchmark sets themselves

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "stage_device_data", ROOT / "scripts" / "stage_device_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe(tmp_path: Path, name: str, root: Path, train, val: str, exclude) -> Path:
    path = tmp_path / f"{name}.yaml"
    data = {"root": str(root), "train": train, "val": val, "exclude_overlaps_with": exclude}
    base = [str(ROOT / "configs" / "fast" / "jpeg_q10.yaml")]
    path.write_text(yaml.safe_dump({"base": base, "name": name, "data": data}))
    return path


def test_staged_images_hold_the_same_y(tmp_path: Path) -> None:
    for name in ("Set5", "Set12", "BSD200_train"):  # RGB PNG, gray PNG and JPEG sources
        data_dir(name)
    config = recipe(tmp_path, "staged", DATA_ROOT, ["Set5", "BSD200_train"], "Set12", [])
    written = load_script().stage([config], tmp_path / "out", "Set12")
    for name in ("Set5", "Set12", "BSD200_train"):
        originals = list_images(DATA_ROOT / name)
        staged = list_images(tmp_path / "out" / name)
        assert [p.stem for p in staged] == [p.stem for p in originals]
        for source, copy in zip(originals, staged, strict=True):
            np.testing.assert_array_equal(to_y(read_image(copy)), to_y(read_image(source)))
            if copy.suffix != source.suffix:  # re-encoded: the Y as a smaller gray PNG
                assert copy.suffix == ".png" and read_image(copy).ndim == 2
                assert copy.stat().st_size < source.stat().st_size
    assert {p.suffix for p in (tmp_path / "out" / "Set5").iterdir()} == {".png"}
    assert ".jpg" in {p.suffix for p in (tmp_path / "out" / "BSD200_train").iterdir()}
    originals = sum(
        p.stat().st_size
        for n in ("Set5", "Set12", "BSD200_train")
        for p in list_images(DATA_ROOT / n)
    )
    assert written < originals


def test_each_recipe_trains_there_on_what_it_trains_on_here(tmp_path: Path) -> None:
    """Train400's test_020 overlaps Set12's 04: one staged folder serves a recipe that keeps
    it and one that leaves it out, which checks Set12 on the device; staged without Set12,
    the second would train on it there, and staging refuses."""
    root = tmp_path / "data"
    (root / "Train400").mkdir(parents=True)
    for name in ("test_019.png", "test_020.png", "test_021.png"):
        shutil.copy(data_dir("Train400") / name, root / "Train400" / name)
    for name in ("Set5", "Set12"):
        shutil.copytree(data_dir(name), root / name)
    keeps = recipe(tmp_path, "keeps", root, ["Train400"], "Set5", [])
    leaves = recipe(tmp_path, "leaves", root, ["Train400"], "Set5", ["Set12"])
    script, out = load_script(), tmp_path / "out"
    script.stage([keeps, leaves], out, "Set12")
    assert len(list_images(out / "Train400")) == 3
    assert (out / "keeps.args").read_text().endswith("data.exclude_overlaps_with=[]\n")
    assert (out / "leaves.args").read_text().endswith("data.exclude_overlaps_with=[Set12]\n")
    with pytest.raises(SystemExit, match=r"leaves: on the device it would also train on"):
        script.stage([keeps, leaves], tmp_path / "out2", "Set5")


def test_test_sets_alone_keep_their_names_for_the_score_cache(tmp_path: Path) -> None:
    """With no recipe only the named sets are staged, each image under its own name (the
    score cache's key), and no recipe options are written."""
    data_dir("Set5")
    script, out = load_script(), tmp_path / "out"
    script.stage([], out, "Set5")
    assert sorted(p.name for p in out.iterdir()) == ["Set5"]
    assert [p.name for p in list_images(out / "Set5")] == [
        p.name for p in list_images(data_dir("Set5"))
    ]
    with pytest.raises(SystemExit, match="name the test sets"):
        script.stage([], out, "task")
