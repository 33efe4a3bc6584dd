"""Which weights restore a photo, and that each weights file is loaded and compiled once
however many settings pick it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csrnet.errors import CsrnetError
from csrnet.inference import choice
from csrnet.inference.choice import ModelCache, ModelChoices
from csrnet.inference.photo import Photo
from csrnet.protocol.degrade import Degradation

from conftest import tiny_weights

GRAY = Photo(np.zeros((16, 16), np.uint8))


@pytest.fixture
def loads(monkeypatch) -> list[Path]:
    """The weights files loaded from now on, in order."""
    seen: list[Path] = []
    load = choice.load_weights

    def counted(path, device):
        seen.append(Path(path))
        return load(path, device)

    monkeypatch.setattr(choice, "load_weights", counted)
    return seen


def test_a_file_is_loaded_once_for_every_setting_it_covers(weights_dir, loads) -> None:
    tiny_weights(weights_dir, "tiny_blind", "denoise", [], [0, 55])
    choices = ModelChoices(ModelCache("cpu", "torch"))
    picked = {s: choices(Degradation("denoise", s))(GRAY) for s in (12.3, 25.0, 30.1, 41.0, 12.3)}
    assert {info.name for _, info in picked.values()} == {"tiny_blind", "tiny_denoise"}
    assert picked[25.0][1].name == "tiny_denoise" and picked[41.0][1].name == "tiny_blind"
    assert sorted(p.stem for p in loads) == ["tiny_blind", "tiny_denoise"]  # once each
    assert picked[12.3][0] is picked[30.1][0]  # one model object for the blind file


def test_camera_noise_goes_to_the_camera_model_and_a_sigma_to_the_gaussian_ones(
    weights_dir, loads
) -> None:
    tiny_weights(weights_dir, "tiny_rgb", "denoise", [], [0, 55], channels=3)
    # named to win every tie: only what it was trained on keeps it from Gaussian noise
    tiny_weights(weights_dir, "tiny_z_real", "denoise", [], [0, 55], 3, camera_share=0.75)
    choices = ModelChoices(ModelCache("cpu", "torch"))
    colour = Photo(np.zeros((16, 16, 3), np.uint8))
    assert choices(Degradation.camera())(colour)[1].name == "tiny_z_real"
    assert choices(Degradation.camera())(GRAY)[1].name == "tiny_z_real"  # RGB does gray too
    assert choices(Degradation("denoise", 25))(colour)[1].name == "tiny_rgb"
    assert choices(Degradation("denoise", 25))(GRAY)[1].name == "tiny_denoise"


def test_without_a_camera_model_camera_noise_asks_for_a_sigma(weights_dir) -> None:
    with pytest.raises(CsrnetError, match="no camera-noise model is installed; give a sigma"):
        ModelChoices(ModelCache("cpu", "torch"), first=Degradation.camera())


def test_channel_options_share_the_cache_and_are_checked(weights_dir, loads) -> None:
    choices = ModelChoices(ModelCache("cpu", "torch"))
    sr = Degradation("sr", 2)
    a, b = choices(sr, "auto")(GRAY), choices(sr, "y")(GRAY)
    assert a[0] is b[0] and len(loads) == 1
    with pytest.raises(CsrnetError, match="channels 'cmyk': choose from auto, y, rgb"):
        choices(sr, "cmyk")


def test_missing_weights_are_refused_before_any_photo(weights_dir) -> None:
    with pytest.raises(CsrnetError, match="no weights for jpeg q10 are installed"):
        ModelChoices(ModelCache("cpu", "torch"), first=Degradation("jpeg", 10))


def test_given_weights_of_another_task_are_refused(weights_dir) -> None:
    cache = ModelCache("cpu", "torch")
    with pytest.raises(CsrnetError, match="trained for sr, not denoise"):
        ModelChoices(cache, "tiny_sr", first=Degradation("denoise", 25))
