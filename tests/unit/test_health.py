"""The health check against real HTTP servers on 127.0.0.1 (in-process, one thread each)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from releases_cli.config import HealthConfig
from releases_cli.nextjs.static_share import proof_url_path
from releases_cli.serving.health import build_id_url, check_health


class Scripted(BaseHTTPRequestHandler):
    """Answers each request with the next status of `server.statuses` (the last one repeats),
    and 404 for paths not in `server.paths` (when set)."""

    def do_GET(self) -> None:
        srv = self.server
        assert isinstance(srv, AppServer)
        srv.seen.append(self.path)
        if srv.paths is not None and self.path not in srv.paths:
            status = 404
        else:
            status = srv.statuses[min(srv.calls, len(srv.statuses) - 1)]
            srv.calls += 1
        self.send_response(status)
        if status in (301, 302):
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


class AppServer(ThreadingHTTPServer):
    statuses: list[int]
    paths: set[str] | None = None
    calls = 0

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Scripted)
        self.seen: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[AppServer]:
    srv = AppServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _spec(url: str, timeout: float = 5, status: int = 200) -> HealthConfig:
    return HealthConfig(url, status=status, timeout=timeout, interval=0.05)


def test_retries_until_healthy(server: AppServer, tmp_path: Path) -> None:
    """503 while starting, then 200: healthy, after polling more than once."""
    server.statuses = [503, 503, 200]
    notes: list[str] = []
    assert check_health(_spec(server.base + "/"), notes.append, proof_url_path(tmp_path)) is None
    assert server.calls == 3 and notes[-1] == "health: ok"


def test_never_healthy_names_the_last_answer(server: AppServer, tmp_path: Path) -> None:
    """Always 500: the check gives up by itself and says what the app last answered."""
    server.statuses = [500]
    problem = check_health(
        _spec(server.base + "/", timeout=0.5), lambda _m: None, proof_url_path(tmp_path)
    )
    assert problem is not None
    assert "did not answer 200 within 0.5s (last: 500)" in problem


def test_redirects_are_not_followed(server: AppServer, tmp_path: Path) -> None:
    """A 302 is compared as 302 (so `status = 302` can be expected), never followed."""
    server.statuses = [302]
    assert (
        check_health(
            _spec(server.base + "/", status=302), lambda _m: None, proof_url_path(tmp_path)
        )
        is None
    )
    assert "/elsewhere" not in server.seen


def test_proxy_environment_is_ignored(
    server: AppServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell's http_proxy (here: a dead port) does not reroute the check of the local app."""
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    server.statuses = [200]
    assert check_health(_spec(server.base + "/"), lambda _m: None, proof_url_path(tmp_path)) is None


def test_build_id_probe_requires_the_new_build(server: AppServer, tmp_path: Path) -> None:
    """A Next.js release: `/` answering is not enough; its own build manifest must answer 200."""
    (tmp_path / ".next").mkdir()
    (tmp_path / ".next" / "BUILD_ID").write_text("abc123\n")
    manifest = "/_next/static/abc123/_buildManifest.js"
    server.statuses = [200]
    server.paths = {"/health"}
    problem = check_health(
        _spec(server.base + "/health", timeout=0.5), lambda _m: None, proof_url_path(tmp_path)
    )
    assert problem is not None and "the new build is not the one being served" in problem
    server.paths = {"/health", manifest}
    assert (
        check_health(_spec(server.base + "/health"), lambda _m: None, proof_url_path(tmp_path))
        is None
    )
    assert server.seen[-1] == manifest


def test_build_id_url(tmp_path: Path) -> None:
    """The manifest URL keeps scheme and host, drops the health path and query; no BUILD_ID
    (not a Next.js release) means no second probe."""
    assert build_id_url("http://127.0.0.1:3000/api/health?x=1", proof_url_path(tmp_path)) is None
    (tmp_path / ".next").mkdir()
    (tmp_path / ".next" / "BUILD_ID").write_text("B1")
    assert (
        build_id_url("http://127.0.0.1:3000/api/health?x=1", proof_url_path(tmp_path))
        == "http://127.0.0.1:3000/_next/static/B1/_buildManifest.js"
    )


