"""``csrnet serve`` as a process: SIGTERM and Ctrl-C stop it within seconds, with status 0,
and its temporary folder goes with it."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from csrnet.serve.jobs import FOLDER_PREFIX, PID_FILE  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_of(pid: int) -> Path | None:
    """The temporary folder whose pid file names ``pid``."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            if (folder / PID_FILE).read_text() == str(pid):
                return folder
        except OSError:
            continue
    return None


def upload(port: int, png: bytes) -> dict:
    """POST a PNG to /api/jobs as the page does (multipart), without Origin (a script)."""
    boundary = "csrnet-test-boundary"
    fields = [("task", "sr"), ("level", "2")]
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields
    )
    body += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/jobs",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def status(port: int, job_id: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/jobs/{job_id}", timeout=5) as a:
        return json.loads(a.read())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_server_and_removes_its_files(tmp_path: Path, signum) -> None:
    port = free_port()
    env = {**os.environ, "CSRNET_WEIGHTS": str(tmp_path / "none")}
    argv = [sys.executable, "-m", "csrnet", "serve", "--port", str(port), "--backend", "torch"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/options", timeout=1)
                break
            except OSError:
                assert process.poll() is None and time.time() < deadline
                time.sleep(0.2)
        folder = folder_of(process.pid)
        assert folder is not None and folder.is_dir()
        # a job of minutes (x2 of 1200x900 on the shipped model, torch, many tiles) is running
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (900, 1200, 3), np.uint8)).save(
            buffer, format="PNG"
        )
        job_id = upload(port, buffer.getvalue())["id"]
        while status(port, job_id).get("tiles_done", 0) < 1:
            assert time.time() < deadline + 60
            time.sleep(0.1)
        start = time.time()
        process.send_signal(signum)
        assert process.wait(timeout=20) == 0, process.stdout.read()
        # within a tile (seconds on 2 busy cores), not the job's ~80 s (4.3 Mpx at 0.055 Mpx/s)
        assert time.time() - start < 15 and not folder.exists()
    finally:
        process.kill()
        process.wait()
