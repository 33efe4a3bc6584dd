"""csrnet serve's API: a good upload comes back restored at the right size; bad uploads get
their one-line message and leave nothing behind; jobs run one at a time, in order."""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TestClient = pytest.importorskip("starlette.testclient").TestClient

from serve_support import LOCAL, leftovers, png_bytes, submit, wait  # noqa: E402

from csrnet.errors import CsrnetError  # noqa: E402
from csrnet.serve.app import Jobs, make_app  # noqa: E402
from csrnet.serve.jobs import PID_FILE, remove_stale_folders  # noqa: E402

from conftest import sample_dir, tiny_weights  # noqa: E402

pytest_plugins = ["serve_support"]  # the jobs and client fixtures


def test_the_page_loads_nothing_from_the_internet(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<title>csrnet" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/api/options").json()["tasks"]["sr"]["choices"] == [2, 3, 4, 8]


def test_a_good_upload_comes_back_restored(client, jobs: Jobs) -> None:
    answer = submit(client, png_bytes((40, 32)))
    assert answer.status_code == 202, answer.text
    status = wait(client, answer.json()["id"])
    assert status["state"] == "done", status
    assert (status["width"], status["height"]) == (80, 64) and status["weights"] == "tiny_sr"
    assert status["tiles_done"] == status["tiles_total"] >= 1
    before = Image.open(io.BytesIO(client.get(f"/api/jobs/{status['id']}/before.png").content))
    download = client.get(f"/api/jobs/{status['id']}/after.png?download=1")
    assert "attachment" in download.headers["content-disposition"]
    assert before.size == Image.open(io.BytesIO(download.content)).size == (80, 64)
    assert leftovers(jobs) == []  # removed once downloaded
    assert client.get(f"/api/jobs/{status['id']}").status_code == 404


def test_the_strength_reaches_the_restore(client) -> None:
    data = png_bytes((40, 32))
    files = {"image": ("photo.png", data, "image/png")}
    form = {"task": "denoise", "level": "25", "strength": "0"}
    status = wait(client, client.post("/api/jobs", files=files, data=form).json()["id"])
    assert status["state"] == "done" and status["strength"] == 0.0, status
    after = client.get(f"/api/jobs/{status['id']}/after.png").content
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(after))), np.asarray(Image.open(io.BytesIO(data)))
    )
    for strength, needle in [("2", "give 0 to 1.5"), ("strong", "is not a number")]:
        answer = client.post("/api/jobs", files=files, data={**form, "strength": strength})
        assert answer.status_code == 400 and needle in answer.json()["error"]
    sr = client.post("/api/jobs", files=files, data={"task": "sr", "level": "2", "strength": "0.5"})
    assert sr.status_code == 400 and "SR has no input" in sr.json()["error"]
    gaussian = client.post("/api/jobs", files=files, data={**form, "strength": "auto"})
    assert gaussian.status_code == 400 and "chosen for camera noise" in gaussian.json()["error"]


def test_camera_noise_takes_an_automatic_strength(client, weights_dir: Path) -> None:
    tiny_weights(weights_dir, "tiny_real", "denoise", [], [0, 55], 3, camera_share=0.75)
    files = {"image": ("photo.png", png_bytes((40, 32)), "image/png")}
    for form in ({}, {"strength": "auto"}, {"strength": "1"}):
        form = {"task": "denoise", "level": "camera", **form}
        status = wait(client, client.post("/api/jobs", files=files, data=form).json()["id"])
        assert status["state"] == "done" and status["weights"] == "tiny_real", status
        assert status["strength_auto"] == (form.get("strength") == "auto")
        assert 0 <= status["strength"] <= 1.5
        assert status["strength_auto"] or status["strength"] == 1


def test_demo_mode_scores_the_result_on_y(client) -> None:
    status = wait(client, submit(client, png_bytes((48, 48)), "denoise", "25", "1").json()["id"])
    assert status["state"] == "done", status
    assert 15 < status["psnr_before"] < 35 and status["psnr_after"] > 0  # sigma 25 on RGB
    assert 0 < status["ssim_before"] < status["ssim_after"] + 1 and status["ssim_after"] <= 1


