"""The deploy root's lock: a native file lock (released by the kernel when the holder dies, so it
is never stale) plus a small info file naming the holder for the "busy" message.

Taking the lock is where every state-changing command starts, so it first refuses a planted
or damaged `.releases/` layout (statedir.py). The lock file itself is never followed (opened
with O_NOFOLLOW) and never truncated or written: it is only the inode the lock hangs on.

The lock is filelock's, on every platform: `filelock.lock_descriptor` takes the primitive its
FileLock takes (`flock(LOCK_EX)` on POSIX, so older versions that used fcntl or FileLock, and a
`flock(1)` in a shell, exclude this one and back). We open the descriptor ourselves rather than
let a FileLock open it: how FileLock opens differs across filelock versions (older ones open with
O_TRUNC and follow a symlink), and its Unix class may fall back to a "soft" lock that writes the
holder into the lock file and deletes it on release. The descriptor we hand it is opened once,
our way, and closing it releases the lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from releases_cli.core.clock import Clock, host, iso, parse_iso, utc_now, who
from releases_cli.core.errors import Locked, SystemFailure
from releases_cli.core.fs import atomic_write
from releases_cli.core.layout import DeployRoot
from releases_cli.core.statedir import read_state_file, require_sound_layout

_INFO = "lock.info"


def _info_path(root: DeployRoot) -> Path:
    return root.state / _INFO


def _holder_text(root: DeployRoot, now: datetime) -> str:
    import humanize  # only the "busy" message needs it; rollback does not

    try:
        info = json.loads(read_state_file(root.state, _INFO, limit=4096))
        since = parse_iso(info["since"])
        return (
            f"pid {info['pid']}, user {info['user']}, host {info['host']}, "
            f"command {info['command']!r}, since {iso(since)} ({humanize.naturaltime(now - since)})"
        )
    except (OSError, ValueError, KeyError, TypeError):  # StateFileError is a ValueError
        return "holder unknown"


@contextmanager
def hold(root: DeployRoot, wait: float = 0, clock: Clock = utc_now) -> Iterator[None]:
    """Hold the root's lock for the block. Fails at once (or after `wait` seconds) when busy;
    refuses (UnsafeState) a planted or damaged .releases/ layout before touching anything."""
    require_sound_layout(root.state)
    with _flock(root, wait, clock):
        info = {
            "pid": os.getpid(),
            "user": who(),
            "host": host(),
            "command": " ".join(["releases", *sys.argv[1:]]),
            "since": iso(clock()),
        }
        try:
            # Only feeds the "busy" message: a full disk must not block a prune that frees space,
            # and it need not survive a power cut (the holder does not either): no fsync.
            with contextlib.suppress(OSError):
                atomic_write(_info_path(root), json.dumps(info).encode(), durable=False)
            yield
        finally:
            _info_path(root).unlink(missing_ok=True)


def _busy(root: DeployRoot, wait: float, clock: Clock) -> Locked:
    waited = f" after waiting {wait:g}s" if wait else ""
    return Locked(
        f"another releases command holds the lock{waited} ({_holder_text(root, clock())}); "
        "retry later or pass --wait SECONDS"
    )


POLL_SECONDS = 0.05  # how often a waiting command retries the lock


def _open_flags() -> int:
    # Windows has neither flag; os.open makes the descriptor non-inheritable there anyway.
    return os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@contextmanager
def _flock(root: DeployRoot, wait: float, clock: Clock) -> Iterator[None]:
    try:
        fd = os.open(root.lock_file, _open_flags(), 0o644)
    except OSError as error:  # a read-only or failing filesystem, a link planted since the check
        raise SystemFailure.of(error, "cannot take the lock") from None
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise _busy(root, wait, clock) from None
            time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock


def _try_lock(fd: int) -> bool:
    """True once held, False while another process holds it."""
    from filelock import lock_descriptor  # only the commands that take the lock pay its import

    try:
        return lock_descriptor(fd, blocking=False)
    except OSError as error:
        raise SystemFailure.of(error, "cannot take the lock") from None
