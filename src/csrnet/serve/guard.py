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

- **Token**: a server reachable from other machines (bound to a non-loopback address) also
  asks every request for its token, as Jupyter does: ``?token=`` in the URL it prints (the
  page then keeps it in a same-site cookie), or an ``Authorization: token ...`` header.

A refused request gets 403 and a one-line JSON error.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from csrnet.errors import CsrnetError

__all__ = ["COOKIE", "SameOriginGuard", "choose_token", "is_loopback"]

COOKIE = "csrnet_token"

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (``host`` without its port)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose_token(host: str, token: str | None = None, no_token: bool = False) -> str | None:
    """The token a server bound to ``host`` asks for: the one given; else a new random one
    when ``host`` is not a loopback address; None on loopback or with ``no_token``."""
    if no_token:
        return None
    if token is not None:
        if not token.strip():
            raise CsrnetError("--token is empty; give one, or --no-token to serve without")
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def host_name(host_header: str) -> str:
    """The name of a Host header, without its port ("[::1]:8000" -> "[::1]")."""
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class SameOriginGuard:
    """ASGI middleware: 403 for a foreign Host, a state-changing request from another
    origin, or, with a ``token``, a request without it. ``bind``: the address the server was
    told to listen on (also allowed as Host)."""

    def __init__(self, app, bind: str = "127.0.0.1", token: str | None = None) -> None:
        self.app, self.bind, self.token = app, bind.lower(), token

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
        if self.token and not self.has_token(scope, headers):
            return "this server needs its token: open the URL it printed (with ?token=...)"
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is None and "referer" in headers:
            parts = urlsplit(headers["referer"])
            origin = f"{parts.scheme}://{parts.netloc}"
        if origin is not None and origin.lower() != f"http://{host}".lower():
            return f"requests from {origin} are refused: only this server's own page may send them"
        return None

    def has_token(self, scope, headers: dict[str, str]) -> bool:
        """The token in the query, an ``Authorization: token`` header, or the page's cookie."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookie = SimpleCookie(headers.get("cookie", ""))
        given = [
            *query.get("token", []),
            headers.get("authorization", "").removeprefix("token ").strip(),
            cookie[COOKIE].value if COOKIE in cookie else "",
        ]
        return any(hmac.compare_digest(g.encode(), self.token.encode()) for g in given if g)


async def refuse(send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": body})
