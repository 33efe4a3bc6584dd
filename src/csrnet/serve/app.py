"""``csrnet serve``: a local web page to restore an image and compare before and after.

A small Starlette app with one HTML page (``static/serve.html``: no script or style from the
internet) and a JSON API under ``/api``. Uploads are decoded by the same guarded reader as
the CLI (decompression bombs, truncated and non-image files refused) and restored by the
same code as ``csrnet restore`` (``csrnet.inference.pipeline``), in-process, one job at a time in a
worker thread; others wait in a queue whose position the page shows. Files live in a private
temporary folder (mode 0700), named by the server, never by the client: a job is found by a
random id, and its files are removed after the download or after ``keep_seconds``.

API: ``POST /api/jobs`` (multipart: ``image``, ``task``, ``level``, ``demo``, ``channels``:
auto, y or rgb, as ``csrnet restore --channels``) -> ``{"id"}``;
``GET /api/jobs/{id}`` -> state, queue position, tiles done / total, and when done the
seconds, weights, megapixels (and PSNR / SSIM on Y in demo mode); ``GET
/api/jobs/{id}/{before,after}.png`` (``?download=1``: as an attachment, then removed);
``GET /api/options``. Errors are ``{"error": "one line"}`` with status 400, 403 (another
site's request, ``serve.guard``), 413 (over a cap) or 429 (the queue is full).
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from csrnet.errors import CsrnetError
from csrnet.serve.guard import COOKIE, SameOriginGuard
from csrnet.serve.jobs import Jobs, QueueFull, UploadTooLarge, level_number, options

__all__ = ["Jobs", "make_app", "serve"]

PAGE = Path(__file__).parent / "static" / "serve.html"


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


async def post_job(request: Request) -> JSONResponse:
    jobs: Jobs = request.app.state.jobs
    length = int(request.headers.get("content-length") or 0)
    if length > jobs.max_upload_bytes + 2**20:  # refused before it is read
        return error(
            UploadTooLarge(f"the upload is over the {jobs.max_upload_bytes / 2**20:.0f} MiB limit")
        )
    try:
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("image")
            if upload is None or isinstance(upload, str):
                raise CsrnetError("no image in the request (field 'image')")
            data = await upload.read(jobs.max_upload_bytes + 1)
            task = str(form.get("task", ""))
            level = level_number(form.get("level"))
            demo = str(form.get("demo", "")).lower() in ("1", "true", "on")
            channels = str(form.get("channels", "auto"))
        client = request.client.host if request.client else ""
        job = jobs.submit(data, task, level, demo, channels, client)
    except CsrnetError as exc:
        return error(exc)
    return JSONResponse(jobs.status(job.id), status_code=202)


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
        yield
        jobs.close()

    guard = [Middleware(SameOriginGuard, bind=bind, token=token)]
    app = Starlette(routes=ROUTES, middleware=guard, lifespan=lifespan)
    app.state.jobs, app.state.token = jobs, token
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "cpu",
    backend: str = "auto",
    token: str | None = None,
    **limits,
) -> None:
    """Run the page until interrupted (uvicorn), restoring with ``backend``; with a
    ``token``, every request must carry it (``serve.guard``)."""
    import uvicorn

    jobs = Jobs(device, backend=backend, **limits)
    query = f"?token={token}" if token else ""
    print(f"csrnet serve: open http://{host}:{port}/{query} (Ctrl-C stops it)", flush=True)
    # uvicorn stops on SIGTERM / SIGINT (the running job at its next tile, the files removed
    # by the app's shutdown), then raises the signal again for the handler it found: with
    # this one, that ends the call, and the command exits 0.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        app = make_app(jobs, bind=host, token=token)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
