"""Running the app under uvicorn so that no client decides when it stops.

- A client has ``HEADER_SECONDS`` from connecting (or from its last response, on a kept-alive
  connection) to send a request's headers, else the connection is closed
  (:class:`DeadlineProtocol`); the upload route gives the body ``app.UPLOAD_SECONDS``.
- On SIGTERM or Ctrl-C, uploads in flight end at once, each with a line
  (:class:`StoppingServer` sets the app's stop event), the running job at its next tile, and
  whatever is left after ``STOP_SECONDS`` is cancelled by uvicorn; a model being prepared is
  not waited for (``jobs.Jobs.close``): the process ends without it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from csrnet.inference.backends import discard_conversions
from csrnet.serve.app import make_app
from csrnet.serve.jobs import Jobs

__all__ = ["HEADER_SECONDS", "STOP_SECONDS", "DeadlineProtocol", "StoppingServer", "serve"]

HEADER_SECONDS = 10.0
STOP_SECONDS = 3


class DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for a request's headers."""

    header_seconds = HEADER_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.call_later(self.header_seconds, self._headers_late)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.cancel()
        self._deadline = self.loop.call_later(self.header_seconds, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def _headers_late(self) -> None:
        """Close the connection if no request is under way: its headers never came."""
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered (its body has its own deadline)
        if not self.transport.is_closing():
            host = self.client[0] if self.client else "a client"
            print(
                f"csrnet serve: closed a connection from {host}: no request in "
                f"{self.header_seconds:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            self.transport.close()


class StoppingServer(uvicorn.Server):
    """uvicorn's server that also tells the app, at the signal, that it stops."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame) -> None:
        loop = getattr(self.app.state, "loop", None)
        if loop is not None:
            loop.call_soon_threadsafe(self.app.state.stop.set)
        super().handle_exit(sig, frame)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    device: str = "cpu",
    backend: str = "auto",
    token: str | None = None,
    **limits,
) -> None:
    """Run the page until interrupted, restoring with ``backend``; with a ``token``, every
    request must carry it (``serve.guard``)."""
    jobs = Jobs(device, backend=backend, **limits)
    query = f"?token={token}" if token else ""
    print(f"csrnet serve: open http://{host}:{port}/{query} (Ctrl-C stops it)", flush=True)
    # uvicorn stops on SIGTERM / SIGINT, then raises the signal again for the handler it
    # found: with this one, that ends the call, and the command exits 0.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        app = make_app(jobs, bind=host, token=token)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            http=DeadlineProtocol,
            timeout_graceful_shutdown=STOP_SECONDS,
        )
        StoppingServer(config, app).run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not getattr(app.state, "worker_ended", True):
        # the worker prepares a model: exit now, not after it (a thread in the middle of
        # torch or OpenVINO at the interpreter's exit aborts it), without the model's files
        discard_conversions()
        print(
            "csrnet serve: stopped without waiting for the model being prepared (it is "
            "prepared again on the next start)",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(0)
