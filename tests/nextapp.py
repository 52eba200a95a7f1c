"""What the Next.js tests share: the fixture app, the npm and Next.js environment, the browser
drivers' folder, `next start` run from a release as PM2 would run it, and the Next.js example
served blue-green."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from helpers import free_port

if TYPE_CHECKING:
    from nextjs_bluegreen import BlueGreen

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "nextjs-app"  # App Router: a page, /api/hello, /skew
BROWSER = HERE / "browser"  # the Chromium drivers (*.mjs) and their playwright-core
ENV = {"NEXT_TELEMETRY_DISABLED": "1", "npm_config_fund": "false", "npm_config_audit": "false"}
NPM_ENV = {
    "npm_config_audit": "false",
    "npm_config_fund": "false",
    "npm_config_update_notifier": "false",
}
NEXT_BIN = "node_modules/next/dist/bin/next"
READY_TRIES = 240  # polls a quarter of a second apart: a bound, not a timing


@contextmanager
def next_start(cwd: Path, port: int, ready: str = "/api/hello") -> Iterator[None]:
    """`next start` from `cwd` (the `current` symlink path, as PM2 runs it) on 127.0.0.1:`port`,
    once `ready` answers; stopped with its whole process group after."""
    server = subprocess.Popen(
        ["node", NEXT_BIN, "start", "-H", "127.0.0.1", "-p", str(port)],
        cwd=cwd,
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_serving(port, ready)
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def wait_until_serving(port: int, path: str = "/api/hello") -> None:
    """Return once 127.0.0.1:`port` answers `path` (fails the test after the bound)."""
    for _ in range(READY_TRIES):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.25)
    raise AssertionError(f"next start did not answer on 127.0.0.1:{port}")


def get(url: str) -> tuple[int, str]:
    """The status and body of a GET of `url` (loopback only)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def serve_and_fetch(cwd: Path, paths: list[str]) -> list[str]:
    """Run `next start` from `cwd` and return the bodies of `paths` (each must answer 200)."""
    port = free_port()
    with next_start(cwd, port):
        bodies = []
        for path in paths:
            status, body = get(f"http://127.0.0.1:{port}{path}")
            assert status == 200
            bodies.append(body)
        return bodies


def browser_driver(name: str) -> Path:
    """tests/browser/`name` (a Chromium driver script), playwright-core installed next to it
    first when it is missing (`npm ci` of tests/browser/package.json)."""
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER, check=True, timeout=600
        )
    return BROWSER / name


@contextmanager
def bluegreen_v1(work: Path, grace: str = "15m", instances: int = 2) -> Iterator[BlueGreen]:
    """The Next.js example served blue-green (examples/nextjs_bluegreen.py) under `work`, v1
    deployed; its PM2 and nginx stopped after."""
    from nextjs_bluegreen import BlueGreen  # only the blue-green tests load the example

    bg = BlueGreen(work, free_port(), free_port() + 1, grace=grace, instances=instances)
    try:
        bg.setup()
        bg.deploy("v1")
        yield bg
    finally:
        bg.stop()
