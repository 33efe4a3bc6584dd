"""What the tests of csrnet serve's API share: a job queue on the test weights, a client of
the app on the address `csrnet serve` prints, and uploads."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image

from csrnet.serve.app import Jobs, make_app
from csrnet.serve.jobs import PID_FILE

from conftest import sample_dir

TestClient = pytest.importorskip("starlette.testclient").TestClient

LOCAL = "http://127.0.0.1:8000"  # the address `csrnet serve` prints


def png_bytes(size: tuple[int, int] = (40, 32)) -> bytes:
    image = Image.open(sample_dir("Set5") / "bird.png").convert("RGB").crop((0, 0, *size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def jobs(weights_dir: Path):
    jobs = Jobs("cpu", max_upload_bytes=2**20, max_pixels=100_000)
    yield jobs
    jobs.close()


@pytest.fixture
def client(jobs: Jobs):
    with TestClient(make_app(jobs), base_url=LOCAL) as client:
        yield client


def submit(client, data: bytes, task="sr", level="2", demo="0", headers=None):
    files = {"image": ("photo.png", data, "image/png")}
    form = {"task": task, "level": level, "demo": demo}
    return client.post("/api/jobs", files=files, data=form, headers=headers)


def wait(client, job_id: str, seconds: float = 60) -> dict:
    end = time.time() + seconds
    while time.time() < end:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in ("done", "error"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def leftovers(jobs: Jobs) -> list[str]:
    """The job folders in the server's temporary folder (its pid file aside)."""
    return sorted(p.name for p in jobs.root.iterdir() if p.name != PID_FILE)
