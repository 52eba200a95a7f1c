"""The lock: a second state change fails at once naming the holder, or waits with --wait; reads
never wait; a dead holder never leaves a stale lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, Cli, current_id, deploy_ok


def _slow_deploy(root: Path, app: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a deploy whose build sleeps; return once it holds the lock."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "releases_cli",
            "deploy",
            "--root",
            str(root),
            "--source",
            str(app),
            "--build",
            f"sleep {seconds}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    info = root / ".releases" / "lock.info"
    while not (info.exists() and f'"pid": {proc.pid}' in info.read_text(errors="replace")):
        assert time.monotonic() < deadline, "deploy never took the lock"
        time.sleep(0.02)
    return proc


def test_second_deploy_fails_fast_naming_holder(cli: Cli, root: Path, app: Path) -> None:
    """While one deploy runs, another fails at once with exit 5 and the holder's details."""
    deploy_ok(cli, root, app)
    live = current_id(root)
    proc = _slow_deploy(root, app, 5)
    started = time.monotonic()
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert time.monotonic() - started < 4.5, "must not wait for the running deploy"
    assert result.returncode == 5
    assert f"pid {proc.pid}" in result.stderr and "user " in result.stderr
    assert "host " in result.stderr and "deploy" in result.stderr and "since" in result.stderr
    rollback = cli("rollback", "--root", str(root))
    assert rollback.returncode == 5
    listing = cli("list", "--root", str(root))
    assert listing.returncode == 0 and "incomplete" in listing.stdout, "list answers mid-deploy"
    assert cli("status", "--root", str(root)).returncode == 0
    assert current_id(root) == live
    proc.communicate(timeout=60)
    assert proc.returncode == 0


def test_wait_gets_the_lock_when_holder_finishes(cli: Cli, root: Path, app: Path) -> None:
    """--wait SECONDS waits for the holder instead of failing."""
    proc = _slow_deploy(root, app, 1)
    result = cli("deploy", "--root", str(root), "--source", str(app), "--wait", "60")
    assert result.returncode == 0, result.stderr
    proc.communicate(timeout=60)
    assert len(list((root / "releases").iterdir())) == 2


def test_killed_holder_leaves_no_stale_lock(cli: Cli, root: Path, app: Path) -> None:
    """SIGKILL of the holder releases the lock; the next deploy succeeds and reports cleanup."""
    first = deploy_ok(cli, root, app)
    proc = _slow_deploy(root, app, 30)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert current_id(root) == first
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 0, result.stderr
    assert "interrupted" in result.stderr
    listing = cli("list", "--root", str(root), "--json")
    assert listing.returncode == 0