def test_jobs_run_on_the_chosen_backend(weights_dir: Path) -> None:
    from csrnet.inference import backends
    from csrnet.inference.backends import CompiledModel

    if not backends.installed("openvino"):
        pytest.skip("openvino is not installed")
    jobs = Jobs("cpu", backend="openvino")
    try:
        with TestClient(make_app(jobs), base_url=LOCAL) as client:
            status = wait(client, submit(client, png_bytes((40, 32))).json()["id"])
        assert status["state"] == "done" and (status["width"], status["height"]) == (80, 64)
        ((model, _),) = jobs._choices.cache.models.values()
        assert isinstance(model, CompiledModel) and model.backend == "openvino"
    finally:
        jobs.close()


@pytest.mark.parametrize(
    ("data", "form", "code", "needle"),
    [
        (png_bytes()[:300], {}, 400, "the upload: cannot decode image"),
        (b"this is text, not an image\n", {}, 400, "the upload: not a readable image"),
        (png_bytes((400, 300)), {}, 413, "the image has 0.1 megapixels; the limit is 0"),
        (b"\x00" * (2**20 + 10), {}, 413, "the file is 1.0 MiB; the limit is 1 MiB"),
        (png_bytes(), {"task": "colourise"}, 400, "unknown task 'colourise'"),
        (png_bytes(), {"level": "2.5"}, 400, "scale must be an integer"),
        (png_bytes(), {"level": "x"}, 400, "level 'x' is not a number"),
    ],
)
def test_bad_uploads_get_a_message_and_leave_nothing(
    client, jobs: Jobs, data: bytes, form: dict, code: int, needle: str
) -> None:
    answer = submit(client, data, **form)
    assert answer.status_code == code and needle in answer.json()["error"], answer.text
    assert "\n" not in answer.json()["error"] and str(jobs.root) not in answer.json()["error"]
    assert leftovers(jobs) == []


def test_no_path_from_the_client_reaches_the_file_system(client) -> None:
    for url in ("/api/jobs/../../etc/passwd", "/api/jobs/x/upload.png", "/api/jobs/x/after.png"):
        assert client.get(url).status_code == 404


def test_two_jobs_run_one_after_the_other(client, jobs: Jobs, monkeypatch) -> None:
    release, running, seen = threading.Event(), [0], []
    restore = jobs._restore

    def held(job):
        running[0] += 1
        seen.append(running[0])
        if len(seen) == 1:
            release.wait(30)  # the first job holds the worker until the test lets it go
        try:
            return restore(job)
        finally:
            running[0] -= 1

    monkeypatch.setattr(jobs, "_restore", held)
    first = submit(client, png_bytes()).json()["id"]
    while client.get(f"/api/jobs/{first}").json()["state"] != "running":
        time.sleep(0.01)
    second = submit(client, png_bytes()).json()
    assert second["state"] == "queued" and second["queue_position"] == 1
    release.set()
    assert wait(client, first)["state"] == wait(client, second["id"])["state"] == "done"
    assert seen == [1, 1]  # never two at once


def test_finished_jobs_are_removed_after_a_while(weights_dir: Path) -> None:
    jobs = Jobs("cpu", keep_seconds=0.5)
    try:
        with TestClient(make_app(jobs), base_url=LOCAL) as client:
            status = wait(client, submit(client, png_bytes()).json()["id"])
            assert status["state"] == "done" and leftovers(jobs)
            time.sleep(1.5)  # the worker looks every keep_seconds when idle
            assert (
                leftovers(jobs) == [] and client.get(f"/api/jobs/{status['id']}").status_code == 404
            )
    finally:
        jobs.close()
    assert not jobs.root.exists()  # and the whole folder goes with the server


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("get", "/api/options", {"host": "rebind.evil.example"}),  # DNS rebinding
        ("get", "/", {"host": "evil.example:8000"}),
        ("post", "/api/jobs", {"origin": "http://evil.example"}),  # a page of another site
        ("post", "/api/jobs", {"referer": "http://evil.example/page.html"}),
        ("post", "/api/jobs", {"origin": "http://127.0.0.1:9999"}),  # another local server
        ("delete", "/api/jobs/abc", {"origin": "null"}),  # a sandboxed or file:// page
    ],
)
def test_requests_of_other_sites_are_refused(client, method, path, headers) -> None:
    kwargs = {"files": {"image": ("p.png", png_bytes(), "image/png")}} if method == "post" else {}
    answer = getattr(client, method)(path, headers=headers, **kwargs)
    assert answer.status_code == 403
    assert list(answer.json()) == ["error"] and "\n" not in answer.json()["error"]


