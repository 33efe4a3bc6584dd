"""``csrnet serve``: the local web page."""

from __future__ import annotations

import argparse
import sys

from csrnet.cli.options import (
    Commands,
    UsageError,
    add_backend_option,
    add_command,
    add_device_option,
)
from csrnet.errors import CsrnetError

__all__ = ["add_commands"]


def add_commands(commands: Commands) -> None:
    """Register ``serve``: the local web page."""
    sv = add_command(commands, cmd_serve, "serve")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost)")
    sv.add_argument("--port", type=int, default=8000)
    add_device_option(sv)
    add_backend_option(sv)
    sv.add_argument("--max-upload-mb", type=float, default=20.0, help="upload size cap")
    sv.add_argument("--max-megapixels", type=float, default=12.0, help="input pixel cap")
    sv.add_argument("--max-queued", type=int, default=8, help="jobs waiting or running, in all")
    sv.add_argument("--max-per-client", type=int, default=2, help="the same, per client address")
    sv.add_argument(
        "--max-disk-mb", type=float, default=2048.0, help="space for uploads and results"
    )
    sv.add_argument(
        "--token",
        help="a token every request must carry (default: a random one when --host is not "
        "a loopback address, none on localhost)",
    )
    sv.add_argument(
        "--no-token",
        action="store_true",
        help="serve a non-loopback address without a token (anyone who reaches it may use it)",
    )


def cmd_serve(args: argparse.Namespace) -> None:
    """a local web page to restore an image and compare before and after

    Serve one page on this machine: drop an image, pick the task, watch the progress, compare
    with a slider and download the result. Needs `pip install 'csrnet[serve]'`.
    """
    import socket

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be 1-65535")
    if min(args.max_upload_mb, args.max_megapixels, args.max_disk_mb) <= 0:
        raise UsageError("--max-upload-mb, --max-megapixels and --max-disk-mb must be positive")
    if args.max_queued < 1 or args.max_per_client < 1:
        raise UsageError("--max-queued and --max-per-client must be >= 1")
    if args.token is not None and args.no_token:
        raise UsageError("give at most one of --token and --no-token")
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise CsrnetError("csrnet serve needs its extra: pip install 'csrnet[serve]'") from None
    with socket.socket() as probe:  # a clear line now rather than uvicorn's log later
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((args.host, args.port))
        except OSError as exc:
            raise CsrnetError(
                f"cannot listen on {args.host}:{args.port} ({exc.strerror}); pass --port"
            ) from None
    from csrnet.devices import resolve_device
    from csrnet.inference.backend_choice import choose_backend
    from csrnet.serve.guard import choose_token, is_loopback
    from csrnet.serve.server import serve

    try:
        token = choose_token(args.host, args.token, args.no_token)
    except CsrnetError as exc:
        raise UsageError(str(exc)) from None
    if token is None and not is_loopback(args.host):
        print(
            f"csrnet: warning: {args.host} without a token: anyone who reaches it may use it",
            file=sys.stderr,
        )

    device = str(resolve_device(args.device))
    choose_backend(args.backend, device)  # an unknown or missing one: refused before serving
    serve(
        args.host,
        args.port,
        device,
        backend=args.backend,
        token=token,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_pixels=int(args.max_megapixels * 1e6),
        max_queued=args.max_queued,
        max_per_client=args.max_per_client,
        max_disk_bytes=int(args.max_disk_mb * 2**20),
    )
