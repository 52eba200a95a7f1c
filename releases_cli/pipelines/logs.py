"""`releases logs [ID] [--follow]`: a release's build log (.releases/logs/<id>.log), read as data.

The log is opened relative to a descriptor of `.releases/logs` with O_NOFOLLOW | O_NONBLOCK and
read only when fstat says it is a regular file: a link planted there is never followed, a FIFO
never blocks. It is streamed in chunks (a build log can be large), not read whole.

`--follow` keeps reading while the release's deploy runs: until the history has a line closing
it (finished, failed, interrupted, staged), or the process holding the lock is gone (a deploy
killed before it could write one; the next command's recovery closes it).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Callable

from releases_cli.core.errors import NotFound, UnsafeState
from releases_cli.core.events import (
    DeployFailed,
    DeployFinished,
    DeployInterrupted,
    StageFinished,
    read_history,
)
from releases_cli.core.ids import is_valid_id, sort_key, validate_id
from releases_cli.core.layout import DeployRoot
from releases_cli.core.safefs import READ_FLAGS
from releases_cli.core.statedir import StateFileError, open_dir, opened_dir, read_state_file

_CLOSING = (DeployFinished, DeployFailed, DeployInterrupted, StageFinished)
CHUNK = 1 << 16
Write = Callable[[bytes], object]


def newest(root: DeployRoot) -> str:
    """The newest release that has (or is about to have) a log: on disk or in logs/."""
    ids = set(root.release_ids_on_disk())
    try:
        with opened_dir(root.state, "logs") as fd:
            ids |= {n[:-4] for n in os.listdir(fd) if n.endswith(".log") and is_valid_id(n[:-4])}
    except (OSError, StateFileError):
        pass
    if not ids:
        raise NotFound(f"no release in {root.path} has a build log yet")
    return max(ids, key=sort_key)


def _open(root: DeployRoot, release_id: str) -> int | None:
    """A read descriptor of the release's log, or None when there is none (yet)."""
    name = f"{validate_id(release_id)}.log"
    try:
        logs = open_dir(root.state, "logs")
    except FileNotFoundError:
        return None
    except StateFileError as error:
        raise UnsafeState(f"{error}; not read") from None
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=logs)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeState(f"{root.log(release_id)} is a symlink; not followed") from None
        raise
    finally:
        os.close(logs)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeState(f"{root.log(release_id)} is not a regular file; not read")
    os.set_blocking(fd, True)
    return fd


def _drain(fd: int, write: Write) -> None:
    while chunk := os.read(fd, CHUNK):
        write(chunk)


def running(root: DeployRoot, release_id: str) -> bool:
    """Whether the deploy of `release_id` may still write its log: the history does not close it
    and the process holding the lock (from lock.info, this host) is alive."""
    for event in read_history(root).events:
        if isinstance(event.payload, _CLOSING) and event.payload.id == release_id:
            return False
    try:
        info = json.loads(read_state_file(root.state, "lock.info", limit=4096))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):  # no holder, or it is gone
        return False
    return True


def show(
    root: DeployRoot,
    release_id: str | None,
    write: Write,
    follow: bool = False,
    interval: float = 0.2,
) -> str:
    """Write the release's log (default: the newest release's) and, with `follow`, what is
    appended to it until its deploy ends. Returns the release id."""
    root.require_initialized()
    release_id = validate_id(release_id) if release_id else newest(root)
    fd = _open(root, release_id)
    while fd is None and follow and running(root, release_id):
        time.sleep(interval)  # the build has not started writing yet
        fd = _open(root, release_id)
    if fd is None:
        if (
            not os.path.isdir(root.release(release_id))
            and release_id not in root.release_ids_on_disk()
        ):
            raise NotFound(f"release {release_id} does not exist (see `releases list`)")
        raise NotFound(f"release {release_id} has no build log ({root.log(release_id)})")
    try:
        _drain(fd, write)
        while follow and running(root, release_id):
            time.sleep(interval)
            _drain(fd, write)
        _drain(fd, write)  # what was written between the last read and the closing line
    finally:
        os.close(fd)
    return release_id
