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
from loadgen import Connection, Load, Visitor, asset_refs, builds_seen, by_visitor, summarize

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


class StickyHandler(BaseHTTPRequestHandler):
    """What nginx's sticky canary split does, in small: a request without the `rl_t` cookie
    gets a bucket (the nth new visitor: n * 7 % 100) in a Set-Cookie; bucket < 10 is served by
    build v2, which answers 500 on every 5th of its page views; the rest by v1. Records the
    Cookie header of every request."""

    protocol_version = "HTTP/1.1"
    cookies: ClassVar[list[str]] = []
    new_visitors = 0
    v2_views = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        sent = self.headers.get("Cookie", "")
        jar = dict(part.strip().split("=", 1) for part in sent.split(";") if "=" in part)
        with self.lock:
            self.cookies.append(sent)
            if "rl_t" not in jar:
                jar["rl_t"] = str(StickyHandler.new_visitors * 7 % 100)
                StickyHandler.new_visitors += 1
                set_cookie = f"rl_t={jar['rl_t']}; Path=/; Max-Age=86400; HttpOnly"
            else:
                set_cookie = ""
            build = "v2" if int(jar["rl_t"]) < 10 else "v1"
            if build == "v2":
                StickyHandler.v2_views += 1
            status = 500 if build == "v2" and StickyHandler.v2_views % 5 == 0 else 200
        self.send_response(status)
        self.send_header("x-app-version", build)
        if set_cookie:
            self.send_header("Set-Cookie", set_cookie)
        self.send_header("Set-Cookie", "seen=1; Path=/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def sticky() -> Iterator[ThreadingHTTPServer]:
    StickyHandler.cookies, StickyHandler.new_visitors, StickyHandler.v2_views = [], 0, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StickyHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_visitors_keep_their_cookies_and_record_who_answered(sticky: ThreadingHTTPServer) -> None:
    """Visitor lanes only (rate=0, browse_rate=0 turn the others off): each visitor sends its
    first request without a cookie and every later one with the cookies it was given; each
    view records the visitor, its bucket and the build, so the failures can be told apart by
    visitor: the visitors on v1 saw none, and each visitor saw one build."""
    load = Load(
        "127.0.0.1",
        sticky.server_address[1],
        rate=0,
        browse_rate=0,
        visitors=20,
        visit_rate=60.0,
        bucket_cookie="rl_t",
        timeout=5.0,
    )
    load.start()
    time.sleep(1.5)
    outcomes = load.stop()

    assert len(outcomes) == len(StickyHandler.cookies)  # nothing unrecorded, no other lane
    visits = by_visitor(outcomes)
    assert set(visits) == set(range(20)) and StickyHandler.new_visitors == 20
    assert sum(1 for views in visits.values() if len(views) >= 2) > 0
    buckets = set()
    for views in visits.values():
        (bucket,) = {v.bucket for v in views}  # given once, then sent back: never a new one
        assert bucket is not None
        buckets.add(bucket)
        assert builds_seen(views) == {"v2" if bucket < 10 else "v1"}
    assert buckets == {n * 7 % 100 for n in range(20)}  # one bucket per visitor, all distinct
    later = [c for c in StickyHandler.cookies if c]
    assert len(later) == len(outcomes) - 20
    assert all("seen=1" in c and "rl_t=" in c for c in later)
    on_v2 = {n for n, views in visits.items() if builds_seen(views) == {"v2"}}
    assert on_v2 and len(on_v2) < 20
    failed = [v for views in visits.values() for v in views if not v.ok]
    assert {v.visitor for v in failed} <= on_v2
    assert [v.status for v in failed] == [500] * (StickyHandler.v2_views // 5)


def test_visitor_cookie_jar() -> None:
    """Set-Cookie lines are stored by name (attributes dropped), sent back as one Cookie
    header, replaced by a newer value, and deleted by Max-Age=0; the bucket is the named
    cookie's value when it is a number."""
    visitor = Visitor(0, Connection("127.0.0.1", 9, timeout=1.0, fresh=False))
    assert visitor.headers() == {}
    visitor.keep(["rl_shop=42; Path=/; Max-Age=2592000; HttpOnly", "theme=dark", "junk"])
    assert visitor.headers() == {"Cookie": "rl_shop=42; theme=dark"}
    assert visitor.bucket("rl_shop") == 42 and visitor.bucket("theme") is None
    visitor.keep(["rl_shop=7; Path=/", "theme=; Path=/; Max-Age=0"])
    assert visitor.headers() == {"Cookie": "rl_shop=7"} and visitor.bucket("") is None
