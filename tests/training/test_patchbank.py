"""The device patch sampler: its hash, and every patch against a crop made by hand in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from csrnet.datasets.patches import PatchRecipe, TrainingImages
from csrnet.protocol.degrade import jpeg_compress
from csrnet.training.patchbank import COLUMN, IMAGE, LEVEL, ROW, TRANSFORM, PatchBank, hash32

from conftest import sample_dir

PATCH = 24
TO_UNIT = np.float32(1 / 255)  # how both samplers scale to [0, 1]


def fmix32_reference(h: int) -> int:
    """murmur3's finaliser on Python integers (no overflow to worry about)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def hash_reference(*words: int) -> int:
    h = 0x9E3779B9
    for word in words:
        h = fmix32_reference(h ^ (word & 0xFFFFFFFF))
    return h


def test_hash_matches_murmur3_on_python_integers() -> None:
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**32, size=(200, 3), dtype=np.uint64).astype(np.int64)
    got = hash32(*(torch.from_numpy(words[:, i]) for i in range(3)))
    want = [hash_reference(*map(int, row)) for row in words]
    assert got.tolist() == want
    assert int(got.min()) >= 0 and int(got.max()) < 2**32


def draws(seed: int, step: int, index: int, n_slots: int, n_images: int) -> dict[str, int]:
    """The choices of one patch, recomputed by hand (sizes are looked up by the caller)."""
    base = hash_reference(seed, step, index)
    t = hash_reference(base, TRANSFORM)
    return {
        "slot": (hash_reference(base, LEVEL) * n_slots) >> 32,
        "image": (hash_reference(base, IMAGE) * n_images) >> 32,
        "transposed": t & 1,
        "flip_rows": (t >> 1) & 1,
        "flip_cols": (t >> 2) & 1,
        "row_hash": hash_reference(base, ROW),
        "col_hash": hash_reference(base, COLUMN),
    }


def crop_by_hand(clean: np.ndarray, degraded: np.ndarray, d: dict[str, int]):
    """The patch that ``d`` describes, cut out of whole images with numpy."""
    if d["transposed"]:
        clean, degraded = np.swapaxes(clean, 0, 1), np.swapaxes(degraded, 0, 1)
    h, w = clean.shape[:2]
    y0 = (d["row_hash"] * (h - PATCH + 1)) >> 32
    x0 = (d["col_hash"] * (w - PATCH + 1)) >> 32
    c = clean[y0 : y0 + PATCH, x0 : x0 + PATCH]
    g = degraded[y0 : y0 + PATCH, x0 : x0 + PATCH]
    if d["flip_rows"]:
        c, g = c[::-1], g[::-1]
    if d["flip_cols"]:
        c, g = c[:, ::-1], g[:, ::-1]
    return c, g


@pytest.fixture(scope="module")
def sr_images() -> TrainingImages:
    return TrainingImages.load([sample_dir("T91")], "sr", [2.0, 4.0], PATCH)


@pytest.fixture(scope="module")
def gray_images() -> TrainingImages:
    return TrainingImages.load([sample_dir("Train400")], "jpeg", [], PATCH)


def test_sr_patches_are_crops_of_the_bicubic_inputs(sr_images: TrainingImages) -> None:
    recipe = PatchRecipe("sr", [2.0, 4.0], None, PATCH, seed=7)
    bank = PatchBank.build(sr_images, recipe, torch.device("cpu"))
    step, indices = 123, torch.arange(32)
    inputs, targets = bank.sample(torch.tensor(step), indices)
    assert inputs.shape == targets.shape == (32, 1, PATCH, PATCH)
    seen_slots, seen_orientations = set(), set()
    for i in range(32):
        d = draws(7, step, i, 2, len(sr_images))
        scale = [2.0, 4.0][d["slot"]]
        clean, degraded = crop_by_hand(
            sr_images.clean[scale][d["image"]], sr_images.sr_inputs[scale][d["image"]], d
        )
        assert np.array_equal(targets[i, 0].numpy(), clean.astype(np.float32) * TO_UNIT)
        assert np.allclose(inputs[i, 0].numpy(), degraded / 255, atol=1e-7)
        seen_slots.add(scale)
        seen_orientations.add(d["transposed"])
    assert seen_slots == {2.0, 4.0} and seen_orientations == {0, 1}


def test_jpeg_patches_are_crops_of_images_encoded_whole(gray_images: TrainingImages) -> None:
    recipe = PatchRecipe("jpeg", [10.0, 20.0], None, PATCH, seed=3)
    bank = PatchBank.build(gray_images, recipe, torch.device("cpu"))
    inputs, targets = bank.sample(torch.tensor(5), torch.arange(8))
    for i in range(8):
        d = draws(3, 5, i, 2, len(gray_images))
        quality = [10, 20][d["slot"]]
        clean = gray_images.clean[0.0][d["image"]]
        oriented = clean.T if d["transposed"] else clean
        encoded = jpeg_compress(np.ascontiguousarray(oriented), quality)
        encoded = encoded.T if d["transposed"] else encoded  # crop_by_hand transposes back
        c, g = crop_by_hand(clean, encoded, d)
        assert np.array_equal(targets[i, 0].numpy(), c.astype(np.float32) * TO_UNIT)
        assert np.array_equal(inputs[i, 0].numpy(), g.astype(np.float32) * TO_UNIT)


