"""Requests from other sites are refused: the defence of a server on localhost against the
pages its user visits (cross-site requests) and against DNS rebinding, as Jupyter does it.

- **Host**: every request must name this server, by a loopback name or address
  (``localhost``, ``127.x.x.x``, ``::1``) or by the address it was told to bind; a page of
  another site whose name was rebound to 127.0.0.1 still sends its own name, and gets 403.
  A server bound to every interface (``--host 0.0.0.0`` or ``::``) is reached by names it
  cannot know, so it checks Origin alone.
- **Origin**: a request that changes state (anything but GET, HEAD and OPTIONS) from a
  browser must come from this server's own page: its ``Origin`` (or, without one, the origin
  of its ``Referer``) must be ``http://`` plus the request's own Host. Clients that send
  neither (curl, scripts) are not browsers and are let through, as Jupyter does.

A refused request gets 403 and a one-line JSON error.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

__all__ = ["SameOriginGuard", "is_loopback"]

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (``host`` without its port)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name of a Host header, without its port ("[::1]:8000" -> "[::1]")."""
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class SameOriginGuard:
    """ASGI middleware: 403 for a foreign Host, or a state-changing request from another
    origin. ``bind``: the address the server was told to listen on (also allowed as Host)."""

    def __init__(self, app, bind: str = "127.0.0.1") -> None:
        self.app, self.bind = app, bind.lower()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            problem = self.problem(scope)
            if problem:
                await refuse(send, problem)
                return
        await self.app(scope, receive, send)

    def problem(self, scope) -> str | None:
        """Why a request is refused, or None."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host_name(host).lower()
        anywhere = self.bind in ("0.0.0.0", "::", "[::]")
        if not (anywhere or is_loopback(name) or name == self.bind):
            return f"Host {host!r} is not this server's; open it by the address it printed"
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is None and "referer" in headers:
            parts = urlsplit(headers["referer"])
            origin = f"{parts.scheme}://{parts.netloc}"
        if origin is not None and origin.lower() != f"http://{host}".lower():
            return f"requests from {origin} are refused: only this server's own page may send them"
        return None


async def refuse(send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
