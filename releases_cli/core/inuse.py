"""Which releases running processes still use (cwd, open files, mapped files), read from /proc.

A PM2 worker that has not been reloaded yet still runs from the old release; deleting that
directory under it breaks its next lazy `require` or static file read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


def _links_of(pid_dir: str) -> Iterator[str]:
    for name in ("cwd", "root", "exe"):
        try:
            yield os.readlink(f"{pid_dir}/{name}")
        except OSError:
            continue
    try:
        fds = os.listdir(f"{pid_dir}/fd")
    except OSError:
        return
    for fd in fds:
        try:
            yield os.readlink(f"{pid_dir}/fd/{fd}")
        except OSError:
            continue


def release_users(releases_dir: Path) -> dict[str, list[int]]:
    """Map release id -> pids whose cwd or open files lie under releases/<id> (Linux /proc).

    Returns {} where /proc is unavailable. Processes we may not inspect are skipped.
    """
    prefix = str(releases_dir.resolve()) + "/"
    found: dict[str, list[int]] = {}
    if not os.path.isdir("/proc/self/fd"):
        return found
    own = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        pid = int(entry.name)
        for target in _links_of(entry.path):
            if target.startswith(prefix):
                release_id = target[len(prefix) :].split("/", 1)[0]
                pids = found.setdefault(release_id, [])
                if pid not in pids:
                    pids.append(pid)
    return found