def test_the_servers_own_page_and_plain_clients_are_let_through(client) -> None:
    own = {"origin": LOCAL, "referer": f"{LOCAL}/"}
    answer = submit(client, png_bytes(), headers=own)
    assert answer.status_code == 202
    assert submit(client, png_bytes()).status_code == 202  # no Origin: curl, scripts
    for host in ("localhost:8000", "127.0.0.2:8000", "[::1]:8000"):
        assert client.get("/api/options", headers={"host": host}).status_code == 200


def test_a_server_bound_to_every_interface_checks_origin_alone(jobs: Jobs) -> None:
    with TestClient(make_app(jobs, bind="0.0.0.0"), base_url="http://192.0.2.7:8000") as lan:
        assert lan.get("/api/options").status_code == 200  # its LAN address, unknown to it
        evil = {"origin": "http://evil.example"}
        assert submit(lan, png_bytes(), headers=evil).status_code == 403


def test_the_queue_is_bounded_in_all_and_per_client(weights_dir: Path, monkeypatch) -> None:
    jobs = Jobs("cpu", max_queued=3, max_per_client=2)
    release, restore = threading.Event(), jobs._restore

    def held(job):
        release.wait(30)  # the worker holds every job until the test lets them go
        return restore(job)

    monkeypatch.setattr(jobs, "_restore", held)
    app = make_app(jobs)
    try:
        with (
            TestClient(app, base_url=LOCAL, client=("127.0.0.1", 50001)) as one,
            TestClient(app, base_url=LOCAL, client=("127.0.0.2", 50002)) as two,
        ):
            first = [submit(one, png_bytes()).status_code for _ in range(3)]
            assert first == [202, 202, 429]  # two of one client's, then its cap
            third = submit(one, png_bytes())
            assert third.json() == {
                "error": "2 of your images are waiting already; try again when one is done"
            }
            assert submit(two, png_bytes()).status_code == 202  # another client: room
            full = submit(two, png_bytes())  # three in all: the queue's cap
            assert full.status_code == 429 and "the queue is full" in full.json()["error"]
            assert len(leftovers(jobs)) == 3  # the refused uploads left nothing
            release.set()
            for job_id in list(jobs.jobs):
                assert wait(one, job_id)["state"] == "done"
            assert submit(one, png_bytes()).status_code == 202  # done jobs free the room
    finally:
        release.set()
        jobs.close()


def slow_tiles(monkeypatch, tiles: int = 2000, seconds: float = 0.01) -> None:
    """restore_photo as a long run of tiles (seconds each), calling back after each."""
    from csrnet.inference import pipeline

    def restore_photo(photo, model, deg, run=None, on_tile=None):
        for done in range(1, tiles + 1):
            time.sleep(seconds)
            on_tile(done, tiles)
        return photo

    monkeypatch.setattr(pipeline, "restore_photo", restore_photo)


def running(client, job_id: str) -> None:
    end = time.time() + 30
    while client.get(f"/api/jobs/{job_id}").json().get("tiles_done", 0) < 1:
        assert time.time() < end
        time.sleep(0.01)


def idle(jobs: Jobs, seconds: float = 2.0) -> float:
    """Seconds until the worker holds no job and no job's files are left."""
    start = time.time()
    while any(j.state == "running" for j in jobs.jobs.values()) or leftovers(jobs):
        assert time.time() - start < seconds, "the job went on"
        time.sleep(0.01)
    return time.time() - start


