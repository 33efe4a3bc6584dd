"""``csrnet serve``: a local web page to restore an image and compare before and after.

A small Starlette app with one HTML page (``static/serve.html``: no script or style from the
internet) and a JSON API under ``/api``. Uploads are decoded by the same guarded reader as
the CLI (decompression bombs, truncated and non-image files refused) and restored by the
same code as ``csrnet restore`` (``csrnet.inference.pipeline``), in-process, one job at a time in a
worker thread; others wait in a queue whose position the page shows. Files live in a private
temporary folder (mode 0700), named by the server, never by the client: a job is found by a
random id, and its files are removed after the download or after ``keep_seconds``.

API: ``POST /api/jobs`` (multipart: ``image``, ``task``, ``level``, ``demo``, ``channels``:
auto, y or rgb, as ``csrnet restore --channels``, ``strength``: as ``--strength``) ->
``{"id"}``;
``GET /api/jobs/{id}`` -> state, queue position, tiles done / total, and when done the
seconds, weights, megapixels (and PSNR / SSIM on Y in demo mode); ``GET
/api/jobs/{id}/{before,after}.png`` (``?download=1``: as an attachment, then removed);
``GET /api/options``. Errors are ``{"error": "one line"}`` with status 400, 403 (another
site's request, ``serve.guard``), 408 (an upload too slow), 413 (over a cap), 429 (the queue
is full) or 503 (the server stops during the upload).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from csrnet.errors import CsrnetError
from csrnet.serve.guard import COOKIE, SameOriginGuard
from csrnet.serve.jobs import (
    Jobs,
    QueueFull,
    UploadTooLarge,
    level_number,
    options,
)

__all__ = ["UPLOAD_SECONDS", "Jobs", "make_app"]

PAGE = Path(__file__).parent / "static" / "serve.html"
UPLOAD_SECONDS = 120.0  # to send an upload's body (20 MiB at 1.4 Mbit/s)
# an upload's image bytes, task, level, demo, channels and strength (``Jobs.submit``)
Upload = tuple[bytes, str, float | str, bool, str, str | None]


def error(exc: CsrnetError) -> JSONResponse:
    """A one-line JSON error: 413 for an upload over the caps, 429 for a full queue, else
    400."""
    status = 413 if isinstance(exc, UploadTooLarge) else 429 if isinstance(exc, QueueFull) else 400
    return JSONResponse({"error": str(exc)}, status_code=status)


async def page(request: Request) -> HTMLResponse:
    page = HTMLResponse(PAGE.read_text(encoding="utf-8"))
    token = request.app.state.token
    if token:  # the guard let it through: keep the token for the page's own requests
        page.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return page


async def get_options(request: Request) -> JSONResponse:
    return JSONResponse(options())


async def post_job(request: Request) -> Response:
    jobs: Jobs = request.app.state.jobs
    client = request.client.host if request.client else ""
    try:
        upload = await read_upload(request, jobs.max_upload_bytes)
        job = jobs.submit(*upload, client)
    except CsrnetError as exc:
        return error(exc)
    except ClientDisconnect:
        note(f"{client or 'a client'} went away during its upload; nothing kept")
        return Response(status_code=400)
    except UploadStopped as exc:
        note(f"{exc} from {client or 'a client'}; nothing kept")
        return JSONResponse({"error": str(exc)}, status_code=503 if exc.stopping else 408)
    return JSONResponse(jobs.status(job.id), status_code=202)


async def read_upload(request: Request, max_bytes: int) -> Upload:
    """An upload's fields (:data:`Upload`), read within ``UPLOAD_SECONDS`` and before the
    server stops, its bytes counted as they come."""
    limit = max_bytes + 2**20  # the form's other fields and boundaries
    length = int(request.headers.get("content-length") or 0)
    if length > limit:  # refused before it is read
        raise UploadTooLarge(
            f"the upload is {length / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB"
        )
    reading = asyncio.ensure_future(_read_form(counted(request, limit), max_bytes))
    stop = asyncio.ensure_future(request.app.state.stop.wait())
    done, _ = await asyncio.wait(
        {reading, stop}, timeout=UPLOAD_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    stop.cancel()
    if reading in done:
        return reading.result()
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading  # its spooled file closed (and gone) before we answer
    if stop in done:
        raise UploadStopped("the server is stopping: upload dropped", stopping=True)
    raise UploadStopped(f"the upload took over {UPLOAD_SECONDS:.0f} s: dropped")


async def _read_form(request: Request, max_bytes: int) -> Upload:
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise CsrnetError("no image in the request (field 'image')")
        data = await upload.read(max_bytes + 1)
        task = str(form.get("task", ""))
        level = level_number(form.get("level"))
        demo = str(form.get("demo", "")).lower() in ("1", "true", "on")
        channels = str(form.get("channels", "auto"))
        strength = form.get("strength")  # checked by Jobs.submit; none: 1
        strength = None if strength is None else str(strength)
    return data, task, level, demo, channels, strength


def counted(request: Request, limit: int) -> Request:
    """``request`` whose body stops with UploadTooLarge once more than ``limit`` bytes came,
    whatever its headers said."""
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise UploadTooLarge(
                f"the upload is over {seen / 2**20:.1f} MiB (read so far); the limit is "
                f"{(limit - 2**20) / 2**20:.0f} MiB"
            )
        return message

    return Request(request.scope, receive)


def note(line: str) -> None:
    """One line in the server's log."""
    print(f"csrnet serve: {line}", file=sys.stderr, flush=True)


