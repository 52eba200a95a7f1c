"""The deploy root's lock: an flock (released by the kernel when the holder dies, so it is never
stale) plus a small info file naming the holder for the "busy" message.

Taking the lock is where every state-changing command starts, so it first refuses a planted
or damaged `.releases/` layout (statedir.py). The lock file itself is never followed (opened
with O_NOFOLLOW, never truncated).

On POSIX this is `fcntl.flock` on `.releases/lock`, the same lock filelock takes there (so
versions that took it through filelock exclude this one and back), without filelock's import:
filelock 4.x loads ~60 modules (hashlib, secrets, decimal, inspect, logging...), 50-300 ms of
every deploy and rollback measured here. filelock stays the lock where fcntl does not exist.
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


@contextmanager
def _flock(root: DeployRoot, wait: float, clock: Clock) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: filelock's lock
        with _filelock(root, wait, clock):
            yield
        return
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root.lock_file, flags, 0o644)
    except OSError as error:  # a read-only or failing filesystem
        raise SystemFailure.of(error, "cannot take the lock") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(root, wait, clock) from None
                time.sleep(POLL_SECONDS)
            except OSError as error:
                raise SystemFailure.of(error, "cannot take the lock") from None
        yield
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def _filelock(root: DeployRoot, wait: float, clock: Clock) -> Iterator[None]:
    import filelock

    lock = filelock.FileLock(str(root.lock_file), timeout=wait, thread_local=False)
    try:
        lock.acquire(timeout=wait, poll_interval=POLL_SECONDS)
    except filelock.Timeout:
        raise _busy(root, wait, clock) from None
    except OSError as error:  # a read-only or failing filesystem (Timeout is an OSError too)
        raise SystemFailure.of(error, "cannot take the lock") from None
    try:
        yield
    finally:
        lock.release()
