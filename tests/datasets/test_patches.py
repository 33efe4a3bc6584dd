"""Training patches of camera noise: drawn with the same crop as the Gaussian ones, in the
share the recipe asks, against the noise-free capture, with the correlated noise of a
demosaiced photo."""

from __future__ import annotations

import numpy as np

from csrnet.datasets.patches import PatchRecipe, TrainingImages, make_patch
from csrnet.protocol.images import list_images, read_image
from csrnet.protocol.metrics import psnr

from conftest import sample_dir


def colour_images() -> TrainingImages:
    paths = list_images(sample_dir("Set5"))
    return TrainingImages.from_arrays(
        [read_image(p) for p in paths], [p.name for p in paths], "denoise", []
    )


def recipe(share: float) -> PatchRecipe:
    return PatchRecipe("denoise", [], [0.0, 55.0], 48, seed=3, camera_share=share)


def test_camera_patches_take_the_same_crops_against_the_noise_free_capture() -> None:
    images = colour_images()
    for index in range(6):
        _, crop = make_patch(images, recipe(0.0), 0, index)
        noisy, reference = make_patch(images, recipe(1.0), 0, index)
        assert noisy.shape == reference.shape == crop.shape == (48, 48, 3)
        assert noisy.dtype == reference.dtype == np.float32
        # the capture without noise: the crop, demosaiced (close, not the same)
        assert not np.array_equal(reference, crop)
        assert psnr(np.round(reference * 255), np.round(crop * 255)) > 24
        again = make_patch(images, recipe(1.0), 0, index)
        assert np.array_equal(again[0], noisy) and np.array_equal(again[1], reference)


def test_the_recipe_share_of_patches_is_camera_noise() -> None:
    images = colour_images()
    camera = 0
    for index in range(200):
        _, crop = make_patch(images, recipe(0.0), 1, index)
        _, target = make_patch(images, recipe(0.3), 1, index)
        camera += not np.array_equal(target, crop)
    assert 40 <= camera <= 80  # 30% of 200


def test_camera_noise_is_correlated_between_neighbours_and_gaussian_noise_is_not() -> None:
    images = colour_images()
    correlation = {}
    for share in (0.0, 1.0):
        pairs = [make_patch(images, recipe(share), 2, i) for i in range(40)]
        left, right = [], []
        for noisy, clean in pairs:
            residual = (noisy - clean)[..., 1]
            if residual.std() > 1 / 255:  # a capture with some noise
                left.append(residual[:, :-1].ravel())
                right.append(residual[:, 1:].ravel())
        correlation[share] = np.corrcoef(np.concatenate(left), np.concatenate(right))[0, 1]
    assert correlation[1.0] > 0.3 and abs(correlation[0.0]) < 0.1
