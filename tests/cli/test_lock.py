"""The lock: a second state change fails at once naming the holder, or waits with --wait; reads
never wait; a dead holder never leaves a stale lock."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, Cli, cli_env, current_id, deploy_ok, run_real, start_cli

from releases_cli.core import lock
from releases_cli.core.clock import utc_now
from releases_cli.core.errors import SystemFailure
from releases_cli.core.layout import DeployRoot


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


_FILELOCK_HOLDER = """
import pathlib, sys, time, filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
pathlib.Path(sys.argv[2]).touch()
while not pathlib.Path(sys.argv[3]).exists():
    time.sleep(0.05)
lock.release()
"""
_WAIT_FOR_GATE = 'touch "$1"; while [ ! -e "$2" ]; do sleep 0.05; done'


def _foreign_holder(kind: str, lock: Path, ready: Path, gate: Path) -> subprocess.Popen[str]:
    """Another program holding `lock` the way older versions or a shell script did (flock(1), or
    filelock's stock FileLock) until `gate` exists; returns once it holds it."""
    if kind == "flock(1)":
        command = ["flock", str(lock), "sh", "-c", _WAIT_FOR_GATE, "sh", str(ready), str(gate)]
    else:
        command = [sys.executable, "-c", _FILELOCK_HOLDER, str(lock), str(ready), str(gate)]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the holder never took the lock"
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("kind", ["flock(1)", "filelock.FileLock"])
def test_another_programs_flock_excludes_releases(
    cli: Cli, root: Path, app: Path, tmp_path: Path, kind: str
) -> None:
    """A real process holding .releases/lock (a `flock` in a shell script, or an older version
    that took it through filelock's FileLock) makes rollback exit 5 and change nothing; once it
    lets go, the rollback works. Ours never truncates the lock file."""
    deploy_ok(cli, root, app)
    live = deploy_ok(cli, root, app)
    lock = root / ".releases" / "lock"
    proc = _foreign_holder(kind, lock, tmp_path / "ready", tmp_path / "gate")
    try:
        busy = cli("rollback", "--root", str(root))
        assert busy.returncode == 5, busy.stderr
        assert "holds the lock" in busy.stderr and busy.stderr.count("\n") == 1
        assert current_id(root) == live
    finally:
        (tmp_path / "gate").touch()
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    lock.write_bytes(b"kept")  # after the other program: filelock before 4.3 truncates it
    assert cli("rollback", "--root", str(root)).returncode == 0
    assert current_id(root) != live
    assert lock.read_bytes() == b"kept"


def test_releases_excludes_flock_and_filelock(root: Path, app: Path, tmp_path: Path) -> None:
    """While a deploy holds the lock, `flock -n` on the same file fails and filelock's FileLock
    times out; once it is done, both get it."""
    lock = root / ".releases" / "lock"
    gate = tmp_path / "gate"
    proc = _blocked_deploy(root, app, gate)
    probe = [sys.executable, "-c", "import filelock,sys; filelock.FileLock(sys.argv[1]).acquire(0)"]
    try:
        assert subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode == 1
        held = subprocess.run([*probe, str(lock)], capture_output=True, text=True, check=False)
        assert held.returncode == 1 and "Timeout" in held.stderr
    finally:
        gate.touch()
        proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert subprocess.run(["flock", "-n", str(lock), "true"], check=False).returncode == 0
    assert subprocess.run([*probe, str(lock)], check=False).returncode == 0


def test_a_link_planted_at_the_lock_after_the_check_is_not_followed(
    root: Path, outside: Path
) -> None:
    """The layout check refuses a planted .releases/lock link (test_state_planted.py); one planted
    between that check and the open (simulated by calling the lock's open directly) is not
    followed either: the command fails with exit 11 and the link's target is untouched."""
    (root / ".releases").mkdir()
    target = outside / "precious.txt"
    (root / ".releases" / "lock").symlink_to(target)
    before = target.stat()
    with pytest.raises(SystemFailure) as refused, lock._flock(DeployRoot(root), 0, utc_now):
        pytest.fail("the lock was taken through a symlink")
    assert refused.value.exit_code == 11
    assert target.read_text() == "do not delete\n" and target.stat() == before
    assert subprocess.run(["flock", "-n", str(target), "true"], check=False).returncode == 0


def test_rollback_takes_the_lock_through_filelock(cli: Cli, root: Path, app: Path) -> None:
    """`releases rollback`, a real process on this platform, imports filelock to take the lock."""
    deploy_ok(cli, root, app)
    deploy_ok(cli, root, app)
    result = run_real(
        ["rollback", "--root", str(root)],
        cwd=None,
        env=cli_env(None),
        timeout=60,
        program=("-X", "importtime", "-m", "releases_cli"),
    )
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "filelock" in imported
