"""The training/test overlap check, on made-up crops and on the real training sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csrnet.cli import main
from csrnet.datasets.overlap import find_overlaps, one_channel_versions
from csrnet.datasets.patches import TrainingImages
from csrnet.protocol.images import read_image

from conftest import data_dir, sample_dir


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A test folder of two RGB photos and a training folder with crops of them and others."""
    test, train = tmp_path / "test", tmp_path / "train"
    test.mkdir(), train.mkdir()
    baby = read_image(sample_dir("Set5") / "baby.png")
    bird = read_image(sample_dir("Set5") / "bird.png")
    Image.fromarray(baby).save(test / "baby.png")
    Image.fromarray(bird[:80, :60]).save(test / "bird_part.png")
    gray = one_channel_versions(baby)["gray"]
    Image.fromarray(gray[40:100, 17:110]).save(train / "a_gray_crop_of_baby.png")  # gray crop
    Image.fromarray(bird).save(train / "b_bird_whole.png")  # the test image is a crop of it
    Image.fromarray(read_image(sample_dir("Classic5") / "barbara.png")).save(
        train / "c_unrelated.png"
    )
    shifted = np.clip(gray[40:100, 17:110].astype(int) + 1, 0, 255).astype(np.uint8)
    Image.fromarray(shifted).save(train / "d_brighter_crop.png")  # not equal pixels: no match
    return train, test


def test_finds_crops_in_both_directions(folders) -> None:
    train, test = folders
    found = {(o.train, o.test): o for o in find_overlaps([train], [test])}
    assert set(found) == {
        ("train/a_gray_crop_of_baby.png", "test/baby.png"),
        ("train/b_bird_whole.png", "test/bird_part.png"),
    }
    crop = found[("train/a_gray_crop_of_baby.png", "test/baby.png")]
    assert (crop.version, crop.dy, crop.dx, crop.height, crop.width) == (
        "gray",
        -40,
        -17,
        60,
        93,
    )
    whole = found[("train/b_bird_whole.png", "test/bird_part.png")]
    assert (whole.version, whole.dy, whole.dx, whole.height, whole.width) == ("Y", 0, 0, 80, 60)


def test_training_leaves_out_overlapping_images(folders) -> None:
    train, test = folders
    images = TrainingImages.load([train], "denoise", [], 48, exclude=[test])
    assert images.names == ["train/c_unrelated.png", "train/d_brighter_crop.png"]
    assert len(images.excluded) == 2


@pytest.mark.data
def test_train400_is_made_of_bsd200_crops() -> None:
    """The fact behind configs/base/denoise.yaml: Train400 overlaps BSD200_test and Set12."""
    overlaps = find_overlaps(
        [data_dir("Train400")], [data_dir("BSD200_test"), data_dir("Set12"), data_dir("BSD68")]
    )
    by_set: dict[str, set[str]] = {}
    for o in overlaps:
        by_set.setdefault(o.test.split("/")[0], set()).add(o.train)
    assert sorted(by_set) == ["BSD200_test", "Set12"]
    assert by_set["BSD200_test"] == {f"Train400/test_{i:03d}.png" for i in range(201, 401)}
    assert by_set["Set12"] == {"Train400/test_020.png"}


@pytest.mark.data
def test_sr_training_data_is_clean_of_the_sr_test_sets(capsys) -> None:
    code = main(
        [
            "check-overlap",
            "--train",
            "T91,BSD200_train",
            "--test",
            "Set5,Set14,BSD100",
            "--data-root",
            str(data_dir("Set5").parent),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and out.strip().endswith("0 overlapping pairs, 0 training images")