def test_a_cancelled_job_stops_within_a_tile(client, jobs: Jobs, monkeypatch) -> None:
    slow_tiles(monkeypatch)
    job_id = submit(client, png_bytes()).json()["id"]
    running(client, job_id)
    assert client.delete(f"/api/jobs/{job_id}", headers={"origin": LOCAL}).status_code == 200
    idle(jobs)  # 2,000 tiles of 10 ms would take 20 s
    assert client.get(f"/api/jobs/{job_id}").status_code == 404


def test_a_job_whose_page_is_gone_is_dropped(weights_dir: Path, monkeypatch) -> None:
    slow_tiles(monkeypatch)
    jobs = Jobs("cpu", abandon_seconds=0.5)
    try:
        with TestClient(make_app(jobs), base_url=LOCAL) as client:
            job_id = submit(client, png_bytes()).json()["id"]
            running(client, job_id)  # then nobody asks for it again: the page was closed
            assert idle(jobs, seconds=3.0) >= 0.2
            assert job_id not in jobs.jobs
    finally:
        jobs.close()


def test_a_stop_ends_the_running_job_and_removes_every_file(weights_dir, monkeypatch) -> None:
    slow_tiles(monkeypatch)
    jobs = Jobs("cpu")
    with TestClient(make_app(jobs), base_url=LOCAL) as client:
        running(client, submit(client, png_bytes()).json()["id"])
        submit(client, png_bytes(), headers={"origin": LOCAL})  # and one waiting
        start = time.time()
    # leaving the client shuts the app down, as SIGTERM or Ctrl-C does uvicorn
    assert time.time() - start < 5 and not jobs.worker.is_alive()
    assert not jobs.root.exists()


def test_the_folders_of_killed_servers_are_removed_at_start(weights_dir, tmp_path) -> None:
    import subprocess
    import sys
    import tempfile

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    killed = Path(tempfile.mkdtemp(prefix="csrnet-serve-"))
    (killed / PID_FILE).write_text(gone)
    (killed / "job").mkdir()
    alive = Path(tempfile.mkdtemp(prefix="csrnet-serve-"))
    (alive / PID_FILE).write_text(str(os.getppid()))  # a process that runs
    unknown = Path(tempfile.mkdtemp(prefix="csrnet-serve-"))  # no pid file: not provably ours
    try:
        jobs = Jobs("cpu")
        jobs.close()
        assert not killed.exists() and alive.exists() and unknown.exists()
        assert remove_stale_folders() == []
    finally:
        for folder in (killed, alive, unknown):
            shutil.rmtree(folder, ignore_errors=True)


def test_a_server_open_to_other_machines_asks_for_its_token(jobs: Jobs) -> None:
    app = make_app(jobs, bind="0.0.0.0", token="s3cret")
    with TestClient(app, base_url="http://192.0.2.7:8000") as lan:
        assert lan.get("/api/options").status_code == 403
        assert lan.get("/api/options?token=wrong").status_code == 403
        assert lan.get("/api/options", headers={"authorization": "token s3cret"}).status_code == 200
        assert lan.get("/?token=s3cret").status_code == 200  # the printed URL: sets the cookie
        assert lan.get("/api/options").status_code == 200  # the page's own requests, by cookie
        assert submit(lan, png_bytes()).status_code == 202


def test_the_token_is_chosen_by_the_address() -> None:
    from csrnet.serve.guard import choose_token

    assert choose_token("127.0.0.1") is None and choose_token("localhost") is None
    made = choose_token("0.0.0.0")
    assert made and len(made) >= 24 and made != choose_token("0.0.0.0")
    assert (
        choose_token("0.0.0.0", "mine") == "mine" and choose_token("0.0.0.0", no_token=True) is None
    )
    with pytest.raises(CsrnetError, match="--token is empty"):
        choose_token("0.0.0.0", "")


def test_the_space_for_images_is_bounded(weights_dir: Path) -> None:
    jobs = Jobs("cpu", max_disk_bytes=len(png_bytes()) + 1000)
    try:
        with TestClient(make_app(jobs), base_url=LOCAL) as client:
            first = submit(client, png_bytes()).json()["id"]  # its upload fits, then no more
            full = submit(client, png_bytes())
            assert full.status_code == 429 and "space for images is full" in full.json()["error"]
            assert wait(client, first)["state"] == "done"
    finally:
        jobs.close()


