"""scripts/stage_device_data.py: the staged images give every loader the same Y."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import yaml

from csrnet.degrade import to_y
from csrnet.images import list_images, read_image

from conftest import DATA_ROOT, data_dir

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "stage_device_data", ROOT / "scripts" / "stage_device_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_staged_images_hold_the_same_y(tmp_path: Path) -> None:
    for name in ("Set5", "Set12", "BSD200_train"):  # RGB PNG, gray PNG and JPEG sources
        data_dir(name)
    config = tmp_path / "recipe.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "base": [str(ROOT / "configs" / "fast_jpeg_q10.yaml")],
                "name": "staged",
                "data": {
                    "root": str(DATA_ROOT),
                    "train": ["Set5", "BSD200_train"],
                    "val": "Set12",
                    "exclude_overlaps_with": [],
                },
            }
        )
    )
    written = load_script().stage(config, tmp_path / "out", ["Set12"])
    for name in ("Set5", "Set12", "BSD200_train"):
        originals = list_images(DATA_ROOT / name)
        staged = list_images(tmp_path / "out" / "staged" / name)
        assert [p.stem for p in staged] == [p.stem for p in originals]
        for source, copy in zip(originals, staged, strict=True):
            np.testing.assert_array_equal(to_y(read_image(copy)), to_y(read_image(source)))
            if copy.suffix != source.suffix:  # re-encoded: the Y as a smaller gray PNG
                assert copy.suffix == ".png" and read_image(copy).ndim == 2
                assert copy.stat().st_size < source.stat().st_size
    assert {p.suffix for p in (tmp_path / "out" / "staged" / "Set5").iterdir()} == {".png"}
    assert ".jpg" in {p.suffix for p in (tmp_path / "out" / "staged" / "BSD200_train").iterdir()}
    originals = sum(
        p.stat().st_size
        for n in ("Set5", "Set12", "BSD200_train")
        for p in list_images(DATA_ROOT / n)
    )
    assert written < originals
