"""The watch after a flip in reload mode ([serve] watch, `--watch`) with a real PM2 (bgstack's
private PM2_HOME): the user's app runs under PM2 from the release `current` names, restarted by
the [restart] command; a release whose app crash-loops is switched back inside the window
(exit 12, watch_failed, an automatic rollback), a healthy one is left alone. The app is a small
Python HTTP server, a stand-in for Next.js: what is watched is PM2's restart count."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bgstack import ensure_pm2
from helpers import Cli, current_id, free_port

from releases_cli.core.events import read_history
from releases_cli.core.layout import DeployRoot
from releases_cli.core.meta import read_meta

# Serves its release on PORT; with a CRASH file in the release it exits after a second, so PM2
# restarts it again and again.
APP = """\
import os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.path.exists("CRASH"):
    threading.Timer(1.0, lambda: os._exit(1)).start()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


class Site:
    def __init__(self, work: Path) -> None:
        self.root = work / "root"
        self.source = work / "src"
        self.pm2 = ensure_pm2()
        self.env = {"PM2_HOME": str(work / "pm2home")}
        self.port = free_port()

    def pm2_run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.pm2), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def site(tmp_path: Path, cli: Cli) -> Iterator[Site]:
    s = Site(tmp_path)
    s.source.mkdir()
    (s.source / "server.py").write_text(APP)
    assert cli("init", "--root", str(s.root)).returncode == 0
    # The user's restart command: their one app, from the release `current` names.
    restart = (
        f"{s.pm2} delete shopapp >/dev/null 2>&1; {s.pm2} start server.py --name shopapp "
        f'--interpreter python3 --cwd "$RELEASE_PATH" --restart-delay 200 -- {s.port}'
    )
    (s.root / "releases.toml").write_text(
        '[build]\ncommands = []\npreset = "none"\n'
        f"[restart]\ncommand = {json.dumps(restart)}\n"
        f'[serve]\nwatch = "8s"\npm2 = "{s.pm2}"\n'
        "[analysis]\ninterval = 0.5\n"
    )
    try:
        yield s
    finally:
        s.pm2_run("kill")


def deploy(cli: Cli, s: Site) -> subprocess.CompletedProcess[str]:
    return cli("deploy", "--root", str(s.root), "--source", str(s.source), env=s.env)


def test_a_crash_looping_app_is_switched_back_inside_the_watch(cli: Cli, site: Site) -> None:
    """v2's app exits a second after each start: PM2's restart count grows, the watch switches
    back to v1 (its app restarted by the restart command) and exits 12 saying so."""
    first = deploy(cli, site)
    assert first.returncode == 0, first.stderr
    v1 = current_id(site.root)
    (site.source / "CRASH").write_text("")
    result = deploy(cli, site)
    assert result.returncode == 12, result.stderr
    assert "watch failed: PM2 restarted the app" in result.stderr
    assert f"switched back to {v1}" in result.stderr
    assert current_id(site.root) == v1
    events = list(read_history(DeployRoot(site.root)).events)
    failed = next(e for e in events if e.name == "watch_failed")
    v2 = failed.release_id
    assert v2 is not None and v2 != v1
    back = events[-1]
    assert back.name == "switch" and back.raw["automatic"] is True and back.release_id == v1
    meta = read_meta(DeployRoot(site.root), v2)
    assert meta is not None and meta.status == "failed"
    listed = json.loads(site.pm2_run("jlist").stdout)
    (app,) = [a for a in listed if a["name"] == "shopapp"]
    assert app["pm2_env"]["pm_cwd"] == str(site.root / "releases" / v1)


def test_a_healthy_app_is_left_alone_after_its_watch(cli: Cli, site: Site) -> None:
    """A release whose app keeps running passes its watch: exit 0, nothing switched back."""
    assert deploy(cli, site).returncode == 0
    result = deploy(cli, site)
    assert result.returncode == 0, result.stderr
    assert "passed 8s of watch" in result.stdout + result.stderr
    names = [e.name for e in read_history(DeployRoot(site.root)).events]
    assert "watch_failed" not in names
    assert names[-2:] == ["deploy_finished", "prune"] or names[-1] == "deploy_finished"


def test_deploy_detach_leaves_the_watch_to_a_detached_watcher(cli: Cli, site: Site) -> None:
    """`deploy --detach` returns once the flip is done; a watcher in its own session watches
    the crash-looping release, switches back to v1, logs it and ends."""
    assert deploy(cli, site).returncode == 0
    v1 = current_id(site.root)
    (site.source / "CRASH").write_text("")
    args = ("deploy", "--root", str(site.root), "--source", str(site.source), "--detach")
    result = cli(*args, env=site.env)
    assert result.returncode == 0, result.stderr
    assert current_id(site.root) != v1
    log = site.root / ".releases" / "serve" / "watcher.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "switched back" not in _text(log):
        time.sleep(0.2)
    assert f"switched back to {v1}" in _text(log), _text(log)
    assert current_id(site.root) == v1
    names = [e.name for e in read_history(DeployRoot(site.root)).events]
    assert "watch_failed" in names and names[-1] == "switch"


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_the_watch_follows_a_switch_too(cli: Cli, site: Site) -> None:
    """`releases switch` to a staged release whose app crash-loops is watched as a deploy is:
    switched back to the release live before, exit 12."""
    assert deploy(cli, site).returncode == 0
    v1 = current_id(site.root)
    (site.source / "CRASH").write_text("")
    staged = cli("stage", "--root", str(site.root), "--source", str(site.source), env=site.env)
    assert staged.returncode == 0, staged.stderr
    v2 = staged.stdout.split()[-1]
    result = cli("switch", v2, "--root", str(site.root), env=site.env)
    assert result.returncode == 12, result.stderr
    assert f"switched back to {v1}" in result.stderr
    assert current_id(site.root) == v1
    meta = read_meta(DeployRoot(site.root), v2)
    assert meta is not None and meta.status == "failed"