def test_a_page_closed_mid_queue_frees_its_place(weights_dir: Path, monkeypatch) -> None:
    slow_tiles(monkeypatch)
    jobs = Jobs("cpu", abandon_seconds=0.5, max_queued=2, max_per_client=2)
    try:
        with TestClient(make_app(jobs), base_url=LOCAL) as client:
            first = submit(client, png_bytes()).json()["id"]
            running(client, first)  # its page keeps asking for it below
            left = submit(client, png_bytes()).json()["id"]  # queued; its page is closed
            assert submit(client, png_bytes()).status_code == 429  # the queue is full
            end = time.time() + 1.0
            while time.time() < end:
                client.get(f"/api/jobs/{first}")
                time.sleep(0.05)
            assert submit(client, png_bytes()).status_code == 202  # the closed page's place
            assert client.get(f"/api/jobs/{left}").status_code == 404
            assert len(leftovers(jobs)) == 2  # the first and the new one: no files of the left
    finally:
        jobs.close()


def test_auto_reads_the_quality_of_a_jpeg_upload(client, weights_dir: Path) -> None:
    from conftest import tiny_weights

    tiny_weights(weights_dir, "tiny_jpeg", "jpeg", [], level_range=[5, 60])
    buffer = io.BytesIO()
    Image.open(sample_dir("Set5") / "bird.png").convert("RGB").crop((0, 0, 48, 40)).save(
        buffer, format="JPEG", quality=30
    )
    files = {"image": ("photo.jpg", buffer.getvalue(), "image/jpeg")}
    answer = client.post("/api/jobs", files=files, data={"task": "jpeg", "level": "auto"})
    assert answer.status_code == 202, answer.text
    status = wait(client, answer.json()["id"])
    assert status["state"] == "done", status
    assert status["setting"] == "q30" and status["read_from"] == "the JPEG tables"
    assert status["weights"] == "tiny_jpeg"
    png = submit(client, png_bytes(), "jpeg", "auto")
    assert png.status_code == 400 and "not a JPEG file" in png.json()["error"]
    demo = submit(client, png_bytes(), "jpeg", "auto", demo="1")
    assert demo.status_code == 400 and "give a level here" in demo.json()["error"]
    assert client.get("/api/options").json()["tasks"]["jpeg"]["auto"] == "the JPEG tables"


def test_an_upload_is_measured_by_the_bytes_it_sends(client) -> None:
    """A chunked upload (no Content-Length) is stopped once over the cap, and the message
    says how much came; a declared length over the cap is refused unread, with its size."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def body():
        yield head
        for _ in range(80):  # 5 MiB, the cap is 1 MiB (+ 1 MiB for the form)
            yield bytes(65536)

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    answer = client.post("/api/jobs", content=body(), headers=headers)
    assert answer.status_code == 413, answer.text
    message = answer.json()["error"]  # the test client hands the body over in one piece
    assert re.fullmatch(
        r"the upload is over (\S+) MiB \(read so far\); the limit is 1 MiB", message
    )
    assert 2.0 < float(message.split()[4]) <= 5.0
    declared = client.post(
        "/api/jobs", content=bytes(5 * 2**20), headers={**headers, "Content-Length": str(5 * 2**20)}
    )
    assert declared.json()["error"] == "the upload is 5.0 MiB; the limit is 1 MiB"


def test_a_client_that_sends_no_request_is_cut_off(jobs: Jobs) -> None:
    import socket

    import uvicorn

    from csrnet.serve.server import DeadlineProtocol

    class Quick(DeadlineProtocol):
        header_seconds = 0.5

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(make_app(jobs), port=port, http=Quick, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never ends
            start = time.time()
            assert slow.recv(100) == b"" and time.time() - start < 3  # closed by the server
    finally:
        server.should_exit = True
        thread.join(timeout=10)
