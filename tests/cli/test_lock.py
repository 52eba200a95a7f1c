"""The lock: a second state change fails at once naming the holder, or waits with --wait; reads
never wait; a dead holder never leaves a stale lock."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from helpers import REPO, Cli, current_id, deploy_ok, start_cli


def _blocked_deploy(root: Path, app: Path, gate: Path) -> subprocess.Popen[str]:
    """Start a deploy whose build waits until `gate` exists; return once it holds the lock and
    has recorded its release as started."""
    proc = start_cli(
        *[
            "deploy",
            "--root",
            str(root),
            "--source",
            str(app),
            "--build",
            f"while [ ! -e {gate} ]; do sleep 0.05; done",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _started_by(root, proc.pid):
        assert time.monotonic() < deadline, "deploy never started"
        time.sleep(0.02)
    return proc


def _started_by(root: Path, pid: int) -> bool:
    try:
        lines = (root / ".releases" / "history.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return False
    events = [json.loads(line) for line in lines if line.endswith("}")]
    return any(e["event"] == "deploy_started" and e["pid"] == pid for e in events)


def test_second_deploy_fails_fast_naming_holder(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """While one deploy runs, another fails at once (the holder is still running when it
    returns) with exit 5 and the holder's details; list and status answer meanwhile."""
    deploy_ok(cli, root, app)
    live = current_id(root)
    gate = tmp_path / "gate"
    proc = _blocked_deploy(root, app, gate)
    try:
        result = cli("deploy", "--root", str(root), "--source", str(app))
        assert proc.poll() is None, "the second deploy returned while the first still runs"
        assert result.returncode == 5
        assert f"pid {proc.pid}" in result.stderr and "user " in result.stderr
        assert "host " in result.stderr and "deploy" in result.stderr and "since" in result.stderr
        assert cli("rollback", "--root", str(root)).returncode == 5
        listing = cli("list", "--root", str(root))
        assert listing.returncode == 0 and "incomplete" in listing.stdout
        assert cli("status", "--root", str(root)).returncode == 0
        assert current_id(root) == live
    finally:
        gate.touch()
        proc.communicate(timeout=120)
    assert proc.returncode == 0


def test_wait_gets_the_lock_when_holder_finishes(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """--wait SECONDS waits for the holder instead of failing."""
    gate = tmp_path / "gate"
    proc = _blocked_deploy(root, app, gate)
    waiter = start_cli(
        *[
            "deploy",
            "--root",
            str(root),
            "--source",
            str(app),
            "--wait",
            "120",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    assert waiter.poll() is None, "the waiting deploy must not fail while the lock is held"
    gate.touch()
    _, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    proc.communicate(timeout=120)
    assert len(list((root / "releases").iterdir())) == 2


def test_killed_holder_leaves_no_stale_lock(
    cli: Cli, root: Path, app: Path, tmp_path: Path
) -> None:
    """SIGKILL of the holder releases the lock; the next deploy succeeds and reports cleanup."""
    first = deploy_ok(cli, root, app)
    gate = tmp_path / "gate"
    proc = _blocked_deploy(root, app, gate)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    gate.touch()  # lets the orphaned build shell (its own process group) finish
    assert current_id(root) == first
    result = cli("deploy", "--root", str(root), "--source", str(app))
    assert result.returncode == 0, result.stderr
    assert "interrupted" in result.stderr
    listing = cli("list", "--root", str(root), "--json")
    assert listing.returncode == 0
