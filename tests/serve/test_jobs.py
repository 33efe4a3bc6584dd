"""What a job of csrnet serve restores: camera noise where its model is installed, and 16-bit
uploads with 16 bits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette.testclient")

from serve_support import png_bytes, submit, wait  # noqa: E402

from conftest import tiny_weights  # noqa: E402

pytest_plugins = ["serve_support"]  # the jobs and client fixtures


def test_camera_noise_is_offered_and_restored_where_its_model_is_installed(
    client, weights_dir: Path
) -> None:
    assert "camera" not in client.get("/api/options").json()["tasks"]["denoise"]
    tiny_weights(weights_dir, "tiny_real", "denoise", [], [0, 55], 3, camera_share=0.75)
    assert client.get("/api/options").json()["tasks"]["denoise"]["camera"] == "camera"
    status = wait(client, submit(client, png_bytes((40, 32)), "denoise", "camera").json()["id"])
    assert status["state"] == "done", status
    assert status["setting"] == "camera" and status["weights"] == "tiny_real"
    bad = submit(client, png_bytes((40, 32)), "jpeg", "camera")
    assert bad.status_code == 400 and "a level is a number or 'auto', not 'camera'" in bad.text


def test_a_16_bit_upload_comes_back_with_16_bits(client, tmp_path: Path) -> None:
    import png

    from csrnet.inference.photo import Photo, save_photo

    deep = np.random.default_rng(1).integers(0, 65536, (32, 40, 3), dtype=np.uint16)
    save_photo(Photo(deep), tmp_path / "deep.png")
    status = wait(client, submit(client, (tmp_path / "deep.png").read_bytes()).json()["id"])
    assert status["state"] == "done" and (status["width"], status["height"]) == (80, 64)
    after = client.get(f"/api/jobs/{status['id']}/after.png").content
    width, height, _, info = png.Reader(bytes=after).asDirect()
    assert (width, height, info["bitdepth"]) == (80, 64, 16)
