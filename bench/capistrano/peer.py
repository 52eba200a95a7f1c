"""Is the peer (Capistrano and an sshd to deploy through) here, or can it be installed?

Installed automatically only where that starts nothing: as root, with apt-get, and not on a
host booted with systemd (there the openssh-server package enables and starts the system's sshd
on port 22, which a benchmark must not do behind the user's back; such users install it
themselves). Otherwise the reason is returned, with the command that fixes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sshd import sshd_binary

PACKAGES = ("capistrano", "openssh-server")
INSTALL = f"sudo apt-get install {' '.join(PACKAGES)}"


def missing() -> list[str]:
    """The programs the benchmark needs that are not installed."""
    lacking = [name for name in ("cap", "ssh", "ssh-keygen", "git") if shutil.which(name) is None]
    if sshd_binary() is None:
        lacking.append("sshd")
    return lacking


def _why_not_install() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("apt-get") is None:
        return "no apt-get"
    if Path("/run/systemd/system").is_dir():
        return "systemd would start the system's sshd"
    return None


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(["apt-get", *args], env=env, capture_output=True, text=True, check=False)


def ensure(install: bool) -> str | None:
    """None when everything is there (installing it if allowed and possible), else why not."""
    lacking = missing()
    if not lacking:
        return None
    needs = f"needs {', '.join(lacking)}"
    blocker = "--no-install given" if not install else _why_not_install()
    if blocker is not None:
        return f"{needs}; not installed here ({blocker}): {INSTALL}"
    print(f"installing {' '.join(PACKAGES)} with apt-get (for {', '.join(lacking)})", flush=True)
    done = _apt_get("install", "-y", "-qq", *PACKAGES)
    if done.returncode != 0:  # stale package lists are the usual cause: refresh once
        _apt_get("update", "-qq")
        done = _apt_get("install", "-y", "-qq", *PACKAGES)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"{needs}; apt-get install {' '.join(PACKAGES)} failed: {last}"
    still = missing()
    return f"still missing after apt-get install: {', '.join(still)}" if still else None