class UploadStopped(Exception):
    """An upload dropped unread: the server stops (503) or the client was too slow (408)."""

    def __init__(self, message: str, stopping: bool = False) -> None:
        super().__init__(message)
        self.stopping = stopping


async def get_job(request: Request) -> JSONResponse:
    try:
        return JSONResponse(request.app.state.jobs.status(request.path_params["job_id"]))
    except CsrnetError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)


async def get_file(request: Request) -> Response:
    jobs: Jobs = request.app.state.jobs
    job_id, which = request.path_params["job_id"], request.path_params["which"]
    try:
        path = jobs.file(job_id, which)
    except CsrnetError as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    if request.query_params.get("download") != "1":
        return FileResponse(path, media_type="image/png")
    return FileResponse(
        path,
        media_type="image/png",
        filename=f"restored_{job_id[:6]}.png" if which == "after" else "input.png",
        background=BackgroundTask(jobs.remove, job_id) if which == "after" else None,
    )


async def delete_job(request: Request) -> JSONResponse:
    request.app.state.jobs.remove(request.path_params["job_id"])
    return JSONResponse({"removed": True})


ROUTES = [
    Route("/", page),
    Route("/api/options", get_options),
    Route("/api/jobs", post_job, methods=["POST"]),
    Route("/api/jobs/{job_id:str}", get_job),
    Route("/api/jobs/{job_id:str}", delete_job, methods=["DELETE"]),
    Route("/api/jobs/{job_id:str}/{which:str}.png", get_file),
]


def make_app(jobs: Jobs, bind: str = "127.0.0.1", token: str | None = None) -> Starlette:
    """The Starlette app over ``jobs`` (closed when the app shuts down), answering only
    requests that name this server and, for those that change state, come from its page
    (``serve.guard``; ``bind``: the address it listens on; ``token``: asked of every request
    when set)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.loop = asyncio.get_running_loop()  # where a signal handler sets ``stop``
        yield
        app.state.worker_ended = jobs.close()

    guard = [Middleware(SameOriginGuard, bind=bind, token=token)]
    app = Starlette(routes=ROUTES, middleware=guard, lifespan=lifespan)
    app.state.jobs, app.state.token = jobs, token
    app.state.stop = asyncio.Event()  # set when the server stops: uploads in flight end
    return app
