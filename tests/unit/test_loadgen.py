"""The load generator (examples/loadgen.py) counts every request, failures included, against a
real HTTP server on 127.0.0.1 that answers, refuses with 404, or drops the connection."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from loadgen import Connection, Load, asset_refs, summarize

PAGE = (
    b'<html><script src="/_next/static/chunks/main.js"></script>'
    b'<script src="/_next/static/chunks/gone.js"></script></html>'
)
CHUNK = b'import("static/chunks/lazy-part.js")'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[Counter[str]] = Counter()
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.seen[self.path] += 1
            nth = self.seen[self.path]
        if self.path == "/api/version" and nth % 4 == 0:
            self.close_connection = True  # drop it: no status line at all
            return
        body, status = {
            "/": (PAGE, 200),
            "/lazy": (PAGE, 200),
            "/api/version": (b"{}", 200),
            "/_next/static/chunks/main.js": (CHUNK, 200),
            "/_next/static/chunks/lazy-part.js": (b"x", 200),
        }.get(self.path, (b"missing", 404))
        self.send_response(status)
        self.send_header("x-app-version", "v7")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the counts, not the log."""


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    Handler.seen = Counter()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_every_request_is_recorded_with_its_outcome(server: ThreadingHTTPServer) -> None:
    """What the server handled equals what the client recorded; dropped connections count as
    connection errors, 404s as HTTP failures, and the version header names the build."""
    load = Load("127.0.0.1", server.server_address[1], rate=20.0, browse_rate=4.0, timeout=5.0)
    load.start()
    time.sleep(1.5)
    outcomes = load.stop()

    handled = sum(Handler.seen.values())
    assert len(outcomes) == handled
    api = summarize(outcomes, "all", ("api",))
    # Closed without a status line: "closed" or "reset", depending on who notices first.
    assert sum(api.failed_connection.values()) == Handler.seen["/api/version"] // 4 > 0
    assert set(api.failed_connection) <= {"closed api", "reset api"}
    assets = summarize(outcomes, "all", ("asset",))
    assert assets.failed_status["404 asset"] == Handler.seen["/_next/static/chunks/gone.js"] > 0
    assert Handler.seen["/_next/static/chunks/lazy-part.js"] > 0  # found inside a chunk
    assert set(summarize(outcomes, "all", ("page", "api")).versions) == {"v7"}


class ClosingHandler(BaseHTTPRequestHandler):
    """Closes the connection without answering the request at the positions (1-based, per
    connection) in `drop_at`, as nginx does with idle keep-alive connections on a reload."""

    protocol_version = "HTTP/1.1"
    drop_at: ClassVar[set[int]] = set()
    handled: ClassVar[list[int]] = []

    def do_GET(self) -> None:
        self.nth = getattr(self, "nth", 0) + 1
        self.handled.append(self.nth)
        if self.nth in self.drop_at:
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("x-app-version", "v7")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def closing() -> Iterator[ThreadingHTTPServer]:
    ClosingHandler.handled = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ClosingHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_browser_like_retry_on_a_reused_connection(closing: ThreadingHTTPServer) -> None:
    """With retry_stale, a request on a reused keep-alive connection that the server closes
    before answering is sent again on a new connection and counted as retried, not failed;
    every request the server saw is accounted for."""
    ClosingHandler.drop_at = {3}
    port = closing.server_address[1]
    conn = Connection("127.0.0.1", port, timeout=5.0, fresh=False, retry_stale=True)
    answers = []
    for _ in range(5):
        answers.append((conn.get("/api/version")[0], conn.retried))
    # The retry opens a new connection, whose 3rd request (the 5th here) is dropped too.
    assert answers == [(200, False), (200, False), (200, True), (200, False), (200, True)]
    assert len(ClosingHandler.handled) == 7  # five requests, two of them sent twice


def test_no_retry_on_a_fresh_connection_or_twice(closing: ThreadingHTTPServer) -> None:
    """A drop on a fresh connection is a failure, and so is a retry that is dropped too: the
    browser-like retry never hides a server that really fails."""
    port = closing.server_address[1]
    ClosingHandler.drop_at = {1}
    fresh = Connection("127.0.0.1", port, timeout=5.0, fresh=True, retry_stale=True)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        fresh.get("/")
    reused = Connection("127.0.0.1", port, timeout=5.0, fresh=False, retry_stale=True)
    ClosingHandler.drop_at = set()
    assert reused.get("/")[0] == 200
    ClosingHandler.drop_at = {1, 2}  # the 2nd on this connection, then the retry's 1st
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        reused.get("/")
    load = Load("127.0.0.1", port, rate=20.0, browse_rate=1.0, timeout=5.0)
    assert not load.retry_stale, "off by default: the plain client counts every close"


def test_refused_connection_is_a_failure_not_a_gap() -> None:
    """Nothing listening: every attempt is recorded as `refused`, none is silently dropped."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = Connection("127.0.0.1", port, timeout=2.0, fresh=True)
    with pytest.raises(ConnectionRefusedError):
        conn.get("/")
    load = Load("127.0.0.1", port, rate=10.0, browse_rate=2.0, timeout=2.0)
    load.start()
    time.sleep(0.5)
    outcomes = load.stop()
    assert outcomes
    assert {o.error for o in outcomes} == {"refused"}


def test_asset_refs_finds_html_and_chunk_references_once() -> None:
    """Page HTML and JS chunks name /_next/static files with or without the leading slash."""
    assert asset_refs(PAGE + PAGE) == [
        "/_next/static/chunks/main.js",
        "/_next/static/chunks/gone.js",
    ]
    assert asset_refs(CHUNK) == ["/_next/static/chunks/lazy-part.js"]
