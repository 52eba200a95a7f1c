"""bench/capistrano/compare.py sets up its peer without leaving anything behind: its sshd listens
on 127.0.0.1 only, is stopped on Ctrl-C and on SIGTERM, the user's ~/.ssh is never touched, and
a missing Capistrano is reported (not installed behind the user's back with --no-install)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, sigint_as_from_a_terminal

COMPARE = REPO / "bench" / "capistrano" / "compare.py"
SSHD_LINE = re.compile(r"sshd pid (\d+) on 127\.0\.0\.1:(\d+); files in (\S+)")
LISTEN = "0A"  # TCP state in /proc/net/tcp*


def _peer_here() -> bool:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    return shutil.which("cap") is not None and os.access(sshd, os.X_OK)


needs_peer = pytest.mark.skipif(not _peer_here(), reason="needs capistrano and openssh-server")


def _listeners(port: int) -> list[str]:
    """Local addresses (hex, as the kernel prints them) listening on `port`, IPv4 and IPv6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == LISTEN:
                found.append(address)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def _ssh_dir_state() -> list[tuple[str, float]] | None:
    """The user's real ~/.ssh (from the password database, as ssh finds it): entries and mtimes."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh"
    if not home.exists():
        return None
    return sorted((p.name, p.stat().st_mtime) for p in home.iterdir())


@needs_peer
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_throwaway_sshd_is_loopback_only_and_stopped_when_interrupted(how: str) -> None:
    """Mid-run (during the first deploys), the benchmark's sshd listens on 127.0.0.1 and nowhere
    else; after Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it)
    or SIGTERM, the benchmark exits, its sshd process is gone, the port is closed, its temporary
    directory is removed, /run/sshd is as before and ~/.ssh was not created or changed."""
    ssh_before = _ssh_dir_state()
    privsep_before = Path("/run/sshd").exists()
    driver = subprocess.Popen(
        [sys.executable, str(COMPARE), "--runs", "1", "--no-install"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
        preexec_fn=sigint_as_from_a_terminal,  # noqa: PLW1509 - no threads hold locks here
    )
    try:
        assert driver.stdout is not None
        match = None
        for line in driver.stdout:
            match = SSHD_LINE.search(line)
            if match:
                break
        assert match, f"no sshd line; stderr: {driver.stderr.read() if driver.stderr else ''}"
        pid, port, work = int(match[1]), int(match[2]), Path(match[3])
        assert _listeners(port) == ["0100007F"]  # 127.0.0.1, and no IPv6 or wildcard socket
        assert _alive(pid)
        if how == "ctrl-c":
            os.killpg(driver.pid, signal.SIGINT)
        else:
            driver.send_signal(signal.SIGTERM)
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert not _alive(pid)
    assert _listeners(port) == []
    assert not work.exists()
    assert Path("/run/sshd").exists() == privsep_before
    assert _ssh_dir_state() == ssh_before


def test_missing_capistrano_is_reported_with_the_fix(tmp_path: Path) -> None:
    """Without `cap` on PATH and with --no-install, the benchmark changes nothing and says what
    is missing and the command that installs it: on stderr with exit code 3 when asked to run,
    on stdout with exit code 0 under --if-available (how `make bench` runs it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "ssh", "ssh-keygen"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    asked = subprocess.run(
        [sys.executable, str(COMPARE), "--no-install"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert asked.returncode == 3
    assert "cannot run: needs cap" in asked.stderr
    assert "apt-get install capistrano openssh-server" in asked.stderr
    assert asked.stdout == ""
    optional = subprocess.run(
        [sys.executable, str(COMPARE), "--no-install", "--if-available"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert optional.returncode == 0
    assert optional.stdout.startswith("capistrano benchmark skipped: needs cap")
    assert optional.stderr == ""
