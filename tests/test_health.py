"""The health check against real HTTP servers on 127.0.0.1 (in-process, one thread each)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from releases_cli.config import HealthConfig
from releases_cli.nextjs.static_share import proof_url_path
from releases_cli.pipelines.health import build_id_url, check_health


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
