"""A set made of the sample crops, described as the manifest describes a set, and a local
HTTP server that serves a folder well or badly."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from csrnet.datasets.manifest import FileEntry, SetInfo, Source, pixels_sha256


def describe_set(folder: Path, name: str = "", conversion: str = "") -> SetInfo:
    """``folder``'s images as a set of the manifest (source: a made-up repository)."""
    files = tuple(
        FileEntry(
            p.name,
            p.stat().st_size,
            hashlib.sha256(p.read_bytes()).hexdigest(),
            pixels_sha256(p) if conversion else "",
        )
        for p in sorted(folder.glob("*.png"))
    )
    source = Source("someone/sets", "0" * 40, f"{name or folder.name}/{{stem}}.bmp")
    return SetInfo(name or folder.name, "test", ("sr",), source, conversion, "test", files)


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ``server.root``; ``server.mode`` "drop" cuts every file after half its bytes
    (once per file when ``server.drop_once``), "slow" waits before answering."""

    def translate_path(self, path: str) -> str:
        return str(Path(self.server.root) / path.split("?")[0].lstrip("/"))

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        mode = self.server.mode
        if mode == "slow":
            time.sleep(self.server.delay)
        path = Path(self.translate_path(self.path))
        if mode == "drop" and path.is_file() and self.path not in self.server.dropped:
            if self.server.drop_once:
                self.server.dropped.add(self.path)
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


class QuietServer(http.server.ThreadingHTTPServer):
    """A server whose handler threads say nothing when a client has gone (a timed-out fetch
    leaves a slow answer to a closed socket, after its test)."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


@contextlib.contextmanager
def serve(root: Path, mode: str = "", delay: float = 2.0, drop_once: bool = False) -> Iterator:
    """A server on 127.0.0.1 for the life of the block; yields it (``.url``, ``.requests``)."""
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.root, server.mode, server.delay = root, mode, delay
    server.drop_once, server.dropped, server.requests = drop_once, set(), []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