def test_jpeg_quality_range_draws_every_integer(gray_images: TrainingImages) -> None:
    recipe = PatchRecipe("jpeg", [], [9.0, 11.0], PATCH, seed=0)
    bank = PatchBank.build(gray_images, recipe, torch.device("cpu"))
    assert bank.slot_levels.tolist() == [9.0, 10.0, 11.0]
    base = hash32(0, torch.arange(50)[:, None], torch.arange(64)[None, :])
    slots, levels = bank._draw_level(hash32(base, LEVEL))
    assert set(levels.flatten().tolist()) == {9.0, 10.0, 11.0}


def test_denoising_noise_is_gaussian_at_the_drawn_sigma(gray_images: TrainingImages) -> None:
    recipe = PatchRecipe("denoise", [], [0.0, 55.0], PATCH, seed=1)
    bank = PatchBank.build(gray_images, recipe, torch.device("cpu"))
    indices = torch.arange(64)
    inputs, targets = bank.sample(torch.tensor(9), indices)
    noise = (inputs - targets).double() * 255  # not clipped: exactly sigma * N(0, 1)
    base = hash32(1, torch.tensor(9), indices)
    _, sigma = bank._draw_level(hash32(base, LEVEL))
    assert float(sigma.min()) >= 0 and float(sigma.max()) <= 55
    z = (noise[:, 0] / sigma.double()[:, None, None]).flatten()
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02
    assert abs(float((z.abs() > 1.96).double().mean()) - 0.05) < 0.01  # the tails too


def test_a_patch_depends_on_seed_step_and_index_alone(sr_images: TrainingImages) -> None:
    recipe = PatchRecipe("sr", [2.0, 4.0], None, PATCH, seed=0)
    bank = PatchBank.build(sr_images, recipe, torch.device("cpu"))
    whole = bank.sample(torch.tensor(40), torch.arange(16))
    again = bank.sample(torch.tensor(40), torch.arange(16))
    second_half = bank.sample(torch.tensor(40), torch.arange(8, 16))  # rank 1 of 2
    other_step = bank.sample(torch.tensor(41), torch.arange(16))
    assert torch.equal(whole[0], again[0]) and torch.equal(whole[1], again[1])
    assert torch.equal(whole[0][8:], second_half[0]) and torch.equal(whole[1][8:], second_half[1])
    assert not torch.equal(whole[1], other_step[1])


def test_rgb_patches_are_crops_of_colour_images_encoded_whole() -> None:
    images = TrainingImages.load([sample_dir("T91")], "jpeg", [], PATCH, channels=3)
    assert len(images) == 3 and images.clean[0.0][0].ndim == 3
    recipe = PatchRecipe("jpeg", [20.0], None, PATCH, seed=5)
    bank = PatchBank.build(images, recipe, torch.device("cpu"))
    inputs, targets = bank.sample(torch.tensor(3), torch.arange(6))
    assert inputs.shape == targets.shape == (6, 3, PATCH, PATCH)
    for i in range(6):
        d = draws(5, 3, i, 1, len(images))
        clean = images.clean[0.0][d["image"]]
        oriented = np.swapaxes(clean, 0, 1) if d["transposed"] else clean
        encoded = jpeg_compress(np.ascontiguousarray(oriented), 20)
        encoded = np.swapaxes(encoded, 0, 1) if d["transposed"] else encoded
        c, g = crop_by_hand(clean, encoded, d)
        assert np.array_equal(targets[i].permute(1, 2, 0).numpy(), c.astype(np.float32) * TO_UNIT)
        assert np.array_equal(inputs[i].permute(1, 2, 0).numpy(), g.astype(np.float32) * TO_UNIT)


def test_rgb_noise_is_drawn_per_channel() -> None:
    images = TrainingImages.load([sample_dir("T91")], "denoise", [], PATCH, channels=3)
    bank = PatchBank.build(
        images, PatchRecipe("denoise", [25.0], None, PATCH, 0), torch.device("cpu")
    )
    inputs, targets = bank.sample(torch.tensor(1), torch.arange(32))
    noise = (inputs - targets).double() * 255 / 25
    assert abs(float(noise.std()) - 1) < 0.02
    per_channel = noise.transpose(0, 1).reshape(3, -1)
    correlation = np.corrcoef(per_channel.numpy())
    assert np.abs(correlation - np.eye(3)).max() < 0.02  # independent channels
