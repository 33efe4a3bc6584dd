"""csrnet serve in a real browser: Debian's headless Chromium, driven by Playwright (which
downloads nothing: it is given the system browser). Skips where either is missing; `.ci/run`
installs both."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import sample_dir

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
# Flags that keep a headless Chromium off this machine's closed network, and rootless-safe.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    """``csrnet serve`` on a free port, as a user starts it; its URL."""
    port = free_port()
    env = {**os.environ, "CSRNET_WEIGHTS": str(tmp_path / "no_user_weights")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "csrnet",
            "serve",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--backend",
            "torch",
            "--max-per-client",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"csrnet serve exited: {process.stdout.read()}")
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=30)


def camera_photo(folder: Path) -> Path:
    """A real photo (scikit-image's cat) as a camera at a high ISO would have saved it:
    signal-dependent sensor noise, demosaicing, chroma smoothing and a JPEG."""
    from skimage import data

    from csrnet.protocol.camera import CameraNoise, camera_noise

    capture = CameraNoise(shot=4e-3, read=2e-5, red_gain=2.1, blue_gain=1.7, chroma_blur=1.0)
    noisy, _ = camera_noise(data.chelsea(), capture, np.random.default_rng(0))
    path = folder / "cat.jpg"
    Image.fromarray(noisy).save(path, quality=92)
    return path


def test_restore_compare_and_download_in_chromium(server: str, tmp_path: Path) -> None:
    photo, big = tmp_path / "small.png", tmp_path / "big.png"
    Image.open(sample_dir("Set5") / "bird.png").convert("RGB").crop((0, 0, 60, 44)).save(photo)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(accept_downloads=True, viewport={"width": 1100, "height": 900})
        page.goto(server)
        page.set_input_files("#file", str(photo))
        page.select_option("#task", "sr")
        page.select_option("#level", "2")
        page.click("#restore")
        page.wait_for_selector("#controls:not([hidden])", timeout=120_000)
        sizes = page.evaluate(
            "['before', 'after'].map(id => [document.getElementById(id).naturalWidth,"
            " document.getElementById(id).naturalHeight])"
        )
        assert sizes == [[120, 88], [120, 88]]  # the bicubic enlargement and the result
        assert "weights" in page.inner_text("#info") and "0.011 Mpx" in page.inner_text("#info")
        page.fill("#slider", "20")  # the slider moves the split between the two
        page.dispatch_event("#slider", "input")
        assert "inset" in page.eval_on_selector("#after", "img => img.style.clipPath")
        with page.expect_download() as download_info:
            page.click("#download")
        download = tmp_path / "restored.png"
        download_info.value.save_as(download)
        # a long job (x2 of 640x480 on the shipped model: tens of seconds), then Cancel
        Image.open(sample_dir("Set5") / "baby.png").convert("RGB").resize((640, 480)).save(big)
        page.set_input_files("#file", str(big))
        page.click("#restore")
        page.wait_for_selector("#cancel:not([hidden])", timeout=30_000)
        page.wait_for_function(
            "/restoring: tile [1-9]/.test(document.getElementById('status').textContent)",
            timeout=120_000,
        )
        other = browser.new_page()  # a second tab of the same client: past its cap
        other.goto(server)
        other.set_input_files("#file", str(photo))
        other.click("#restore")
        other.wait_for_function(
            "/waiting already; try again/.test(document.getElementById('error').textContent)",
            timeout=60_000,  # generous: a second page loads slowly when the cores are busy
        )
        other.close()
        page.click("#cancel")
        page.wait_for_function(
            "document.getElementById('error').textContent === 'cancelled'", timeout=60_000
        )
        assert page.is_hidden("#cancel") and not page.is_disabled("#restore")
        assert page.is_hidden("#strength-box")  # SR has no strength
        page.set_input_files("#file", str(camera_photo(tmp_path)))  # a photo's own noise
        page.select_option("#task", "denoise")
        assert page.is_visible("#strength-box") and not page.is_checked("#strength-auto")
        assert page.is_checked("#camera") and page.is_disabled("#level")
        page.click("#restore")
        page.wait_for_function(
            "/denoise_real \\(RGB\\)$/.test(document.getElementById('info').textContent)",
            timeout=120_000,
        )
        assert page.inner_text("#status") == "done: denoise camera"
        for control, value in [("#slider", "50"), ("#zoom", "3")]:  # where the noise shows
            page.fill(control, value)
            page.dispatch_event(control, "input")
        page.screenshot(path=str(tmp_path / "serve.png"))
        if os.environ.get("CSRNET_SCREENSHOT"):  # the README's picture of the page
            shutil.copy(tmp_path / "serve.png", os.environ["CSRNET_SCREENSHOT"])
        page.check("#strength-auto")  # chosen for the photo
        assert page.is_disabled("#strength") and page.inner_text("#strength-value") == "auto"
        page.click("#restore")
        page.wait_for_function(
            "/strength [0-9.]+ \\(auto\\)/.test(document.getElementById('info').textContent)",
            timeout=120_000,
        )
        page.uncheck("#strength-auto")  # by hand: half strength
        assert not page.is_disabled("#strength")
        page.fill("#strength", "0.5")
        page.dispatch_event("#strength", "input")
        assert page.inner_text("#strength-value") == "0.50"
        page.click("#restore")
        page.wait_for_function(
            "/strength 0.5$/.test(document.getElementById('info').textContent)", timeout=120_000
        )
        browser.close()
    assert Image.open(download).size == (120, 88)
    assert (tmp_path / "serve.png").stat().st_size > 10_000
