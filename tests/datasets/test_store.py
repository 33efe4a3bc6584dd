"""`csrnet data prepare`: a large training set checked and stored as mapped arrays that give
the same patches, and the same training, as decoding its PNGs. The images are made here."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from csrnet.datasets.manifest import LargeSet
from csrnet.datasets.patches import PatchRecipe, TrainingImages, make_patch
from csrnet.datasets.store import Store, prepare_store
from csrnet.errors import CsrnetError
from csrnet.training.config import load_config
from csrnet.training.loop import train

from conftest import SAMPLES, final_weights, run_cli

TOY = LargeSet(
    "DIV2K", ("sr",), "https://example.invalid/DIV2K.zip", "DIV2K_train_HR", 1, 3, 4, ".png", "test"
)
RECIPES = Path(__file__).resolve().parents[2] / "configs" / "div2k"


def make_images(folder: Path, gray: bool = False) -> Path:
    """Three smooth-ish RGB images of odd sizes (not multiples of 8), named as DIV2K's."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name, (h, w) in zip(TOY.names(), [(101, 130), (96, 77), (120, 120)], strict=True):
        base = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((w, h), Image.BICUBIC)
        (image.convert("L") if gray else image).save(folder / name)
    return folder


@pytest.fixture
def pngs(tmp_path: Path) -> Path:
    return make_images(tmp_path / "DIV2K_train_HR")


def patches(images: TrainingImages, task: str, levels: list[float]) -> list[np.ndarray]:
    recipe = PatchRecipe(task, levels, None, 24, seed=3)
    return [a for step in range(6) for i in range(4) for a in make_patch(images, recipe, step, i)]


