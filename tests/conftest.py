"""Fixtures: a deploy root in tmp_path, an app directory, the CLI (helpers.run_cli), a blue-green
stack (tests/bgstack.py); and the check that each test sits in the folder that says what it is."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from helpers import Cli, run_cli

if TYPE_CHECKING:
    from bgstack import Stack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "real_process: every `cli` call of the test runs as a real subprocess"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The folder says what a test is (docs/design.md, Tests): every test file is in tests/unit/,
    tests/cli/ or tests/e2e/; tests/e2e/ holds exactly the tests marked e2e (what
    `make test-fast` leaves out); no test in tests/unit/ drives the CLI."""
    wrong = [f"{item.nodeid}: {why}" for item in items if (why := _misplaced(item))]
    if wrong:
        raise pytest.UsageError("tests in the wrong folder:\n  " + "\n  ".join(wrong))


def _misplaced(item: pytest.Item) -> str | None:
    folder = item.path.parent.name
    if folder not in ("unit", "cli", "e2e"):
        return "a test file sits in tests/unit/, tests/cli/ or tests/e2e/"
    if (folder == "e2e") != (item.get_closest_marker("e2e") is not None):
        return "tests/e2e/ holds the tests marked e2e, and only those"
    if folder == "unit" and {"cli", "stack"} & set(getattr(item, "fixturenames", ())):
        return "a test that drives the CLI belongs in tests/cli/"
    return None


@pytest.fixture
def cli(request: pytest.FixtureRequest) -> Cli:
    """`releases ARGS` with a process's result: in this process unless the call or the test
    (marked real_process) needs a real one."""
    if request.node.get_closest_marker("real_process"):
        return functools.partial(run_cli, real=True)
    return run_cli


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty deploy root directory (not yet initialised)."""
    path = tmp_path / "root"
    path.mkdir()
    return path


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A small app source tree, with the directories a deploy must leave out."""
    path = tmp_path / "app"
    (path / "pages").mkdir(parents=True)
    (path / "index.html").write_text("v1\n")
    (path / "pages" / "about.html").write_text("about\n")
    (path / "run.sh").write_text("#!/bin/sh\necho run\n")
    (path / "run.sh").chmod(0o755)
    (path / "link-to-index").symlink_to("index.html")
    for skipped in (".git", "node_modules", ".next"):
        (path / skipped).mkdir()
        (path / skipped / "junk").write_text("must not be copied\n")
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the deploy root that nothing may ever touch (planted links point
    into it): a file `precious.txt` and a directory `deep/`."""
    path = tmp_path / "outside"
    (path / "deep").mkdir(parents=True)
    (path / "precious.txt").write_text("do not delete\n")
    (path / "deep" / "also.txt").write_text("nor this\n")
    return path


class _Fixed(BaseHTTPRequestHandler):
    """Answers every GET with the server's `status`."""

    def do_GET(self) -> None:
        self.send_response(getattr(self.server, "status", 200))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def web() -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.1 answering a settable status (`web.status`, 200 at first): a
    stand-in for an app's health URL where only its answer is the point."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Fixed)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def stack(tmp_path: Path, cli: Cli) -> Iterator[Stack]:
    """A deploy root in blue-green mode with its own PM2 and nginx (both stopped after)."""
    from bgstack import running_stack  # only the tests that ask for a stack load it

    with running_stack(tmp_path, cli) as s:
        yield s
