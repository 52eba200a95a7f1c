"""`make test` and `make demo` on a fresh machine (scripts/need-system.sh): the system packages
are installed first when we may (root with apt-get), or the make stops at once with the one
command to run. Run here with a PATH that hides the real programs and with stand-ins for
`id` and `apt-get`, so nothing on this machine is installed or removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO

SCRIPT = REPO / "scripts" / "need-system.sh"
TEST_PACKAGES = ["nginx-light", "chromium", "capistrano", "openssh-server"]


def _bin(tmp_path: Path, *fakes: str, uid: int = 0) -> Path:
    """A PATH directory with the real tools the script and make use, plus `fakes` (programs
    that exist and do nothing), an `id` that reports `uid`, and an `apt-get` that records its
    arguments in apt.log (and installs nothing)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "rm", "chmod", "make", "cat", "mkdir"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    (bin_dir / "python3").symlink_to(Path(sys.executable).resolve())
    for name in ("node", "npm", *fakes):
        _script(bin_dir / name, "exit 0")
    _script(bin_dir / "id", f"echo {uid}")
    _script(bin_dir / "apt-get", f'echo "$@" >> "{tmp_path}/apt.log"')
    return bin_dir


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _run(tmp_path: Path, bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "NEED_SYSTEM_SBIN": "",  # /usr/sbin would find this machine's nginx and sshd
        "NEED_SYSTEM_POLICY": str(tmp_path / "policy-rc.d"),
        **env,
    }
    return subprocess.run(
        args, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


def _apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_without_root_it_stops_at_once_with_the_command(tmp_path: Path) -> None:
    """Not root: exit 1 with one line naming every missing package and the one apt-get line
    to run; apt-get is never called."""
    bin_dir = _bin(tmp_path, uid=1000)
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "test")
    assert result.returncode == 1
    line = f"sudo apt-get install -y {' '.join(TEST_PACKAGES)}"
    assert result.stderr.count("\n") == 1 and line in result.stderr, result.stderr
    assert _apt_calls(tmp_path) == []


def test_as_root_it_installs_what_is_missing_and_starts_no_service(tmp_path: Path) -> None:
    """Root with apt-get: apt-get update, then one install of exactly the missing packages
    (chromium is present here, so it is not asked for), with a policy-rc.d that keeps the
    services from starting in place during the install and removed afterwards."""
    bin_dir = _bin(tmp_path, "chromium")
    policy_seen = tmp_path / "policy-seen"
    _script(
        bin_dir / "apt-get",
        f'echo "$@" >> "{tmp_path}/apt.log"; '
        f'[ -x "{tmp_path}/policy-rc.d" ] && "{tmp_path}/policy-rc.d"; echo $? > "{policy_seen}"',
    )
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "test")
    assert result.returncode == 0, result.stderr
    assert _apt_calls(tmp_path) == [
        "update -qq",
        "install -y -qq nginx-light capistrano openssh-server",
    ]
    assert policy_seen.read_text().strip() == "101"  # "do not start services" meanwhile
    assert not (tmp_path / "policy-rc.d").exists()


def test_nothing_to_do_when_everything_is_there(tmp_path: Path) -> None:
    """Every program present: exit 0, silent, no apt-get."""
    bin_dir = _bin(tmp_path, "nginx", "chromium", "cap", "sshd")
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "test")
    assert result.returncode == 0 and result.stderr == ""
    assert _apt_calls(tmp_path) == []


def test_sbin_programs_count(tmp_path: Path) -> None:
    """nginx and sshd are found in the sbin directories even when PATH lacks them (a non-root
    PATH often does)."""
    bin_dir = _bin(tmp_path, "chromium", "cap")
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    for name in ("nginx", "sshd"):
        _script(sbin / name, "exit 0")
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "test", NEED_SYSTEM_SBIN=str(sbin))
    assert result.returncode == 0, result.stderr
    assert _apt_calls(tmp_path) == []


def test_demo_needs_only_nginx(tmp_path: Path) -> None:
    """`make demo`'s list is nginx alone (no Chromium, Capistrano or sshd)."""
    bin_dir = _bin(tmp_path, uid=1000)
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "demo")
    assert result.returncode == 1
    assert "run 'sudo apt-get install -y nginx-light', then make demo again" in result.stderr


def test_a_python_without_venv_asks_for_python3_venv(tmp_path: Path) -> None:
    """A python3 that cannot make a venv (Debian without python3-venv): the package is named
    with the others, since every make target installs into a .venv."""
    bin_dir = _bin(tmp_path, "nginx", "chromium", "cap", "sshd", uid=1000)
    (bin_dir / "python3").unlink()
    _script(bin_dir / "python3", "exit 1")  # `import venv, ensurepip` fails
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "test")
    assert result.returncode == 1
    assert "run 'sudo apt-get install -y python3-venv', then make test again" in result.stderr


def test_without_node_it_says_so_first(tmp_path: Path) -> None:
    """No Node.js: one line saying make test needs Node.js 20 and npm, before any apt-get."""
    bin_dir = _bin(tmp_path)
    (bin_dir / "node").unlink()
    result = _run(tmp_path, bin_dir, "bash", str(SCRIPT), "test")
    assert result.returncode == 1
    assert "make test needs Node.js 20 and npm" in result.stderr
    assert _apt_calls(tmp_path) == []


def test_make_test_stops_before_anything_else(tmp_path: Path) -> None:
    """`make test` with the system packages missing and no right to install them fails at
    once with the message, before the venv is even created (nothing half-way)."""
    bin_dir = _bin(tmp_path, uid=1000)
    venv = tmp_path / "venv"
    result = _run(tmp_path, bin_dir, "make", "--no-print-directory", "test", f"VENV={venv}")
    assert result.returncode != 0
    assert "make test needs nginx-light chromium capistrano openssh-server" in result.stderr
    assert not venv.exists()
    assert not any("pytest" in line for line in (result.stdout + result.stderr).splitlines())


def test_ci_runs_make_test() -> None:
    """.ci/run calls `make test` (and lints first), then the other Pythons' fast suites."""
    lines = [x.strip() for x in (REPO / ".ci" / "run").read_text().splitlines() if x.strip()]
    assert lines[-3:] == ["make lint", "make test", "make test-pythons"]
    assert os.access(REPO / ".ci" / "run", os.X_OK)