@pytest.mark.parametrize("task, levels, channels", [("sr", [2.0, 4.0], 1), ("denoise", [25.0], 3)])
def test_the_store_gives_the_patches_of_the_pngs(
    pngs: Path, tmp_path: Path, task: str, levels: list[float], channels: int
) -> None:
    scales = [int(s) for s in levels] if task == "sr" else []
    store = prepare_store(TOY, pngs, tmp_path / "data", scales, channels, progress=False)
    assert store == tmp_path / "data" / "DIV2K"
    mapped = TrainingImages.load([store], task, levels, 24, channels=channels)
    assert isinstance(mapped.clean[levels[0] if task == "sr" else 0.0][0], np.memmap)
    decoded = TrainingImages.load([pngs], task, levels, 24, channels=channels)
    assert [n.split("/")[1] for n in mapped.names] == [n.split("/")[1] for n in decoded.names]
    for a, b in zip(patches(mapped, task, levels), patches(decoded, task, levels), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_a_zip_or_tar_gives_the_same_store_and_a_short_one_is_refused(
    pngs: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "DIV2K_train_HR.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(pngs.iterdir()):
            z.write(p, f"DIV2K_train_HR/{p.name}")
    tar = tmp_path / "Flickr2K.tar"
    with tarfile.open(tar, "w") as t:
        t.add(pngs, "Flickr2K/Flickr2K_HR")
    a = prepare_store(TOY, pngs, tmp_path / "a", [2], progress=False)
    for source in (archive, tar):
        b = prepare_store(TOY, source, tmp_path / source.suffix, [2], progress=False)
        for name in ("clean.u8", "sr_x2.f32", "store.json"):
            assert (a / name).read_bytes() == (b / name).read_bytes()
    (pngs / "0002.png").unlink()
    with pytest.raises(CsrnetError, match=r"2 of the 3 files of DIV2K .*missing 0002.png"):
        prepare_store(TOY, pngs, tmp_path / "c", [2], progress=False)
    assert not (tmp_path / "c").exists() or list((tmp_path / "c").iterdir()) == []


def test_a_store_without_the_scale_or_the_channels_says_how_to_prepare(
    pngs: Path, tmp_path: Path
) -> None:
    store = prepare_store(TOY, pngs, tmp_path / "data", [2], progress=False)
    with pytest.raises(CsrnetError, match="--scales 2,3"):
        TrainingImages.load([store], "sr", [3.0], 24)
    with pytest.raises(CsrnetError, match="prepare it again with --rgb"):
        TrainingImages.load([store], "denoise", [25.0], 24, channels=3)
    assert Store.open(store).scales == [2]


@pytest.mark.parametrize("sampler", ["host", "device"])
def test_the_div2k_recipe_trains_from_the_store_as_from_the_pngs(
    pngs: Path, tmp_path: Path, sampler: str
) -> None:
    """configs/div2k/sr_x2.yaml at toy size on the CPU, patches made on the host or by the
    patch bank: the same weights either way."""
    prepare_store(TOY, pngs, tmp_path / "data", [2], progress=False)
    toy = [
        "device=cpu",
        "precision=fp32",  # both runs in the same arithmetic, whatever a probe would time
        "engine=eager",
        f"data.sampler={sampler}",
        "data.batch_size=4",
        "data.workers=0",
        "data.patch_size=24",
        "steps=6",
        "val_every=0",
        "ckpt_every=0",
        "schedule.warmup_steps=2",
        "model.depth=2",
        "model.res_blocks=1",
        "model.channels=8",
        "model.first_channels=8",
        f"data.root={SAMPLES}",
        "data.val_images=1",
    ]
    stored = load_config(
        RECIPES / "sr_x2.yaml", [*toy, f"data.train=[{tmp_path / 'data' / 'DIV2K'}]"]
    )
    decoded = load_config(RECIPES / "sr_x2.yaml", [*toy, f"data.train=[{pngs}]"])
    a = train(stored, tmp_path / "stored", progress=False)
    b = train(decoded, tmp_path / "decoded", progress=False)
    assert a.step == 6 and a.losses == b.losses
    wa, wb = final_weights(tmp_path / "stored"), final_weights(tmp_path / "decoded")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_prepare_refuses_what_it_cannot_use(tmp_path: Path, capsys) -> None:
    gray = make_images(tmp_path / "gray", gray=True)
    code, err = run_cli(
        capsys, "data", "prepare", "div2k", str(gray), "--rgb", "--to", str(tmp_path)
    )
    assert code == 1 and "missing 0004.png" in err  # the real DIV2K has 800: the count first
    code, err = run_cli(capsys, "data", "prepare", "nope", str(gray))
    assert code == 1 and "no large set called 'nope'" in err
    code, err = run_cli(capsys, "data", "prepare", "div2k", str(gray), "--scales", "x2")
    assert code == 2 and "--scales" in err


def test_a_damaged_zip_or_tar_is_one_line_and_leaves_nothing(pngs: Path, tmp_path: Path) -> None:
    archive = tmp_path / "DIV2K_train_HR.zip"
    with zipfile.ZipFile(archive, "w") as z:  # stored: the member's bytes sit in the file as is
        for p in sorted(pngs.iterdir()):
            z.write(p, f"DIV2K_train_HR/{p.name}")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("DIV2K_train_HR/0002.png")
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0xFF  # a byte of its content
    archive.write_bytes(bytes(data))
    with pytest.raises(CsrnetError) as err:
        prepare_store(TOY, archive, tmp_path / "new" / "data", [2], progress=False)
    assert str(err.value) == (
        f"{archive}: DIV2K_train_HR/0002.png is damaged (bad CRC); download it again"
    )
    assert not (tmp_path / "new").exists()  # not even the --to folder it made
    tar = tmp_path / "DIV2K.tar"
    with tarfile.open(tar, "w") as t:
        t.add(pngs, "DIV2K_train_HR")
    with tarfile.open(tar) as t:
        last = max(t.getmembers(), key=lambda m: m.offset_data)
    tar.write_bytes(tar.read_bytes()[: last.offset_data + last.size // 2])  # cut inside it
    (tmp_path / "data").mkdir()
    with pytest.raises(CsrnetError, match=r"DIV2K.tar: .*damaged .*download it again"):
        prepare_store(TOY, tar, tmp_path / "data", [2], progress=False)
    assert list((tmp_path / "data").iterdir()) == []  # a --to that was there stays, empty


def test_a_to_that_cannot_hold_a_store_is_refused_before_reading(
    pngs: Path, tmp_path: Path, capsys
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for to, needle in [(a_file, "a_file: not a folder"), (a_file / "sub", "a_file is not a")]:
        code, err = run_cli(capsys, "data", "prepare", "div2k", str(pngs), "--to", str(to))
        assert code == 1 and needle in err and err.count("\n") == 1, err
    assert a_file.read_text() == "not a folder"