class RawServer:
    """A TCP server on 127.0.0.1 that answers every connection with `script(conn)`: for
    answers no well-behaved HTTP server gives (dripping, garbage, resets)."""

    def __init__(self, script: Callable[[socket.socket, RawServer], None]) -> None:
        self.script = script
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.stopping = threading.Event()
        self.sent = 0  # bytes the script managed to send, over all connections
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.script(conn, self)
            except OSError:
                return  # the client went away: what a deadline does to a dripping answer

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()


def _drip(head: bytes, body: bytes) -> Callable[[socket.socket, RawServer], None]:
    """Send `head` at once, then `body` one byte every half second (until told to stop)."""

    def script(conn: socket.socket, srv: RawServer) -> None:
        conn.recv(65536)
        conn.sendall(head)
        srv.sent += len(head)
        for byte in body:
            if srv.stopping.wait(0.5):
                return
            conn.sendall(bytes([byte]))
            srv.sent += 1

    return script


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n", b"x" * 120),
        (b"", b"HTTP/1.1 200 OK\r\nX-Padding: " + b"y" * 100 + b"\r\n\r\n"),
    ],
    ids=["body", "headers"],
)
def test_a_dripping_server_cannot_outlast_the_timeout(head: bytes, body: bytes) -> None:
    """A server that drips its answer one byte every half second (each read returns in time,
    so per-read socket timeouts never fire) fails a check with a 1 s timeout: the deadline
    covers connect + headers + body. Were the check waiting for the answer to finish, the
    server would have sent all of it (a minute's worth) before the check returned."""
    srv = RawServer(_drip(head, body))
    try:
        problem = check_health(
            HealthConfig(srv.url, timeout=1, interval=0.05), lambda _m: None, None
        )
        sent_when_done = srv.sent
    finally:
        srv.close()
    assert problem is not None and "did not answer 200 within 1s" in problem
    assert sent_when_done < len(head) + len(body)


def _garbage(conn: socket.socket, _srv: RawServer) -> None:
    conn.recv(65536)
    conn.sendall(b"this is not HTTP\r\n\r\n")


def _hang_up(conn: socket.socket, _srv: RawServer) -> None:
    conn.recv(65536)


def _reset(conn: socket.socket, _srv: RawServer) -> None:
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _half_headers(conn: socket.socket, _srv: RawServer) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 20")


@pytest.mark.parametrize("script", [_garbage, _hang_up, _reset, _half_headers])
def test_a_misbehaving_server_is_an_unhealthy_answer_not_an_exception(
    script: Callable[[socket.socket, RawServer], None],
) -> None:
    """Garbage instead of a status line, a hang-up, a reset, a connection closed mid-headers:
    each is a failed check whose message names what happened, never an exception that would
    escape the go-live (and leave the release live unverified)."""
    srv = RawServer(script)
    try:
        problem = check_health(
            HealthConfig(srv.url, timeout=0.5, interval=0.05), lambda _m: None, None
        )
    finally:
        srv.close()
    assert problem is not None and "did not answer 200 within 0.5s (last: " in problem
    assert "last: no attempt made" not in problem


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:notaport/", "ftp://127.0.0.1/", "http:///nohost", "http://[::1/"]
)
def test_a_malformed_url_is_a_failed_check(url: str) -> None:
    """A URL the check cannot use (bad port, other scheme, no host, broken IPv6 literal) fails
    the check with a message naming the problem, without raising."""
    problem = check_health(HealthConfig(url, timeout=0.2, interval=0.05), lambda _m: None, None)
    assert problem is not None and "did not answer 200" in problem
