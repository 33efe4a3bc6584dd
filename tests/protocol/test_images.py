"""Image reading and atomic writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from csrnet.errors import CsrnetError
from csrnet.protocol.images import list_images, read_image, write_atomic

from conftest import sample_dir


def test_reads_gray_rgb_and_bilevel(tmp_path: Path) -> None:
    assert read_image(sample_dir("Set12") / "01.png").shape == (112, 112)
    rgb = read_image(sample_dir("Set5") / "bird.png")
    assert rgb.shape == (112, 112, 3) and rgb.dtype == np.uint8
    Image.new("1", (5, 4), 1).save(tmp_path / "bw.png")
    assert (read_image(tmp_path / "bw.png") == 255).all()


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("truncated", "truncated"),
        ("empty", "not a readable image"),
        ("bomb", "decompression bomb"),
        ("rgba", "alpha"),
        ("palette", "palette"),
        ("cmyk", "CMYK"),
        ("16bit", "16-bit"),
    ],
)
def test_refuses_bad_images(bad_images, kind: str, needle: str) -> None:
    with pytest.raises(CsrnetError, match=needle):
        read_image(bad_images[kind])


def test_list_images_skips_other_files(tmp_path: Path) -> None:
    (tmp_path / "MANIFEST.sha256").write_text("x")
    (tmp_path / "b.PNG").write_bytes(b"")
    (tmp_path / "a.jpg").write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG"]


def test_write_atomic_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"

    def failing(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(CsrnetError, match="No space left"):
        write_atomic(target, failing)
    assert list(tmp_path.iterdir()) == []
    write_atomic(target, lambda tmp: tmp.write_text("done"))
    assert target.read_text() == "done" and list(tmp_path.iterdir()) == [target]
    assert target.stat().st_mode & 0o644 == 0o644  # readable by others, as umask allows
