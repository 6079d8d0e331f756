"""A plain web server on 127.0.0.1 that answers every request with an HTML page.

What a user gets when a base URL points at a web server (nginx, a router's admin page)
instead of an OpenAI-compatible API. ``html_server`` yields its base URL (``.../v1``).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

PAGE = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def _page(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    do_GET = do_POST = _page

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    """The base URL of a web server that answers every request with an HTML page."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
